"""The SQLite store: one file, safe for many processes on one machine. The embedded default.

Each call is one write transaction on the file (:class:`~taskgraph.stores.sqlite_file.Database`: WAL mode, the
write lock taken before anything is read), or one read.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from collections.abc import Collection, Sequence
from typing import Any
from urllib.parse import SplitResult

from ..urls import file_path, seconds, shown, store_options
from .base import Store, StoreError
from .common import (
    EnqueuePlan,
    by_start,
    fail_detail,
    filters,
    in_order,
    read_worker,
    retried_detail,
    tally,
    unique,
    worker_entry,
)
from .entries_sql import SQLiteEntries
from .records import (
    FIELDS,
    MAX_LEASE_LOSSES,
    ON_TEXT,
    Event,
    JobRecord,
    NewJob,
    after_end,
    blocked_error,
    metadata_matches,
    record_from_row,
    runs_on,
)
from .records import label as job_label
from .sqlite_file import (
    Database,
    any_unfinished,
    chunks,
    claim_order,
    drop_worker,
    live_workers,
    marks,
    owned,
    put_worker,
    select,
)
from .sqlite_file import events as _events
from .sqlite_file import seq_events as _seq_events
from .views_sql import SQLiteViews

__all__ = ["SQLiteStore", "open_sqlite"]

_COLUMNS = ", ".join(FIELDS)
_LIGHT_COLUMNS = _COLUMNS.replace("payload", "x''").replace("result,", "NULL,")
_ON_FAILURE = ON_TEXT["failure"]
_AGAIN, _AGAIN_FORCED = ("FAILED", "CANCELLED"), ("FAILED", "CANCELLED", "DONE")


class SQLiteStore(SQLiteEntries, SQLiteViews, Store):
    """A store in one SQLite file.

    Args:
        path: the database file; created, with its schema, on first use.
        busy_timeout: seconds to wait for another process's write before giving up.
        url: the URL to name it by in messages, as the user wrote it; ``sqlite:///PATH`` by default.
    """

    def __init__(self, path: str, busy_timeout: float = 60.0, url: str | None = None) -> None:
        self.path = path
        self._file = Database(path, busy_timeout, url)
        self.url, self._db, self._write = self._file.url, self._file.db, self._file.write

    def wait(self, timeout: float) -> None:
        self._file.wait(timeout)

    def enqueue(self, jobs: Sequence[NewJob]) -> list[JobRecord]:
        return self.get(self.enqueue_ids(jobs))

    def enqueue_ids(self, jobs: Sequence[NewJob]) -> list[str]:
        def work(db: sqlite3.Connection, now: float) -> list[str]:
            keys = unique(j.key for j in jobs if j.key is not None)
            ids = unique([*(p for j in jobs for p in j.after), *(j.id for j in jobs)])
            plan = EnqueuePlan(
                self.url,
                {key: (i, status) for i, key, status in select(db, "id, key, status", "key", keys)},
                {i: (label, status) for i, label, status in select(db, "id, COALESCE(key, name), status", "id", ids)},
            )
            for job in jobs:
                plan.add(job)
            for chunk in chunks(list(plan.resets)):
                db.execute(f"DELETE FROM edges WHERE dependent IN ({marks(chunk)})", chunk)

            def values(r: dict[str, Any]) -> tuple[Any, ...]:
                return (r["status"], r["name"], r["queue"], r["priority"], r["payload"], r["options"], r["error"],
                        r["waiting"], max(now + r["delay"], r["nb"] or 0.0), now if r["final"] else None)

            db.executemany(
                "INSERT INTO jobs (status, name, queue, priority, payload, options, error, waiting, not_before, "
                "finished, key, id, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*values(r), r["key"], r["id"], now) for r in plan.inserts.values()],
            )
            db.executemany(
                "UPDATE jobs SET status = ?, name = ?, queue = ?, priority = ?, payload = ?, options = ?, "
                "result = NULL, error = ?, attempts = 0, lease_losses = 0, waiting = ?, not_before = ?, "
                "started = NULL, finished = ?, worker = NULL, lease_expires = NULL, progress = NULL, "
                "progress_message = NULL WHERE id = ?",
                [(*values(row), i) for i, row in plan.resets.items()],
            )
            db.executemany(
                "INSERT OR IGNORE INTO edges (prereq, dependent) VALUES (?, ?)",
                [(p, d) for d, after in plan.edges.items() for p in after],
            )
            _events(db, [(job, now, event, source, dest, None, detail)
                         for job, event, source, dest, detail in plan.events])
            return plan.result

        return self._write(work)

    def claim(self, worker: str, queues: Sequence[str], limit: int, lease: float) -> list[JobRecord]:
        if limit <= 0 or not queues:
            return []

        def work(db: sqlite3.Connection, now: float) -> list[JobRecord]:
            self._recover(db, now)
            claimed: list[tuple[Any, ...]] = []
            for queue in unique(queues):  # in order: a later queue only when the earlier ones have no ready job
                rows = db.execute(
                    f"UPDATE jobs SET status = 'RUNNING', worker = ?, attempts = attempts + 1, started = ?, "
                    f"lease_expires = ? WHERE seq IN (SELECT seq FROM jobs WHERE status = 'QUEUED' AND queue = ? "
                    # a not_before that is not a time (infinite, text: damaged) is claimed, for the worker to refuse
                    f"AND (not_before <= ? OR not_before >= 9e999) ORDER BY priority DESC, not_before, seq LIMIT ?) "
                    f"RETURNING {_COLUMNS}, seq",
                    (worker, now, now + lease, queue, now, limit - len(claimed)),
                ).fetchall()
                rows.sort(key=claim_order)
                claimed += rows
                if len(claimed) >= limit:
                    break
            _seq_events(db, [(r[-1], now, "dispatch", "QUEUED", "RUNNING", worker, None) for r in claimed])
            return [record_from_row(r) for r in claimed]

        return self._write(work)

    def _recover(self, db: sqlite3.Connection, now: float) -> None:
        expired = db.execute(
            "SELECT id, worker, lease_losses FROM jobs WHERE status = 'RUNNING' AND lease_expires < ?", (now,)
        ).fetchall()
        for job_id, owner, losses in expired:
            losses = losses if isinstance(losses, int) else MAX_LEASE_LOSSES  # damaged: out of chances
            detail = f"lease of worker {owner} expired"
            if losses + 1 < MAX_LEASE_LOSSES:
                db.execute(
                    "UPDATE jobs SET status = 'QUEUED', lease_losses = lease_losses + 1, worker = NULL, "
                    "lease_expires = NULL WHERE id = ?",  # not_before kept: it goes back to its place in the queue
                    (job_id,),
                )
                _events(db, [(job_id, now, "requeue", "RUNNING", "QUEUED", owner, detail)])
                continue
            error = {
                "type": "taskgraph.errors.TaskError", "traceback": "",
                "message": f"its worker was lost {losses + 1} times while running it (lease expired); "
                "it may be killing its worker",
            }
            db.execute(
                "UPDATE jobs SET status = 'FAILED', error = ?, lease_losses = lease_losses + 1, finished = ?, "
                "lease_expires = NULL WHERE id = ?",
                (json.dumps(error), now, job_id),
            )
            _events(db, [(job_id, now, "fail", "RUNNING", "FAILED", owner, detail)])
            self._cascade(db, now, job_id, "FAILED")

    def heartbeat(self, worker: str, ids: Collection[str], lease: float) -> set[str]:
        if not ids:
            return set()
        return self._write(lambda db, now: owned(db, worker, unique(ids), "lease_expires = ?", now + lease))

    def complete(self, worker: str, results: Sequence[tuple[str, bytes]]) -> list[str]:
        def work(db: sqlite3.Connection, now: float) -> list[str]:
            accepted = []
            for job_id, result in results:
                row = db.execute(
                    "UPDATE jobs SET status = 'DONE', result = ?, finished = ?, lease_expires = NULL, progress = 1.0 "
                    "WHERE id = ? AND status = 'RUNNING' AND worker = ? RETURNING seq",
                    (result, now, job_id, worker),
                ).fetchone()
                if row is None:
                    continue
                accepted.append(job_id)
                _seq_events(db, [(row[0], now, "done", "RUNNING", "DONE", worker, None)])
                # a continuation that runs on failure only is CANCELLED instead, with its PENDING descendants
                released = db.execute(
                    "UPDATE jobs SET waiting = waiting - 1, "
                    "status = IIF(substr(options, 1, ?) = ?, 'CANCELLED', IIF(waiting <= 1, 'QUEUED', status)), "
                    "finished = IIF(substr(options, 1, ?) = ?, ?, finished), "
                    "not_before = IIF(waiting <= 1, MAX(not_before, ?), not_before) WHERE status = 'PENDING' AND id IN "
                    "(SELECT dependent FROM edges WHERE prereq = ?) RETURNING id, status, seq",
                    (len(_ON_FAILURE), _ON_FAILURE, len(_ON_FAILURE), _ON_FAILURE, now, now, job_id),
                ).fetchall()
                _seq_events(db, [(r[2], now, "release", "PENDING", "QUEUED", worker, None)
                                 for r in released if r[1] == "QUEUED"])
                dropped = [r for r in released if r[1] == "CANCELLED"]
                if dropped:
                    [label] = db.execute("SELECT COALESCE(key, name) FROM jobs WHERE id = ?", (job_id,)).fetchone()
                    _seq_events(db, [(r[2], now, "cancel", "PENDING", "CANCELLED", worker,
                                      f"prerequisite {job_label(label)!r} is DONE") for r in dropped])
                    for dependent, _, _ in dropped:
                        self._cascade(db, now, dependent, "CANCELLED")
            return accepted

        return self._write(work)

    def fail(self, worker: str, job_id: str, error: dict[str, str], retry_in: float | None) -> bool:
        text, detail = json.dumps(error), fail_detail(error, retry_in)

        def work(db: sqlite3.Connection, now: float) -> bool:
            if retry_in is not None:
                if owned(db, worker, [job_id], "status = 'QUEUED', error = ?, not_before = ?, worker = NULL, "
                          "lease_expires = NULL", text, now + retry_in):
                    _events(db, [(job_id, now, "retry", "RUNNING", "QUEUED", worker, detail)])
                    return True
                return False
            if not owned(db, worker, [job_id], "status = 'FAILED', error = ?, finished = ?, lease_expires = NULL",
                          text, now):
                return False
            _events(db, [(job_id, now, "fail", "RUNNING", "FAILED", worker, detail)])
            self._cascade(db, now, job_id, "FAILED")
            return True

        return self._write(work)

    def _cascade(self, db: sqlite3.Connection, now: float, job_id: str, state: str) -> None:
        """Fail or cancel, level by level, the PENDING descendants of a job that just FAILED or was CANCELLED; a
        continuation that runs on that end is QUEUED instead."""
        parents = [job_id]
        while parents:
            parent = parents.pop(0)
            rows = db.execute(
                "SELECT d.id, COALESCE(d.key, d.name), COALESCE(p.key, p.name), p.status, d.options FROM edges e "
                "JOIN jobs d ON d.id = e.dependent AND d.status = 'PENDING' JOIN jobs p ON p.id = e.prereq "
                "WHERE e.prereq = ? ORDER BY d.seq", (parent,),
            ).fetchall()
            for dependent, name, parent_name, parent_status, options in rows:
                detail = f"prerequisite {job_label(parent_name)!r}"
                move = after_end(runs_on(options), parent_status) or state
                if move == "QUEUED":
                    db.execute("UPDATE jobs SET status = 'QUEUED', waiting = 0, not_before = MAX(not_before, ?) "
                               "WHERE id = ?", (now, dependent))
                    _events(db, [(dependent, now, "release", "PENDING", "QUEUED", None,
                                  f"{detail} is {parent_status}")])
                    continue
                dest = move if move in ("FAILED", "CANCELLED") else state
                db.execute(
                    "UPDATE jobs SET status = ?, error = ?, finished = ? WHERE id = ?",
                    (dest, blocked_error(name, parent_name, dest) if dest == "FAILED" else None, now, dependent),
                )
                _events(db, [(dependent, now, "fail" if dest == "FAILED" else "cancel", "PENDING", dest, None,
                              detail)])
                parents.append(dependent)

    def release(self, worker: str, ids: Collection[str]) -> list[str]:
        ids = unique(ids)

        def work(db: sqlite3.Connection, now: float) -> list[str]:
            done = owned(db, worker, ids, "status = 'QUEUED', attempts = MAX(attempts - 1, 0), worker = NULL, "
                          "lease_expires = NULL")
            handed = [i for i in ids if i in done]
            _events(db, [(i, now, "requeue", "RUNNING", "QUEUED", worker, "handed back") for i in handed])
            return handed

        return self._write(work)

    def cancel(self, ids: Collection[str]) -> list[str]:
        ids = list(ids)

        def work(db: sqlite3.Connection, now: float) -> list[str]:
            cancelled = []
            for job_id in ids:
                row = db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
                if row is None or row[0] not in ("PENDING", "QUEUED", "RUNNING"):
                    continue
                db.execute(
                    "UPDATE jobs SET status = 'CANCELLED', finished = ?, lease_expires = NULL WHERE id = ?",
                    (now, job_id),
                )
                cancelled.append(job_id)
                _events(db, [(job_id, now, "cancel", row[0], "CANCELLED", None, None)])
                self._cascade(db, now, job_id, "CANCELLED")
            return cancelled

        return self._write(work)

    def retry(self, ids: Collection[str], force: bool = False) -> list[str]:
        ids = unique(ids)

        def work(db: sqlite3.Connection, now: float) -> list[str]:
            retried = []
            for job_id in ids:
                row = db.execute("SELECT status, options FROM jobs WHERE id = ?", (job_id,)).fetchone()
                if row is None or row[0] not in (_AGAIN_FORCED if force else _AGAIN):
                    continue
                # a continuation waits for its prerequisite to end, however: retried by hand, it runs then
                ended = "('DONE')" if runs_on(row[1]) == "success" else "('DONE', 'FAILED', 'CANCELLED')"
                [waiting] = db.execute(
                    "SELECT COUNT(*) FROM edges e JOIN jobs p ON p.id = e.prereq "
                    f"WHERE e.dependent = ? AND p.status NOT IN {ended}",
                    (job_id,),
                ).fetchone()
                dest = "PENDING" if waiting else "QUEUED"
                db.execute(
                    "UPDATE jobs SET status = ?, result = NULL, error = NULL, attempts = 0, lease_losses = 0, "
                    "waiting = ?, not_before = ?, started = NULL, finished = NULL, worker = NULL, "
                    "lease_expires = NULL, progress = NULL, progress_message = NULL WHERE id = ?",
                    (dest, waiting, now, job_id),
                )
                _events(db, [(job_id, now, "retry", row[0], dest, None, retried_detail(row[0]))])
                retried.append(job_id)
            return retried

        return self._write(work)

    def set_progress(self, worker: str, job_id: str, value: float, message: str | None) -> bool:
        return bool(self._write(lambda db, now: owned(
            db, worker, [job_id], "progress = ?, progress_message = ?", value, message
        )))

    def purge(self, older_than: float) -> int:
        def work(db: sqlite3.Connection, now: float) -> int:
            ended = "FROM jobs WHERE status IN ('DONE', 'FAILED', 'CANCELLED') AND finished < ?"
            gone, cutoff = f"SELECT id {ended}", (now - older_than,)
            db.execute(f"DELETE FROM events WHERE job_seq IN (SELECT seq {ended})", cutoff)
            db.execute(f"DELETE FROM edges WHERE prereq IN ({gone}) OR dependent IN ({gone})", cutoff * 2)
            return db.execute(f"DELETE FROM jobs WHERE id IN ({gone})", cutoff).rowcount

        return self._write(work)

    def delete(self, ids: Collection[str]) -> list[str]:
        ids = unique(ids)

        def work(db: sqlite3.Connection, now: float) -> list[str]:
            gone: list[str] = []
            for chunk in chunks(ids):
                rows = db.execute(
                    f"DELETE FROM jobs WHERE id IN ({marks(chunk)}) AND status IN ('DONE', 'FAILED', 'CANCELLED') "
                    "RETURNING id, seq", chunk).fetchall()
                found = [r[0] for r in rows]
                if found:
                    held = marks(found)
                    db.execute(f"DELETE FROM events WHERE job_seq IN ({held})", [r[1] for r in rows])
                    db.execute(f"DELETE FROM edges WHERE prereq IN ({held}) OR dependent IN ({held})", found * 2)
                gone += found
            return [i for i in ids if i in set(gone)]

        return self._write(work) if ids else []

    def match_ids(self, prefix: str, limit: int) -> list[str]:
        rows = self._db.execute("SELECT id FROM jobs WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
                                (prefix, prefix + "\U0010ffff", max(int(limit), 0)))
        return [r[0] for r in rows if isinstance(r[0], str) and r[0].startswith(prefix)]

    def scheduled(self) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT queue, COUNT(*) FROM jobs WHERE status = 'QUEUED' AND not_before > ? AND not_before < 9e999 "
            "GROUP BY queue", (time.time(),))
        return {queue if isinstance(queue, str) else repr(queue): n for queue, n in rows}

    def register_worker(self, info: dict[str, Any], ttl: float) -> None:
        self._write(lambda db, now: put_worker(db, now, *worker_entry(info, ttl, now)))

    def deregister_worker(self, worker_id: str) -> bool:
        return self._write(lambda db, now: drop_worker(db, now, worker_id))

    def list_workers(self) -> list[dict[str, Any]]:
        return by_start(info for info in map(read_worker, live_workers(self._db, time.time())) if info is not None)

    def get(self, ids: Sequence[str]) -> list[JobRecord]:
        return in_order(ids, map(record_from_row, select(self._db, _COLUMNS, "id", list(ids))))

    def status_of(self, ids: Sequence[str]) -> dict[str, tuple[str, Any]]:
        return {i: (status, nb) for i, status, nb in select(self._db, "id, status, not_before", "id", list(ids))}

    def list_jobs(
        self, status: str | None = None, name: str | None = None, queue: str | None = None, limit: int = 100,
        metadata: dict[str, Any] | None = None, offset: int = 0, older_than: float | None = None,
        newer_than: float | None = None,
    ) -> list[JobRecord]:
        clause, values = filters("?", status=status, name=name, queue=queue)
        now = time.time()
        ages = [("created < ?", now - older_than) if older_than is not None else None,
                ("created > ?", now - newer_than) if newer_than is not None else None]
        for condition, value in filter(None, ages):
            clause = f"{clause} AND {condition}" if clause else f"WHERE {condition}"
            values.append(value)  # type: ignore[arg-type]
        offset, limit = max(int(offset), 0), max(int(limit), 0)
        if not metadata:
            query = f"SELECT {_LIGHT_COLUMNS} FROM jobs {clause} ORDER BY seq DESC LIMIT ? OFFSET ?"
            return [record_from_row(r) for r in self._db.execute(query, (*values, limit, offset))]
        # metadata is matched here, in Python, on the rows whose options name it, read newest first until enough
        clause = f"{clause} AND" if clause else "WHERE"
        query = f"SELECT {_LIGHT_COLUMNS} FROM jobs {clause} instr(options, ?) > 0 ORDER BY seq DESC"
        cursor = self._db.execute(query, (*values, '"metadata"'))
        try:
            found = (r for r in map(record_from_row, cursor) if metadata_matches(r, metadata))
            return list(itertools.islice(found, offset, offset + limit))
        finally:
            cursor.close()

    def stats(self) -> dict[str, dict[str, int]]:
        return tally(self._db.execute("SELECT queue, status, COUNT(*) FROM jobs GROUP BY queue, status"))

    def any_unfinished(self, queues: Sequence[str]) -> bool:
        return any_unfinished(self._db, unique(queues))

    def history(self, job_id: str) -> list[Event]:
        rows = self._db.execute(
            "SELECT at, event, source, dest, worker, detail FROM events WHERE job_seq = "
            "(SELECT seq FROM jobs WHERE id = ?) ORDER BY rowid", (job_id,)
        ).fetchall()
        return [Event(*row) for row in rows]

    def close(self) -> None:
        self._file.close()


def open_sqlite(url: SplitResult) -> SQLiteStore:
    """``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``, with the option ``busy_timeout``."""
    try:
        path = file_path(url)
        options = store_options(url, repr(shown(url)), {"busy_timeout"})
        busy = seconds(repr(shown(url)), "busy_timeout", options.get("busy_timeout"), 60.0, zero=True)
    except ValueError as exc:
        raise StoreError(str(exc)) from None
    return SQLiteStore(path, busy_timeout=busy, url=shown(url._replace(query="", fragment="")))
