"""The two ends of a call sent to Dask: pickling it here, and running it on a worker.

Workers import this module to run :func:`run`, so they need taskgraph installed, as they need whatever the tasks
import.
"""

from __future__ import annotations

import asyncio
import inspect
import pickle
import traceback
from typing import Any

from ...errors import RemoteTaskError, SerializationError, describe
from ..base import Call
from ..processes import unpicklable_part

__all__ = ["dumps", "loads", "pack", "run", "run_after"]


def dumps(value: Any) -> bytes:
    """Pickle as Dask does: by reference where pickle can, by value (cloudpickle) for ``__main__`` and lambdas."""
    import cloudpickle

    try:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        data = None
    if data is None or b"__main__" in data or cloudpickle.list_registry_pickle_by_value():
        data = cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return data


loads = pickle.loads


def pack(call: Call, key: str, topic: str | None) -> bytes:
    """The pickled call (as Dask pickles: by reference, or by value with cloudpickle)."""
    try:
        return dumps((topic, key, call.name, call.func, call.args, dict(call.kwargs)))
    except Exception:
        what, exc = unpicklable_part(call, dumps)
        raise SerializationError(
            f"task {call.name!r}: cannot send {what} to a Dask worker ({exc}); Dask pickles a task's function and "
            "arguments: use picklable arguments, or a threads:// queue"
        ) from exc


def run(payload: bytes) -> bytes | None:
    """On a Dask worker: announce the start, make the call, and return its result pickled (None as it is).

    Errors are raised outside ``except`` blocks, so that Dask, which pickles an exception with its whole chain,
    does not meet the exception that caused them.
    """
    try:
        topic, key, name, func, args, kwargs = loads(payload)
    except Exception as exc:
        problem: BaseException | None = SerializationError(
            f"the Dask worker could not unpickle the task's function or arguments: {exc}"
        )
    else:
        problem = None
    if problem is not None:
        raise problem
    if topic is not None:
        from distributed import get_worker

        get_worker().log_event(topic, key)
    try:
        result = None if func is None else func(*args, **kwargs)
        if inspect.isawaitable(result):
            result = asyncio.run(_wait_for(result))
    except Exception as exc:
        if _picklable_chain(exc):
            raise
        kind = type(exc)
        problem = RemoteTaskError(f"{kind.__module__}.{kind.__qualname__}", str(exc), traceback.format_exc())
    if problem is not None:
        raise problem
    if result is None:  # Dask tells the client a result's type: a None needs no fetching (see .queue)
        return None
    try:
        return dumps(result)
    except Exception as exc:
        problem = SerializationError(
            f"task {name!r}: its result ({describe(result)}) cannot be pickled to send it back from the Dask worker: "
            f"{exc}"
        )
    raise problem


def _picklable_chain(exc: BaseException) -> bool:
    """Whether an exception and those it chains (its cause and context) can all be pickled."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        try:
            dumps(current)
        except Exception:
            return False
        current = current.__cause__ or current.__context__
    return True


async def _wait_for(awaitable: Any) -> Any:
    return await awaitable


def run_after(payload: bytes, *done: Any) -> bytes | None:
    """On a Dask worker: :func:`run`, once the calls this one was linked to have returned (Dask passes their
    pickled results as ``done``, which the call does not use)."""
    return run(payload)
