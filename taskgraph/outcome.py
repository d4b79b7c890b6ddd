"""What a task shows of its end and its past: waiting for it (``join``), done-callbacks, its history and duration,
and how its transitions are printed. :class:`Outcome` is the base of :class:`~taskgraph.Task`: it reads what
:mod:`taskgraph.task` writes and keeps the done-callbacks, under the one lock of every task's state (:data:`LOCK`),
which lives here. Only :mod:`taskgraph.task` moves a task.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._fsm import decode_history, run_time
from .errors import CancelledError, TaskError
from .states import CANCELLED, DONE, FAILED, FINAL_STATES, State, Transition

if TYPE_CHECKING:
    from .task import Task

__all__ = ["Outcome", "LOCK", "call_back", "print_transition"]

log = logging.getLogger("taskgraph")

#: Guards the state, outcome, history, callbacks and edges of every task.
LOCK = threading.Lock()
_LOCK = LOCK


def print_transition(task: Task, move: Transition) -> None:
    print(f"{task.name} {move.source}->{move.event}->{move.dest}")


class Outcome:
    """The reading side of a task (see :class:`~taskgraph.Task`, which holds the slots it reads)."""

    __slots__ = ()

    name: str
    state: State
    result: Any
    exception: BaseException | None
    _callbacks: list[Callable[[Task], Any]] | None
    _track: Callable[[Task, Transition], Any] | None
    _history: bytes

    def join(self, timeout: float | None = None) -> Any:
        """Wait until the task is final and return its result.

        Args:
            timeout: seconds to wait at most; None waits for ever.

        Returns:
            the function's result, if the task is DONE.

        Raises:
            TimeoutError: the task was not final within ``timeout`` seconds.
            CancelledError: the task was cancelled; its cause, if any, is chained.
            Exception: the task FAILED: the exception its function raised, or a :class:`BlockedError` naming the
                prerequisite that failed.
        """
        if self.state not in FINAL_STATES:
            finished = threading.Event()

            def wake(_: Any) -> None:
                finished.set()

            self.add_done_callback(wake)
            if not finished.wait(timeout):
                self.remove_done_callback(wake)
                raise TimeoutError(f"task {self.name!r} is still {self.state} after {timeout} s")
        return self._outcome()

    def _outcome(self) -> Any:
        with _LOCK:
            state, result, exc = self.state, self.result, self.exception
        if state is DONE:
            return result
        if state is FAILED:
            assert exc is not None
            raise exc
        if state is CANCELLED:
            if isinstance(exc, CancelledError):
                raise exc
            raise CancelledError(f"task {self.name!r} was cancelled") from exc
        raise TaskError(f"task {self.name!r} is {state}, not finished")

    def add_done_callback(self, fn: Callable[[Task], Any]) -> None:
        """Call ``fn(task)`` once, when the task becomes DONE, FAILED or CANCELLED.

        It is called at once, in this thread, if the task is already final; otherwise in the thread that
        finishes the task (for a task ``make`` runs, ``make``'s thread). An exception from ``fn`` is logged and
        ignored.
        """
        with _LOCK:
            if self.state not in FINAL_STATES:
                if self._callbacks is None:
                    self._callbacks = [fn]  # type: ignore[misc]  # a slot of Task, which this is
                else:
                    self._callbacks.append(fn)
                return
        call_back(fn, self)

    def remove_done_callback(self, fn: Callable[[Task], Any]) -> bool:
        """Forget a callback given to :meth:`add_done_callback`. Returns whether it was still registered."""
        with _LOCK:
            if self._callbacks and fn in self._callbacks:
                self._callbacks.remove(fn)
                return True
        return False

    @property
    def history(self) -> list[Transition]:
        """Every transition of this task, oldest first."""
        with _LOCK:
            entries = bytes(self._history)
        return decode_history(entries)

    @property
    def duration(self) -> float | None:
        """Seconds from the task's last start to its end, or None if it has not run to an end."""
        return run_time(self.history)


def call_back(fn: Callable[[Any], Any], task: Any) -> None:
    try:
        fn(task)
    except Exception:
        log.exception("a done-callback of task %r raised", task.name)
