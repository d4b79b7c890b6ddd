"""Any :class:`concurrent.futures.Executor` as a queue, with a capacity and clear errors: loky, Dask's executor,
mpi4py's, the stdlib's pools.

An executor is a queue as it is (``submit`` returns a future); ``make`` wraps one in :class:`ExecutorQueue` to keep
its backlog short and to say which task could not be sent when a call fails to pickle.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from concurrent.futures import Executor, Future
from functools import partial
from typing import Any

from ..errors import SerializationError
from .base import BaseQueue, Call, chain, nothing

__all__ = ["ExecutorQueue"]


class ExecutorQueue(BaseQueue):
    """Submit each call to an executor.

    The task is marked RUNNING when it is handed to the executor: an executor does not say when it starts a call.
    A task cancelled while its call waits in the executor is dropped there.

    Args:
        executor: the executor; it stays the caller's, and :meth:`close` does not shut it down.
        capacity: the most calls kept submitted at once; by default twice the executor's worker count when it
            says one, else no limit.
    """

    def __init__(self, executor: Executor, capacity: int | None = None) -> None:
        if not isinstance(executor, Executor):
            raise TypeError(f"ExecutorQueue needs a concurrent.futures.Executor, not {type(executor).__name__}")
        self.executor = executor
        workers = getattr(executor, "_max_workers", None)
        self.capacity = capacity if capacity is not None else (2 * workers if isinstance(workers, int) else None)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.executor!r})"

    def submit_call(self, call: Call) -> Future[Any]:
        call.started()
        try:
            fn, args = self._prepare(call)
        except SerializationError as exc:
            call.set_exception(exc)
            return call
        return chain(self._executor().submit(fn, *args), call, lambda done: self._settle(call, done))

    def _executor(self) -> Executor:
        return self.executor

    def _prepare(self, call: Call) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The callable and arguments to submit for ``call``."""
        return partial(call.func or nothing, **call.kwargs), call.args

    def _settle(self, call: Call, done: Future[Any]) -> tuple[Any, BaseException | None]:
        exc = done.exception()
        if exc is not None:
            return None, self._explain(call, exc)
        return self._result(call, done.result()), None

    def _result(self, call: Call, value: Any) -> Any:
        return value

    def _explain(self, call: Call, exc: BaseException) -> BaseException:
        """The exception to record for a failed call: the task's own, or ours if it never got to run."""
        if isinstance(exc, pickle.PicklingError) or (
            isinstance(exc, (TypeError, AttributeError)) and "pickle" in str(exc).lower()
        ):
            error = SerializationError(f"task {call.name!r}: could not be sent to {self.executor!r}: {exc}")
            error.__cause__ = exc
            return error
        return exc

