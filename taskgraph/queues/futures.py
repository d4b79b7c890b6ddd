"""A cheaper :class:`concurrent.futures.Future` for the queues of this package.

The standard future builds a ``threading.Condition`` (a Python object around an ``RLock``) when it is created and
enters it in every method, which costs about 8 µs over a future's life: more than the scheduler spends on a task.
:class:`LightFuture` keeps the standard class, state names and the attributes that ``concurrent.futures.wait``
and ``as_completed`` use, but guards every future with one shared ``RLock`` taken directly, and builds a future's
condition (over that same lock) only when a thread must block on it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from concurrent.futures._base import CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED, PENDING, RUNNING
from typing import Any

__all__ = ["LightFuture", "settle", "begin", "PENDING", "RUNNING", "FINISHED", "FUTURE_OVER", "FUTURES_LOCK"]

log = logging.getLogger("concurrent.futures")  # where the standard futures log a callback that raised
_LOCK = FUTURES_LOCK = threading.RLock()  # guards the state of every LightFuture; the lock of their conditions
_OVER = FUTURE_OVER = (CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED)  # the states of a done future


class LightFuture(Future):
    """A :class:`concurrent.futures.Future` that is cheap to create and to settle."""

    # the base's fields, in slots; its _condition and _waiters are made when first asked for (see _watch)
    __slots__ = ("_state", "_result", "_exception", "_done_callbacks", "_cond", "_wait", "_watched")

    def __init__(self) -> None:  # the base's, without the condition and the waiters until someone waits
        self._state = PENDING
        self._result: Any = None
        self._exception: BaseException | None = None
        self._done_callbacks: list[Callable[[Future[Any]], Any]] = []
        self._watched = False  # a thread waits on it, or concurrent.futures.wait() watches it

    def _watch(self) -> None:
        with _LOCK:  # someone is about to wait: give this future its condition (over the shared lock) and waiters
            if not self._watched:
                self._cond = threading.Condition(_LOCK)
                self._wait: list[Any] = []
                self._watched = True

    @property
    def _condition(self) -> threading.Condition:  # type: ignore[override]
        self._watch()
        return self._cond

    @property
    def _waiters(self) -> list[Any]:  # type: ignore[override]
        self._watch()
        return self._wait

    def _wake(self) -> None:
        if self._watched:
            self._condition.notify_all()

    def _invoke_callbacks(self) -> None:
        for callback in self._done_callbacks:
            try:
                callback(self)
            except Exception:
                log.exception("exception calling callback for %r", self)

    def cancel(self) -> bool:
        with _LOCK:
            if self._state in (RUNNING, FINISHED):
                return False
            if self._state in (CANCELLED, CANCELLED_AND_NOTIFIED):
                return True
            self._state = CANCELLED
            self._wake()
        self._invoke_callbacks()
        return True

    def cancelled(self) -> bool:
        return self._state in (CANCELLED, CANCELLED_AND_NOTIFIED)

    def running(self) -> bool:
        return self._state == RUNNING

    def done(self) -> bool:
        return self._state in _OVER

    def add_done_callback(self, fn: Callable[[Future[Any]], Any]) -> None:
        with _LOCK:
            if self._state not in _OVER:
                self._done_callbacks.append(fn)
                return
        super().add_done_callback(fn)  # done: the base calls it now, logging what it raises

    def result(self, timeout: float | None = None) -> Any:
        if self._state == FINISHED:
            if self._exception is not None:
                raise self._exception
            return self._result
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if self._state == FINISHED:
            return self._exception
        return super().exception(timeout)

    def set_running_or_notify_cancel(self) -> bool:
        with _LOCK:
            if self._state == CANCELLED:
                self._state = CANCELLED_AND_NOTIFIED
                for waiter in self._waiters if self._watched else ():
                    waiter.add_cancelled(self)
                return False
            if self._state == PENDING:
                self._state = RUNNING
                return True
        raise RuntimeError(f"Future in unexpected state: {self._state}")

    def set_result(self, result: Any) -> None:
        self._settle(result, None)

    def set_exception(self, exception: BaseException | None) -> None:
        self._settle(None, exception)

    def _settle(self, result: Any, exception: BaseException | None) -> None:
        with _LOCK:
            if self._state in _OVER:
                raise InvalidStateError(f"{self._state}: {self!r}")
            self._result = result
            self._exception = exception
            self._mark_finished()
        self._invoke_callbacks()

    def _complete(self) -> None:
        """Become FINISHED with the outcome in place: for the one thread running a call whose future it set running
        (then no one else may settle it, and cancel() refuses it)."""
        with _LOCK:
            self._mark_finished()
        self._invoke_callbacks()

    def _mark_finished(self) -> None:  # with _LOCK held
        self._state = FINISHED
        if self._watched:
            for waiter in self._wait:
                if self._exception is None:
                    waiter.add_result(self)
                else:
                    waiter.add_exception(self)
            self._cond.notify_all()

def settle(future: Future[Any], result: Any = None, exception: BaseException | None = None) -> bool:
    """Settle ``future`` unless it is done already (cancelled meanwhile from another thread). Returns whether it
    was settled here."""
    try:
        if exception is None:
            future.set_result(result)
        else:
            future.set_exception(exception)
    except InvalidStateError:
        return False
    return True


def begin(future: Future[Any]) -> bool:
    """Mark ``future`` RUNNING as its call starts. False if it was cancelled, or is running or done already."""
    try:
        return future.set_running_or_notify_cancel()
    except RuntimeError:  # already running, or settled by another thread first
        return False
