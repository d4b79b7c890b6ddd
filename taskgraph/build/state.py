"""The state database of builds: one small SQLite file, ``.taskgraph/state.sqlite``.

Two tables. ``files`` caches each file's content digest with the size and mtime it had when hashed, so that a file
whose size and mtime have not changed is not read again (ninja and git work so). ``tasks`` holds, per task key, the
identity and the input digests of its last successful run, and the inputs its depfile listed (see
:mod:`.depfile`). A run reads both tables once, when its first task is checked, and writes what changed in a few
short transactions (see :class:`StateDB`), never one per task: SQLite commits are what make per-task writes slow
(pydoit/doit#61).

Two builds may share the file at once: it is in WAL mode, waits up to ``BUSY_TIMEOUT`` for a lock, and each write
is one short transaction. A file that is not a readable state database is moved aside and rebuilt, with a
warning: the build then runs as if it were the first. Losing the state costs a rebuild, never a wrong answer.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..sqlitewal import use_wal

if TYPE_CHECKING:
    import sqlite3

__all__ = ["StateDB", "TaskState", "FileState", "default_path", "VERSION"]

log = logging.getLogger("taskgraph.build")

VERSION = 2  # 2: tasks.found
BUSY_TIMEOUT = 30.0  # seconds to wait for another build's write
_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
                                  digest TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tasks (key TEXT PRIMARY KEY, identity TEXT NOT NULL, inputs TEXT NOT NULL,
                                  at REAL NOT NULL, found TEXT NOT NULL DEFAULT '[]') WITHOUT ROWID;
"""
_MIGRATE = {1: "ALTER TABLE tasks ADD COLUMN found TEXT NOT NULL DEFAULT '[]'"}


class FileState(NamedTuple):
    size: int
    mtime_ns: int
    digest: str


class TaskState(NamedTuple):
    identity: str
    inputs: dict[str, str]  #: input path -> content digest (declared inputs and those its depfile listed)
    found: tuple[str, ...] = ()  #: the inputs its depfile listed


def default_path() -> Path:
    """``.taskgraph/state.sqlite`` in the current directory."""
    return Path.cwd() / ".taskgraph" / "state.sqlite"


class StateDB:
    """The state database at ``path``, opened on first use.

    Nothing here raises for a bad database: an unreadable one is rebuilt (or, if it cannot be, left alone and the
    build goes on without state), each time with a warning.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self.broken = False  # no database can be used: nothing is read or written

    def _connect(self) -> sqlite3.Connection:
        import sqlite3  # here, not at import: most programs that import taskgraph never build

        folder = self.path.parent
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            if folder.name == ".taskgraph":
                (folder / ".gitignore").write_text("# made by taskgraph: build state, not to commit\n*\n")
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
        try:
            use_wal(db, BUSY_TIMEOUT)  # another build may be opening the same new file
            db.execute("PRAGMA synchronous=NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, VERSION, *_MIGRATE):
                raise sqlite3.DatabaseError(f"it is version {version}; this taskgraph writes version {VERSION}")
            db.executescript(_SCHEMA)
            if version != VERSION:
                db.execute("BEGIN IMMEDIATE")
                if db.execute("PRAGMA user_version").fetchone()[0] == version:  # not done by another build
                    for step in range(version, VERSION) if version else ():
                        db.execute(_MIGRATE[step])
                    db.execute(f"PRAGMA user_version={VERSION}")
                db.execute("COMMIT")
        except BaseException:
            db.close()
            raise
        return db

    def load(self) -> tuple[dict[str, FileState], dict[str, TaskState]]:
        """Everything the database holds: the file cache and each task's last state."""
        import sqlite3

        for attempt in (1, 2):
            try:
                if self._db is None:
                    self._db = self._connect()
                files = {p: FileState(s, m, d)
                         for p, s, m, d in self._db.execute("SELECT path, size, mtime_ns, digest FROM files")}
                tasks = {k: TaskState(i, json.loads(inputs), tuple(json.loads(found)))
                         for k, i, inputs, found in self._db.execute("SELECT key, identity, inputs, found FROM tasks")}
                return files, tasks
            except (sqlite3.DatabaseError, ValueError, OSError) as exc:
                self.close()
                corrupt = isinstance(exc, ValueError) or (isinstance(exc, sqlite3.DatabaseError)
                                                          and not isinstance(exc, sqlite3.OperationalError))
                if attempt == 1 and corrupt and self._set_aside(exc):
                    continue
                log.warning("cannot use the build state %s (%s): building without it", self.path, exc)
                self.broken = True
                return {}, {}
        raise AssertionError("unreachable")

    def _set_aside(self, why: BaseException) -> bool:
        """Move a corrupt database aside (to ``state.sqlite.corrupt``), so that a new one is made."""
        aside = self.path.with_name(self.path.name + ".corrupt")
        try:
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        except OSError as exc:
            log.warning("the build state %s is unreadable (%s) and cannot be moved aside: %s", self.path, why, exc)
            return False
        log.warning("the build state %s is unreadable (%s): moved it to %s and starting afresh; every task that "
                    "declares files runs once", self.path, why, aside.name)
        return True

    def write(self, files: dict[str, FileState], tasks: dict[str, TaskState]) -> None:
        """Write file and task states in one short transaction. A file modified in the last two seconds is saved
        with no mtime, so it is hashed again next time: a write within the same mtime tick would go unseen."""
        if self.broken or self._db is None or not (files or tasks):
            return
        import sqlite3

        racy = time.time_ns() - 2_000_000_000
        now = time.time()
        try:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)",
                               [(p, f.size, f.mtime_ns if f.mtime_ns < racy else -1, f.digest)
                                for p, f in files.items()])
                db.executemany("INSERT OR REPLACE INTO tasks VALUES (?, ?, ?, ?, ?)",
                               [(k, t.identity, json.dumps(t.inputs, sort_keys=True), now, json.dumps(t.found))
                                for k, t in tasks.items()])
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            log.warning("cannot write the build state %s (%s): the tasks it misses run again next time",
                        self.path, exc)

    def forget(self, keys: list[str]) -> None:
        """Remove the states of the tasks ``keys``: each runs on its next build."""
        import sqlite3

        try:
            if self._db is None:
                self._db = self._connect()
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM tasks WHERE key = ?", [(k,) for k in keys])
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            log.warning("cannot write the build state %s (%s)", self.path, exc)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


