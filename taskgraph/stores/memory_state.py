"""The state of one in-memory store: its jobs, edges and history in plain dicts, what is claimable in heaps, and
the moves every method of :class:`~taskgraph.stores.memory.MemoryStore` is made of.

Everything here is used under the store's one lock (:attr:`Memory.changed`, a :class:`threading.Condition`);
nothing here takes it.

What is claimable is kept in heaps with lazy deletion. Each time a job becomes QUEUED it gets a new ``ticket``,
and is pushed with it on ``delayed`` (by ``not_before``, while that is to come) or on its queue's ``ready`` heap
(by priority, ``not_before``, enqueue order: the claim order). An entry whose job is no longer QUEUED under that
ticket is stale, and skipped where it is met. Leases are a heap by expiry; an entry whose job no longer has that
lease (extended, ended) is stale likewise.
"""

from __future__ import annotations

import heapq
import json
import threading
from collections.abc import Collection
from typing import Any

from .records import (
    FIELDS,
    MAX_LEASE_LOSSES,
    Event,
    JobRecord,
    after_end,
    blocked_error,
    label,
    record_from_row,
    runs_on,
)

__all__ = ["Job", "Memory"]

_PAYLOAD, _RESULT = FIELDS.index("payload"), FIELDS.index("result")


class Job:
    """A stored job: the fields of a :class:`~taskgraph.stores.records.JobRecord` (options and error as JSON text,
    as the other stores keep them), its place in the order of enqueueing, and its ticket (see the module
    docstring)."""

    __slots__ = (*FIELDS, "seq", "ticket")
    id: str
    name: str
    status: str
    queue: str
    key: str | None
    priority: int
    payload: bytes
    options: str
    result: bytes | None
    error: str | None
    attempts: int
    lease_losses: int
    waiting: int
    not_before: float
    created: float
    started: float | None
    finished: float | None
    worker: str | None
    lease_expires: float | None
    progress: float | None
    progress_message: str | None
    seq: int
    ticket: int

    def __init__(self, seq: int, created: float) -> None:
        for name in FIELDS:
            setattr(self, name, None)
        self.payload, self.attempts, self.lease_losses, self.waiting, self.priority = b"", 0, 0, 0, 0
        self.seq, self.ticket, self.created = seq, 0, created

    def record(self, whole: bool = True) -> JobRecord:
        """The job as a record (a copy): with its payload and result, or, not ``whole``, without them."""
        row = [getattr(self, name) for name in FIELDS]
        if not whole:
            row[_PAYLOAD], row[_RESULT] = b"", None
        return record_from_row(row)

    @property
    def label(self) -> str:
        """What messages call it: its key if it has one, else its name."""
        return self.key if self.key is not None else self.name


_LOST = "its worker was lost {} times while running it (lease expired); it may be killing its worker"


