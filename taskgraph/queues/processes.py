"""A pool of worker processes, for CPU-bound Python code."""

from __future__ import annotations

import multiprocessing
import pickle
import signal
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any

from ..errors import RemoteTaskError, SerializationError, TaskError, describe
from .base import Call
from .executor import ExecutorQueue

__all__ = ["ProcessQueue"]

_PROTOCOL = pickle.HIGHEST_PROTOCOL


class ProcessQueue(ExecutorQueue):
    """Run tasks on ``workers`` processes.

    A task's function and arguments are pickled before they are submitted: one that cannot be fails that task at
    once with a :class:`SerializationError` naming what could not be pickled, and the others go on. The result
    and any exception come back pickled too; an exception that cannot be pickled comes back as a
    :class:`RemoteTaskError` with its type, message and traceback. If a worker process dies the pool breaks:
    every task it held, on any worker, fails with an error that says so, and a fresh pool takes the next ones.

    ``make`` hands over at most one task per worker (:attr:`capacity` is ``workers``): a pool does not say when it
    starts a call, so a task is marked RUNNING when handed over, and keeping the pool's backlog empty keeps that
    true; it also leaves every task not yet running in ``make``'s hands, PENDING, where stopping early can leave it.

    Workers ignore Ctrl-C: ``make`` decides what an interrupt stops.

    Args:
        workers: the number of processes, at least 1.
        start_method: ``"fork"``, ``"spawn"`` or ``"forkserver"``; None takes the platform's default.
    """

    def __init__(self, workers: int, start_method: str | None = None) -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"a process queue needs a positive whole number of workers, not {workers!r}")
        if start_method is not None and start_method not in multiprocessing.get_all_start_methods():
            known = ", ".join(multiprocessing.get_all_start_methods())
            raise ValueError(f"unknown process start method {start_method!r}; this platform has: {known}")
        self.workers = workers
        self.start_method = start_method
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        super().__init__(_Unstarted(), capacity=workers)

    def __repr__(self) -> str:
        return f"ProcessQueue({self.workers})"

    def _executor(self) -> Executor:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context(self.start_method)
                self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_ignore_sigint)
            self.executor = self._pool
            return self._pool

    def _prepare(self, call: Call) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        try:
            payload = pickle.dumps((call.func, call.args, dict(call.kwargs)), _PROTOCOL)
        except Exception:
            what, exc = unpicklable_part(call)
            raise SerializationError(
                f"task {call.name!r}: cannot send {what} to a worker process ({exc}); a process queue pickles "
                "a task's function and arguments: use a function defined at module level and picklable "
                "arguments, or a threads:// queue"
            ) from exc
        return _run_pickled, (call.name, payload)

    def _result(self, call: Call, value: Any) -> Any:
        return pickle.loads(value)

    def _explain(self, call: Call, exc: BaseException) -> BaseException:
        if isinstance(exc, BrokenProcessPool):
            with self._lock:
                if self._pool is not None and self.executor is self._pool:
                    self._pool.shutdown(wait=False, cancel_futures=True)
                    self._pool = None
            error = TaskError(
                f"task {call.name!r}: a worker process died while the task was running or waiting for it "
                "(killed, out of memory, or crashed); the task was not finished"
            )
            error.__cause__ = exc
            return error
        return exc

    def close(self, wait: bool = True) -> None:
        """Wait for submitted tasks, then stop the worker processes; ``wait=False`` terminates them at once."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        if not wait:
            pool.shutdown(wait=False, cancel_futures=True)
            terminate = getattr(pool, "terminate_workers", None)  # Python 3.14
            if terminate is not None:
                terminate()
            else:
                for process in list((getattr(pool, "_processes", None) or {}).values()):
                    process.terminate()
        pool.shutdown(wait=True)


class _Unstarted(Executor):
    """Stands in until the first task starts the pool."""

    def __repr__(self) -> str:
        return "ProcessPoolExecutor (not started)"


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def unpicklable_part(call: Call, dumps: Callable[[Any], bytes] | None = None) -> tuple[str, Exception]:
    """Which part of a call cannot be pickled (by ``dumps``, the pickler of this queue by default), and the error
    pickling it gave: for the message of a task whose call could not be sent."""
    dumps = dumps or partial(pickle.dumps, protocol=_PROTOCOL)
    parts: list[tuple[str, Any]] = [(f"its function {call.func!r}", call.func)]
    parts += [(f"argument {i} ({describe(arg)})", arg) for i, arg in enumerate(call.args)]
    parts += [(f"keyword argument {key!r} ({describe(value)})", value) for key, value in call.kwargs.items()]
    for what, value in parts:
        try:
            dumps(value)
        except Exception as exc:
            return what, exc
    return "its function and arguments together", TypeError("they cannot be pickled as a whole")


def _run_pickled(name: str, payload: bytes) -> bytes:
    """In a worker process: unpickle a call, make it, and pickle what it gave."""
    func, args, kwargs = pickle.loads(payload)
    stand_in = None
    try:
        result = None if func is None else func(*args, **kwargs)
    except Exception as exc:
        try:
            pickle.dumps(exc, _PROTOCOL)
        except Exception:
            kind = type(exc)
            stand_in = RemoteTaskError(f"{kind.__module__}.{kind.__qualname__}", str(exc), traceback.format_exc())
        else:
            raise
    if stand_in is not None:
        # raised outside the except block, so it carries no __context__: where exceptions pickle their context
        # (tblib's pickling support, which importing dask.distributed installs), the original would go with it
        raise stand_in
    try:
        return pickle.dumps(result, _PROTOCOL)
    except Exception as exc:
        raise SerializationError(
            f"task {name!r}: its result ({describe(result)}) cannot be pickled to send it back from the worker "
            f"process: {exc}"
        ) from None
