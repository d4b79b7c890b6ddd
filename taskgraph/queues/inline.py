"""The inline queue: runs each call in the thread that called ``make``, one at a time. The default."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from .base import BaseQueue

__all__ = ["InlineQueue"]


class InlineQueue(BaseQueue):
    """Run calls in the calling thread, as they are submitted.

    ``make`` runs each task's function itself, in its own thread, one at a time (:attr:`runs_inline`), so a failure
    is seen, and ``fail_fast`` obeyed, before the next task starts. :meth:`submit` does the same for other callers.
    """

    runs_inline = True
    capacity: int | None = 1

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            future.set_result(result)
        return future

    def __repr__(self) -> str:
        return "InlineQueue()"
