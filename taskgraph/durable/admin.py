"""Looking after a durable queue's jobs: listing, counting, retrying, cancelling, deleting, purging, and its live
workers. :class:`QueueAdmin` is a part of :class:`~taskgraph.durable.queue.DurableQueue`."""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..states import State
from ..stores import Store
from ..stores.common import split_scheduled
from ..stores.records import JobRecord
from .hooks import Hooks
from .options import canonical_id, check_metadata

__all__ = ["QueueAdmin", "QueueStats", "WorkerInfo", "STATUSES", "ago"]

#: The statuses ``list`` and ``stats`` know: the task machine's, and SCHEDULED (a QUEUED job whose time is to come).
STATUSES = (*State.__members__, "SCHEDULED")

_PAGE = 200  # records read at a time by a listing of SCHEDULED jobs


@dataclass(frozen=True)
class WorkerInfo:
    """A live worker, as it registered in the store (see :meth:`QueueAdmin.workers`).

    Attributes:
        id: the worker's id, as the ``worker`` of the jobs it runs.
        host, pid: where it runs.
        queues: the named queues it serves, in the order it takes them.
        concurrency: how many jobs of each mode it runs at once (``{"thread": 8, "process": 4, "async": 100}``).
        started: when it started; heartbeat: when it last registered (the store's clock); expires: when its entry
            lapses if it does not register again.
        running: the ids of the jobs it runs now.
        done, failed: how many jobs it finished, and how many of those FAILED.
    """

    id: str
    host: str = ""
    pid: int | None = None
    queues: tuple[str, ...] = ()
    concurrency: dict[str, int] = field(default_factory=dict)
    started: float | None = None
    heartbeat: float | None = None
    expires: float | None = None
    running: tuple[str, ...] = ()
    done: int = 0
    failed: int = 0

    @classmethod
    def from_entry(cls, info: dict[str, Any]) -> WorkerInfo:
        """From a store's entry; a field of the wrong type (written by another version, or by hand) is left at
        its default."""
        def get(name: str, kinds: type | tuple[type, ...], default: Any) -> Any:
            value = info.get(name, default)
            return value if isinstance(value, kinds) and not isinstance(value, bool) else default

        def texts(name: str) -> tuple[str, ...]:
            value = info.get(name)
            return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()

        concurrency = info.get("concurrency")
        return cls(
            id=str(info["id"]), host=get("host", str, ""), pid=get("pid", int, None), queues=texts("queues"),
            concurrency={k: v for k, v in concurrency.items() if isinstance(v, int)}
            if isinstance(concurrency, dict) else {},
            started=get("started", (int, float), None), heartbeat=get("heartbeat", (int, float), None),
            expires=get("expires", (int, float), None), running=texts("running"), done=get("done", int, 0),
            failed=get("failed", int, 0),
        )


class QueueStats(dict[str, dict[str, int]]):
    """``{queue: {status: count}}``, and ``cache``: ``{job: CacheStats(hits, misses)}``, read on first use."""

    def __init__(self, counts: dict[str, dict[str, int]], cache: Callable[[], dict[str, Any]]) -> None:
        super().__init__(counts)
        self._cache = cache
        self._read: dict[str, Any] | None = None

    @property
    def cache(self) -> dict[str, Any]:
        if self._read is None:
            self._read = self._cache()
        return self._read


def _ids(method: str, ids: Iterable[str]) -> builtins.list[str]:
    """The stored form of the ids a method was given.

    Raises:
        TypeError: one id was given as a string, or an id is not a string.
    """
    if isinstance(ids, str):
        raise TypeError(f"{method}() takes a list of ids, not one id as a string: {method}([{ids!r}])")
    ids = builtins.list(ids)
    for job_id in ids:
        if not isinstance(job_id, str):
            raise TypeError(f"{method}(): a job id is a string, not {job_id!r}")
    return [canonical_id(i) for i in ids]


