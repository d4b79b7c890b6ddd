"""How a Dask future ended, told as the outcome of a task's call: its function's exception, or what Dask did."""

from __future__ import annotations

from typing import Any

from ...errors import CancelledError, SerializationError, TaskError
from ..base import Call

__all__ = ["explain", "exception_of", "cancellation", "abandoned"]

_WAIT = 0.5  # seconds to wait for the reason of a cancelled future
_ABANDONED = "the Dask queue was closed without waiting for it"


def explain(call: Call, address: str, exc: BaseException) -> BaseException:
    """The exception of a call: its function's, or one that says what Dask did."""
    kind = type(exc).__name__
    if kind == "KilledWorker":
        error: BaseException = TaskError(
            f"task {call.name!r}: the Dask worker running it died (killed, out of memory, or crashed), and so "
            f"did every worker Dask retried it on; Dask gave up: {exc}"
        )
    elif isinstance(exc, SerializationError) and not str(exc).startswith("task "):
        error = SerializationError(f"task {call.name!r}: {exc}")
    elif isinstance(exc, ModuleNotFoundError) and exc.name and exc.name.split(".")[0] == "taskgraph":
        error = TaskError(
            f"task {call.name!r}: the Dask worker cannot import taskgraph ({exc}); install taskgraph-fsm where "
            "the workers run"
        )
    elif kind in ("CancelledError", "FutureCancelledError") and not isinstance(exc, CancelledError):
        reason = getattr(exc, "reason", None)
        if reason == "scheduler-connection-lost":
            why = f"the connection to the Dask scheduler at {address} was lost; the task's outcome is unknown"
        else:
            why = f"Dask cancelled it ({reason or 'without a reason'}), not taskgraph"
        error = TaskError(f"task {call.name!r}: {why}")
    else:
        return exc
    error.__cause__ = exc
    return error


def exception_of(future: Any) -> BaseException:
    """The exception of a Dask future that erred, with the remote traceback Dask sent."""
    exc = future.exception()
    tb = future.traceback()
    if not isinstance(exc, BaseException):
        return TaskError(f"Dask reported an error without an exception: {exc!r}")
    return exc.with_traceback(tb) if tb is not None else exc


def cancellation(future: Any) -> BaseException:
    """The CancelledError of a cancelled Dask future, with Dask's reason."""
    try:
        future.result(timeout=_WAIT)
    except BaseException as exc:
        return exc
    return TaskError("the Dask future ended without a result")


def abandoned(call: Call) -> CancelledError:
    """The error of a call left in Dask by ``close(wait=False)``."""
    return CancelledError(f"task {call.name!r} was cancelled: {_ABANDONED}")
