"""Entries (see :mod:`.entries`) in SQLite and PostgreSQL: one table, ``entries``, made on first use, so that a
store made before them needs no new schema version.

A compare-and-set is one ``UPDATE ... WHERE version = ?`` (or ``INSERT ... ON CONFLICT DO NOTHING`` for version
0): the database's row lock makes it atomic across every worker.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from typing import Any

from .entries import Entries, Entry

__all__ = ["SQLiteEntries", "PostgresEntries"]

_SQLITE_TABLE = (
    "CREATE TABLE IF NOT EXISTS entries (space TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, "
    "score REAL NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (space, key)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS entries_score ON entries (space, score)",
)


def _entry(space: str, row: tuple[Any, ...]) -> Entry:
    return Entry(space, str(row[0]), bytes(row[1]), float(row[2]), int(row[3]))


class SQLiteEntries(Entries):
    """Entries in the store's SQLite file (used by :class:`~.sqlite.SQLiteStore`)."""

    _db: sqlite3.Connection
    _write: Any
    _entries_ready = False

    def _entry_query(self, query: str, values: tuple[Any, ...]) -> list[Any]:
        """Rows of a read; none while the table is not made (a read does not make it: a worker's first tick
        writes nothing)."""
        try:
            return self._db.execute(query, values).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise

    def _entries(self) -> sqlite3.Connection:
        if not self._entries_ready:
            def create(db: sqlite3.Connection, now: float) -> None:
                for statement in _SQLITE_TABLE:
                    db.execute(statement)

            self._write(create)
            self._entries_ready = True
        return self._db

    def entry_get(self, space: str, key: str) -> Entry | None:
        rows = self._entry_query("SELECT key, value, score, version FROM entries WHERE space = ? AND key = ?",
                                 (space, key))
        return _entry(space, rows[0]) if rows else None

    def entry_list(self, space: str, upto: float | None = None, limit: int = 1000) -> list[Entry]:
        rows = self._entry_query(
            "SELECT key, value, score, version FROM entries WHERE space = ? AND score <= ? ORDER BY score, key "
            "LIMIT ?", (space, float("inf") if upto is None else upto, max(int(limit), 0)))
        return [_entry(space, r) for r in rows]

    def entry_put(self, space: str, key: str, value: bytes, score: float, version: int | None = None) -> int | None:
        self._entries()

        def work(db: sqlite3.Connection, now: float) -> int | None:
            row = db.execute("SELECT version FROM entries WHERE space = ? AND key = ?", (space, key)).fetchone()
            old = 0 if row is None else int(row[0])
            if version is not None and old != version:
                return None
            db.execute("INSERT INTO entries (space, key, value, score, version) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT (space, key) DO UPDATE SET value = excluded.value, score = excluded.score, "
                       "version = excluded.version", (space, key, bytes(value), float(score), old + 1))
            return old + 1

        return self._write(work)

    def entry_touch(self, space: str, key: str, score: float) -> bool:
        self._entries()
        return bool(self._write(lambda db, now: db.execute(
            "UPDATE entries SET score = ? WHERE space = ? AND key = ?", (float(score), space, key)).rowcount))

    def entry_add(self, space: str, key: str, amount: float) -> float:
        self._entries()
        return float(self._write(lambda db, now: db.execute(
            "INSERT INTO entries (space, key, value, score, version) VALUES (?, ?, x'', ?, 1) ON CONFLICT (space, key) "
            "DO UPDATE SET score = score + excluded.score, version = version + 1 RETURNING score",
            (space, key, float(amount))).fetchone()[0]))

    def entry_delete(self, space: str, keys: Collection[str] | None = None) -> int:
        self._entries()

        def work(db: sqlite3.Connection, now: float) -> int:
            if keys is None:
                return db.execute("DELETE FROM entries WHERE space = ?", (space,)).rowcount
            return sum(db.execute("DELETE FROM entries WHERE space = ? AND key = ?", (space, k)).rowcount
                       for k in set(keys))

        return int(self._write(work))

    def entry_trim(self, space: str, keep: int) -> int:
        self._entries()
        return int(self._write(lambda db, now: db.execute(
            "DELETE FROM entries WHERE space = ? AND key NOT IN (SELECT key FROM entries WHERE space = ? "
            "ORDER BY score DESC, key LIMIT ?)", (space, space, max(int(keep), 0))).rowcount))

    def entry_spaces(self, prefix: str) -> list[str]:
        rows = self._entry_query("SELECT DISTINCT space FROM entries WHERE space >= ? AND space < ? ORDER BY space",
                          (prefix, prefix + "\U0010ffff"))
        return [r[0] for r in rows if r[0].startswith(prefix)]

    def note(self, job_id: str, event: str, detail: str | None) -> bool:
        def work(db: sqlite3.Connection, now: float) -> bool:
            return db.execute("INSERT INTO events (job_seq, at, event, source, dest, worker, detail) SELECT seq, "
                              "?, ?, status, status, NULL, ? FROM jobs WHERE id = ?",
                              (now, event, detail, job_id)).rowcount > 0

        return bool(self._write(work))


