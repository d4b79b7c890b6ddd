"""The PostgreSQL store: one database shared by processes on many machines.

All tables live in one schema, ``?schema=NAME`` in the URL (``taskgraph`` by default), created with its tables on
first use under an advisory lock, and versioned in a ``taskgraph_meta`` table. One store object holds one
connection, in autocommit mode, and is used by one thread at a time.

* **Claims** are one statement: an ``UPDATE ... WHERE seq IN (SELECT ... ORDER BY priority DESC, not_before, seq
  LIMIT n FOR UPDATE SKIP LOCKED) RETURNING ...`` (the inner select runs once per named queue, so each walks its
  own index in claim order) with its ``dispatch`` events and notifications. Workers never wait for each other's
  rows. When a lease has expired, the claim takes the leases back first and then claims, in one transaction (one
  more round trip, only then).
* **Transactions in one round trip.** A write of several statements is sent as one pipeline, ``BEGIN`` and
  ``COMMIT`` included, so it costs one network round trip; one that must look before it writes (an enqueue with
  keys or prerequisites, a failure or cancellation that cascades) one more per look.
* **Times** are the server's (``statement_timestamp()``), never the client's: leases, ``not_before``, and every
  timestamp.
* **Wake-ups** use LISTEN/NOTIFY. Every write that makes a job ready notifies ``<schema>:work`` (the payload is its
  queue); every status change notifies ``<schema>:changes``; both in the transaction of the change, so a waiter
  never sees a notification before the change is visible. A store starts listening at its first
  :meth:`~PostgresStore.wait` (or :meth:`~PostgresStore.wait_for_work`), which returns at once (it cannot know
  what happened before); from then on the connection keeps receiving notifications between calls, so none is
  missed. An idle worker also wakes when the next delayed job of its queues comes due or the next lease expires.
* **Continuations** are race-free against concurrent enqueues: an enqueue locks its prerequisites (``FOR SHARE``)
  while it adds edges, and a completion releases dependents in a statement of its own (a snapshot taken after the
  completed rows were locked), so no edge added concurrently is missed. Cascades of failures and cancellations go
  one level per statement for the same reason.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.pq import TransactionStatus

from ..queues.registry import redact
from . import _postgres_sql
from ._postgres_sql import (  # the SQL lives there
    _COLUMNS,
    _DDL,
    _LIGHT_COLS,
    _NOW,
    _Q_TABLES,
)
from .base import Store, StoreError, StoreUnavailable
from .records import MAX_LEASE_LOSSES, Event, JobRecord, NewJob, blocked_error, record_from_row

__all__ = ["PostgresStore", "open_postgres", "SCHEMA_VERSION", "DEFAULT_SCHEMA"]

#: The version of the tables this code writes; a store whose ``taskgraph_meta`` says more is refused.
SCHEMA_VERSION = 1
DEFAULT_SCHEMA = "taskgraph"
DEFAULT_CONNECT_TIMEOUT = 10

# A schema name: an identifier short enough that "<schema>:changes" fits PostgreSQL's 63-byte names.
_SCHEMA_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,49}")
_URL_SHAPE = "write postgresql://USER:PASSWORD@HOST:5432/DATABASE?schema=taskgraph"
_OUR_OPTIONS = {"schema", "connect_timeout"}
_RETRIES = 8  # deadlocks and serialization failures are retried this many times
_INT_MAX = 2**31 - 1
# notifies(timeout=, stop_after=) came in psycopg 3.2, and keeping the notifications that arrive while notifies()
# is not running (during other queries, between two waits) in 3.2.4: before, they were lost.
_PSYCOPG_NEEDED = (3, 2, 4)
_T = TypeVar("_T")



def _unique(items: Iterable[str]) -> list[str]:
    """``items`` without repeats, in their order."""
    return list(dict.fromkeys(items))


class PostgresStore(Store):
    """A store in a PostgreSQL database (13 or newer), through psycopg (3.2.4 or newer).

    One object holds one connection, used by one thread at a time; open one per thread.

    Args:
        url: ``postgresql://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE``, with the options ``schema`` (where the tables
            live; ``taskgraph`` by default) and ``connect_timeout`` (seconds; 10 by default). Other options go to
            libpq as they are (``sslmode``, ``application_name``...).
    """

    def __init__(self, url: str = "postgresql://127.0.0.1:5432/postgres") -> None:
        conninfo, self.schema, self.connect_timeout, self.url, self._secrets = _parse(url)
        found = re.match(r"(\d+)\.(\d+)\.(\d+)", psycopg.__version__)
        if found is None or tuple(int(n) for n in found.groups()) < _PSYCOPG_NEEDED:
            raise StoreError(
                f"{self.url}: the PostgreSQL store needs psycopg 3.2.4 or newer, not {psycopg.__version__}: "
                "pip install -U 'psycopg[binary]>=3.2.4'"
            )
        self._conninfo = conninfo
        self._closed = False
        self._work_channel = f"{self.schema}:work"
        self._changes_channel = f"{self.schema}:changes"
        self._listening: set[str] = set()
        self._changed = False  # a notification on the changes channel not yet reported by wait()
        self._ready: set[str] = set()  # queues named on the work channel not yet reported by wait_for_work()
        self._conn = self._connect()
        self._worker_session = False
        try:
            self._schema_sql = sql.Identifier(self.schema).as_string(self._conn)
            self._q = self._statements()
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    # ------------------------------------------------------------ plumbing

    def _hide(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _reason(self, exc: BaseException) -> str:
        text = str(exc).strip()
        for prefix in ("connection failed: ", "connection is bad: "):
            if text.startswith(prefix):
                text = text[len(prefix):]
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return self._hide(" ".join(lines) if lines else type(exc).__name__)

    def _connect(self) -> psycopg.Connection[Any]:
        options: dict[str, Any] = {"autocommit": True, "connect_timeout": self.connect_timeout}
        if "application_name=" not in self._conninfo:
            options["application_name"] = "taskgraph"
        try:
            conn = psycopg.connect(self._conninfo, **options)
        except psycopg.ProgrammingError as exc:  # libpq could not parse the URL
            raise StoreError(f"{self.url}: not a valid PostgreSQL URL ({self._reason(exc)}); {_URL_SHAPE}") from None
        except psycopg.Error as exc:
            raise self._connect_error(exc) from None
        if conn.info.server_version < 130000:
            version = conn.info.server_version
            conn.close()
            raise StoreError(
                f"{self.url}: the server runs PostgreSQL {version // 10000}; the PostgreSQL store needs 13 or newer"
            )
        return conn

    def _connect_error(self, exc: BaseException) -> StoreError:
        reason = self._reason(exc)
        lowered = reason.lower()
        if "invalid" in lowered and ("connection option" in lowered or "uri" in lowered or "value" in lowered):
            return StoreError(f"{self.url}: not a valid PostgreSQL URL ({reason}); {_URL_SHAPE}")
        if any(
            word in lowered
            for word in ("password", "authentication", "role", "permission denied", "not permitted", "pg_hba.conf")
        ):
            return StoreError(
                f"{self.url}: the PostgreSQL server refused the credentials ({reason}); check the user name and "
                "password in the URL, and that this user may connect to this database"
            )
        if "database" in lowered and "does not exist" in lowered:
            return StoreError(
                f"{self.url}: the database does not exist ({reason}); create it first (createdb NAME), or name "
                "another in the URL"
            )
        return StoreUnavailable(
            f"{self.url}: cannot reach the PostgreSQL server ({reason}); check that it runs and that the host and "
            "port in the URL are right"
        )

    def _connection(self) -> psycopg.Connection[Any]:
        """The connection, opened again if it broke (a spurious wake-up follows: what happened meanwhile is
        unknown)."""
        if self._closed:
            raise StoreError(f"{self.url}: this store was closed; open a new one")
        if self._conn.broken or self._conn.closed:
            self._conn.close()
            self._conn = self._connect()
            self._listening.clear()
            if self._worker_session:
                self._conn.execute("SET synchronous_commit TO off")
        return self._conn

    def for_worker(self) -> None:
        """Commit a worker's claims and reports without waiting for the WAL to reach the disk
        (``synchronous_commit = off``): a crash of the server may lose the last moments of them, never corrupt
        anything, and leases run those jobs again. Saves a disk flush per claim and per batch of results."""
        self._worker_session = True
        self._connection().execute("SET synchronous_commit TO off")

    def _statements(self) -> dict[str, str]:
        found = {name: value for name, value in vars(_postgres_sql).items() if name.startswith("_Q_")}
        return {name: text.replace("{s}", self._schema_sql).replace("{now}", _NOW) for name, text in found.items()}

    def _migrate(self) -> None:
        schema = self._schema_sql
        conn = self._conn
        version = None
        try:
            row = conn.execute(self._q["_Q_VERSION"]).fetchone()
            version = int(row[0]) if row else None
        except (pg_errors.UndefinedTable, pg_errors.InvalidSchemaName):
            pass
        except psycopg.Error as exc:
            raise StoreError(f"{self.url}: cannot read the store's schema ({self._reason(exc)})") from None
        if version is None or version < SCHEMA_VERSION:
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
                    for statement in _DDL:
                        conn.execute(statement.replace("{s}", schema))
                    conn.execute(
                        f"INSERT INTO {schema}.taskgraph_meta (key, value) VALUES ('schema', %s) "
                        "ON CONFLICT (key) DO NOTHING",
                        (str(SCHEMA_VERSION),),
                    )
                    row = conn.execute(self._q["_Q_VERSION"]).fetchone()
                    version = int(row[0]) if row else SCHEMA_VERSION
            except pg_errors.InsufficientPrivilege as exc:
                raise StoreError(
                    f"{self.url}: not allowed to create the schema {self.schema!r} and its tables "
                    f"({self._reason(exc)}); grant this user CREATE on the database, or have an administrator "
                    "connect once to create them"
                ) from None
            except psycopg.Error as exc:
                raise StoreError(f"{self.url}: cannot create the store's tables ({self._reason(exc)})") from None
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.url}: the store's schema {self.schema!r} is version {version}, newer than this taskgraph "
                f"knows ({SCHEMA_VERSION}); upgrade taskgraph"
            )

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """psycopg's errors as StoreErrors naming the store."""
        try:
            yield
        except StoreError:
            raise
        except psycopg.OperationalError as exc:
            if self._conn.broken or self._conn.closed:
                raise StoreUnavailable(
                    f"{self.url}: lost the connection to the PostgreSQL server ({self._reason(exc)}); the next call "
                    "connects again"
                ) from exc
            raise StoreError(f"{self.url}: the PostgreSQL server failed the operation ({self._reason(exc)})") from exc
        except psycopg.Error as exc:
            raise StoreError(f"{self.url}: the PostgreSQL server refused the operation ({self._reason(exc)})") from exc

    def _retrying(self, attempt: int, exc: BaseException) -> bool:
        """Whether to run a transaction again after ``exc``, sleeping a little first."""
        transient = isinstance(exc, (pg_errors.DeadlockDetected, pg_errors.SerializationFailure))
        # a job with the same key or id was added meanwhile: looking again finds it
        added = isinstance(exc, pg_errors.UniqueViolation) and exc.diag.constraint_name in (
            "jobs_key_unique", "jobs_id_unique"
        )
        if not (transient or added):
            return False
        if attempt + 1 >= _RETRIES:
            return False
        time.sleep(random.uniform(0, 0.005 * 2**attempt))
        return True

    def _exec(self, query: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """One statement, its own transaction; prepared."""
        with self._errors():
            for attempt in range(_RETRIES):
                conn = self._connection()
                try:
                    rows = conn.execute(query, params, prepare=True).fetchall()
                    break
                except psycopg.Error as exc:
                    if not self._retrying(attempt, exc):
                        raise
            self._absorb()
            return rows

    def _batch(self, work: Callable[[psycopg.Connection[Any]], Callable[[], _T]]) -> _T:
        """Run ``work(conn)`` in one transaction; return what the function it returns gives, called after COMMIT.

        ``work`` issues its statements in pipeline mode, between a ``BEGIN`` and a ``COMMIT`` that are pipelined
        with them: a transaction that fetches nothing before its end takes one network round trip, and each fetch
        in the middle (to decide what to write next) one more. Deadlocks and serialization failures are retried.
        """
        with self._errors():
            for attempt in range(_RETRIES):
                conn = self._connection()
                try:
                    try:
                        with conn.pipeline():
                            conn.execute("BEGIN")
                            finish = work(conn)
                            conn.execute("COMMIT")
                    finally:
                        if not conn.broken and conn.info.transaction_status in (
                            TransactionStatus.INTRANS, TransactionStatus.INERROR
                        ):
                            conn.execute("ROLLBACK")  # work raised, or a statement failed: COMMIT was not reached
                    break
                except psycopg.Error as exc:
                    if not self._retrying(attempt, exc):
                        raise
            result = finish()
            self._absorb()
            return result

    def _params(self, **values: Any) -> dict[str, Any]:
        values.setdefault("work", self._work_channel)
        values.setdefault("changes", self._changes_channel)
        return values

    # ------------------------------------------------------------ writing

    def enqueue(self, jobs: Sequence[NewJob]) -> list[JobRecord]:
        jobs = list(jobs)
        if not jobs:
            return []
        keys = _unique(j.key for j in jobs if j.key is not None)
        prereqs = _unique(p for j in jobs for p in j.after)
        # Jobs that name no key and no prerequisite are written without looking first: an id the store already has
        # is skipped by the INSERT (and its record returned), which is all the plan would have done with it.
        look = bool(keys or prereqs)

        def work(conn: psycopg.Connection[Any]) -> Callable[[], list[JobRecord]]:
            known_keys: dict[str, tuple[str, str]] = {}
            known: dict[str, tuple[str, str]] = {}
            if look:
                found_keys = conn.execute(self._q["_Q_KEYS"], {"keys": keys}, prepare=True) if keys else None
                found = conn.execute(
                    self._q["_Q_PREREQS"], {"ids": _unique([*prereqs, *(j.id for j in jobs)])}, prepare=True
                )
                if found_keys is not None:
                    known_keys = {key: (job_id, status) for job_id, key, status in found_keys.fetchall()}
                known = {job_id: (label, status) for job_id, label, status in found.fetchall()}
            plan = _Plan(self.url, known_keys, known)
            for job in jobs:
                plan.add(job)
            if look:
                self._write_plan(conn, plan)
            elif plan.inserts:
                conn.execute(self._q["_Q_INSERT_NEW"], self._params(**_columns(plan.inserts.values())), prepare=True)
            cursor = conn.execute(self._q["_Q_GET"], {"ids": _unique(plan.result)}, prepare=True)

            def finish() -> list[JobRecord]:
                records = {row[0]: record_from_row(row) for row in cursor.fetchall()}
                return [records[i] for i in plan.result if i in records]

            return finish

        return self._batch(work)

    def _write_plan(self, conn: psycopg.Connection[Any], plan: _Plan) -> None:
        if plan.reset_stored:
            conn.execute(self._q["_Q_DROP_EDGES"], {"ids": sorted(plan.reset_stored)}, prepare=True)
        if plan.inserts:
            conn.execute(self._q["_Q_INSERT"], _columns(plan.inserts.values()), prepare=True)
        resets = [plan.resets[i] for i in plan.reset_stored]
        if resets:
            conn.execute(self._q["_Q_RESET"], _columns(resets), prepare=True)
        edges = [(p, d) for d, after in plan.edges.items() for p in after]
        if edges:
            conn.execute(
                self._q["_Q_ADD_EDGES"], {"prereqs": [p for p, _ in edges], "dependents": [d for _, d in edges]},
                prepare=True,
            )
        if plan.events:
            conn.execute(self._q["_Q_EVENTS"], {
                "job": [e[0] for e in plan.events], "event": [e[1] for e in plan.events],
                "source": [e[2] for e in plan.events], "dest": [e[3] for e in plan.events],
                "detail": [e[4] for e in plan.events],
            }, prepare=True)
            ready = _unique(row["queue"] for row in [*plan.inserts.values(), *resets] if row["status"] == "QUEUED")
            channels = [self._work_channel] * len(ready) + [self._changes_channel]
            conn.execute(self._q["_Q_NOTIFY"], {"c": channels, "p": [*ready, ""]}, prepare=True)

    def claim(self, worker: str, queues: Sequence[str], limit: int, lease: float) -> list[JobRecord]:
        queues = _unique(queues)
        if limit <= 0 or not queues:
            return []
        params = self._params(
            max=MAX_LEASE_LOSSES, worker=worker, lease=float(lease), queues=queues,
            limit=min(max(int(limit), 0), _INT_MAX), gate=True,
        )
        rows = self._exec(self._q["_Q_CLAIM"], params)
        lapsed = rows[0][len(_COLUMNS) + 1]
        if not lapsed:
            return [record_from_row(row) for row in rows if row[0] is not None]

        def work(conn: psycopg.Connection[Any]) -> Callable[[], tuple[list[JobRecord], list[str] | None]]:
            recovered = conn.execute(self._q["_Q_RECOVER"], params, prepare=True)
            got = conn.execute(self._q["_Q_CLAIM"], {**params, "gate": False}, prepare=True)

            def finish() -> tuple[list[JobRecord], list[str] | None]:
                row = recovered.fetchone()  # one row: an aggregate
                return [record_from_row(r) for r in got.fetchall() if r[0] is not None], row[0] if row else None

            return finish

        claimed, doomed = self._batch(work)  # a lease expired: take back, then claim, in one round trip
        if doomed:
            self._fail_lost(doomed)
        return claimed

    def _fail_lost(self, ids: list[str]) -> None:
        """Fail the jobs whose lease expired once too often, and their PENDING descendants."""

        def work(conn: psycopg.Connection[Any]) -> Callable[[], None]:
            failed = conn.execute(self._q["_Q_FAIL_LOST"], self._params(ids=ids, max=MAX_LEASE_LOSSES), prepare=True)
            self._cascade(conn, [r[0] for r in failed.fetchall()], "FAILED")
            return lambda: None

        self._batch(work)

    def heartbeat(self, worker: str, ids: Collection[str], lease: float) -> set[str]:
        ids = _unique(ids)
        if not ids:
            return set()
        rows = self._exec(self._q["_Q_HEARTBEAT"], {"ids": ids, "worker": worker, "lease": float(lease)})
        return {r[0] for r in rows}

    def complete(self, worker: str, results: Sequence[tuple[str, bytes]]) -> list[str]:
        first: dict[str, bytes] = {}
        for job_id, result in results:
            first.setdefault(job_id, result)  # a repeated id: the first result counts, as in one-by-one order
        if not first:
            return []
        ids = list(first)
        params = self._params(ids=ids, results=list(first.values()), worker=worker)

        def work(conn: psycopg.Connection[Any]) -> Callable[[], list[str]]:
            done = conn.execute(self._q["_Q_COMPLETE"], params, prepare=True)
            conn.execute(self._q["_Q_RELEASE"], params, prepare=True)

            def finish() -> list[str]:
                accepted = {r[0] for r in done.fetchall()}
                return [i for i in ids if i in accepted]

            return finish

        return self._batch(work)

    def fail(self, worker: str, job_id: str, error: dict[str, str], retry_in: float | None) -> bool:
        text = json.dumps(error)
        if retry_in is not None:
            detail = f"{error.get('type')}: {error.get('message')}; again in {retry_in:.3g} s".replace("\x00", "\\x00")
            rows = self._exec(self._q["_Q_RETRY"], self._params(
                id=job_id, worker=worker, error=text, retry=float(retry_in), detail=detail,
            ))
            return bool(rows)
        detail = f"{error.get('type')}: {error.get('message')}".replace("\x00", "\\x00")

        def work(conn: psycopg.Connection[Any]) -> Callable[[], bool]:
            failed = conn.execute(self._q["_Q_FAIL"], self._params(
                id=job_id, worker=worker, error=text, detail=detail,
            ), prepare=True)
            below = conn.execute(self._q["_Q_CASCADE_FIND"], {"ids": [job_id], "state": "FAILED"}, prepare=True)
            accepted = bool(failed.fetchall())
            if accepted:
                self._cascade(conn, [job_id], "FAILED", below.fetchall())
            return lambda: accepted

        return self._batch(work)

    def _cascade(
        self, conn: psycopg.Connection[Any], parents: list[str], state: str, found: list[Any] | None = None
    ) -> None:
        """Fail or cancel, level by level, the PENDING descendants of ``parents``, which just became ``state``.

        Each level is a statement of its own, so it sees dependents that concurrent enqueues added to the level
        above while this transaction was locking it.
        """
        event = "fail" if state == "FAILED" else "cancel"
        while parents:
            if found is None:
                found = conn.execute(
                    self._q["_Q_CASCADE_FIND"], {"ids": parents, "state": state}, prepare=True
                ).fetchall()
            chosen: dict[str, tuple[str, str]] = {}
            for dependent, label, parent_label in found:
                chosen.setdefault(dependent, (label, parent_label))
            found = None
            if not chosen:
                return
            ids = list(chosen)
            moved = conn.execute(self._q["_Q_CASCADE_MOVE"], self._params(
                ids=ids,
                errors=[blocked_error(lb, plb, state) if state == "FAILED" else None for lb, plb in chosen.values()],
                details=[f"prerequisite {plb!r}" for _, plb in chosen.values()],
                state=state, event=event,
            ), prepare=True)
            done = {r[0] for r in moved.fetchall()}
            parents = [i for i in ids if i in done]

    def release(self, worker: str, ids: Collection[str]) -> list[str]:
        ids = _unique(ids)
        if not ids:
            return []
        rows = self._exec(self._q["_Q_RELEASE_HELD"], self._params(ids=ids, worker=worker))
        handed = {r[0] for r in rows}
        return [i for i in ids if i in handed]

    def cancel(self, ids: Collection[str]) -> list[str]:
        ids = _unique(ids)
        if not ids:
            return []

        def work(conn: psycopg.Connection[Any]) -> Callable[[], list[str]]:
            cancelled = []
            for job_id in ids:
                direct = conn.execute(self._q["_Q_CANCEL"], self._params(id=job_id), prepare=True)
                below = conn.execute(self._q["_Q_CASCADE_FIND"], {"ids": [job_id], "state": "CANCELLED"},
                                     prepare=True)
                if direct.fetchall():
                    cancelled.append(job_id)
                    self._cascade(conn, [job_id], "CANCELLED", below.fetchall())
            return lambda: cancelled

        return self._batch(work)

    def retry(self, ids: Collection[str]) -> list[str]:
        ids = _unique(ids)
        if not ids:
            return []

        def work(conn: psycopg.Connection[Any]) -> Callable[[], list[str]]:
            conn.execute(self._q["_Q_RETRY_BY_HAND_LOCK"], {"ids": ids}, prepare=True)
            conn.execute(self._q["_Q_RETRY_BY_HAND_PREREQS"], {"ids": ids}, prepare=True)
            moved = conn.execute(self._q["_Q_RETRY_BY_HAND"], self._params(ids=ids), prepare=True)

            def finish() -> list[str]:
                retried = {r[0] for r in moved.fetchall()}
                return [i for i in ids if i in retried]

            return finish

        return self._batch(work)

    def set_progress(self, worker: str, job_id: str, value: float, message: str | None) -> bool:
        message = None if message is None else message.replace("\x00", "\ufffd")
        rows = self._exec(self._q["_Q_PROGRESS"], self._params(
            id=job_id, worker=worker, value=float(value), message=message,
        ))
        return bool(rows)

    def purge(self, older_than: float) -> int:
        rows = self._exec(self._q["_Q_PURGE"], {"older": float(older_than)})
        return int(rows[0][0])

    # ------------------------------------------------------------ reading

    def get(self, ids: Sequence[str]) -> list[JobRecord]:
        ids = list(ids)
        if not ids:
            return []
        found = {row[0]: record_from_row(row) for row in self._exec(self._q["_Q_GET"], {"ids": _unique(ids)})}
        return [found[i] for i in ids if i in found]

    def list_jobs(
        self, status: str | None = None, name: str | None = None, queue: str | None = None, limit: int = 100
    ) -> list[JobRecord]:
        where: list[str] = []
        params: dict[str, Any] = {"limit": max(int(limit), 0)}
        for column, value in (("status", status), ("name", name), ("queue", queue)):
            if value is not None:
                where.append(f"{column} = %({column})s::text")
                params[column] = value
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        query = f"SELECT {_LIGHT_COLS} FROM {self._schema_sql}.jobs {clause} ORDER BY seq DESC LIMIT %(limit)s::bigint"
        return [record_from_row(r) for r in self._exec(query, params)]

    def stats(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for queue, status, n in self._exec(self._q["_Q_STATS"]):
            counts.setdefault(queue, {})[status] = n
        return counts

    def history(self, job_id: str) -> list[Event]:
        return [Event(*row) for row in self._exec(self._q["_Q_HISTORY"], {"id": job_id})]

    # ------------------------------------------------------------ waiting

    def _listen(self, channel: str) -> bool:
        """Start listening on ``channel``; whether this call started it (then what happened before is unknown)."""
        conn = self._connection()
        if channel in self._listening:
            return False
        with self._errors():
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        self._listening.add(channel)
        return True

    def _note(self, channel: str, payload: str) -> None:
        if channel == self._changes_channel:
            self._changed = True
        elif channel == self._work_channel:
            self._ready.add(payload)

    def _absorb(self) -> None:
        """Take in the notifications received so far, without waiting (they pile up in psycopg otherwise)."""
        if self._listening:
            with self._errors():
                for n in self._conn.notifies(timeout=0):
                    self._note(n.channel, n.payload)

    def _receive(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for notifications and take them in."""
        with self._errors():
            for n in self._conn.notifies(timeout=max(timeout, 0.0), stop_after=1):
                self._note(n.channel, n.payload)

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + max(timeout, 0.0)
        if self._listen(self._changes_channel):
            return
        self._absorb()
        while not self._changed:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._receive(left)
        self._changed = False

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        wanted = set(queues)
        deadline = time.monotonic() + max(timeout, 0.0)
        if self._listen(self._work_channel):
            return
        self._absorb()
        if self._take(wanted):
            return
        if timeout > 0 and wanted:
            # wake when a delayed job of these queues comes due, or a lease expires (the next claim recovers it)
            [(due, expiry)] = self._exec(self._q["_Q_DUE"], {"queues": sorted(wanted)})
            soon = [t for t in (due, expiry) if t is not None and t > 0]
            if soon:
                deadline = min(deadline, time.monotonic() + min(soon) + 0.001)
            if self._take(wanted):
                return
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._receive(left)
            if self._take(wanted):
                return

    def _take(self, wanted: set[str]) -> bool:
        hits = self._ready & wanted
        self._ready -= hits
        return bool(hits)

    def close(self) -> None:
        self._closed = True
        self._conn.close()


class _Plan:
    """What an enqueue writes, worked out job by job, in order, as if each were written before the next."""

    def __init__(self, url: str, keys: dict[str, tuple[str, str]], known: dict[str, tuple[str, str]]) -> None:
        self.url = url
        self.keys = dict(keys)  # key -> (id, status), as the store has them after the jobs so far
        self.known = dict(known)  # id -> (label, status) of prerequisites, likewise
        self.inserts: dict[str, dict[str, Any]] = {}
        self.resets: dict[str, dict[str, Any]] = {}
        self.reset_stored: list[str] = []  # stored jobs reset (their old edges are dropped first)
        self.edges: dict[str, list[str]] = {}  # dependent -> prerequisites
        self.events: list[tuple[str, str, str | None, str, str | None]] = []
        self.result: list[str] = []

    def _waiting(self, after: list[str]) -> tuple[int, tuple[str, str] | None]:
        waiting = 0
        for prereq in after:
            found = self.known.get(prereq)
            if found is None:
                raise StoreError(f"{self.url}: prerequisite job {prereq!r} is not in the store")
            if found[1] in ("FAILED", "CANCELLED"):
                return waiting, found
            if found[1] != "DONE":
                waiting += 1
        return waiting, None

    def add(self, job: NewJob) -> None:
        after = _unique(job.after)
        stored = self.keys.get(job.key) if job.key is not None else None
        if stored is not None:
            job_id, status = stored
            if status not in ("FAILED", "CANCELLED"):
                self.result.append(job_id)
                return
            waiting, blocked = self._waiting(after)
            dest = blocked[1] if blocked else ("PENDING" if waiting else "QUEUED")
            row = self._row(job, job_id, dest, waiting, blocked)
            if job_id in self.inserts:  # added earlier in this call, and blocked at once
                row["key"] = self.inserts[job_id]["key"]
                self.inserts[job_id] = row
            else:
                if job_id not in self.resets:
                    self.reset_stored.append(job_id)
                self.resets[job_id] = row
            self.edges[job_id] = after
            self.events.append((job_id, "retry", status, dest, "submitted again"))
        else:
            job_id = job.id
            if job_id in self.known or job_id in self.inserts:  # enqueued already (a call retried after a lost answer)
                self.result.append(job_id)
                return
            waiting, blocked = self._waiting(after)
            dest = blocked[1] if blocked else ("PENDING" if waiting else "QUEUED")
            self.inserts[job_id] = self._row(job, job_id, dest, waiting, blocked)
            self.edges[job_id] = after
            self.events.append((job_id, "queue", None, dest, None))
        if job.key is not None:
            self.keys[job.key] = (job_id, dest)
        self.known[job_id] = (job.key if job.key is not None else job.name, dest)
        self.result.append(job_id)

    @staticmethod
    def _row(job: NewJob, job_id: str, dest: str, waiting: int, blocked: tuple[str, str] | None) -> dict[str, Any]:
        return {
            "id": job_id, "key": job.key, "name": job.name, "queue": job.queue, "status": dest,
            "priority": int(job.priority), "payload": bytes(job.payload), "options": json.dumps(job.options),
            "error": blocked_error(job.key or job.name, blocked[0], blocked[1]) if blocked else None,
            "waiting": waiting, "delay": float(job.delay),
            "nb": float(job.not_before) if job.not_before is not None else None, "final": blocked is not None,
        }


def _columns(rows: Collection[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows as one list per column, for ``unnest``."""
    names = ("id", "key", "name", "queue", "status", "priority", "payload", "options", "error", "waiting", "delay",
             "nb", "final")
    return {name: [row[name] for row in rows] for name in names}


# ---------------------------------------------------------------------------------------------- URLs


def _parse(url: str) -> tuple[str, str, int, str, list[str]]:
    """``(conninfo for libpq, schema, connect timeout, the URL to show, secrets to hide)`` from a store URL."""
    text = url.strip()
    found: set[str] = set()
    try:
        parts = urlsplit(text)
        if parts.password:
            found.add(parts.password)
    except ValueError:
        parts = None
    # a password may also come as an option: ?password=..., ?sslpassword=...
    for item in text.partition("?")[2].split("&"):
        name, _, value = item.partition("=")
        if "password" in unquote(name).lower() and value:
            found.add(value)
    secrets = sorted(found | {unquote(s) for s in found}, key=len, reverse=True)
    shown = redact(text)
    for secret in secrets:
        shown = shown.replace(secret, "***")
    if parts is None or parts.scheme.lower() not in ("postgresql", "postgres"):
        raise StoreError(f"{shown}: not a PostgreSQL URL; {_URL_SHAPE}")
    try:
        options = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise StoreError(f"{shown}: cannot read the options after '?'; write them as ?schema=NAME&connect_timeout=10")
    ours = {k: v for k, v in options if k in _OUR_OPTIONS}
    schema = ours.get("schema", DEFAULT_SCHEMA)
    if not _SCHEMA_RE.fullmatch(schema) or schema.lower().startswith("pg_"):
        raise StoreError(
            f"{shown}: the schema name {schema!r} is not valid; use 1 to 50 letters, digits and '_', starting with a "
            "letter or '_' and not with 'pg_', like ?schema=taskgraph"
        )
    timeout_text = ours.get("connect_timeout", str(DEFAULT_CONNECT_TIMEOUT))
    try:
        timeout = float(timeout_text)
    except ValueError:
        timeout = -1.0
    if not timeout > 0 or math.isinf(timeout):
        raise StoreError(f"{shown}: connect_timeout must be a positive number of seconds, like ?connect_timeout=10")
    # the other options go to libpq as they were written (re-encoding them would turn spaces into '+')
    rest = [item for item in parts.query.split("&") if item and unquote(item.partition("=")[0]) not in _OUR_OPTIONS]
    conninfo = _unsplit(parts._replace(query="&".join(rest), fragment=""))
    return conninfo, schema, max(int(math.ceil(timeout)), 1), shown, secrets


def _unsplit(parts: SplitResult) -> str:
    """The URL again; unlike ``geturl()``, keeps ``//`` when there is no host (``postgresql:///db``: a local
    socket), which libpq needs."""
    text = f"{parts.scheme}://{parts.netloc}{parts.path}"
    if parts.query:
        text += f"?{parts.query}"
    if parts.fragment:
        text += f"#{parts.fragment}"
    return text


def open_postgres(url: SplitResult) -> PostgresStore:
    """``postgresql://USER:PASSWORD@HOST:PORT/DATABASE?schema=NAME&connect_timeout=SECONDS``."""
    return PostgresStore(_unsplit(url))
