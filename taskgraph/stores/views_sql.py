"""What a dashboard reads (see :mod:`.views`) of the SQLite and PostgreSQL stores: the edges table read by
dependent, jobs finished per minute counted by the database over its index of finish times, and snapshots: one
read transaction on SQLite, one pipelined transaction on PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Collection
from typing import Any

from .common import by_start, read_worker, tally
from .records import Event, JobRecord, record_from_row
from .sqlite_file import chunks, marks
from .views import Look, Snapshot, per_minute, read

__all__ = ["SQLiteViews", "PostgresViews"]

# rows (status, clock minutes ago, how many) of the jobs that ended DONE or FAILED since the start of a clock
# minute, through the finish-time index (jobs_finished): as many index entries as jobs finished in the period.
# "+status" keeps SQLite from the status index, through which it read every DONE and FAILED job of the store.
_SQLITE_FINISHED = (
    "SELECT status, CAST(?1 / 60 AS INTEGER) - CAST(finished / 60 AS INTEGER), COUNT(*) FROM jobs "
    "WHERE finished >= ?2 AND finished <= ?1 AND +status IN ('DONE', 'FAILED') GROUP BY 1, 2"
)
_PG_NOW = "extract(epoch FROM statement_timestamp())::float8"
_PG_FINISHED = (
    f"SELECT status, (floor({_PG_NOW} / 60) - floor(finished / 60))::int, count(*) FROM {{s}}.jobs "
    f"WHERE finished >= (floor({_PG_NOW} / 60) - %(minutes)s::int + 1) * 60 AND finished <= {_PG_NOW} "
    "AND status IN ('DONE', 'FAILED') GROUP BY 1, 2"
)
_PG_EDGES = "SELECT prereq, dependent FROM {s}.edges WHERE dependent = ANY(%(ids)s::text[]) ORDER BY 1, 2"


class SQLiteViews:
    """:meth:`prerequisites`, :meth:`finished_per_minute` and :meth:`snapshot` of :class:`~.sqlite.SQLiteStore`."""

    _db: sqlite3.Connection

    def prerequisites(self, ids: Collection[str]) -> list[tuple[str, str]]:
        edges: set[tuple[str, str]] = set()
        for chunk in chunks(sorted(set(ids))):
            edges.update(self._db.execute(f"SELECT prereq, dependent FROM edges WHERE dependent IN ({marks(chunk)})",
                                          chunk))
        return sorted(edges)

    def finished_per_minute(self, minutes: int = 60) -> dict[str, list[int]]:
        minutes, now = max(int(minutes), 0), time.time()
        start = (int(now // 60) - minutes + 1) * 60.0
        return per_minute(self._db.execute(_SQLITE_FINISHED, (now, start)), minutes)

    def snapshot(self, look: Look) -> Snapshot:
        db = self._db
        db.execute("BEGIN")  # one read transaction: every part from the same state of the file
        try:
            return read(self, look)  # type: ignore[arg-type]
        finally:
            db.execute("COMMIT")


class PostgresViews:
    """:meth:`prerequisites`, :meth:`finished_per_minute` and :meth:`snapshot` of :class:`~.postgres.PostgresStore`:
    the parts of a snapshot that need no listing are one pipelined transaction (one round trip)."""

    _pg: Any
    _q: dict[str, str]
    _exec: Callable[..., list[tuple[Any, ...]]]
    _batch: Callable[..., Any]
    _has_workers_table: Callable[[], bool]

    def _view_sql(self, text: str) -> str:
        return text.replace("{s}", self._pg.schema_sql)

    def prerequisites(self, ids: Collection[str]) -> list[tuple[str, str]]:
        wanted = sorted(set(ids))
        return [(p, d) for p, d in self._exec(self._view_sql(_PG_EDGES), {"ids": wanted})] if wanted else []

    def finished_per_minute(self, minutes: int = 60) -> dict[str, list[int]]:
        minutes = max(int(minutes), 0)
        return per_minute(self._exec(self._view_sql(_PG_FINISHED), {"minutes": minutes}), minutes)

    def snapshot(self, look: Look) -> Snapshot:
        minutes = max(int(look.minutes), 0)
        workers = look.workers and self._has_workers_table()

        def work() -> Callable[[], dict[str, Any]]:
            conn = self._pg.conn
            sent: dict[str, Any] = {}
            if look.counts:
                sent["counts"] = conn.execute(self._q["_Q_STATS"], prepare=True)
                sent["scheduled"] = conn.execute(self._q["_Q_SCHEDULED"], prepare=True)
            if workers:
                sent["workers"] = conn.execute(self._q["_Q_WORKERS"], prepare=True)
            if minutes:
                sent["finished"] = conn.execute(self._view_sql(_PG_FINISHED), {"minutes": minutes},
                                                prepare=True)
            if look.job is not None:
                sent["job"] = conn.execute(self._q["_Q_GET"], {"ids": [look.job]}, prepare=True)
                sent["history"] = conn.execute(self._q["_Q_HISTORY"], {"id": look.job}, prepare=True)
            return lambda: {name: cursor.fetchall() for name, cursor in sent.items()}

        rows = self._batch(work) if (look.counts or workers or minutes or look.job is not None) else {}
        job = [record_from_row(r) for r in rows.get("job", [])]
        jobs: list[JobRecord] = self.list_jobs(**look.jobs) if look.jobs is not None else []  # type: ignore[attr-defined]
        return Snapshot(
            counts=tally(rows["counts"]) if "counts" in rows else {},
            scheduled={queue: int(n) for queue, n in rows.get("scheduled", [])},
            workers=by_start(info for info in (read_worker(r[0]) for r in rows.get("workers", [])) if info),
            finished=per_minute(rows["finished"], minutes) if "finished" in rows else None,
            job=job[0] if job else None,
            history=[Event(*r) for r in rows.get("history", [])] if job else [],
            jobs=jobs, edges=(self.prerequisites([r.id for r in jobs]) if jobs else []) if look.edges else None,
        )
