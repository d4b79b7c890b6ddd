"""The progress of a run, as ``taskgraph run`` shows it: :class:`RunProgress` keeps the state of each task of a
run, fed by the tasks' ``track`` callbacks from whatever thread moves them, and gives :class:`Snapshot` copies of
the whole to draw. Nothing here draws (:mod:`.run_view` does).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..build.errors import CommandError
from ..build.shell import in_brief
from ..errors import BlockedError, CancelledError
from ..runrecord import InOrder, LastRun, describe_error
from ..safetext import shown
from ..states import DONE, FAILED, RUNNING, State
from ..task import Task, Transition

__all__ = ["RunProgress", "TaskView", "Snapshot", "was_interrupted"]


def was_interrupted(error: BaseException | None) -> bool:
    """Whether a task was cancelled by Ctrl-C."""
    return isinstance(error, KeyboardInterrupt) or (
        isinstance(error, CancelledError) and str(error).endswith("was cancelled: interrupted"))


@dataclass
class TaskView(LastRun):
    """What the display knows of one task."""

    task: Task
    state: State
    #: the run is to make it: it was PENDING when the run began and a target needs it
    wanted: bool
    started: float | None = None
    finished: float | None = None
    error: BaseException | None = None
    ran: bool = False
    #: DONE without running: its files were up to date
    uptodate: bool = False

    @property
    def name(self) -> str:
        """The task's name, safe to show: control characters written as escapes."""
        return shown(self.task.name)

    @property
    def blocked(self) -> bool:
        """FAILED without running, because a prerequisite failed."""
        return self.state is FAILED and isinstance(self.error, BlockedError)

    @property
    def reason(self) -> str:
        """Why a task that is not DONE ended as it did, in a few words, on one line, safe to show."""
        return shown(self._why())

    def _why(self) -> str:
        error = self.error
        if self.state is FAILED and isinstance(error, BlockedError):
            return "blocked: " + ", ".join(f"{name} is {st}" for name, st in error.prerequisites) + error.why
        if isinstance(error, KeyboardInterrupt):
            return "interrupted"
        if isinstance(error, CancelledError):
            return str(error).removeprefix(f"task {self.task.name!r} was cancelled").lstrip(": ") or "cancelled"
        if isinstance(error, CommandError):  # the command and its output are in the errors section
            return f"CommandError: {in_brief(error)}"
        return (describe_error(error) or "").split("\n", 1)[0]  # one line: the errors section shows it whole


@dataclass
class Snapshot:
    """The run at one moment, for drawing."""

    total: int
    done: int
    failed: int
    blocked: int
    cancelled: int
    elapsed: float
    eta: float | None
    interrupted: bool
    queued: int = 0
    running: list[tuple[str, float]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: of ``done``, those DONE without running, their files up to date
    uptodate: int = 0

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.blocked + self.cancelled


class RunProgress:
    """The state of each task of a run, kept up to date by :attr:`observe` (the tasks' ``track`` callback).

    Thread-safe: transitions come from whatever thread moves a task, and out of order when two threads move one
    task in quick succession (:class:`~taskgraph.runrecord.InOrder` puts them back in order).

    Args:
        tasks: every task to show, each after its prerequisites.
        to_run: those the run is to make (the rest are already DONE, or not needed).
        clock: the wall clock, as :func:`time.time`.
    """

    def __init__(self, tasks: Sequence[Task], to_run: Iterable[Task], clock: Callable[[], float] = time.time) -> None:
        wanted = set(to_run)
        self.clock = clock
        self.order = list(tasks)
        self.views = {t: TaskView(t, t.state, t in wanted) for t in self.order}
        self.total = sum(1 for v in self.views.values() if v.wanted)
        self.started = clock()
        self.ended: float | None = None
        self.interrupted = False
        self._lock = threading.Lock()
        self._listeners: list[Callable[[TaskView, Transition], Any]] = []
        self.observe = InOrder(self._apply, self.order)

    def listen(self, listener: Callable[[TaskView, Transition], Any]) -> None:
        """Call ``listener(view, transition)`` after each transition is taken in, one call at a time."""
        self._listeners.append(listener)

    def _apply(self, task: Task, move: Transition) -> None:
        view = self.views.get(task)
        if view is None:
            return
        with self._lock:
            view.state = move.dest
            view.moved(move.dest, move.when, None if move.dest is DONE else task.exception)
            view.ran = view.ran or move.dest is RUNNING
            view.uptodate = move.event == "uptodate"
            self.interrupted = self.interrupted or was_interrupted(view.error)
        for listener in self._listeners:
            listener(view, move)

    def finish(self) -> None:
        """Note the end of the run (stops the elapsed clock)."""
        self.observe.flush()
        self.ended = self.clock()

    def tasks_in(self, *states: State) -> list[TaskView]:
        """The views of the tasks to make that are in one of ``states``, in graph order."""
        with self._lock:
            return [v for v in (self.views[t] for t in self.order) if v.wanted and v.state in states]

    def snapshot(self) -> Snapshot:
        now = self.clock()
        with self._lock:
            views = [self.views[t] for t in self.order if self.views[t].wanted]
            done = sum(v.state is DONE for v in views)
            uptodate = sum(v.uptodate for v in views)
            blocked = sum(v.blocked for v in views)
            failed = sum(v.state is FAILED for v in views) - blocked
            cancelled = sum(v.state == "CANCELLED" for v in views)
            queued = sum(v.state == "QUEUED" for v in views)
            running = sorted(((v.name, now - (v.started or now)) for v in views if v.state is RUNNING),
                             key=lambda item: -item[1])
            failures = [(v.name, v.reason) for v in views if v.state is FAILED and not v.blocked]
            interrupted = self.interrupted
        elapsed = (self.ended if self.ended is not None else now) - self.started
        finished = done + failed + blocked + cancelled
        left = self.total - finished
        eta = 0.0 if left == 0 else (elapsed / finished * left if finished and not interrupted else None)
        return Snapshot(self.total, done, failed, blocked, cancelled, elapsed, eta, interrupted, queued, running,
                        failures, uptodate)
