"""Opening an SQLite file in WAL mode from several processes at once (the durable store, the build state)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

__all__ = ["use_wal"]


def use_wal(db: sqlite3.Connection, timeout: float) -> None:
    """Put ``db``'s file in WAL mode (a no-op once it is). Switching a file's journal takes a lock SQLite does not
    wait for with its busy timeout, so two processes opening the same new file at once may be told "database is
    locked": that is tried again here, for up to ``timeout`` seconds.

    Raises:
        sqlite3.OperationalError: the file stayed locked for ``timeout`` seconds, or another error.
    """
    import sqlite3

    deadline = time.monotonic() + timeout
    pause = 0.002
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause)  # the other opener holds the lock for the few milliseconds its switch takes
        pause = min(pause * 2, 0.1)