def ago(value: float | timedelta | datetime | None, name: str) -> float | None:
    """Seconds ago from ``older_than``/``newer_than``: seconds, a timedelta, or a datetime (naive: local time).

    Raises:
        ValueError: not one of those, negative, or not finite.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return max(time.time() - value.timestamp(), 0.0)
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ValueError(f"{name} must be seconds >= 0, a timedelta or a datetime, not {value!r}")
    return float(value)


class QueueAdmin:
    """What :class:`~taskgraph.durable.queue.DurableQueue` offers to look after its jobs."""

    hooks: Hooks
    cache_stats: Callable[[], dict[str, Any]]  # the queue's (CacheAdmin)

    @property
    def store(self) -> Store:  # pragma: no cover - the queue's
        raise NotImplementedError

    def list(  # noqa: A003 - the name users expect: queue.list(status="FAILED")
        self, status: str | None = None, name: str | None = None, queue: str | None = None, limit: int = 100,
        metadata: dict[str, Any] | None = None, *, offset: int = 0,
        older_than: float | timedelta | datetime | None = None,
        newer_than: float | timedelta | datetime | None = None,
    ) -> builtins.list[JobRecord]:
        """Stored jobs, newest first, filtered by status, job name (``module:qualname``), named queue, metadata
        (jobs whose metadata holds each key of ``metadata`` with an equal value) and age; the page of at most
        ``limit`` after the first ``offset``.

        Args:
            status: a status of :data:`STATUSES`; ``SCHEDULED`` lists the QUEUED jobs whose time is to come.
            older_than, newer_than: jobs created more (or less) than this long ago: seconds, a timedelta, or a
                datetime (created before, or after, it).

        Raises:
            ValueError: an unknown status, a limit or offset that is not a whole number >= 0, an age that is not
                one, or metadata that is not a JSON object.
        """
        if metadata is not None:
            metadata = check_metadata(None, metadata)
        if status is not None:
            status = status.upper()
            if status not in STATUSES:
                raise ValueError(f"unknown status {status!r}; the statuses are {', '.join(STATUSES)}")
        for option, value in (("limit", limit), ("offset", offset)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{option} must be a whole number >= 0, not {value!r}")
        filters: dict[str, Any] = {"status": status, "name": name, "queue": queue, "limit": limit}
        # passed only when given, so that a store written before them still lists
        extra = {"metadata": metadata or None, "offset": offset or None,
                 "older_than": ago(older_than, "older_than"), "newer_than": ago(newer_than, "newer_than")}
        filters.update((k, v) for k, v in extra.items() if v is not None)
        if limit == 0:
            return []
        if status == "SCHEDULED":
            return self._scheduled(filters)
        return self.store.list_jobs(**filters)

    def _scheduled(self, filters: dict[str, Any]) -> builtins.list[JobRecord]:
        """The page of QUEUED jobs whose time is to come: read a page of QUEUED jobs at a time."""
        skip, limit = filters.pop("offset", 0), filters.pop("limit")
        found: builtins.list[JobRecord] = []
        start = 0
        while len(found) < skip + limit:
            page = self.store.list_jobs(**{**filters, "status": "QUEUED", "limit": _PAGE, "offset": start})
            now = time.time()
            found += [r for r in page if r.shown_status(now) == "SCHEDULED"]
            if len(page) < _PAGE:
                break
            start += _PAGE
        return found[skip : skip + limit]

    def stats(self) -> QueueStats:
        """How many jobs each named queue holds in each status; the QUEUED jobs whose time is to come (delayed,
        or waiting to be retried) are counted as SCHEDULED, not QUEUED. Its ``cache`` attribute, read from the
        store when first used, has the result cache's hits and misses by job (see ``cache_stats``)."""
        counts = self.store.stats()
        if any("QUEUED" in row for row in counts.values()):
            counts = split_scheduled(counts, self.store.scheduled())
        return QueueStats(counts, self.cache_stats)

    def retry(self, ids: Iterable[str], force: bool = False) -> builtins.list[str]:
        """Queue FAILED or CANCELLED jobs again, as new: attempts back to 0, error cleared; PENDING while a
        prerequisite is not DONE. With ``force``, DONE jobs too: each runs again (its result cleared; dependents
        it released already are left as they are). Jobs in other statuses are left as they are.

        Returns:
            the ids that were queued again.
        """
        ids = _ids("retry", ids)
        before = self._before(ids)
        done = self.store.retry(ids, force=True) if force else self.store.retry(ids)
        self._changed(before, done)
        return done

    def cancel(self, ids: Iterable[str]) -> builtins.list[str]:
        """Cancel jobs that are not finished, and their PENDING descendants (see :meth:`JobHandle.cancel`).

        Returns:
            the ids that this call cancelled.
        """
        ids = _ids("cancel", ids)
        before = self._before(ids)
        done = self.store.cancel(ids)
        self._changed(before, done)
        return done

    def _before(self, ids: builtins.list[str]) -> dict[str, str] | None:
        """The statuses of ``ids`` before a change, when a hook will be told of it; else None (nothing read)."""
        return {r.id: r.status for r in self.store.get(ids)} if self.hooks else None

    def _changed(self, before: dict[str, str] | None, changed: builtins.list[str]) -> None:
        """Call ``on_state_change(record, old, new)`` for the jobs this process changed (hooks only)."""
        if before is None or not changed:
            return
        for record in self.store.get(changed):
            self.hooks.call("on_state_change", record, before.get(record.id), record.status)

    def delete(self, ids: Iterable[str]) -> builtins.list[str]:
        """Delete finished jobs (DONE, FAILED, CANCELLED) with their history; unfinished jobs, and ids the store
        does not have, are left as they are.

        Returns:
            the ids deleted.
        """
        return self.store.delete(_ids("delete", ids))

    def purge(self, older_than: float | timedelta = 0.0) -> int:
        """Delete finished jobs that ended more than ``older_than`` ago (seconds or a timedelta).

        Returns:
            how many were deleted.
        """
        seconds = older_than.total_seconds() if isinstance(older_than, timedelta) else float(older_than)
        return self.store.purge(seconds)

    def workers(self) -> builtins.list[WorkerInfo]:
        """The live workers of the store: each registers when it starts, again at each heartbeat, and leaves when it
        stops; one that died disappears once its entry expires. Oldest started first."""
        return [WorkerInfo.from_entry(info) for info in self.store.list_workers()]
