"""The connection under a PostgreSQL store: opened from the store's URL with clear errors, its schema made and
versioned, statements and transactions run (in one round trip, retried on deadlocks), psycopg's errors turned into
:class:`~taskgraph.stores.base.StoreError`, and its waits on LISTEN/NOTIFY (:class:`Notifications`).

All tables live in one schema, ``?schema=NAME`` in the URL (``taskgraph`` by default), created with its tables on
first use under an advisory lock, and versioned in a ``taskgraph_meta`` table. The connection is in autocommit
mode; a transaction of several statements is sent as one pipeline, ``BEGIN`` and ``COMMIT`` included, so it costs
one network round trip, and one more per result it must read before it goes on.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import unquote

import psycopg
from psycopg import Notify, sql
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus

from ..urls import redact, seconds, secrets, split, store_options, unsplit
from ._postgres_sql import (
    _DDL,
    _LATER_INDEXES,
    _Q_TABLES,
    LATER_INDEX_NAMES,
    MISSING_INDEXES,
    SCHEMA_VERSION,
    render,
    statements,
)
from .base import StoreError
from .common import lost, newer_schema, reason, refused, unreachable

__all__ = ["Session", "Notifications", "parse", "SCHEMA_VERSION", "DEFAULT_SCHEMA"]

DEFAULT_SCHEMA = "taskgraph"
DEFAULT_CONNECT_TIMEOUT = 10

# A schema name: an identifier short enough that "<schema>:changes" fits PostgreSQL's 63-byte names.
_SCHEMA_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,49}")
_URL_SHAPE = "write postgresql://USER:PASSWORD@HOST:5432/DATABASE?schema=taskgraph"
_OUR_OPTIONS = {"schema", "connect_timeout"}
_RETRIES = 8  # deadlocks and serialization failures are retried this many times
# notifies(timeout=, stop_after=) came in psycopg 3.2, and keeping the notifications that arrive while notifies()
# is not running (during other queries, between two waits) in 3.2.4: before, they were lost.
_PSYCOPG_NEEDED = (3, 2, 4)
_T = TypeVar("_T")
# A worker's session: commits that do not wait for the disk, and generic plans for its prepared statements. Left to
# choose, PostgreSQL plans the claim afresh at every execution (its custom plans look cheaper than a generic one),
# which costs more than the claim itself (0.3 ms of 0.7 here); a worker's statements find their rows by id, lease or
# the ready index, whatever the values, so one plan serves them all.
_WORKER_SETTINGS = (
    "SELECT set_config('synchronous_commit', 'off', false), set_config('plan_cache_mode', 'force_generic_plan', false)"
)


def parse(url: str) -> tuple[str, str, int, str, list[str]]:
    """``(conninfo for libpq, schema, connect timeout, the URL to show, secrets to hide)`` from a store URL.

    Raises:
        StoreError: the URL is malformed, or its schema name or timeout is not valid.
    """
    text = url.strip()
    shown = redact(text)
    try:
        parts = split(text)
        if parts.scheme.lower() not in ("postgresql", "postgres"):
            raise ValueError(f"{shown}: not a PostgreSQL URL")
        ours = store_options(parts, shown, _OUR_OPTIONS, others=True)
        timeout = seconds(shown, "connect_timeout", ours.get("connect_timeout"), DEFAULT_CONNECT_TIMEOUT)
    except ValueError as exc:
        raise StoreError(f"{exc}; {_URL_SHAPE}") from None
    schema = ours.get("schema", DEFAULT_SCHEMA)
    if not _SCHEMA_RE.fullmatch(schema) or schema.lower().startswith("pg_"):
        raise StoreError(
            f"{shown}: the schema name {schema!r} is not valid; use 1 to 50 letters, digits and '_', starting with a "
            "letter or '_' and not with 'pg_', like ?schema=taskgraph"
        )
    # the other options go to libpq as they were written (re-encoding them would turn spaces into '+')
    rest = [item for item in parts.query.split("&") if item and unquote(item.partition("=")[0]) not in _OUR_OPTIONS]
    conninfo = unsplit(parts._replace(query="&".join(rest), fragment=""))
    return conninfo, schema, max(int(math.ceil(timeout)), 1), shown, secrets(text)


class Session:
    """One connection of a PostgreSQL store, used by one thread at a time.

    Args:
        url: see :class:`~taskgraph.stores.postgres.PostgresStore`.

    Attributes:
        url: the URL, passwords hidden.
        conn: the psycopg connection (opened again by :meth:`connection` when it broke).
        q: the statements of :mod:`taskgraph.stores._postgres_sql` by name, for this schema.
        notes: the notifications received on this connection.
    """

    def __init__(self, url: str) -> None:
        conninfo, self.schema, self.connect_timeout, self.url, self._secrets = parse(url)
        found = re.match(r"(\d+)\.(\d+)\.(\d+)", psycopg.__version__)
        if found is None or tuple(int(n) for n in found.groups()) < _PSYCOPG_NEEDED:
            raise StoreError(
                f"{self.url}: the PostgreSQL store needs psycopg 3.2.4 or newer, not {psycopg.__version__}: "
                "pip install -U 'psycopg[binary]>=3.2.4'"
            )
        self._conninfo = conninfo
        self._closed = False
        self._worker_session = False
        self.notes = Notifications(self)
        self.conn = self._connect()
        try:
            self.schema_sql = sql.Identifier(self.schema).as_string(self.conn)
            self.q = statements(self.schema_sql)
            self._migrate()
        except BaseException:
            self.conn.close()
            raise

    def reason(self, exc: BaseException) -> str:
        """``exc`` as one line for a message, passwords hidden."""
        return reason(exc, self._secrets)

    def _connect(self) -> psycopg.Connection[Any]:
        options: dict[str, Any] = {"autocommit": True, "connect_timeout": self.connect_timeout}
        if "application_name=" not in self._conninfo:
            options["application_name"] = "taskgraph"
        try:
            conn = psycopg.connect(self._conninfo, **options)
        except psycopg.ProgrammingError as exc:  # libpq could not parse the URL
            raise StoreError(f"{self.url}: not a valid PostgreSQL URL ({self.reason(exc)}); {_URL_SHAPE}") from None
        except psycopg.Error as exc:
            raise self._connect_error(exc) from None
        if conn.info.server_version < 130000:
            version = conn.info.server_version
            conn.close()
            raise StoreError(
                f"{self.url}: the server runs PostgreSQL {version // 10000}; the PostgreSQL store needs 13 or newer"
            )
        self.notes.reset()
        return conn

    def _connect_error(self, exc: BaseException) -> StoreError:
        why = self.reason(exc)
        lowered = why.lower()
        if "invalid" in lowered and ("connection option" in lowered or "uri" in lowered or "value" in lowered):
            return StoreError(f"{self.url}: not a valid PostgreSQL URL ({why}); {_URL_SHAPE}")
        if any(
            word in lowered
            for word in ("password", "authentication", "role", "permission denied", "not permitted", "pg_hba.conf")
        ):
            return refused(self.url, "PostgreSQL", why, ", and that this user may connect to this database")
        if "database" in lowered and "does not exist" in lowered:
            return StoreError(
                f"{self.url}: the database does not exist ({why}); create it first (createdb NAME), or name "
                "another in the URL"
            )
        return unreachable(self.url, "PostgreSQL", why)

    def connection(self) -> psycopg.Connection[Any]:
        """The connection, opened again if it broke (a spurious wake-up follows: what happened meanwhile is
        unknown)."""
        if self._closed:
            raise StoreError(f"{self.url}: this store was closed; open a new one")
        if self.conn.broken or self.conn.closed:
            self.conn.close()
            self.conn = self._connect()
            if self._worker_session:
                self.conn.execute(_WORKER_SETTINGS)
        return self.conn

    def for_worker(self) -> None:
        """Commit without waiting for the WAL to reach the disk, and plan each statement once (see
        ``PostgresStore.for_worker``)."""
        self._worker_session = True
        self.connection().execute(_WORKER_SETTINGS)

    def _version(self) -> int | None:
        row = self.conn.execute(self.q["_Q_VERSION"]).fetchone()
        return int(row[0]) if row else None

    def _migrate(self) -> None:
        """Create the schema and its tables where they are missing, under an advisory lock; refuse a newer one."""
        conn = self.conn
        try:
            version = self._version()
        except (pg_errors.UndefinedTable, pg_errors.InvalidSchemaName):
            version = None
        except psycopg.Error as exc:
            raise StoreError(f"{self.url}: cannot read the store's schema ({self.reason(exc)})") from None
        missing = 0
        if version == SCHEMA_VERSION:  # a store made before its later indexes: they are made now, once
            try:
                row = conn.execute(MISSING_INDEXES, (LATER_INDEX_NAMES, self.schema_sql)).fetchone()
                missing = row[0] if row else 0
            except psycopg.Error as exc:
                raise StoreError(f"{self.url}: cannot read the store's schema ({self.reason(exc)})") from None
        if version is None or version < SCHEMA_VERSION or missing:
            lock = int.from_bytes(hashlib.blake2b(f"taskgraph:{self.schema}".encode(), digest_size=8).digest(), "big",
                                  signed=True)
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s::bigint)", (lock,))
                    tables = {r[0] for r in conn.execute(
                        _Q_TABLES, (self.schema, ["taskgraph_meta", "jobs", "edges", "events"])
                    )}
                    if "taskgraph_meta" not in tables and tables:
                        raise StoreError(
                            f"{self.url}: the schema {self.schema!r} already has tables named "
                            f"{', '.join(sorted(tables))} that taskgraph did not make; name another schema with "
                            "?schema=NAME"
                        )
                    for statement in _DDL if version is None or version < SCHEMA_VERSION else _LATER_INDEXES:
                        conn.execute(render(statement, self.schema_sql))
                    version = self._version() or SCHEMA_VERSION
            except pg_errors.InsufficientPrivilege as exc:
                raise StoreError(
                    f"{self.url}: not allowed to create the schema {self.schema!r} and its tables "
                    f"({self.reason(exc)}); grant this user CREATE on the database, or have an administrator "
                    "connect once to create them"
                ) from None
            except psycopg.Error as exc:
                raise StoreError(f"{self.url}: cannot create the store's tables ({self.reason(exc)})") from None
        if version > SCHEMA_VERSION:
            raise newer_schema(f"{self.url}: the store's schema {self.schema!r}", version, SCHEMA_VERSION)

    @contextmanager
    def errors(self) -> Iterator[None]:
        """psycopg's errors as StoreErrors naming the store."""
        try:
            yield
        except StoreError:
            raise
        except psycopg.OperationalError as exc:
            if self.conn.broken or self.conn.closed:
                raise lost(self.url, "PostgreSQL", self.reason(exc)) from exc
            raise StoreError(f"{self.url}: the PostgreSQL server failed the operation ({self.reason(exc)})") from exc
        except psycopg.Error as exc:
            raise StoreError(f"{self.url}: the PostgreSQL server refused the operation ({self.reason(exc)})") from exc

    def _retried(self, once: Callable[[psycopg.Connection[Any]], Callable[[], _T]]) -> _T:
        """``once(conn)``, run again (a little later each time) after a deadlock, a serialization failure or a job
        with the same key or id added meanwhile (looking again finds it); then what the function it returns gives."""
        with self.errors():
            for attempt in range(_RETRIES):
                conn = self.connection()
                try:
                    finish = once(conn)
                    break
                except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure, pg_errors.UniqueViolation) as exc:
                    again = not isinstance(exc, pg_errors.UniqueViolation) or exc.diag.constraint_name in (
                        "jobs_key_unique", "jobs_id_unique"
                    )
                    if not again or attempt + 1 >= _RETRIES:
                        raise
                    time.sleep(random.uniform(0, 0.005 * 2**attempt))
            result = finish()
            self.notes.absorb()
            return result

    def exec(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        """One statement, its own transaction; prepared."""

        def once(conn: psycopg.Connection[Any]) -> Callable[[], list[tuple[Any, ...]]]:
            rows = conn.execute(query, params, prepare=True).fetchall()
            return lambda: rows

        return self._retried(once)

    def run(self, name: str, params: Any = None) -> psycopg.Cursor[Any]:
        """Send the statement ``name`` (prepared), in the transaction of :meth:`batch`; its cursor."""
        return self.conn.execute(self.q[name], params, prepare=True)

    def batch(self, work: Callable[[], Callable[[], _T]]) -> _T:
        """Run ``work()``, which sends statements with :meth:`run`, in one transaction, pipelined (one round trip,
        and one more per fetch in the middle), retried as :meth:`exec` is; return what the function it returns
        gives after COMMIT."""

        def once(conn: psycopg.Connection[Any]) -> Callable[[], _T]:
            try:
                with conn.pipeline():
                    conn.execute("BEGIN")
                    finish = work()
                    conn.execute("COMMIT")
            finally:
                if not conn.broken and conn.info.transaction_status in (
                    TransactionStatus.INTRANS, TransactionStatus.INERROR
                ):
                    conn.execute("ROLLBACK")  # work raised, or a statement failed: COMMIT was not reached
            return finish

        return self._retried(once)

    def params(self, **values: Any) -> dict[str, Any]:
        """``values`` with the names of the channels the statements notify."""
        values.setdefault("work", self.notes.work_channel)
        values.setdefault("changes", self.notes.changes_channel)
        return values

    def close(self) -> None:
        self._closed = True
        self.conn.close()


class Notifications:
    """The notifications one session's connection received and its waits have not reported yet: how a PostgreSQL
    store waits, through LISTEN/NOTIFY.

    Every write that makes a job ready notifies ``<schema>:work`` (the payload is its queue); every status change
    notifies ``<schema>:changes``; both in the transaction of the change, so a waiter never sees a notification before
    the change is visible. A connection starts listening at its first wait, which returns at once (it cannot know what
    happened before); from then on it keeps receiving notifications between calls (each statement takes in those that
    arrived), so none is missed. An idle worker also wakes when the next delayed job of its queues comes due or the
    next lease expires, which notify nothing.
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self.work_channel = f"{session.schema}:work"
        self.changes_channel = f"{session.schema}:changes"
        self._listening: set[str] = set()
        # not yet reported: the queues named on the work channel, and None for a notification on the changes channel
        self._news: set[str | None] = set()

    def reset(self) -> None:
        """Forget the channels listened to: the connection is new."""
        self._listening.clear()

    def _listen(self, channel: str) -> bool:
        """Start listening on ``channel``; whether this call started it (then what happened before is unknown)."""
        conn = self._session.connection()
        if channel in self._listening:
            return False
        with self._session.errors():
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        self._listening.add(channel)
        return True

    def absorb(self) -> None:
        """Take in the notifications received so far, without waiting (they pile up in psycopg otherwise)."""
        if self._listening:
            with self._session.errors():
                self._note(self._session.conn.notifies(timeout=0))

    def _note(self, notifies: Iterable[Notify]) -> None:
        for n in notifies:
            self._news.add(None if n.channel == self.changes_channel else n.payload)

    def _until(self, wanted: AbstractSet[str | None], deadline: float) -> None:
        """Take in notifications until one in ``wanted`` is reported (and forgotten), or ``deadline`` (monotonic)."""
        with self._session.errors():
            while not self._take(wanted):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._note(self._session.conn.notifies(timeout=left, stop_after=1))

    def wait(self, timeout: float) -> None:
        """See :meth:`taskgraph.stores.base.Store.wait`."""
        deadline = time.monotonic() + max(timeout, 0.0)
        if not self._listen(self.changes_channel):
            self.absorb()
            self._until({None}, deadline)

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        """See :meth:`taskgraph.stores.base.Store.wait_for_work`."""
        wanted = set(queues)
        deadline = time.monotonic() + max(timeout, 0.0)
        if self._listen(self.work_channel):
            return
        self.absorb()
        if self._take(wanted):
            return
        if timeout > 0 and wanted:
            # wake when a delayed job of these queues comes due, or a lease expires (the next claim recovers it)
            [(due, expiry)] = self._session.exec(self._session.q["_Q_DUE"], {"queues": sorted(wanted)})
            soon = [t for t in (due, expiry) if t is not None and t > 0]
            if soon:
                deadline = min(deadline, time.monotonic() + min(soon) + 0.001)
        self._until(wanted, deadline)

    def _take(self, wanted: AbstractSet[str | None]) -> bool:
        hits = self._news & wanted
        self._news -= hits
        return bool(hits)
