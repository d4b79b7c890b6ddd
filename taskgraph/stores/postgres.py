"""The PostgreSQL store: one database shared by processes on many machines.

A store object holds one connection (:class:`~taskgraph.stores.postgres_session.Session`: URL, schema, transactions
in one round trip, errors, and waits through LISTEN/NOTIFY). Its SQL is in :mod:`~taskgraph.stores._postgres_sql`,
which says how each statement keeps the contract.

* **Claims** are one statement, ``FOR UPDATE SKIP LOCKED`` (workers never wait for each other's rows), with their
  ``dispatch`` events and notifications; when a lease has expired, two in one round trip: take back, then claim.
* **Enqueues** look before they write when jobs have keys or prerequisites (one more round trip): the rows looked
  at are locked, and what to write is planned from them (:class:`~taskgraph.stores.common.EnqueuePlan`).
* **Times** are the server's (``statement_timestamp()``), never the client's.
* **Continuations** are race-free against concurrent enqueues: an enqueue locks its prerequisites (``FOR SHARE``)
  while it adds edges, and a completion releases dependents in a statement of its own (a snapshot taken after the
  completed rows were locked), so no edge added concurrently is missed. Cascades of failures and cancellations go
  one level per statement for the same reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from typing import Any
from urllib.parse import SplitResult

from ..urls import written
from ._postgres_sql import _LIGHT_COLS, render
from .base import Store
from .common import (
    EnqueuePlan,
    answered,
    by_start,
    columns,
    fail_detail,
    filters,
    in_order,
    read_worker,
    tally,
    unique,
    worker_entry,
)
from .entries_sql import PostgresEntries
from .postgres_session import DEFAULT_SCHEMA, SCHEMA_VERSION, Session
from .records import (
    FIELDS,
    MAX_LEASE_LOSSES,
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
from .views_sql import PostgresViews

__all__ = ["PostgresStore", "open_postgres", "SCHEMA_VERSION", "DEFAULT_SCHEMA"]

_INT_MAX = 2**31 - 1


_LIST_PAGE = 200  # rows read at a time by a listing filtered by metadata

class PostgresStore(PostgresEntries, PostgresViews, Store):
    """A store in a PostgreSQL database (13 or newer), through psycopg (3.2.4 or newer).

    Args:
        url: ``postgresql://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE``, with the options ``schema`` (where the tables
            live; ``taskgraph`` by default) and ``connect_timeout`` (seconds; 10 by default). Other options go to
            libpq as they are (``sslmode``, ``application_name``...).
    """

    def __init__(self, url: str = "postgresql://127.0.0.1:5432/postgres") -> None:
        self._pg = pg = Session(url)
        self.url, self.schema, self.connect_timeout = pg.url, pg.schema, pg.connect_timeout
        self._q, self._params, self._exec, self._run, self._batch = pg.q, pg.params, pg.exec, pg.run, pg.batch
        self._workers_table = False  # known to exist (see _has_workers_table)

    def for_worker(self) -> None:
        """Commit a worker's claims and reports without waiting for the WAL to reach the disk
        (``synchronous_commit = off``): a crash of the server may lose the last moments of them, never corrupt
        anything, and leases run those jobs again. Saves a disk flush per claim and per batch of results. Its
        prepared statements keep one generic plan (``plan_cache_mode = force_generic_plan``) rather than being
        planned again at each execution: half the time of a claim."""
        self._pg.for_worker()

    def enqueue(self, jobs: Sequence[NewJob]) -> list[JobRecord]:
        return self._enqueue(jobs, records=True)

    def enqueue_ids(self, jobs: Sequence[NewJob]) -> list[str]:
        return self._enqueue(jobs, records=False)

    def _enqueue(self, jobs: Sequence[NewJob], records: bool) -> Any:
        """Enqueue ``jobs`` in one transaction, one round trip when they name no key and no prerequisite; their
        records (read in the same round trip), or their ids."""
        jobs = list(jobs)
        if not jobs:
            return []
        keys = unique(j.key for j in jobs if j.key is not None)
        prereqs = unique(p for j in jobs for p in j.after)
        # Jobs that name no key and no prerequisite are written without looking first: an id the store already has
        # is skipped by the INSERT (and its record returned), which is all the plan would have done with it.
        look = bool(keys or prereqs)

        def work() -> Callable[[], Any]:
            found_keys = self._run("_Q_KEYS", {"keys": keys}) if keys else None
            found = self._run("_Q_PREREQS", {"ids": unique([*prereqs, *(j.id for j in jobs)])}) if look else None
            plan = EnqueuePlan(
                self.url,
                {key: (i, status) for i, key, status in found_keys.fetchall()} if found_keys is not None else {},
                {i: (label, status) for i, label, status in found.fetchall()} if found is not None else {},
            )
            for job in jobs:
                plan.add(job)
            if look:
                self._write_plan(plan)
            elif plan.inserts:
                self._run("_Q_INSERT_NEW", self._params(**columns(plan.inserts.values())))
            if not records:
                return lambda: plan.result
            cursor = self._run("_Q_GET", {"ids": unique(plan.result)})
            return lambda: in_order(plan.result, map(record_from_row, cursor.fetchall()))

        return self._batch(work)

    def _write_plan(self, plan: EnqueuePlan) -> None:
        if plan.resets:
            self._run("_Q_DROP_EDGES", {"ids": sorted(plan.resets)})
        if plan.inserts:
            self._run("_Q_INSERT", columns(plan.inserts.values()))
        if plan.resets:
            self._run("_Q_RESET", columns(plan.resets.values()))
        edges = [(p, d) for d, after in plan.edges.items() for p in after]
        if edges:
            self._run("_Q_ADD_EDGES", {"prereqs": [p for p, _ in edges], "dependents": [d for _, d in edges]})
        if plan.events:
            names = ("job", "event", "source", "dest", "detail")
            self._run("_Q_EVENTS", dict(zip(names, map(list, zip(*plan.events, strict=True)), strict=True)))
            rows = [*plan.inserts.values(), *plan.resets.values()]
            ready = unique(row["queue"] for row in rows if row["status"] == "QUEUED")
            channels = [self._pg.notes.work_channel] * len(ready) + [self._pg.notes.changes_channel]
            self._run("_Q_NOTIFY", {"c": channels, "p": [*ready, ""]})

    def claim(self, worker: str, queues: Sequence[str], limit: int, lease: float) -> list[JobRecord]:
        queues = unique(queues)
        if limit <= 0 or not queues:
            return []
        params = self._params(
            max=MAX_LEASE_LOSSES, worker=worker, lease=float(lease), queues=queues, limit=min(int(limit), _INT_MAX),
            gate=True,
        )
        rows = self._exec(self._q["_Q_CLAIM"], params)
        if not rows[0][len(FIELDS) + 1]:  # no lease has expired
            return [record_from_row(row) for row in rows if row[0] is not None]

        def work() -> Callable[[], tuple[list[JobRecord], list[str] | None]]:
            recovered = self._run("_Q_RECOVER", params)
            got = self._run("_Q_CLAIM", {**params, "gate": False})

            def finish() -> tuple[list[JobRecord], list[str] | None]:
                row = recovered.fetchone()  # one row: an aggregate
                return [record_from_row(r) for r in got.fetchall() if r[0] is not None], row[0] if row else None

            return finish

        claimed, doomed = self._batch(work)  # a lease expired: take back, then claim, in one round trip
        if doomed:  # out of chances: FAILED, with their PENDING descendants

            def fail_lost() -> Callable[[], None]:
                failed = self._run("_Q_FAIL_LOST", self._params(ids=doomed, max=MAX_LEASE_LOSSES))
                self._cascade([r[0] for r in failed.fetchall()], "FAILED")
                return lambda: None

            self._batch(fail_lost)
        return claimed

    def heartbeat(self, worker: str, ids: Collection[str], lease: float) -> set[str]:
        ids = unique(ids)
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
        params = self._params(ids=list(first), results=list(first.values()), worker=worker)

        def work() -> Callable[[], tuple[list[str], list[str] | None]]:
            done = self._run("_Q_COMPLETE", params)
            released = self._run("_Q_RELEASE", params)
            def finish() -> tuple[list[str], list[str] | None]:
                row = released.fetchone()  # one row: aggregates
                return answered(first, done.fetchall()), row[1] if row else None

            return finish

        accepted, dropped = self._batch(work)
        if dropped:  # continuations on failure only, CANCELLED: then their PENDING descendants, right after

            def cascade() -> Callable[[], None]:
                self._cascade(dropped, "CANCELLED")
                return lambda: None

            self._batch(cascade)
        return accepted

    def fail(self, worker: str, job_id: str, error: dict[str, str], retry_in: float | None) -> bool:
        detail = fail_detail(error, retry_in).replace("\x00", "\\x00")
        params = self._params(id=job_id, worker=worker, error=json.dumps(error), detail=detail)
        if retry_in is not None:
            return bool(self._exec(self._q["_Q_RETRY"], {**params, "retry": float(retry_in)}))

        def work() -> Callable[[], bool]:
            failed = self._run("_Q_FAIL", params)
            below = self._run("_Q_CASCADE_FIND", {"ids": [job_id], "state": "FAILED"})
            accepted = bool(failed.fetchall())
            if accepted:
                self._cascade([job_id], "FAILED", below.fetchall())
            return lambda: accepted

        return self._batch(work)

    def _cascade(self, parents: list[str], state: str, found: list[Any] | None = None) -> None:
        """Fail or cancel, level by level, the PENDING descendants of ``parents``, which just became ``state``.

        Each level is a statement of its own, so it sees dependents that concurrent enqueues added to the level
        above while this transaction was locking it.
        """
        event = "fail" if state == "FAILED" else "cancel"
        while parents:
            if found is None:
                found = self._run("_Q_CASCADE_FIND", {"ids": parents, "state": state}).fetchall()
            chosen: dict[str, tuple[str, str]] = {}
            queued: dict[str, str] = {}  # continuations that run on this end: QUEUED
            for dependent, label, parent_label, parent_status, options in found:
                if dependent in chosen or dependent in queued:
                    continue
                if after_end(runs_on(options), parent_status) == "QUEUED":
                    queued[dependent] = f"prerequisite {job_label(parent_label)!r} is {parent_status}"
                else:
                    chosen[dependent] = (label, parent_label)
            found = None
            if queued:
                self._run("_Q_CASCADE_RELEASE", self._params(ids=list(queued), details=list(queued.values())))
            if not chosen:
                return
            moved = self._run("_Q_CASCADE_MOVE", self._params(
                ids=list(chosen),
                errors=[blocked_error(lb, plb, state) if state == "FAILED" else None for lb, plb in chosen.values()],
                details=[f"prerequisite {plb!r}" for _, plb in chosen.values()],
                state=state, event=event,
            ))
            parents = answered(chosen, moved.fetchall())

    def release(self, worker: str, ids: Collection[str]) -> list[str]:
        ids = unique(ids)
        if not ids:
            return []
        return answered(ids, self._exec(self._q["_Q_RELEASE_HELD"], self._params(ids=ids, worker=worker)))

    def cancel(self, ids: Collection[str]) -> list[str]:
        ids = unique(ids)

        def work() -> Callable[[], list[str]]:
            cancelled = []
            for job_id in ids:
                direct = self._run("_Q_CANCEL", self._params(id=job_id))
                below = self._run("_Q_CASCADE_FIND", {"ids": [job_id], "state": "CANCELLED"})
                if direct.fetchall():
                    cancelled.append(job_id)
                    self._cascade([job_id], "CANCELLED", below.fetchall())
            return lambda: cancelled

        return self._batch(work) if ids else []

    def retry(self, ids: Collection[str], force: bool = False) -> list[str]:
        ids = unique(ids)
        again = ["FAILED", "CANCELLED", "DONE"] if force else ["FAILED", "CANCELLED"]

        def work() -> Callable[[], list[str]]:
            self._run("_Q_RETRY_BY_HAND_LOCK", {"ids": ids, "again": again})
            self._run("_Q_RETRY_BY_HAND_PREREQS", {"ids": ids, "again": again})
            moved = self._run("_Q_RETRY_BY_HAND", self._params(ids=ids, again=again))
            return lambda: answered(ids, moved.fetchall())

        return self._batch(work) if ids else []

    def set_progress(self, worker: str, job_id: str, value: float, message: str | None) -> bool:
        message = None if message is None else message.replace("\x00", "\ufffd")
        params = self._params(id=job_id, worker=worker, value=float(value), message=message)
        return bool(self._exec(self._q["_Q_PROGRESS"], params))

    def purge(self, older_than: float) -> int:
        return int(self._exec(self._q["_Q_PURGE"], {"older": float(older_than)})[0][0])

    def delete(self, ids: Collection[str]) -> list[str]:
        ids = unique(ids)
        return answered(ids, self._exec(self._q["_Q_DELETE"], {"ids": ids})) if ids else []

    def match_ids(self, prefix: str, limit: int) -> list[str]:
        params = {"prefix": prefix.replace("\x00", ""), "limit": max(int(limit), 0)}
        return [r[0] for r in self._exec(self._q["_Q_MATCH_IDS"], params)] if "\x00" not in prefix else []

    def scheduled(self) -> dict[str, int]:
        return {queue: int(n) for queue, n in self._exec(self._q["_Q_SCHEDULED"])}

    def register_worker(self, info: dict[str, Any], ttl: float) -> None:
        [(now,)] = self._exec(self._q["_Q_NOW"])
        worker_id, text, expires = worker_entry(info, ttl, now)

        def work() -> Callable[[], None]:
            if not self._workers_table:
                self._run("_Q_WORKERS_TABLE")
            self._run("_Q_WORKER_PRUNE")
            self._run("_Q_WORKER_PUT", {"id": worker_id, "info": text, "expires": expires})
            return lambda: None

        self._batch(work)
        self._workers_table = True

    def deregister_worker(self, worker_id: str) -> bool:
        if not self._has_workers_table():
            return False
        rows = self._exec(self._q["_Q_WORKER_DROP"], {"id": worker_id})
        return bool(rows and rows[0][0])  # an expired entry was not registered any more

    def list_workers(self) -> list[dict[str, Any]]:
        if not self._has_workers_table():
            return []
        return by_start(info for info in (read_worker(r[0]) for r in self._exec(self._q["_Q_WORKERS"]))
                        if info is not None)

    def _has_workers_table(self) -> bool:
        """Whether the schema has its workers table (made by the first worker that registered)."""
        if not self._workers_table:
            found = self._exec("SELECT to_regclass(%s::text) IS NOT NULL", [f"{self._pg.schema_sql}.workers"])
            self._workers_table = bool(found[0][0])
        return self._workers_table

    def get(self, ids: Sequence[str]) -> list[JobRecord]:
        if not ids:
            return []
        return in_order(ids, map(record_from_row, self._exec(self._q["_Q_GET"], {"ids": unique(ids)})))

    def status_of(self, ids: Sequence[str]) -> dict[str, tuple[str, Any]]:
        rows = self._exec(self._q["_Q_STATUS"], {"ids": unique(ids)}) if ids else []
        return {i: (status, nb) for i, status, nb in rows}

    def list_jobs(
        self, status: str | None = None, name: str | None = None, queue: str | None = None, limit: int = 100,
        metadata: dict[str, Any] | None = None, offset: int = 0, older_than: float | None = None,
        newer_than: float | None = None,
    ) -> list[JobRecord]:
        clause, values = filters("%s::text", status=status, name=name, queue=queue)
        params: list[Any] = list(values)
        for condition, value in (("created < {now} - %s::float8", older_than), ("created > {now} - %s::float8",
                                                                                newer_than)):
            if value is not None:
                clause = f"{clause} AND {condition}" if clause else f"WHERE {condition}"
                params.append(float(value))
        clause = render(clause, self._pg.schema_sql)
        jobs = f"{self._pg.schema_sql}.jobs"
        offset, limit = max(int(offset), 0), max(int(limit), 0)
        if not metadata:
            query = f"SELECT {_LIGHT_COLS} FROM {jobs} {clause} ORDER BY seq DESC LIMIT %s::int8 OFFSET %s::int8"
            return [record_from_row(r) for r in self._exec(query, [*params, limit, offset])]
        # metadata is matched here, in Python (a damaged options text cannot fail the query as a cast to jsonb
        # would), on the rows whose options name it, read newest first in pages until enough
        clause = f"{clause} AND" if clause else "WHERE"
        query = (f"SELECT {_LIGHT_COLS}, seq FROM {jobs} {clause} strpos(options, %s::text) > 0 AND seq < %s::int8 "
                 f"ORDER BY seq DESC LIMIT {_LIST_PAGE}")
        found: list[JobRecord] = []
        before = 2**63 - 1
        while len(found) < offset + limit:
            rows = self._exec(query, [*params, '"metadata"', before])
            found += [r for r in map(record_from_row, rows) if metadata_matches(r, metadata)]
            if len(rows) < _LIST_PAGE:
                break
            before = rows[-1][-1]
        return found[offset : offset + limit]

    def stats(self) -> dict[str, dict[str, int]]:
        return tally(self._exec(self._q["_Q_STATS"]))

    def any_unfinished(self, queues: Sequence[str]) -> bool:
        return bool(queues) and bool(self._exec(self._q["_Q_ANY_UNFINISHED"], {"queues": unique(queues)})[0][0])

    def history(self, job_id: str) -> list[Event]:
        return [Event(*row) for row in self._exec(self._q["_Q_HISTORY"], {"id": job_id})]

    def wait(self, timeout: float) -> None:
        self._pg.notes.wait(timeout)

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        self._pg.notes.wait_for_work(queues, timeout)

    def close(self) -> None:
        self._pg.close()


def open_postgres(url: SplitResult) -> PostgresStore:
    """``postgresql://USER:PASSWORD@HOST:PORT/DATABASE?schema=NAME&connect_timeout=SECONDS``."""
    return PostgresStore(written(url))
