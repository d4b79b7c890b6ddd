"""Builds: tasks that declare the files they read and write, and run only when those are out of date.

``Task(..., inputs=[...], outputs=[...])`` and :func:`shell` make such tasks; ``make`` then skips each one that is
up to date (it ends DONE by the ``uptodate`` event, without running) and records the state of each one that ran
in a small SQLite database (``.taskgraph/state.sqlite``). See ``docs/builds.md``.

How this plugs into the core, with imports pointing down: :class:`~taskgraph.task.Task` keeps the declared paths
(:class:`taskgraph.files.Files`) and knows nothing more. The scheduler asks, right before it would claim a task
that declares files, the run's :class:`taskgraph.scheduler.builds.Builder` whether the task is up to date, and
after it ran whether its outputs exist. Builders are made by the factory this package registers with
:func:`taskgraph.scheduler.builds.register` when it is imported, which ``import taskgraph`` does. The core never
imports this package.

* :mod:`.check`: the up-to-date check and what a run records (:class:`~.check.FileBuilder`);
* :mod:`.state`: the state database;
* :mod:`.identity`: what a task does, as a digest of its function's import path and its arguments;
* :mod:`.shell`: shell-command tasks.
"""

from __future__ import annotations

from ..scheduler.builds import register
from .check import FileBuilder
from .errors import BuildError, CommandError
from .shell import command_of, shell

__all__ = ["shell", "command_of", "BuildError", "CommandError", "FileBuilder"]

register(FileBuilder)
