"""The in-memory store: ``memory://NAME``, for tests and single-process apps.

A store lives in this process, as long as the process: every connection opened to one name in it shares one
store (a queue and the worker running in a thread of the same process), and different names are independent.
Nothing is written anywhere: the jobs are gone when the process ends, and no other process can reach them.

Each call is one transaction under the store's one lock; its state is in :mod:`.memory_state`. Waiting blocks on
the lock's condition, which every change notifies: :meth:`MemoryStore.wait` wakes at the next change, and
:meth:`MemoryStore.wait_for_work` when a job of the queues served is queued, when a delayed one comes due or when
a lease runs out (it takes the lease back itself, as a claim would), never by polling.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import SplitResult, unquote

from ..urls import redact, store_options
from .base import Store, StoreError
from .common import (
    EnqueuePlan,
    by_start,
    fail_detail,
    in_order,
    read_worker,
    retried_detail,
    unique,
    worker_entry,
)
from .entries import MemoryEntries
from .memory_state import Job, Memory
from .records import FIELDS, Event, JobRecord, NewJob, metadata_matches
from .views import MemoryViews

__all__ = ["MemoryStore", "open_memory"]

_STORED = frozenset(FIELDS) - {"not_before", "finished"}  # those two are worked out from the plan's row
_STORES: dict[str, Memory] = {}  # name -> store, for the life of the process
_STORES_LOCK = threading.Lock()


class MemoryStore(MemoryEntries, MemoryViews, Store):
    """A connection to the in-memory store called ``name`` in this process (created on first use).

    Connections to one name share its jobs; each keeps its own note of what it has seen, for :meth:`wait` and
    :meth:`wait_for_work`. Unlike the other stores, a connection may be used from several threads.
    """

    def __init__(self, name: str = "") -> None:
        with _STORES_LOCK:
            memory = _STORES.get(name)
            if memory is None:
                memory = _STORES[name] = Memory(redact(f"memory://{name}") if name else "memory:")
        self.name = name
        self.url = memory.url
        self._m = memory
        self._closed = False
        with memory.changed:
            self._seen = memory.version
            self._seen_work = dict(memory.work)

    @contextmanager
    def _call(self) -> Iterator[tuple[Memory, float]]:
        """One call: the store under its lock, and the time now; waiters are woken after a change."""
        memory = self._m
        with memory.changed:
            if self._closed:
                raise StoreError(f"{self.url}: this connection is closed; open another one")
            try:
                yield memory, time.time()
            finally:
                memory.changes()

    def enqueue(self, jobs: Sequence[NewJob]) -> list[JobRecord]:
        with self._call() as (m, now):
            return [m.jobs[i].record() for i in self._add(m, now, jobs)]

    def enqueue_ids(self, jobs: Sequence[NewJob]) -> list[str]:
        with self._call() as (m, now):
            return self._add(m, now, jobs)

    def _add(self, m: Memory, now: float, jobs: Sequence[NewJob]) -> list[str]:
        """Write ``jobs`` (see :meth:`enqueue`) under the store's lock; their ids."""
        keys = unique(j.key for j in jobs if j.key is not None)
        ids = unique([*(p for j in jobs for p in j.after), *(j.id for j in jobs)])
        plan = EnqueuePlan(
            self.url,
            {k: (m.keys[k], m.jobs[m.keys[k]].status) for k in keys if k in m.keys},
            {i: (m.jobs[i].label, m.jobs[i].status) for i in ids if i in m.jobs},
        )
        for job in jobs:
            plan.add(job)  # refuses before anything is written
        for job_id, row in [*plan.inserts.items(), *plan.resets.items()]:
            stored = m.jobs.get(job_id)
            if stored is None:
                m.seq += 1
                stored = m.jobs[job_id] = Job(m.seq, now)
            else:
                m.count(stored, -1)
            for name, value in row.items():
                if name in _STORED:  # the plan's columns that are fields of a record, as the other stores write
                    setattr(stored, name, value)
            stored.not_before = max(now + row["delay"], row["nb"] or 0.0)
            stored.finished = now if row["final"] else None
            stored.result = stored.worker = stored.lease_expires = stored.started = None
            stored.progress = stored.progress_message = None
            stored.attempts = stored.lease_losses = 0
            m.count(stored, 1)
            if stored.key is not None:
                m.keys[stored.key] = job_id
            m.link(job_id, plan.edges[job_id])
            if stored.status == "QUEUED":
                m.queue(stored, now)
        for job_id, event, source, dest, detail in plan.events:
            m.event(job_id, now, event, source, dest, None, detail)
        return plan.result

    def claim(self, worker: str, queues: Sequence[str], limit: int, lease: float) -> list[JobRecord]:
        if limit <= 0 or not queues:
            return []
        queues = unique(queues)
        with self._call() as (m, now):
            m.tick(now)
            claimed: list[JobRecord] = []
            for queue in queues:  # in order: a later queue only when the earlier ones have no ready job
                while len(claimed) < limit:
                    head = m.claimable(queue)
                    if head is None:
                        break
                    job = m.jobs[head[4]]
                    m.move(job, "RUNNING", now, "dispatch", worker, worker=worker, attempts=job.attempts + 1,
                           started=now, lease_expires=now + lease)
                    m.lease(job)
                    claimed.append(job.record())
            return claimed

    def _owned(self, m: Memory, worker: str, job_id: str) -> Job | None:
        job = m.jobs.get(job_id)
        return job if job is not None and job.status == "RUNNING" and job.worker == worker else None

    def heartbeat(self, worker: str, ids: Collection[str], lease: float) -> set[str]:
        if not ids:
            return set()
        with self._call() as (m, now):
            alive = set()
            for job_id in unique(ids):
                job = self._owned(m, worker, job_id)
                if job is not None:
                    job.lease_expires = now + lease
                    m.lease(job)
                    alive.add(job_id)
            return alive

    def complete(self, worker: str, results: Sequence[tuple[str, bytes]]) -> list[str]:
        with self._call() as (m, now):
            accepted = []
            for job_id, result in results:
                job = self._owned(m, worker, job_id)
                if job is None:
                    continue
                m.move(job, "DONE", now, "done", worker, result=result, finished=now, lease_expires=None,
                       progress=1.0)
                accepted.append(job_id)
                m.released(job, now, worker)
            return accepted

    def fail(self, worker: str, job_id: str, error: dict[str, str], retry_in: float | None) -> bool:
        text, detail = json.dumps(error), fail_detail(error, retry_in)
        with self._call() as (m, now):
            job = self._owned(m, worker, job_id)
            if job is None:
                return False
            if retry_in is not None:
                m.move(job, "QUEUED", now, "retry", worker, detail, error=text, not_before=now + retry_in,
                       worker=None, lease_expires=None)
                return True
            m.move(job, "FAILED", now, "fail", worker, detail, error=text, finished=now, lease_expires=None)
            m.cascade(job, "FAILED", now)
            return True

    def release(self, worker: str, ids: Collection[str]) -> list[str]:
        with self._call() as (m, now):
            handed = []
            for job_id in unique(ids):
                job = self._owned(m, worker, job_id)
                if job is not None:
                    m.move(job, "QUEUED", now, "requeue", worker, "handed back", attempts=max(job.attempts - 1, 0),
                           worker=None, lease_expires=None)
                    handed.append(job_id)
            return handed

    def cancel(self, ids: Collection[str]) -> list[str]:
        with self._call() as (m, now):
            cancelled = []
            for job_id in ids:
                job = m.jobs.get(job_id)
                if job is None or job.status not in ("PENDING", "QUEUED", "RUNNING"):
                    continue
                m.move(job, "CANCELLED", now, "cancel", finished=now, lease_expires=None)
                cancelled.append(job_id)
                m.cascade(job, "CANCELLED", now)
            return cancelled

    def retry(self, ids: Collection[str], force: bool = False) -> list[str]:
        again = ("FAILED", "CANCELLED", "DONE") if force else ("FAILED", "CANCELLED")
        with self._call() as (m, now):
            retried = []
            for job_id in unique(ids):
                job = m.jobs.get(job_id)
                if job is None or job.status not in again:
                    continue
                waiting = m.unfinished(job_id)
                m.move(job, "PENDING" if waiting else "QUEUED", now, "retry", None, retried_detail(job.status),
                       result=None,
                       error=None, attempts=0, lease_losses=0, waiting=waiting, not_before=now, started=None,
                       finished=None, worker=None, lease_expires=None, progress=None, progress_message=None)
                retried.append(job_id)
            return retried

    def set_progress(self, worker: str, job_id: str, value: float, message: str | None) -> bool:
        with self._call() as (m, _):
            job = self._owned(m, worker, job_id)
            if job is None:
                return False
            job.progress, job.progress_message = value, message
            m.dirty = True
            return True

    def get(self, ids: Sequence[str]) -> list[JobRecord]:
        with self._call() as (m, _):
            return in_order(ids, (m.jobs[i].record() for i in set(ids) if i in m.jobs))

    def status_of(self, ids: Sequence[str]) -> dict[str, tuple[str, Any]]:
        with self._call() as (m, _):
            return {i: (m.jobs[i].status, m.jobs[i].not_before) for i in ids if i in m.jobs}

    def list_jobs(
        self, status: str | None = None, name: str | None = None, queue: str | None = None, limit: int = 100,
        metadata: dict[str, Any] | None = None, offset: int = 0, older_than: float | None = None,
        newer_than: float | None = None,
    ) -> list[JobRecord]:
        found: list[JobRecord] = []
        end = max(int(offset), 0) + max(int(limit), 0)
        with self._call() as (m, now):
            before = now - older_than if older_than is not None else None
            after = now - newer_than if newer_than is not None else None
            for job in reversed(m.jobs.values()):
                if len(found) >= end:
                    break
                if (status is None or job.status == status) and (name is None or job.name == name) and (
                        queue is None or job.queue == queue) and (before is None or job.created < before) and (
                        after is None or job.created > after):
                    record = job.record(whole=False)
                    if metadata_matches(record, metadata):
                        found.append(record)
        return found[max(int(offset), 0):]

    def delete(self, ids: Collection[str]) -> list[str]:
        with self._call() as (m, _):
            gone = [i for i in unique(ids) if i in m.jobs and m.jobs[i].status in ("DONE", "FAILED", "CANCELLED")]
            for job_id in gone:
                m.drop(m.jobs[job_id])
            return gone

    def match_ids(self, prefix: str, limit: int) -> list[str]:
        with self._call() as (m, _):
            return sorted(i for i in m.jobs if i.startswith(prefix))[: max(int(limit), 0)]

    def scheduled(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._call() as (m, now):
            for job in m.jobs.values():
                if job.status == "QUEUED" and job.not_before > now:
                    counts[job.queue] = counts.get(job.queue, 0) + 1
        return counts

    def register_worker(self, info: dict[str, Any], ttl: float) -> None:
        with self._call() as (m, now):
            worker_id, text, expires = worker_entry(info, ttl, now)
            m.prune_workers(now)
            m.workers[worker_id] = (text, expires)

    def deregister_worker(self, worker_id: str) -> bool:
        with self._call() as (m, now):
            m.prune_workers(now)
            return m.workers.pop(worker_id, None) is not None

    def list_workers(self) -> list[dict[str, Any]]:
        with self._call() as (m, now):
            m.prune_workers(now)
            return by_start(info for info in (read_worker(text) for text, _ in m.workers.values()) if info)

    def stats(self) -> dict[str, dict[str, int]]:
        with self._call() as (m, _):
            return {queue: dict(counts) for queue, counts in m.counts.items()}

    def history(self, job_id: str) -> list[Event]:
        with self._call() as (m, _):
            return [Event(e.at, e.event, e.source, e.dest, e.worker, e.detail) for e in m.events.get(job_id, ())]

    def purge(self, older_than: float) -> int:
        with self._call() as (m, now):
            cutoff = now - older_than
            gone = [job for job in m.jobs.values() if job.finished is not None and job.finished < cutoff
                    and job.status in ("DONE", "FAILED", "CANCELLED")]
            for job in gone:
                m.drop(job)
            return len(gone)

    def wait(self, timeout: float) -> None:
        memory = self._m
        with memory.changed:
            memory.changed.wait_for(lambda: memory.version != self._seen, max(timeout, 0.0))
            self._seen = memory.version

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        """See :meth:`taskgraph.stores.base.Store.wait_for_work`: returns when a job of ``queues`` became claimable
        since this connection's last look (queued, come due, or taken back from a lost worker), or after
        ``timeout``."""
        end = time.monotonic() + max(timeout, 0.0)
        with self._call() as (m, _):
            while True:
                now = time.time()
                m.tick(now)
                news = [q for q in queues if m.work.get(q, 0) != self._seen_work.get(q, 0)]
                if news:
                    self._seen_work.update((q, m.work[q]) for q in news)
                    return
                left = end - time.monotonic()
                if left <= 0:
                    return
                due = m.next_due()
                m.changes()  # what tick() did wakes the other waiters
                m.changed.wait(left if due is None else min(left, max(due - now, 0.0) + 0.001))

    def close(self) -> None:
        self._closed = True


def open_memory(url: SplitResult) -> MemoryStore:
    """``memory://NAME``, or ``memory:`` (and ``memory://``) for the default store of the process; no options.

    Raises:
        StoreError: the URL has a path or options.
    """
    shown = repr(redact(url.geturl()))
    try:
        store_options(url, shown, ())
    except ValueError as exc:
        raise StoreError(str(exc)) from None
    if url.path.strip("/"):
        raise StoreError(f"{shown}: write an in-memory store's URL as memory://NAME (a name, no path) or memory:")
    return MemoryStore(unquote(url.netloc))
