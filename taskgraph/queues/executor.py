"""Any :class:`concurrent.futures.Executor` as a queue: loky, Dask's executor, mpi4py's, the stdlib's pools."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from concurrent.futures import Executor, Future
from functools import partial
from typing import TYPE_CHECKING, Any

from ..errors import SerializationError, TaskError
from .base import BaseQueue, finish, start

if TYPE_CHECKING:
    from ..task import Task

__all__ = ["ExecutorQueue"]


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


class ExecutorQueue(BaseQueue):
    """Submit each task's function to an executor.

    The task is marked RUNNING when it is handed to the executor: an executor does not say when it starts a
    call. A task cancelled after that is CANCELLED at once; the executor is asked to drop the call if it has not
    started it.

    Args:
        executor: the executor; it stays the caller's, and :meth:`close` does not shut it down.
        capacity: the most tasks kept submitted at once; by default twice the executor's worker count when it
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

    def submit(self, task: Task) -> None:
        try:
            call, args = self._prepare(task)
        except SerializationError as exc:
            task._fire("fail", False, None, exc)
            return
        if not start(task):
            return
        try:
            future = self._executor().submit(call, *args)
        except Exception as exc:
            error = TaskError(f"task {task.name!r}: {self!r} would not take it: {exc}")
            error.__cause__ = exc
            finish(task, exception=error)
            return
        future.add_done_callback(partial(self._collect, task))
        task.add_done_callback(partial(_drop_if_cancelled, future))

    def _executor(self) -> Executor:
        return self.executor

    def _prepare(self, task: Task) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The callable and arguments to submit for ``task``."""
        return partial(task.func or _nothing, **task.kwargs), task.args

    def _collect(self, task: Task, future: Future[Any]) -> None:
        if future.cancelled():
            task._fire("cancel", False)
            return
        exc = future.exception()
        if exc is None:
            try:
                result = self._result(task, future.result())
            except Exception as error:
                finish(task, exception=error)
            else:
                finish(task, result)
        elif isinstance(exc, KeyboardInterrupt):
            task._fire("cancel", False, None, exc)
        else:
            finish(task, exception=self._explain(task, exc))

    def _result(self, task: Task, value: Any) -> Any:
        return value

    def _explain(self, task: Task, exc: BaseException) -> BaseException:
        """The exception to record for a failed call: the task's own, or ours if it never got to run."""
        if isinstance(exc, pickle.PicklingError) or (
            isinstance(exc, (TypeError, AttributeError)) and "pickle" in str(exc).lower()
        ):
            error = SerializationError(f"task {task.name!r}: could not be sent to {self.executor!r}: {exc}")
            error.__cause__ = exc
            return error
        return exc


def _drop_if_cancelled(future: Future[Any], task: Task) -> None:
    if task.state == "CANCELLED":
        future.cancel()
