"""What a dashboard reads of a store, asked for at once: a :class:`Look` names the parts wanted (the counts, the
live workers, jobs finished per minute, one job with its history, a page of jobs with the edges into them), and
:meth:`~taskgraph.stores.base.Store.snapshot` answers them all as one :class:`Snapshot`, in one call: one read
transaction on SQLite, one pipelined round trip on PostgreSQL and Redis for the parts that need no listing, one
hold of the lock in memory. A page watching the store costs one store call per refresh, however many jobs it
shows.

:func:`read` is the default, for a store that has nothing better: the store's own methods, one after the other.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .records import Event, JobRecord

if TYPE_CHECKING:
    from .base import Store

__all__ = ["Look", "Snapshot", "read", "per_minute", "FINISHED", "MemoryViews"]

#: The statuses :meth:`~taskgraph.stores.base.Store.finished_per_minute` counts.
FINISHED = ("DONE", "FAILED")


@dataclass(frozen=True)
class Look:
    """The parts of a :class:`Snapshot` to read; the others are left empty.

    Attributes:
        counts: jobs by queue and status (:meth:`Store.stats`) and the scheduled ones (:meth:`Store.scheduled`).
        workers: the live workers (:meth:`Store.list_workers`).
        minutes: jobs finished in each of the last that many minutes (:meth:`Store.finished_per_minute`); 0: none.
        job: the record of this job id, with its history.
        jobs: a page of jobs: the keyword arguments of :meth:`Store.list_jobs`.
        edges: the edges into the jobs of that page (:meth:`Store.prerequisites`).
    """

    counts: bool = False
    workers: bool = False
    minutes: int = 0
    job: str | None = None
    jobs: dict[str, Any] | None = None
    edges: bool = False


@dataclass(frozen=True)
class Snapshot:
    """What a :class:`Look` asked for, read at once."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    scheduled: dict[str, int] = field(default_factory=dict)
    workers: list[dict[str, Any]] = field(default_factory=list)
    #: ``{"DONE": [...], "FAILED": [...]}``, oldest minute first; None when not asked, or the store cannot say.
    finished: dict[str, list[int]] | None = None
    job: JobRecord | None = None
    history: list[Event] = field(default_factory=list)
    jobs: list[JobRecord] = field(default_factory=list)
    #: ``(prerequisite, dependent)`` pairs, as :meth:`Store.prerequisites` gives them; None when not asked, or the
    #: store cannot list them.
    edges: list[tuple[str, str]] | None = None


def read(store: Store, look: Look) -> Snapshot:
    """A snapshot read with the store's own methods, one after the other (the default of
    :meth:`~taskgraph.stores.base.Store.snapshot`)."""
    finished = None
    if look.minutes > 0:
        try:
            finished = store.finished_per_minute(look.minutes)
        except NotImplementedError:
            finished = None
    job = store.get([look.job]) if look.job is not None else []
    jobs = store.list_jobs(**look.jobs) if look.jobs is not None else []
    edges = None
    if look.edges:
        try:
            edges = store.prerequisites([r.id for r in jobs]) if jobs else []
        except NotImplementedError:
            edges = None
    return Snapshot(
        counts=store.stats() if look.counts else {}, scheduled=store.scheduled() if look.counts else {},
        workers=store.list_workers() if look.workers else [], finished=finished, job=job[0] if job else None,
        history=store.history(job[0].id) if job else [], jobs=jobs, edges=edges,
    )


def per_minute(rows: Iterable[tuple[Any, Any, Any]], minutes: int) -> dict[str, list[int]]:
    """``{"DONE": [...], "FAILED": [...]}`` from rows ``(status, clock minutes ago, how many)``, oldest minute
    first (0, the current minute, is the last item); rows out of range or of other statuses are left out."""
    counts = {status: [0] * minutes for status in FINISHED}
    for status, ago, n in rows:
        status = status.decode() if isinstance(status, bytes) else status
        ago = int(ago)
        if status in counts and 0 <= ago < minutes:
            counts[status][minutes - 1 - ago] += int(n)
    return counts


class MemoryViews:
    """:meth:`prerequisites`, :meth:`finished_per_minute` and :meth:`snapshot` of the in-memory store, each under
    its one lock (a snapshot holds it for all its parts)."""

    _call: Any

    def prerequisites(self, ids: Collection[str]) -> list[tuple[str, str]]:
        with self._call() as (m, _):
            return list(m.edges_into(ids))

    def finished_per_minute(self, minutes: int = 60) -> dict[str, list[int]]:
        minutes = max(int(minutes), 0)
        with self._call() as (m, now):
            return per_minute(m.finished_rows(now, minutes), minutes)

    def snapshot(self, look: Look) -> Snapshot:
        with self._call():  # the lock is re-entrant: the parts' own calls take it again
            return read(self, look)  # type: ignore[arg-type]