_PG_TABLE = (
    "CREATE TABLE IF NOT EXISTS {s}.entries (space text NOT NULL, key text NOT NULL, value bytea NOT NULL, "
    "score float8 NOT NULL, version bigint NOT NULL, PRIMARY KEY (space, key))"
)
_PG = {
    "index": "CREATE INDEX IF NOT EXISTS entries_score ON {s}.entries (space, score)",
    "get": "SELECT key, value, score, version FROM {s}.entries WHERE space = %s AND key = %s",
    "list": "SELECT key, value, score, version FROM {s}.entries WHERE space = %s AND score <= %s "
            "ORDER BY score, key LIMIT %s",
    "put_any": "INSERT INTO {s}.entries (space, key, value, score, version) VALUES (%s, %s, %s, %s, 1) "
               "ON CONFLICT (space, key) DO UPDATE SET value = excluded.value, score = excluded.score, "
               "version = {s}.entries.version + 1 RETURNING version",
    "put_new": "INSERT INTO {s}.entries (space, key, value, score, version) VALUES (%s, %s, %s, %s, 1) "
               "ON CONFLICT (space, key) DO NOTHING RETURNING version",
    "put_cas": "UPDATE {s}.entries SET value = %s, score = %s, version = version + 1 WHERE space = %s AND key = %s "
               "AND version = %s RETURNING version",
    "touch": "UPDATE {s}.entries SET score = %s WHERE space = %s AND key = %s",
    "add": "INSERT INTO {s}.entries (space, key, value, score, version) VALUES (%s, %s, '', %s, 1) "
           "ON CONFLICT (space, key) DO UPDATE SET score = {s}.entries.score + excluded.score, "
           "version = {s}.entries.version + 1 RETURNING score",
    "delete_all": "DELETE FROM {s}.entries WHERE space = %s",
    "delete": "DELETE FROM {s}.entries WHERE space = %s AND key = ANY(%s::text[])",
    "trim": "DELETE FROM {s}.entries WHERE space = %s AND key NOT IN (SELECT key FROM {s}.entries WHERE space = %s "
            "ORDER BY score DESC, key LIMIT %s)",
    "spaces": "SELECT DISTINCT space FROM {s}.entries WHERE starts_with(space, %s) ORDER BY space",
    "note": "INSERT INTO {s}.events (job, at, event, source, dest, worker, detail) SELECT id, "
            "extract(epoch from clock_timestamp()), %s, status, status, NULL, %s FROM {s}.jobs WHERE id = %s "
            "RETURNING job",
}


class PostgresEntries(Entries):
    """Entries in the store's schema (used by :class:`~.postgres.PostgresStore`)."""

    _exec: Any
    _pg: Any
    _batch: Any
    _entry_sql: dict[str, str] | None = None

    def _entry_read(self, name: str, values: tuple[Any, ...]) -> list[Any]:
        """Rows of a read; none while the table is not made (a read does not make it)."""
        if self._entry_sql is None:
            schema = self._pg.schema_sql
            if not self._exec("SELECT to_regclass(%s::text) IS NOT NULL", [f"{schema}.entries"])[0][0]:
                return []
        return list(self._exec(self._sql(name), values))

    def _sql(self, name: str) -> str:
        if self._entry_sql is None:
            schema = self._pg.schema_sql
            try:
                self._ddl(_PG_TABLE.replace("{s}", schema), _PG["index"].replace("{s}", schema))
            except Exception:  # two sessions made it at once: one of them lost the race on the catalog
                if not self._exec("SELECT to_regclass(%s::text) IS NOT NULL", [f"{schema}.entries"])[0][0]:
                    raise
            self._entry_sql = {k: v.replace("{s}", schema) for k, v in _PG.items()}
        return self._entry_sql[name]

    def _ddl(self, *statements: str) -> None:
        def work() -> Any:
            for statement in statements:
                self._pg.conn.execute(statement)
            return lambda: None

        self._batch(work)

    def entry_get(self, space: str, key: str) -> Entry | None:
        rows = self._entry_read("get", (space, key))
        return _entry(space, rows[0]) if rows else None

    def entry_list(self, space: str, upto: float | None = None, limit: int = 1000) -> list[Entry]:
        rows = self._entry_read("list", (space, float("inf") if upto is None else upto, max(int(limit), 0)))
        return [_entry(space, r) for r in rows]

    def entry_put(self, space: str, key: str, value: bytes, score: float, version: int | None = None) -> int | None:
        if version is None:
            rows = self._exec(self._sql("put_any"), (space, key, bytes(value), float(score)))
        elif version == 0:
            rows = self._exec(self._sql("put_new"), (space, key, bytes(value), float(score)))
        else:
            rows = self._exec(self._sql("put_cas"), (bytes(value), float(score), space, key, version))
        return int(rows[0][0]) if rows else None

    def entry_touch(self, space: str, key: str, score: float) -> bool:
        return bool(self._exec(self._sql("touch") + " RETURNING 1", (float(score), space, key)))

    def entry_add(self, space: str, key: str, amount: float) -> float:
        return float(self._exec(self._sql("add"), (space, key, float(amount)))[0][0])

    def entry_delete(self, space: str, keys: Collection[str] | None = None) -> int:
        if keys is None:
            return len(self._exec(self._sql("delete_all") + " RETURNING 1", (space,)))
        return len(self._exec(self._sql("delete") + " RETURNING 1", (space, sorted(set(keys)))))

    def entry_trim(self, space: str, keep: int) -> int:
        return len(self._exec(self._sql("trim") + " RETURNING 1", (space, space, max(int(keep), 0))))

    def entry_spaces(self, prefix: str) -> list[str]:
        return [r[0] for r in self._entry_read("spaces", (prefix,))]

    def note(self, job_id: str, event: str, detail: str | None) -> bool:
        self._sql("note")
        return bool(self._exec(self._entry_sql["note"], (event, detail, job_id)))  # type: ignore[index]
