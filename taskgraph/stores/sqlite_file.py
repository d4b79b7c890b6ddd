"""The file under a SQLite store: one database file in WAL mode, its schema and its migration from older versions,
write transactions that take the write lock first, waiting for other connections' commits, and the statements the
store's calls share (events, owned jobs, claim order).

The file is in WAL mode, so readers never block the one writer. Every write is one ``BEGIN IMMEDIATE``
transaction, which takes the write lock before it reads, so two workers never both see a job QUEUED and both claim
it; a busy database is waited for (``busy_timeout``) rather than failed. SQLite has no notifications: waiting
clients and idle workers watch ``PRAGMA data_version``, which changes when another connection commits, polling it
every millisecond while the store is busy and every 10 ms once it has been quiet for two seconds.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..sqlitewal import use_wal
from .base import StoreError, StoreUnavailable
from .common import newer_schema

try:
    import fcntl
except ImportError:  # not on Windows: there SQLite's own busy handler does the waiting
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "Database", "SCHEMA_VERSION", "chunks", "marks", "select", "put_worker", "drop_worker", "live_workers", "events",
    "seq_events", "owned", "claim_order", "any_unfinished", "ANY_UNFINISHED",
]

# 2: events name their job by its sequence number (``job_seq``), not its id (see _TO_2)
SCHEMA_VERSION = 2
# the jobs of a status newest first (lists) without reading the others; made in stores of older versions too
_LATER_INDEX = ("jobs_status_seq", "CREATE INDEX IF NOT EXISTS jobs_status_seq ON jobs (status, seq)")
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
__LATER_INDEX__;
CREATE TABLE IF NOT EXISTS edges (
    prereq TEXT NOT NULL, dependent TEXT NOT NULL, PRIMARY KEY (prereq, dependent)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS edges_dependent ON edges (dependent);
__EVENTS__;
CREATE INDEX IF NOT EXISTS events_seq ON events (job_seq);
INSERT OR IGNORE INTO taskgraph_meta (key, value) VALUES ('schema', __VERSION__);
"""
# A job's events by its sequence number: new jobs' numbers are the highest, so the index grows at its end and a
# worker's inserts dirty the same few pages, where an index of the jobs' ids (random) dirtied a page of a
# three-million-entry B-tree per job in a store of a million finished jobs. A job's history keeps the order of
# the rows (rowid).
_EVENTS = """CREATE TABLE IF NOT EXISTS {} (
    job_seq INTEGER NOT NULL, at REAL NOT NULL, event TEXT NOT NULL, source TEXT, dest TEXT NOT NULL,
    worker TEXT, detail TEXT
)"""
_SCHEMA = (_SCHEMA.replace("__LATER_INDEX__", _LATER_INDEX[1]).replace("__VERSION__", str(SCHEMA_VERSION))
           .replace("__EVENTS__", _EVENTS.format("events")))
# from version 1 (events by job id), in one write transaction at the first open by this version; events of no
# job (none are written) are dropped
_TO_2 = [
    _EVENTS.format("events_2"),
    "INSERT INTO events_2 (job_seq, at, event, source, dest, worker, detail) SELECT j.seq, e.at, e.event, "
    "e.source, e.dest, e.worker, e.detail FROM events e JOIN jobs j ON j.id = e.job ORDER BY e.rowid",
    "DROP TABLE events",
    "ALTER TABLE events_2 RENAME TO events",
    "CREATE INDEX events_seq ON events (job_seq)",
    "UPDATE taskgraph_meta SET value = '2' WHERE key = 'schema'",
]


