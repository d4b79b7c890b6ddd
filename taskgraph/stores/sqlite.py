"""The SQLite store: one file, safe for many processes on one machine. The embedded default.

The file is in WAL mode, so readers never block the one writer. Every write is one ``BEGIN IMMEDIATE``
transaction, which takes the write lock before it reads, so two workers never both see a job QUEUED and both claim
it; a busy database is waited for (``busy_timeout``) rather than failed. SQLite has no notifications: waiting
clients and idle workers watch ``PRAGMA data_version``, which changes when another connection commits, polling it
every millisecond while the store is busy and every 10 ms once it has been quiet for two seconds.
"""

from __future__ import annotations

import json
import os
import sqlite3

try:
    import fcntl
except ImportError:  # not on Windows: there SQLite's own busy handler does the waiting
    fcntl = None  # type: ignore[assignment]
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar
from urllib.parse import SplitResult

from ..urls import file_path, redact, seconds, store_options, unsplit
from .base import Store, StoreError, StoreUnavailable
from .records import MAX_LEASE_LOSSES, Event, JobRecord, NewJob, blocked_error, record_from_row

__all__ = ["SQLiteStore"]

SCHEMA_VERSION = 1
_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS taskgraph_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    key TEXT UNIQUE,
    name TEXT NOT NULL,
    queue TEXT NOT NULL,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    payload BLOB NOT NULL,
    options TEXT NOT NULL,
    result BLOB,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_losses INTEGER NOT NULL DEFAULT 0,
    waiting INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    worker TEXT,
    lease_expires REAL,
    progress REAL,
    progress_message TEXT
);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (queue, priority DESC, not_before, seq) WHERE status = 'QUEUED';
CREATE INDEX IF NOT EXISTS jobs_leases ON jobs (lease_expires) WHERE status = 'RUNNING';
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished) WHERE finished IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, queue);
CREATE TABLE IF NOT EXISTS edges (
    prereq TEXT NOT NULL, dependent TEXT NOT NULL, PRIMARY KEY (prereq, dependent)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS edges_dependent ON edges (dependent);
CREATE TABLE IF NOT EXISTS events (
    job TEXT NOT NULL, at REAL NOT NULL, event TEXT NOT NULL, source TEXT, dest TEXT NOT NULL,
    worker TEXT, detail TEXT
);
CREATE INDEX IF NOT EXISTS events_job ON events (job);
"""

_COLUMNS = (
    "id, name, status, queue, key, priority, payload, options, result, error, attempts, lease_losses, waiting, "
    "not_before, created, started, finished, worker, lease_expires, progress, progress_message"
)
_LIGHT_COLUMNS = _COLUMNS.replace("payload", "x''").replace("result,", "NULL,")




class SQLiteStore(Store):
    """A store in one SQLite file.

    Args:
        path: the database file; created, with its schema, on first use.
        busy_timeout: seconds to wait for another process's write before giving up.
    """

    def __init__(self, path: str, busy_timeout: float = 60.0) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise StoreError(f"{self.url}: the folder {folder!r} does not exist; create it first")
        try:
            self._db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.url}: cannot open it as a taskgraph store: {exc}") from exc
        self._version = self._data_version()
        self._last_change = time.monotonic()
        self._lock_fd: int | None = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644) if fcntl else None

    # ------------------------------------------------------------ plumbing

    def _migrate(self) -> None:
        row = None
        try:
            row = self._db.execute("SELECT value FROM taskgraph_meta WHERE key = 'schema'").fetchone()
        except sqlite3.OperationalError:
            pass
        if row is None:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    self._db.execute(statement)
                self._db.execute(
                    "INSERT OR IGNORE INTO taskgraph_meta (key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            row = self._db.execute("SELECT value FROM taskgraph_meta WHERE key = 'schema'").fetchone()
        if int(row[0]) > SCHEMA_VERSION:
            raise StoreError(
                f"{self.url}: the store's schema is version {row[0]}, newer than this taskgraph knows "
                f"({SCHEMA_VERSION}); upgrade taskgraph"
            )

    def _write(self, work: Callable[[sqlite3.Connection, float], _T]) -> _T:
        """Run ``work(db, now)`` in one write transaction, retrying if the database stays locked.

        Writers of this store first take an exclusive ``flock`` on ``PATH.lock``: the kernel wakes the next
        waiter the moment the lock is free, where SQLite's busy handler sleeps and retries (1, 2, 5 ... 100 ms),
        which let one busy worker starve another.
        """
        if self._lock_fd is None:
            return self._transaction(work)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            return self._transaction(work)
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _transaction(self, work: Callable[[sqlite3.Connection, float], _T]) -> _T:
        db = self._db
        for attempt in range(10):
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                time.sleep(0.01 * (attempt + 1))
                continue
            try:
                result = work(db, time.time())
                db.execute("COMMIT")
                return result
            except BaseException:
                db.execute("ROLLBACK")
                raise
        raise StoreUnavailable(f"{self.url}: the database stayed locked; is another program holding a write lock?")

    @staticmethod
    def _events(db: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        db.executemany(
            "INSERT INTO events (job, at, event, source, dest, worker, detail) VALUES (?, ?, ?, ?, ?, ?, ?)", rows
        )

    # ------------------------------------------------------------ writing

    def enqueue(self, jobs: Sequence[NewJob]) -> list[JobRecord]:
        def work(db: sqlite3.Connection, now: float) -> list[str]:
            ids = []
            for job in jobs:
                ids.append(self._enqueue_one(db, now, job))
            return ids

        ids = self._write(work)
        return self.get(ids)

    def _enqueue_one(self, db: sqlite3.Connection, now: float, job: NewJob) -> str:
        after = list(dict.fromkeys(job.after))
        not_before = max(now + job.delay, job.not_before or 0.0)
        if job.key is not None:
            row = db.execute("SELECT id, status FROM jobs WHERE key = ?", (job.key,)).fetchone()
            if row is not None:
                job_id, status = row
                if status not in ("FAILED", "CANCELLED"):
                    return str(job_id)
                db.execute("DELETE FROM edges WHERE dependent = ?", (job_id,))
                self._add_edges(db, job_id, after)
                waiting, blocked = self._waiting(db, after)
                dest = blocked[1] if blocked else ("PENDING" if waiting else "QUEUED")
                label = job.key or job.name
                db.execute(
                    "UPDATE jobs SET status = ?, name = ?, queue = ?, priority = ?, payload = ?, options = ?, "
                    "result = NULL, error = ?, attempts = 0, lease_losses = 0, waiting = ?, not_before = ?, "
                    "started = NULL, finished = ?, worker = NULL, lease_expires = NULL, progress = NULL, "
                    "progress_message = NULL WHERE id = ?",
                    (dest, job.name, job.queue, job.priority, job.payload, json.dumps(job.options),
                     blocked_error(label, blocked[0], blocked[1]) if blocked else None, waiting, not_before,
                     now if blocked else None, job_id),
                )
                self._events(db, [(job_id, now, "retry", status, dest, None, "submitted again")])
                return str(job_id)
        if db.execute("SELECT 1 FROM jobs WHERE id = ?", (job.id,)).fetchone() is not None:
            return job.id  # enqueued already (a call retried after a lost answer)
        waiting, blocked = self._waiting(db, after)
        dest = blocked[1] if blocked else ("PENDING" if waiting else "QUEUED")
        db.execute(
            "INSERT INTO jobs (id, key, name, queue, status, priority, payload, options, error, waiting, "
            "not_before, created, finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (job.id, job.key, job.name, job.queue, dest, job.priority, job.payload, json.dumps(job.options),
             blocked_error(job.key or job.name, blocked[0], blocked[1]) if blocked else None, waiting, not_before, now,
             now if blocked else None),
        )
        self._add_edges(db, job.id, after)
        self._events(db, [(job.id, now, "queue", None, dest, None, None)])
        return job.id

    @staticmethod
    def _add_edges(db: sqlite3.Connection, job_id: str, after: Sequence[str]) -> None:
        db.executemany("INSERT OR IGNORE INTO edges (prereq, dependent) VALUES (?, ?)", [(p, job_id) for p in after])

    @staticmethod
    def _waiting(db: sqlite3.Connection, after: Sequence[str]) -> tuple[int, tuple[str, str] | None]:
        """How many of ``after`` are not DONE, and the first that FAILED or was CANCELLED (name, status)."""
        waiting = 0
        for prereq in after:
            row = db.execute("SELECT COALESCE(key, name), status FROM jobs WHERE id = ?", (prereq,)).fetchone()
            if row is None:
                raise StoreError(f"prerequisite job {prereq!r} is not in the store")
            if row[1] in ("FAILED", "CANCELLED"):
                return waiting, (row[0], row[1])
            if row[1] != "DONE":
                waiting += 1
        return waiting, None

    def claim(self, worker: str, queues: Sequence[str], limit: int, lease: float) -> list[JobRecord]:
        if limit <= 0 or not queues:
            return []
        marks = ", ".join("?" for _ in queues)

        def work(db: sqlite3.Connection, now: float) -> list[JobRecord]:
            self._recover(db, now)
            rows = db.execute(
                f"UPDATE jobs SET status = 'RUNNING', worker = ?, attempts = attempts + 1, started = ?, "
                f"lease_expires = ? WHERE seq IN (SELECT seq FROM jobs WHERE status = 'QUEUED' AND queue IN "
                f"({marks}) AND not_before <= ? ORDER BY priority DESC, not_before, seq LIMIT ?) "
                f"RETURNING {_COLUMNS}, seq",
                (worker, now, now + lease, *queues, now, limit),
            ).fetchall()
            rows.sort(key=lambda r: (-r[5], r[13], r[-1]))
            self._events(db, [(r[0], now, "dispatch", "QUEUED", "RUNNING", worker, None) for r in rows])
            return [record_from_row(r) for r in rows]

        return self._write(work)

    def _recover(self, db: sqlite3.Connection, now: float) -> None:
        expired = db.execute(
            "SELECT id, worker, lease_losses FROM jobs WHERE status = 'RUNNING' AND lease_expires < ?", (now,)
        ).fetchall()
        for job_id, owner, losses in expired:
            detail = f"lease of worker {owner} expired"
            if losses + 1 >= MAX_LEASE_LOSSES:
                error = json.dumps({
                    "type": "taskgraph.errors.TaskError",
                    "message": f"its worker was lost {losses + 1} times while running it (lease expired); "
                    "it may be killing its worker",
                    "traceback": "",
                })
                db.execute(
                    "UPDATE jobs SET status = 'FAILED', error = ?, lease_losses = lease_losses + 1, finished = ?, "
                    "lease_expires = NULL WHERE id = ?",
                    (error, now, job_id),
                )
                self._events(db, [(job_id, now, "fail", "RUNNING", "FAILED", owner, detail)])
                self._cascade(db, now, job_id, "FAILED")
            else:
                db.execute(
                    "UPDATE jobs SET status = 'QUEUED', lease_losses = lease_losses + 1, worker = NULL, "
                    "lease_expires = NULL WHERE id = ?",  # not_before kept: it goes back to its place in the queue
                    (job_id,),
                )
                self._events(db, [(job_id, now, "requeue", "RUNNING", "QUEUED", owner, detail)])

    def heartbeat(self, worker: str, ids: Collection[str], lease: float) -> set[str]:
        if not ids:
            return set()
        ids = list(ids)

        def work(db: sqlite3.Connection, now: float) -> set[str]:
            held: set[str] = set()
            for chunk in _chunks(ids):
                marks = ", ".join("?" for _ in chunk)
                rows = db.execute(
                    f"UPDATE jobs SET lease_expires = ? WHERE status = 'RUNNING' AND worker = ? AND id IN ({marks}) "
                    "RETURNING id",
                    (now + lease, worker, *chunk),
                ).fetchall()
                held.update(r[0] for r in rows)
            return held

        return self._write(work)

    def complete(self, worker: str, results: Sequence[tuple[str, bytes]]) -> list[str]:
        def work(db: sqlite3.Connection, now: float) -> list[str]:
            accepted = []
            for job_id, result in results:
                row = db.execute(
                    "UPDATE jobs SET status = 'DONE', result = ?, finished = ?, lease_expires = NULL, progress = 1.0 "
                    "WHERE id = ? AND status = 'RUNNING' AND worker = ? RETURNING id",
                    (result, now, job_id, worker),
                ).fetchone()
                if row is None:
                    continue
                accepted.append(job_id)
                self._events(db, [(job_id, now, "done", "RUNNING", "DONE", worker, None)])
                released = db.execute(
                    "UPDATE jobs SET waiting = waiting - 1 WHERE status = 'PENDING' AND id IN "
                    "(SELECT dependent FROM edges WHERE prereq = ?) RETURNING id, waiting",
                    (job_id,),
                ).fetchall()
                ready = [r[0] for r in released if r[1] <= 0]
                if ready:
                    db.executemany(
                        "UPDATE jobs SET status = 'QUEUED', not_before = MAX(not_before, ?) WHERE id = ?",
                        [(now, r) for r in ready],
                    )
                    self._events(db, [(r, now, "release", "PENDING", "QUEUED", worker, None) for r in ready])
            return accepted

        return self._write(work)

    def fail(self, worker: str, job_id: str, error: dict[str, str], retry_in: float | None) -> bool:
        text = json.dumps(error)

        def work(db: sqlite3.Connection, now: float) -> bool:
            if retry_in is not None:
                row = db.execute(
                    "UPDATE jobs SET status = 'QUEUED', error = ?, not_before = ?, worker = NULL, "
                    "lease_expires = NULL WHERE id = ? AND status = 'RUNNING' AND worker = ? RETURNING id",
                    (text, now + retry_in, job_id, worker),
                ).fetchone()
                if row is not None:
                    detail = f"{error.get('type')}: {error.get('message')}; again in {retry_in:.3g} s"
                    self._events(db, [(job_id, now, "retry", "RUNNING", "QUEUED", worker, detail)])
                return row is not None
            row = db.execute(
                "UPDATE jobs SET status = 'FAILED', error = ?, finished = ?, lease_expires = NULL "
                "WHERE id = ? AND status = 'RUNNING' AND worker = ? RETURNING id",
                (text, now, job_id, worker),
            ).fetchone()
            if row is None:
                return False
            detail = f"{error.get('type')}: {error.get('message')}"
            self._events(db, [(job_id, now, "fail", "RUNNING", "FAILED", worker, detail)])
            self._cascade(db, now, job_id, "FAILED")
            return True

        return self._write(work)

    def _cascade(self, db: sqlite3.Connection, now: float, job_id: str, state: str) -> None:
        """Fail or cancel the PENDING descendants of a job that just FAILED or was CANCELLED."""
        rows = db.execute(
            "WITH RECURSIVE down(id, parent) AS ("
            " SELECT e.dependent, e.prereq FROM edges e JOIN jobs j ON j.id = e.dependent AND j.status = 'PENDING'"
            " WHERE e.prereq = ?"
            " UNION SELECT e.dependent, e.prereq FROM edges e JOIN down ON e.prereq = down.id"
            " JOIN jobs j ON j.id = e.dependent AND j.status = 'PENDING')"
            " SELECT down.id, down.parent, COALESCE(d.key, d.name), COALESCE(p.key, p.name) FROM down"
            " JOIN jobs d ON d.id = down.id"
            " JOIN jobs p ON p.id = down.parent",
            (job_id,),
        ).fetchall()
        event = "fail" if state == "FAILED" else "cancel"
        for dependent, _, name, parent_name in rows:
            moved = db.execute(
                "UPDATE jobs SET status = ?, error = ?, finished = ? WHERE id = ? AND status = 'PENDING' RETURNING id",
                (state, blocked_error(name, parent_name, state) if state == "FAILED" else None, now, dependent),
            ).fetchone()
            if moved is not None:
                self._events(db, [(dependent, now, event, "PENDING", state, None, f"prerequisite {parent_name!r}")])

    def release(self, worker: str, ids: Collection[str]) -> list[str]:
        ids = list(ids)

        def work(db: sqlite3.Connection, now: float) -> list[str]:
            done = []
            for job_id in ids:
                row = db.execute(
                    "UPDATE jobs SET status = 'QUEUED', attempts = MAX(attempts - 1, 0), worker = NULL, "
                    "lease_expires = NULL WHERE id = ? AND status = 'RUNNING' AND worker = ? "
                    "RETURNING id",
                    (job_id, worker),
                ).fetchone()
                if row is not None:
                    done.append(job_id)
                    self._events(db, [(job_id, now, "requeue", "RUNNING", "QUEUED", worker, "handed back")])
            return done

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
                self._events(db, [(job_id, now, "cancel", row[0], "CANCELLED", None, None)])
                self._cascade(db, now, job_id, "CANCELLED")
            return cancelled

        return self._write(work)

    def retry(self, ids: Collection[str]) -> list[str]:
        ids = list(dict.fromkeys(ids))

        def work(db: sqlite3.Connection, now: float) -> list[str]:
            retried = []
            for job_id in ids:
                row = db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
                if row is None or row[0] not in ("FAILED", "CANCELLED"):
                    continue
                [waiting] = db.execute(
                    "SELECT COUNT(*) FROM edges e JOIN jobs p ON p.id = e.prereq "
                    "WHERE e.dependent = ? AND p.status <> 'DONE'",
                    (job_id,),
                ).fetchone()
                dest = "PENDING" if waiting else "QUEUED"
                db.execute(
                    "UPDATE jobs SET status = ?, result = NULL, error = NULL, attempts = 0, lease_losses = 0, "
                    "waiting = ?, not_before = ?, started = NULL, finished = NULL, worker = NULL, "
                    "lease_expires = NULL, progress = NULL, progress_message = NULL WHERE id = ?",
                    (dest, waiting, now, job_id),
                )
                self._events(db, [(job_id, now, "retry", row[0], dest, None, "retried by hand")])
                retried.append(job_id)
            return retried

        return self._write(work)

    def set_progress(self, worker: str, job_id: str, value: float, message: str | None) -> bool:
        def work(db: sqlite3.Connection, now: float) -> bool:
            row = db.execute(
                "UPDATE jobs SET progress = ?, progress_message = ? WHERE id = ? AND status = 'RUNNING' AND worker = ? "
                "RETURNING id",
                (value, message, job_id, worker),
            ).fetchone()
            return row is not None

        return self._write(work)

    def purge(self, older_than: float) -> int:
        def work(db: sqlite3.Connection, now: float) -> int:
            ids = [r[0] for r in db.execute(
                "SELECT id FROM jobs WHERE status IN ('DONE', 'FAILED', 'CANCELLED') AND finished < ?",
                (now - older_than,),
            )]
            for chunk in _chunks(ids):
                marks = ", ".join("?" for _ in chunk)
                db.execute(f"DELETE FROM events WHERE job IN ({marks})", chunk)
                db.execute(f"DELETE FROM edges WHERE prereq IN ({marks}) OR dependent IN ({marks})", chunk + chunk)
                db.execute(f"DELETE FROM jobs WHERE id IN ({marks})", chunk)
            return len(ids)

        return self._write(work)

    # ------------------------------------------------------------ reading

    def get(self, ids: Sequence[str]) -> list[JobRecord]:
        found: dict[str, JobRecord] = {}
        for chunk in _chunks(list(ids)):
            marks = ", ".join("?" for _ in chunk)
            for row in self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id IN ({marks})", chunk):
                found[row[0]] = record_from_row(row)
        return [found[i] for i in ids if i in found]

    def list_jobs(
        self, status: str | None = None, name: str | None = None, queue: str | None = None, limit: int = 100
    ) -> list[JobRecord]:
        where, params = [], []
        for column, value in (("status", status), ("name", name), ("queue", queue)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._db.execute(
            f"SELECT {_LIGHT_COLUMNS} FROM jobs {clause} ORDER BY seq DESC LIMIT ?", (*params, limit)
        ).fetchall()
        return [record_from_row(r) for r in rows]

    def stats(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for queue, status, n in self._db.execute("SELECT queue, status, COUNT(*) FROM jobs GROUP BY queue, status"):
            counts.setdefault(queue, {})[status] = n
        return counts

    def history(self, job_id: str) -> list[Event]:
        rows = self._db.execute(
            "SELECT at, event, source, dest, worker, detail FROM events WHERE job = ? ORDER BY rowid", (job_id,)
        ).fetchall()
        return [Event(*row) for row in rows]

    # ------------------------------------------------------------ waiting

    def _data_version(self) -> int:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            version = self._data_version()
            now = time.monotonic()
            if version != self._version:
                self._version = version
                self._last_change = now
                return
            if now >= deadline:
                return
            pause = 0.001 if now - self._last_change < 2.0 else 0.01
            time.sleep(min(pause, deadline - now))

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        self.wait(timeout)

    def close(self) -> None:
        self._db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _chunks(items: list[str], size: int = 500) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def open_sqlite(url: SplitResult) -> SQLiteStore:
    """``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``, with the option ``busy_timeout``."""
    try:
        path = file_path(url)
        options = store_options(url, repr(redact(unsplit(url))), {"busy_timeout"})
        busy = seconds(repr(redact(unsplit(url))), "busy_timeout", options.get("busy_timeout"), 60.0, zero=True)
    except ValueError as exc:
        raise StoreError(str(exc)) from None
    return SQLiteStore(path, busy_timeout=busy)
