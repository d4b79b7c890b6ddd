"""The job that is running, as its own code sees it: :func:`taskgraph.current_job`.

A worker sets the context around each run, in the thread, coroutine or worker process that runs the job, through a
:class:`contextvars.ContextVar`: each thread and each asyncio task sees its own job, and code outside any job sees
None. ``progress`` goes the same way as :func:`taskgraph.progress`: to the worker's loop, which writes it to the
store.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["JobContext", "current_job"]


@dataclass(eq=False, slots=True)
class JobContext:
    """The job being run, inside its function.

    Attributes:
        id: the job's id.
        name: its registered name, ``module:qualname``.
        attempt: which run of it this is: 1 for the first, 2 for the first retry, ...
        queue: the named queue it was taken from.
        metadata: the JSON object it was enqueued with (``{}`` if none).
        worker_id: the id of the worker running it (as ``handle.record().worker`` shows it).
    """

    id: str
    name: str
    attempt: int
    queue: str
    metadata: dict[str, Any]
    worker_id: str
    _report: Callable[[float, str | None], None] = field(repr=False)

    def progress(self, value: float, text: str | None = None) -> None:
        """Report how far the job has got, from 0 to 1, with an optional message (as :func:`taskgraph.progress`).

        Raises:
            ValueError: ``value`` is not a number from 0 to 1.
        """
        if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"progress must be a number from 0 to 1, not {value!r}")
        self._report(float(value), None if text is None else str(text))


_current: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar("taskgraph_job", default=None)


def current_job() -> JobContext | None:
    """The :class:`JobContext` of the job running in this thread or coroutine, or None outside a job run by a
    worker (a job function called directly, or code that is not a job)."""
    return _current.get()
