"""A handle on a stored job: its status, result, progress and history, from any process."""

from __future__ import annotations

import time
from operator import methodcaller
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import CancelledError
from ..stores.records import CONDITIONS, FINAL, Event, JobRecord, rebuild_error, shown_status
from .options import canonical_id

if TYPE_CHECKING:
    from .queue import DurableQueue

__all__ = ["JobHandle", "Progress"]


class Progress(NamedTuple):
    """What a running job last reported: a fraction from 0 to 1, and a message."""

    value: float
    message: str | None


class JobHandle:
    """A job in a store, named by its id. Cheap: it holds no state but the id; every question asks the store.

    ``bool(handle)`` is True once the job is finished (DONE, FAILED or CANCELLED).
    """

    def __init__(self, queue: DurableQueue, job_id: str) -> None:
        self.queue = queue
        self.id = canonical_id(job_id)  # a UUID in any spelling names the job stored under its 32 hex digits

    def __repr__(self) -> str:
        return f"<JobHandle {self.id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JobHandle) and other.id == self.id and other.queue is self.queue

    def __hash__(self) -> int:
        return hash(self.id)

    def record(self) -> JobRecord:
        """The job's record as the store has it now.

        Raises:
            KeyError: the store has no such job (never enqueued, or purged).
        """
        return self._record(self.queue.store)

    def _record(self, store: Any) -> JobRecord:
        found = store.get([self.id])
        if not found:
            raise KeyError(f"job {self.id} is not in {self.queue.url} (never enqueued, or purged)")
        return found[0]

    def status(self) -> str:
        """The job's status: PENDING (waiting for prerequisites), SCHEDULED (waiting for its time: delayed, or for
        a retry), QUEUED (waiting for a worker), RUNNING, DONE, FAILED or CANCELLED."""
        return shown_status(*self._status())

    def _status(self) -> tuple[str, Any]:
        """``(status, not_before)``, in one round trip that reads those fields only."""
        found = self.queue.store.status_of([self.id]).get(self.id)
        if found is None:
            raise KeyError(f"job {self.id} is not in {self.queue.url} (never enqueued, or purged)")
        return found

    def __bool__(self) -> bool:
        return self._status()[0] in FINAL

    @property
    def progress(self) -> Progress | None:
        """What the job last reported through :func:`taskgraph.progress`, or None."""
        record = self.record()
        return None if record.progress is None else Progress(record.progress, record.progress_message)

    def history(self) -> list[Event]:
        """The job's events, oldest first: each with its time, the statuses before and after, the worker and
        any detail (a lost lease, a retry's error)."""
        return self.queue.store.history(self.id)

    def cancel(self) -> bool:
        """Cancel the job if it is not finished: a waiting job will not run, a running one is stopped by its worker
        (a process is killed, a coroutine cancelled; a thread cannot be stopped and its result is dropped).

        Returns:
            whether this call cancelled it.
        """
        return bool(self.queue.cancel([self.id]))

    def then(self, job: Any, *args: Any, on: str = "success", **kwargs: Any) -> JobHandle:
        """Enqueue a run of ``job`` (a function of this queue made a job by ``@queue.task``) with these arguments,
        to start when this job ends as ``on`` says: ``success`` (DONE), ``failure`` (FAILED, its retries spent) or
        ``any`` (DONE, FAILED or CANCELLED). The store holds it (PENDING) and decides in the transaction that ends
        this job, so it happens whether or not this process is still running. One that will not run (``success``
        after a failure or a cancel, ``failure`` after a success or a cancel) ends FAILED (a ``BlockedError``) or
        CANCELLED, with its own continuations. On a job that already ended, it is decided at once.

        Returns:
            the continuation's handle.

        Raises:
            ValueError: ``on`` is not one of those.
            TypeError: ``job`` is not a job of this queue, or the arguments do not fit its signature.
        """
        from .jobs import JobFunction

        if on not in CONDITIONS:
            raise ValueError(f"on must be one of {', '.join(map(repr, CONDITIONS))}, not {on!r}")
        if not isinstance(job, JobFunction) or job.queue.url != self.queue.url:
            raise TypeError(f"then() takes a job of {self.queue!r} (a function decorated with @queue.task), not "
                            f"{job!r}")
        return self.queue._enqueue(job, job.bind(args, kwargs), kwargs, after=[self.id], on=on)

    def join(self, timeout: float | None = None) -> Any:
        """Wait for the job to finish and return its result.

        Raises:
            TimeoutError: it did not finish within ``timeout`` seconds.
            StoreUnavailable: the store stayed unreachable for the queue's ``patience`` (or past ``timeout``);
                until then ``join`` reconnects and retries, logging each attempt.
            CancelledError: it was cancelled.
            Exception: it FAILED: its exception, of its own type where that type is importable here (else a
                :class:`RemoteTaskError`), with the worker's traceback text chained as ``__cause__``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        queue = self.queue
        while True:
            record = queue.patiently(self._record, deadline)
            if record.final:
                return queue._outcome(record)
            left = 1.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"job {self.id} ({record.name}) is still {record.status} after {timeout} s")
            queue.patiently(methodcaller("wait", min(left, 1.0)), deadline)

    async def resolve(self, timeout: float | None = None) -> Any:
        """``join`` for asyncio code. No thread waits for each caller: one thread per queue watches the store for
        every job awaited (see :mod:`taskgraph.durable.awaiting`), so thousands of waits cost nothing but memory,
        and a wait that is cancelled is forgotten at once.

        Raises:
            what :meth:`join` raises.
        """
        import asyncio

        with self.queue._resolver().watch(self.id) as future:
            try:
                record = await asyncio.wait_for(future, timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"job {self.id} is still not finished after {timeout} s") from None
        return self.queue._outcome(record)


def cancelled(record: JobRecord) -> CancelledError:
    return CancelledError(f"job {record.id} ({record.name}) was cancelled")


def failure(record: JobRecord) -> BaseException:
    return rebuild_error(record.error or {"type": "builtins.Exception", "message": "failed", "traceback": ""})
