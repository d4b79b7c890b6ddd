"""How the scheduler runs tasks that declare files (``Task(..., inputs=..., outputs=...)``), and the hook through
which builds plug in.

Right before it would claim such a task, the scheduler asks the run's :class:`Builder` whether it is up to date: if
so the task moves PENDING -> DONE by the ``uptodate`` event and does not run. Otherwise it runs as any task does,
but its outcome is checked before it is DONE: once its function has returned, every output must exist, or the task
FAILS with the builder's error. Its call goes to the queue as a :class:`BuildCall`, so that the scheduler tells those
outcomes apart by type, and a task that declares no files costs nothing here.

Builders are made by the factory given to :func:`register`: :mod:`taskgraph.build` registers itself when it is
imported (``import taskgraph`` does so). The core never imports it, so imports keep pointing down.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..queues.base import Call
from ..queues.futures import FINISHED, FUTURE_OVER
from ..states import DONE, PENDING, QUEUED, RUNNING
from ..task import Task
from .rules import Rules

__all__ = ["Builds", "BuildCall", "Builder", "register", "open_builder"]

_ABSENT = object()


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


class BuildCall(Call):
    """The call of a task that declares files: its outputs are checked when it returns."""

    __slots__ = ()


class Builds(Rules):
    """The files part of a scheduling run (see the module)."""

    # kept by the scheduler
    inline: bool
    inline_running: Any
    ended: Callable[[Task], None]
    send: Callable[..., None]
    record: Callable[[Task, Any], None]

    def init_builds(self, force: bool, state: Any) -> None:
        self.build_options = (force, state)
        self.builder: Builder | None = None

    def admit_files(self, tasks: list[Task]) -> None:
        if self.builder is None:
            self.builder = open_builder(*self.build_options)
        self.builder.admit(tasks)

    def build(self, task: Task) -> None:
        """Dispatch a ready task that declares files: DONE at once if it is up to date, else claimed and run (in
        this thread on an inline queue, else handed to the queue as a :class:`BuildCall`)."""
        if self.builder is None:
            self.admit_files([task])
        assert self.builder is not None
        try:
            fresh = self.builder.uptodate(task)
        except Exception as exc:
            self.end(task, "fail", exc)
            return
        if fresh:
            if task._fire("uptodate", False, only_from=PENDING):
                self.settle(task)
            else:
                self.observe(task)
            return
        if not self.inline:
            if task._fire("queue", False, None, None, PENDING, self.ended):
                self.send(task, BuildCall)
            else:
                self.observe(task)
            return
        self.inline_running = task  # left set if the call raises, as in dispatch
        if not task._run_here(self.finish_built):
            self.inline_running = None
            self.observe(task)
            return
        self.inline_running = None
        self.settle(task)

    def finish_built(self, task: Task, result: Any) -> None:
        """A RUNNING task that declares files returned ``result``: DONE if its outputs exist, else FAILED."""
        assert self.builder is not None
        error = self.builder.verify(task)
        if error is not None:
            task._fire("fail", False, None, error)
        else:
            task._finish(result)
        if task.state is DONE:
            self.builder.ran(task)

    def report_built(self, call: BuildCall) -> bool:
        """As :meth:`Scheduler.report` for a call of a task that declares files."""
        task = call.token
        if self.inflight.get(task, _ABSENT) is not call:
            return False
        if call._state is not FINISHED and call._state not in FUTURE_OVER:
            task._fire("dispatch", False, None, None, QUEUED)
            return False
        del self.inflight[task]
        self.record_built(task, call)
        self.settle(task)
        return True

    def record_built(self, task: Task, call: BuildCall) -> None:
        if task.state is QUEUED:
            task._fire("dispatch", False, only_from=QUEUED)
        if task.state is RUNNING and call._state is FINISHED and call._exception is None:
            self.finish_built(task, call._result)
        else:
            self.record(task, call)

    def close_builds(self) -> None:
        """Write what the run's builder recorded."""
        builder, self.builder = self.builder, None
        if builder is not None:
            builder.close()
