"""From ``make``'s ``queue=`` argument to a queue: None, a URL, an executor, a Dask client, or a queue."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

from .base import BaseQueue
from .registry import open_queue

__all__ = ["as_queue"]


def as_queue(queue: Any) -> tuple[Any, bool]:
    """The queue ``make`` should use for its ``queue=`` argument, and whether ``make`` opened it (and closes it).

    None means the inline queue; a string is a URL; a queue of ours, or any object with a ``submit`` method, is
    used as it is; another :class:`~concurrent.futures.Executor` is wrapped in an
    :class:`~taskgraph.queues.executor.ExecutorQueue` (a short backlog, and clear errors for calls that cannot be
    pickled). A Dask ``distributed.Client`` is wrapped in a :class:`~taskgraph.queues.dask.DaskQueue` that ``make``
    closes at the end of its run, which leaves the client open: the client stays the caller's.
    """
    if queue is None:
        from .inline import InlineQueue

        return InlineQueue(), True
    if isinstance(queue, str):
        return open_queue(queue), True
    if isinstance(queue, BaseQueue):
        return queue, False
    if _is_dask_client(queue):
        from .dask import DaskQueue

        return DaskQueue(queue), True
    if isinstance(queue, Executor):
        from .executor import ExecutorQueue

        return ExecutorQueue(queue), False
    if callable(getattr(queue, "submit", None)):
        return queue, False
    raise TypeError(
        f"queue= takes a queue (any object whose submit(fn, *args, **kwargs) returns a concurrent.futures.Future), "
        f"a queue URL such as 'threads://4', a concurrent.futures.Executor or a Dask distributed.Client, not "
        f"{type(queue).__name__}"
    )


def _is_dask_client(obj: Any) -> bool:
    """Whether ``obj`` is a ``distributed.Client``, without importing Dask for objects that cannot be one."""
    if not any(kind.__module__.startswith("distributed.") for kind in type(obj).__mro__):
        return False
    try:
        from distributed import Client
    except ImportError:
        return False
    return isinstance(obj, Client)
