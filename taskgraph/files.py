"""What the core knows of files: the paths a task declares, and the hook through which builds plug in.

A task may declare the files it reads and writes (``Task(..., inputs=[...], outputs=[...])``). The core only keeps
them (:class:`Files`, normalised here when the task is made) and asks, through one hook, whether such a task is up
to date. The answer comes from :mod:`taskgraph.build`, which registers itself with :func:`register` when it is
imported (``import taskgraph`` does so); the core never imports it, so imports keep pointing down.

The scheduler opens one :class:`Builder` per run that admits a task declaring files, and calls it for those tasks
only: a task that declares none costs the run one attribute test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from .errors import describe

if TYPE_CHECKING:
    from .task import Task

__all__ = ["Files", "declare_files", "Builder", "register", "open_builder", "GLOB_CHARS"]

GLOB_CHARS = frozenset("*?[")


class Files(NamedTuple):
    """The files a task declares, as absolute paths (inputs may be glob patterns)."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def _paths(name: str, kind: str, paths: Iterable[Any]) -> tuple[str, ...]:
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = (paths,)
    result = []
    for p in paths:
        if not isinstance(p, (str, os.PathLike)) or not os.fspath(p):
            raise TypeError(f"task {name!r}: {kind} must be paths (str or os.PathLike), not {describe(p)}")
        result.append(os.path.abspath(os.fspath(p)))
    return tuple(dict.fromkeys(result))


def declare_files(name: str, inputs: Iterable[Any], outputs: Iterable[Any]) -> Files:
    """The files of task ``name``, checked and made absolute (relative paths are taken from the current directory).

    Raises:
        TypeError: a path is not a str or os.PathLike.
        ValueError: an output is a glob pattern, or a path is both an input and an output.
    """
    files = Files(_paths(name, "inputs", inputs), _paths(name, "outputs", outputs))
    for path in files.outputs:
        if GLOB_CHARS & set(path):
            raise ValueError(f"task {name!r}: output {path!r} is a glob pattern; an output must be a path")
        if path in files.inputs:
            raise ValueError(f"task {name!r}: {path!r} is both an input and an output; a task must not rewrite "
                             "its own input")
    return files


class Builder(Protocol):
    """What the scheduler asks of the build package, for the tasks of one run that declare files."""

    def admit(self, tasks: list[Task]) -> None:
        """Take in tasks admitted to the run (any of them may declare files), before they run.

        Raises:
            Exception: the declarations cannot work (two tasks write one file, an input exists nowhere); the run
                refuses to start.
        """

    def uptodate(self, task: Task) -> bool:
        """Whether ``task``, whose prerequisites are DONE, is up to date and need not run.

        Raises:
            Exception: it cannot be known (an input is missing): the task fails with this error.
        """

    def verify(self, task: Task) -> BaseException | None:
        """After ``task``'s function returned: the error to fail it with (an output is missing), or None."""

    def ran(self, task: Task) -> None:
        """``task`` ran and is DONE: record its state."""

    def close(self) -> None:
        """The run is over: write what is recorded."""


_factory: list[Callable[[bool, Any], Builder]] = []


def register(factory: Callable[[bool, Any], Builder]) -> None:
    """Make ``factory(force, state)`` the maker of each run's :class:`Builder` (done by :mod:`taskgraph.build`)."""
    _factory[:] = [factory]


def open_builder(force: bool, state: Any) -> Builder:
    """A :class:`Builder` for one run.

    Raises:
        RuntimeError: no build package registered itself (``taskgraph.build`` was not imported).
    """
    if not _factory:
        raise RuntimeError("tasks declare files but taskgraph.build is not imported: import taskgraph")
    return _factory[0](force, state)