class Database:
    """One connection to a store's SQLite file, used by one thread at a time. Args: as
    :class:`~taskgraph.stores.sqlite.SQLiteStore`'s.

    Attributes:
        url: the store's URL.
        db: the connection, in autocommit mode (reads use it as it is).
    """

    def __init__(self, path: str, busy_timeout: float = 60.0, url: str | None = None) -> None:
        self.url = url or f"sqlite:///{path}"
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise StoreError(f"{self.url}: the folder {folder!r} does not exist; create it first")
        try:
            # the store holds job arguments and results: readable by its owner only (SQLite gives its -wal and
            # -shm files the database's permissions)
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            self.db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
            use_wal(self.db, busy_timeout)  # another worker may be opening the same new file
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.url}: cannot open it as a taskgraph store: {exc}") from exc
        self._version = self._data_version()
        self._last_change = time.monotonic()
        self._lock_fd: int | None = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600) if fcntl else None

    def _migrate(self) -> None:
        """Create the tables where they are missing; refuse a newer schema."""
        read = "SELECT value FROM taskgraph_meta WHERE key = 'schema'"
        try:
            row = self.db.execute(read).fetchone()
        except sqlite3.OperationalError:  # no tables yet
            row = None
        if row is None:

            def create(db: sqlite3.Connection, now: float) -> None:
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)

            self._transaction(create)
            row = self.db.execute(read).fetchone()
        if int(row[0]) > SCHEMA_VERSION:
            raise newer_schema(f"{self.url}: the store's schema", int(row[0]), SCHEMA_VERSION)
        if int(row[0]) < 2:
            self._transaction(self._to_2)
        # an index added after schema 1 was released, made at the first open of a store that lacks it
        if self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?",
                           (_LATER_INDEX[0],)).fetchone() is None:
            self._transaction(lambda db, now: db.execute(_LATER_INDEX[1]))

    @staticmethod
    def _to_2(db: sqlite3.Connection, now: float) -> None:
        # another process may have migrated it between our read and our write lock
        if int(db.execute("SELECT value FROM taskgraph_meta WHERE key = 'schema'").fetchone()[0]) < 2:
            for statement in _TO_2:
                db.execute(statement)

    def write(self, work: Callable[[sqlite3.Connection, float], _T]) -> _T:
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
        db = self.db
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

    def _data_version(self) -> int:
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    def wait(self, timeout: float) -> None:
        """See :meth:`taskgraph.stores.base.Store.wait`."""
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

    def close(self) -> None:
        self.db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def chunks(items: list[str], size: int = 500) -> list[list[str]]:
    """``items`` in lists of ``size`` at most (SQLite limits the parameters of a statement)."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def marks(values: Sequence[object]) -> str:
    """As many ``?`` as ``values``, comma-separated."""
    return ", ".join("?" * len(values))


def select(db: sqlite3.Connection, columns: str, where: str, values: list[str]) -> list[tuple[Any, ...]]:
    """``SELECT columns FROM jobs WHERE where IN values``, in chunks."""
    rows: list[tuple[Any, ...]] = []
    for chunk in chunks(values):
        rows += db.execute(f"SELECT {columns} FROM jobs WHERE {where} IN ({marks(chunk)})", chunk)
    return rows


def claim_order(row: Sequence[Any]) -> tuple[float, float, int]:
    """The contract's order of a claimed row. A damaged priority or not_before (text, a blob: SQLite keeps what it
    is given) sorts first, as SQLite claims it, and must not stop the claim: the worker refuses that job."""
    priority, not_before = row[5], row[13]
    return (-priority if isinstance(priority, (int, float)) else -math.inf,
            not_before if isinstance(not_before, (int, float)) else -math.inf, row[-1])


def owned(db: sqlite3.Connection, worker: str, ids: list[str], assignments: str, *values: object) -> set[str]:
    """``UPDATE jobs SET assignments`` (with ``values``) on the jobs of ``ids`` RUNNING under ``worker``'s lease;
    the ids updated."""
    done: set[str] = set()
    for chunk in chunks(ids):
        done.update(r[0] for r in db.execute(
            f"UPDATE jobs SET {assignments} WHERE status = 'RUNNING' AND worker = ? AND id IN ({marks(chunk)}) "
            "RETURNING id", (*values, worker, *chunk)
        ))
    return done


def events(db: sqlite3.Connection, rows: list[tuple[str, float, str, str | None, str, Any, Any]]) -> None:
    """Record events ``(job id, at, event, source, dest, worker, detail)``; an event of no job is not recorded."""
    if rows:
        db.executemany(
            "INSERT INTO events (job_seq, at, event, source, dest, worker, detail) "
            "SELECT seq, ?, ?, ?, ?, ?, ? FROM jobs WHERE id = ?", [(*row[1:], row[0]) for row in rows]
        )


def seq_events(db: sqlite3.Connection, rows: list[tuple[int, float, str, str | None, str, Any, Any]]) -> None:
    """Record events ``(job seq, at, event, source, dest, worker, detail)`` of jobs whose number is at hand."""
    if rows:
        db.executemany(
            "INSERT INTO events (job_seq, at, event, source, dest, worker, detail) VALUES (?, ?, ?, ?, ?, ?, ?)", rows
        )


# Live workers: a table made on first use, so that a store file made before workers registered needs no new version.
_WORKERS_TABLE = "CREATE TABLE IF NOT EXISTS workers (id TEXT PRIMARY KEY, info TEXT NOT NULL, expires REAL NOT NULL)"


def put_worker(db: sqlite3.Connection, now: float, worker_id: str, info: str, expires: float) -> None:
    """Register a worker or refresh its entry (in a write transaction), deleting the expired ones."""
    db.execute(_WORKERS_TABLE)
    db.execute("DELETE FROM workers WHERE expires < ?", (now,))
    db.execute("INSERT OR REPLACE INTO workers (id, info, expires) VALUES (?, ?, ?)", (worker_id, info, expires))


def drop_worker(db: sqlite3.Connection, now: float, worker_id: str) -> bool:
    """Forget a worker (in a write transaction); whether it was registered and not expired."""
    db.execute(_WORKERS_TABLE)
    row = db.execute("DELETE FROM workers WHERE id = ? RETURNING expires >= ?", (worker_id, now)).fetchone()
    return bool(row and row[0])


def live_workers(db: sqlite3.Connection, now: float) -> list[Any]:
    """The info texts of the workers not expired at ``now``."""
    try:
        return [r[0] for r in db.execute("SELECT info FROM workers WHERE expires >= ?", (now,))]
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []  # no worker registered yet
        raise


# one job of some queues not finished, found through jobs_status whatever the number of finished jobs
ANY_UNFINISHED = "SELECT 1 FROM jobs WHERE status IN ('PENDING', 'QUEUED', 'RUNNING') AND queue IN ({}) LIMIT 1"


def any_unfinished(db: sqlite3.Connection, queues: list[str]) -> bool:
    """Whether a job of ``queues`` is PENDING, QUEUED or RUNNING (see ``Store.any_unfinished``)."""
    query = ANY_UNFINISHED.format(", ".join("?" * len(queues)))
    return bool(queues) and db.execute(query, queues).fetchone() is not None