class Memory:
    """One in-memory store, shared by every connection to its name in this process.

    Attributes:
        changed: the lock every call holds, notified after each call that changed something.
        version: counts those changes (for :meth:`~taskgraph.stores.base.Store.wait`).
        work: ``queue -> count`` of the times a job of that queue became claimable (for ``wait_for_work``).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.changed = threading.Condition()
        self.version = 0
        self.dirty = False  # changed in the call under way
        self.work: dict[str, int] = {}
        self.jobs: dict[str, Job] = {}  # in the order of enqueueing
        self.keys: dict[str, str] = {}  # key -> id
        self.prereqs: dict[str, list[str]] = {}  # dependent -> its prerequisites
        self.dependents: dict[str, dict[str, None]] = {}  # prerequisite -> its dependents, in order
        self.events: dict[str, list[Event]] = {}
        self.counts: dict[str, dict[str, int]] = {}  # queue -> status -> jobs
        self.ready: dict[str, list[tuple[int, float, int, int, str]]] = {}  # (-priority, not_before, seq, ticket, id)
        self.delayed: list[tuple[float, int, str]] = []  # (not_before, ticket, id)
        self.leases: list[tuple[float, str]] = []  # (lease_expires, id)
        self.seq = 0
        self.workers: dict[str, tuple[str, float]] = {}  # live workers: id -> (info as JSON, expires)

    def prune_workers(self, now: float) -> None:
        """Forget the workers whose entry expired."""
        for worker_id in [i for i, (_, expires) in self.workers.items() if expires < now]:
            del self.workers[worker_id]

    def changes(self) -> None:
        """End a call: if it changed something, count the change and wake every waiter."""
        if self.dirty:
            self.dirty = False
            self.version += 1
            self.changed.notify_all()

    def count(self, job: Job, step: int) -> None:
        """Count ``job`` in (``step`` 1) or out of (-1) the jobs of its queue in its status."""
        counts = self.counts.setdefault(job.queue, {})
        counts[job.status] = counts.get(job.status, 0) + step
        if not counts[job.status]:
            del counts[job.status]
            if not counts:
                del self.counts[job.queue]

    def move(self, job: Job, dest: str, now: float, event: str, by: str | None = None, detail: str | None = None,
             **values: Any) -> None:
        """Put ``job`` in status ``dest`` with ``values`` set, recording ``event`` (by the worker ``by``); queue it
        if ``dest`` is QUEUED."""
        source = job.status
        self.count(job, -1)
        job.status = dest
        for name, value in values.items():
            setattr(job, name, value)
        self.count(job, 1)
        self.event(job.id, now, event, source, dest, by, detail)
        if dest == "QUEUED":
            self.queue(job, now)

    def event(self, job_id: str, now: float, event: str, source: str | None, dest: str, worker: str | None = None,
              detail: str | None = None) -> None:
        """Add an event to a job's history."""
        self.events.setdefault(job_id, []).append(Event(now, event, source, dest, worker, detail))
        self.dirty = True

    def queue(self, job: Job, now: float) -> None:
        """Make a QUEUED job claimable: now, or once its ``not_before`` has come."""
        job.ticket += 1
        if job.not_before <= now:
            self._ready(job)
        else:
            heapq.heappush(self.delayed, (job.not_before, job.ticket, job.id))
        self.dirty = True

    def _ready(self, job: Job) -> None:
        """Push a QUEUED job whose time has come on its queue's ready heap, and tell its queue's idle workers."""
        entry = (-job.priority, job.not_before, job.seq, job.ticket, job.id)
        heapq.heappush(self.ready.setdefault(job.queue, []), entry)
        self.work[job.queue] = self.work.get(job.queue, 0) + 1
        self.dirty = True

    def _queued(self, job_id: str, ticket: int) -> Job | None:
        job = self.jobs.get(job_id)
        return job if job is not None and job.status == "QUEUED" and job.ticket == ticket else None

    def _leased(self, job_id: str, expires: float) -> Job | None:
        job = self.jobs.get(job_id)
        return job if job is not None and job.status == "RUNNING" and job.lease_expires == expires else None

    def tick(self, now: float) -> None:
        """Make the delayed jobs whose time has come claimable, and take back the leases that expired."""
        delayed, leases = self.delayed, self.leases
        while delayed and (delayed[0][0] <= now or self._queued(delayed[0][2], delayed[0][1]) is None):
            _, ticket, job_id = heapq.heappop(delayed)
            job = self._queued(job_id, ticket)
            if job is not None:
                self._ready(job)
        while leases and (leases[0][0] < now or self._leased(leases[0][1], leases[0][0]) is None):
            expires, job_id = heapq.heappop(leases)
            job = self._leased(job_id, expires)
            if job is not None:
                self._lost(job, now)

    def _lost(self, job: Job, now: float) -> None:
        """Take back a job whose worker's lease expired: QUEUED in its old place, or FAILED after too many."""
        owner, losses = job.worker, job.lease_losses + 1
        detail = f"lease of worker {owner} expired"
        if losses < MAX_LEASE_LOSSES:  # not_before kept: it goes back to its place in the queue
            self.move(job, "QUEUED", now, "requeue", owner, detail, lease_losses=losses, worker=None,
                      lease_expires=None)
            return
        error = {"type": "taskgraph.errors.TaskError", "message": _LOST.format(losses), "traceback": ""}
        self.move(job, "FAILED", now, "fail", owner, detail, error=json.dumps(error), lease_losses=losses,
                  finished=now, lease_expires=None)
        self.cascade(job, "FAILED", now)

    def next_due(self) -> float | None:
        """When the next delayed job comes due or the next lease runs out, if any (after :meth:`tick`)."""
        times = [heap[0][0] for heap in (self.delayed, self.leases) if heap]
        return min(times) if times else None

    def claimable(self, queue: str) -> tuple[int, float, int, int, str] | None:
        """The first entry of ``queue``'s ready heap whose job is QUEUED under its ticket; stale ones dropped."""
        heap = self.ready.get(queue)
        while heap:
            if self._queued(heap[0][4], heap[0][3]) is not None:
                return heap[0]
            heapq.heappop(heap)
        return None

    def lease(self, job: Job) -> None:
        """Note the lease ``job`` now has, to take it back when it runs out."""
        assert job.lease_expires is not None
        heapq.heappush(self.leases, (job.lease_expires, job.id))
        self.dirty = True

    def unfinished(self, job_id: str) -> int:
        """How many of a job's prerequisites the store holds and are not DONE (for a continuation: not finished,
        as it runs however they end once retried by hand)."""
        ended = ("DONE",) if runs_on(self.jobs[job_id].options) == "success" else ("DONE", "FAILED", "CANCELLED")
        return sum(1 for p in self.prereqs.get(job_id, ()) if p in self.jobs and self.jobs[p].status not in ended)

    def released(self, job: Job, now: float, worker: str) -> None:
        """``job`` is DONE: each PENDING dependent waits for one less, and is QUEUED at none; a continuation that
        runs on failure only is CANCELLED, with its PENDING descendants."""
        for dependent_id in self.dependents.get(job.id, ()):
            dependent = self.jobs[dependent_id]
            if dependent.status != "PENDING":
                continue
            if runs_on(dependent.options) == "failure":
                self.move(dependent, "CANCELLED", now, "cancel", worker, f"prerequisite {label(job.label)!r} is DONE",
                          finished=now)
                self.cascade(dependent, "CANCELLED", now)
                continue
            dependent.waiting -= 1
            if dependent.waiting <= 0:
                self.move(dependent, "QUEUED", now, "release", worker, not_before=max(dependent.not_before, now))

    def cascade(self, job: Job, state: str, now: float) -> None:
        """Fail or cancel the PENDING descendants of a job that just FAILED or was CANCELLED; a continuation that
        runs on that end is QUEUED instead (and its own dependents wait for it)."""
        parents = [job]
        while parents:
            parent = parents.pop(0)
            for dependent_id in self.dependents.get(parent.id, ()):
                dependent = self.jobs[dependent_id]
                if dependent.status != "PENDING":
                    continue
                detail = f"prerequisite {parent.label!r}"
                move = after_end(runs_on(dependent.options), parent.status)
                if move == "QUEUED":
                    why = f"prerequisite {label(parent.label)!r} is {parent.status}"
                    self.move(dependent, "QUEUED", now, "release", None, why, waiting=0,
                              not_before=max(dependent.not_before, now))
                    continue
                dest = move if move in ("FAILED", "CANCELLED") else state
                error = blocked_error(dependent.label, parent.label, dest) if dest == "FAILED" else None
                self.move(dependent, dest, now, "fail" if dest == "FAILED" else "cancel", None, detail, error=error,
                          finished=now)
                parents.append(dependent)

    def link(self, dependent: str, after: list[str]) -> None:
        """Record the edges of ``dependent`` (the ones it had are dropped first)."""
        self.unlink(dependent)
        self.prereqs[dependent] = list(after)
        for prereq in after:
            self.dependents.setdefault(prereq, {})[dependent] = None

    def unlink(self, dependent: str) -> None:
        """Drop the edges from ``dependent``'s prerequisites to it."""
        for prereq in self.prereqs.pop(dependent, ()):
            self.dependents.get(prereq, {}).pop(dependent, None)

    def drop(self, job: Job) -> None:
        """Delete a job with its history and edges."""
        self.count(job, -1)
        del self.jobs[job.id]
        if job.key is not None:
            self.keys.pop(job.key, None)
        self.events.pop(job.id, None)
        self.unlink(job.id)
        for dependent in self.dependents.pop(job.id, ()):
            if dependent in self.prereqs:
                self.prereqs[dependent] = [p for p in self.prereqs[dependent] if p != job.id]
        self.dirty = True

    def edges_into(self, ids: Collection[str]) -> list[tuple[str, str]]:
        """``(prerequisite, dependent)`` for each dependent of ``ids`` (:meth:`Store.prerequisites`), sorted."""
        return sorted({(p, d) for d in set(ids) for p in self.prereqs.get(d, ())})

    def finished_rows(self, now: float, minutes: int) -> list[tuple[str, int, int]]:
        """``(status, clock minutes ago, 1)`` of each job that ended DONE or FAILED in the last ``minutes`` clock
        minutes (this one included)."""
        this = int(now // 60)
        return [(j.status, this - int(j.finished // 60), 1) for j in self.jobs.values()
                if j.finished is not None and j.finished <= now and j.status in ("DONE", "FAILED")
                and this - int(j.finished // 60) < minutes]
