"""The store contract: what a durable backend must do, method by method.

A store keeps jobs and their history where other processes, or other machines, can reach them. It knows nothing
of Python functions, serializers, retry policies or task graphs in memory: it moves records between statuses,
atomically, and says when something changed. Everything else (what a payload means, when to retry, how to run a
job) lives above it, in :mod:`taskgraph.durable`, so three backends do not repeat it.

Statuses are the task machine's names: PENDING (waiting for prerequisites), QUEUED, RUNNING, DONE, FAILED,
CANCELLED. History events use its event names where they fit (``queue``, ``dispatch``, ``done``, ``fail``,
``retry``, ``cancel``) and two of a store's own: ``requeue`` (a RUNNING job back to QUEUED: its lease expired, or
its worker handed it back) and ``release`` (a PENDING job whose prerequisites are all DONE becomes QUEUED).

Guarantees every store gives, and the conformance suite in :mod:`taskgraph.testing` checks (docs/queues.md sums
them up method by method):

* **One claim.** A QUEUED job is claimed by one worker at a time, and only when its ``not_before`` has come.
* **Leases.** A claimed job carries its worker and a lease expiry; :meth:`Store.heartbeat` extends it. A job
  whose lease expired is taken back by the next :meth:`Store.claim` from any worker: QUEUED again, or FAILED after
  :data:`~taskgraph.stores.records.MAX_LEASE_LOSSES` losses. Nothing claimed lives only in a worker's memory.
* **One ending.** :meth:`Store.complete`, :meth:`Store.fail` and :meth:`Store.release` act only on a job RUNNING
  under the calling worker's lease; a late report from a worker that lost its lease is refused, so a job is never
  DONE twice.
* **Order.** The queues a claim names in their order: a job of a later queue only when the earlier ones have no
  ready job; within a queue, higher priority first, then the earliest ``not_before``, then the order of enqueueing.
* **Continuations.** When a job is DONE, each dependent's count of unfinished prerequisites drops, and one that
  reaches 0 becomes QUEUED, in the same transaction. When a job FAILED or is CANCELLED, its PENDING descendants
  are FAILED or CANCELLED with it; a descendant FAILED this way gets a ``taskgraph.errors.BlockedError`` error
  naming its prerequisite, each job called by its key if it has one, else by its name.

Each method is one transaction: it takes effect whole or not at all. What needs no atomicity (the decisions an
enqueue makes from the rows it read, details, messages) is shared in :mod:`taskgraph.stores.common`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from typing import Any

from .entries import Entries
from .records import Event, JobRecord, NewJob
from .views import Look, Snapshot, read

__all__ = ["Store", "StoreError", "close_quietly"]


def close_quietly(store: Store | None) -> None:
    """Close a connection that may already be broken (after an error), ignoring what closing it raises."""
    if store is None:
        return
    try:
        store.close()
    except Exception:  # already broken: nothing left to release
        pass


class StoreError(RuntimeError):
    """A store cannot be reached or used: the message names its URL (password hidden) and what to do."""


class StoreUnavailable(StoreError):
    """The store cannot be reached now: its server is down or restarting, the connection was lost, or the database
    stayed locked. The same call may work later.

    A call that raised this may or may not have taken effect; every call that taskgraph repeats after it (claims,
    reports, enqueues of jobs with ids, reads) is safe to repeat.
    """


class Store(Entries, ABC):
    """A durable backend. Instances are used from one thread at a time; open one per thread."""

    #: The store's URL with any password hidden.
    url: str

    @abstractmethod
    def enqueue(self, jobs: Sequence[NewJob]) -> list[JobRecord]:
        """Add jobs, in one transaction, and wake idle workers.

        A job whose ``id`` the store already has is not added again: its record is returned (so a call retried after
        a lost answer is harmless). A job whose ``key`` the store already has is not added: that job's record is
        returned instead, unless it FAILED or was CANCELLED, in which case it is reset (new payload and options,
        attempts 0, no error) and queued again with a ``retry`` event. Repeated ids in ``after`` count once. A new
        job is PENDING while any job in its ``after`` is not DONE, QUEUED otherwise; FAILED (or CANCELLED) at once
        if one of them already is.

        Returns:
            the record of each job, in order.
        """

    def enqueue_ids(self, jobs: Sequence[NewJob]) -> list[str]:
        """:meth:`enqueue`, answering only the id of each job, in order (the id of the job stored under its key or
        id when that one was kept). A store answers it without reading the records back, in the one round trip
        and transaction of the enqueue. Optional: by default, the ids of :meth:`enqueue`'s records."""
        return [record.id for record in self.enqueue(jobs)]

    @abstractmethod
    def claim(self, worker: str, queues: Sequence[str], limit: int, lease: float) -> list[JobRecord]:
        """Take back expired leases, then claim up to ``limit`` ready jobs of ``queues`` for ``worker`` (none if
        ``limit`` is 0 or less).

        Claimed jobs become RUNNING with ``worker`` set, ``attempts`` + 1, ``started`` now and a lease of
        ``lease`` seconds, each with a ``dispatch`` event.

        Returns:
            the claimed records, payload included, in claim order.
        """

    @abstractmethod
    def heartbeat(self, worker: str, ids: Collection[str], lease: float) -> set[str]:
        """Extend the leases ``worker`` holds on ``ids`` to ``lease`` seconds from now.

        Returns:
            the ids still RUNNING under ``worker``'s lease; a job missing from it was cancelled or lost, and the
            worker should stop it.
        """

    @abstractmethod
    def complete(self, worker: str, results: Sequence[tuple[str, bytes]]) -> list[str]:
        """Record results: each job RUNNING under ``worker``'s lease becomes DONE, and its dependents are
        released (see the module docstring).

        Returns:
            the ids that were accepted; the others were no longer the worker's, and their results are dropped.
        """

    @abstractmethod
    def fail(self, worker: str, job_id: str, error: dict[str, str], retry_in: float | None) -> bool:
        """Record a failure of a job RUNNING under ``worker``'s lease.

        With ``retry_in`` the job goes back to QUEUED, claimable ``retry_in`` seconds from now, keeping the error
        (a ``retry`` event). Without it the job is FAILED and its PENDING descendants fail too.

        Returns:
            whether the job was the worker's.
        """

    @abstractmethod
    def release(self, worker: str, ids: Collection[str]) -> list[str]:
        """Hand jobs back unfinished (a worker shutting down): RUNNING -> QUEUED, the attempt not counted.

        Returns:
            the ids handed back.
        """

    @abstractmethod
    def cancel(self, ids: Collection[str]) -> list[str]:
        """Cancel jobs that are not final, and their PENDING descendants. A RUNNING job is CANCELLED at once; its
        worker learns it at its next heartbeat.

        Returns:
            the ids of ``ids`` that were cancelled by this call.
        """

    @abstractmethod
    def retry(self, ids: Collection[str], force: bool = False) -> list[str]:
        """Queue FAILED or CANCELLED jobs again, by hand (``taskgraph retry``), in one transaction; with ``force``,
        DONE jobs too (a new run of the job: its result is cleared, and dependents it already released are left
        as they are).

        Each such job becomes QUEUED, claimable now, or PENDING if any of its prerequisites is not DONE (its count
        of unfinished prerequisites is taken again; a prerequisite that FAILED or was CANCELLED counts as unfinished,
        so retry it too, in the same call or later, for the job to run; a continuation, which runs on ``failure``
        or ``any``, waits only for a prerequisite that has not ended). Its attempts and lease losses go back to
        0; its error, result, worker, lease, progress and start and finish times are cleared; payload, options,
        key, queue and priority stay; a ``retry`` event (from its old status, detail ``"retried by hand"``) is
        recorded (``"run again by hand"`` from DONE) and idle workers are woken. Jobs in other statuses, and ids the
        store does not have, are left as they are; dependents of a retried job that were FAILED or CANCELLED with it
        are not touched (retry them too). Repeated ids count once.

        Returns:
            the ids of ``ids`` that were queued again by this call, in their order.
        """

    @abstractmethod
    def set_progress(self, worker: str, job_id: str, value: float, message: str | None) -> bool:
        """Record how far a job RUNNING under ``worker``'s lease has got (0..1, with a message)."""

    @abstractmethod
    def get(self, ids: Sequence[str]) -> list[JobRecord]:
        """The records of ``ids`` that exist, in that order, payload and result included."""

    def status_of(self, ids: Sequence[str]) -> dict[str, tuple[str, Any]]:
        """``{id: (status, not_before)}`` of the jobs of ``ids`` that exist, read in one round trip without the rest
        of their records (what ``JobHandle.status()`` asks, often). Optional: by default, from :meth:`get`."""
        return {record.id: (record.status, record.not_before) for record in self.get(ids)}

    @abstractmethod
    def list_jobs(
        self, status: str | None = None, name: str | None = None, queue: str | None = None, limit: int = 100,
        metadata: dict[str, Any] | None = None, offset: int = 0, older_than: float | None = None,
        newer_than: float | None = None,
    ) -> list[JobRecord]:
        """Records matching all the filters given, newest first (in the order of enqueueing), at most ``limit``
        after skipping the first ``offset`` that match; payloads left out.

        ``metadata`` matches the jobs whose metadata holds each of its keys with an equal value
        (:func:`~taskgraph.stores.records.metadata_matches`); ``older_than`` and ``newer_than`` (seconds) match
        the jobs created more, or less, than that long ago by the store's clock.
        """

    def delete(self, ids: Collection[str]) -> list[str]:
        """Delete final jobs (DONE, FAILED, CANCELLED) with their history and edges, as :meth:`purge` does; jobs
        that are not final, and ids the store does not have, are left as they are.

        Returns:
            the ids of ``ids`` deleted by this call, in their order.
        """
        raise StoreError(f"{self.url}: this store cannot delete single jobs; use purge")

    def match_ids(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` ids of stored jobs that start with ``prefix``, in id order (for people who type a short
        id). Optional: by default, none but ``prefix`` itself if the store has that job."""
        return [prefix] if limit > 0 and self.get([prefix]) else []

    def scheduled(self) -> dict[str, int]:
        """How many QUEUED jobs of each queue wait for their ``not_before`` (by the store's clock): delayed jobs,
        and failures waiting to be retried. They are among the QUEUED jobs :meth:`stats` counts. Optional:
        ``{}`` by default."""
        return {}

    def register_worker(self, info: dict[str, Any], ttl: float) -> None:  # noqa: B027 - optional
        """Record a live worker, or refresh its entry: ``info`` is a JSON object with its ``id`` (and, by
        convention, ``host``, ``pid``, ``queues``, ``concurrency``, ``started``, ``running``, ``done``,
        ``failed``); the store adds ``heartbeat`` (now) and ``expires`` (now + ``ttl``), by its clock. An entry not
        refreshed before it expires is no longer listed. Optional: does nothing by default."""

    def deregister_worker(self, worker_id: str) -> bool:
        """Forget a worker that stops. Returns whether it was registered. Optional: False by default."""
        return False

    def list_workers(self) -> list[dict[str, Any]]:
        """The workers registered and not expired, their ``info`` as registered with ``heartbeat`` and
        ``expires``, oldest started first; expired entries may be deleted on the way. Optional: none by
        default."""
        return []

    def prerequisites(self, ids: Collection[str]) -> list[tuple[str, str]]:
        """The edges into the jobs of ``ids``: a ``(prerequisite, job)`` pair for each job of ``ids`` and each job
        it was enqueued ``after`` (the direction work flows), sorted; ids the store does not have give none. Edges
        stay until the jobs are purged or deleted, and a keyed job enqueued again gets its new ones.

        Raises:
            NotImplementedError: the store cannot list them (the default).
        """
        raise NotImplementedError(f"{self.url}: this store does not list prerequisites")

    def finished_per_minute(self, minutes: int = 60) -> dict[str, list[int]]:
        """How many jobs ended DONE and FAILED in each of the last ``minutes`` clock minutes by the store's clock
        (whole minutes of the epoch; the last is the current one, under way), counted by the store over its index of
        finish times, not by reading the jobs: ``{"DONE": [...], "FAILED": [...]}``, oldest minute first. Jobs
        purged, deleted or retried since are not counted.

        Raises:
            NotImplementedError: the store cannot count them (the default).
        """
        raise NotImplementedError(f"{self.url}: this store does not count finished jobs by minute")

    def snapshot(self, look: Look) -> Snapshot:
        """The parts ``look`` names (counts, workers, jobs finished per minute, a job and its history, a page of
        jobs and the edges into them), read in one call: what a dashboard's page reads at each refresh (see
        :mod:`taskgraph.stores.views`). Optional: by default, the store's own methods one after the other."""
        return read(self, look)

    @abstractmethod
    def stats(self) -> dict[str, dict[str, int]]:
        """How many jobs each queue holds in each status: ``{queue: {status: count}}``."""

    def any_unfinished(self, queues: Sequence[str]) -> bool:
        """Whether a job of ``queues`` is PENDING, QUEUED or RUNNING (a burst worker's end check).

        By default from :meth:`stats`; a store that keeps many finished jobs answers it by an index instead, at a
        cost that does not grow with them.
        """
        counts = self.stats()
        return any(counts.get(q, {}).get(s) for q in queues for s in ("PENDING", "QUEUED", "RUNNING"))

    @abstractmethod
    def history(self, job_id: str) -> list[Event]:
        """The events of a job, oldest first."""

    @abstractmethod
    def purge(self, older_than: float) -> int:
        """Delete final jobs that finished more than ``older_than`` seconds ago, with their history and edges.

        Returns:
            how many jobs were deleted.
        """

    @abstractmethod
    def wait(self, timeout: float) -> None:
        """Block until something may have changed in the store since the last call, or ``timeout`` seconds.

        Used by clients waiting for results; a spurious wake-up is allowed, a missed change is not (within the
        timeout).
        """

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        """Block until a job of ``queues`` may have become ready, or ``timeout`` seconds. Used by idle workers.

        Optional: by default, :meth:`wait`, which wakes for any change (a spurious wake-up is allowed here too).
        """
        self.wait(timeout)

    def for_worker(self) -> None:  # noqa: B027 - optional: a store with nothing to tune inherits this
        """Tune this connection for a worker's claims and reports, which may trade the last moments of durability
        for speed because leases repair what a crash of the store loses: a lost claim is claimed again, a lost
        result is run again. Enqueues must never be made on such a connection. Does nothing by default."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
