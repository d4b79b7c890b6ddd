"""What the stores share in Python: decisions that need no atomicity of their own, and the texts they write.

The enqueue plan serves the stores that run Python inside their transactions (SQLite, PostgreSQL); Redis's Lua
scripts keep the same rules.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from .base import StoreError, StoreUnavailable
from .records import JobRecord, NewJob, after_end, blocked_error, options_texts

__all__ = [
    "unique", "fail_detail", "retried_detail", "EnqueuePlan", "columns", "in_order", "answered", "tally", "filters",
    "reason", "unreachable", "refused", "lost", "newer_schema", "worker_entry", "read_worker", "by_start",
    "split_scheduled",
]

BLOCKING = ("FAILED", "CANCELLED")  # a prerequisite in these blocks its dependents for good


def unique(items: Iterable[str]) -> list[str]:
    """``items`` without repeats, in their order."""
    return list(dict.fromkeys(items))


def retried_detail(status: str) -> str:
    """The history detail of a job queued again by hand from ``status``."""
    return "run again by hand" if status == "DONE" else "retried by hand"


def fail_detail(error: dict[str, Any], retry_in: float | None) -> str:
    """The history detail of a failure: the error's type and message, and when the job runs again."""
    detail = f"{error.get('type')}: {error.get('message')}"
    return detail if retry_in is None else f"{detail}; again in {retry_in:.3g} s"


class EnqueuePlan:
    """What an enqueue writes, worked out job by job, in order, as if each were written before the next, from
    what the store holds, read (and locked, where the store locks) in the enqueue's transaction.

    Args:
        url: the store's URL, for messages.
        keys: ``key -> (id, status)`` of the stored jobs with the keys of the jobs to enqueue.
        known: ``id -> (label, status)`` of the stored jobs among the ids and prerequisites of the jobs to enqueue;
            a label is the job's key if it has one, else its name.
    """

    def __init__(self, url: str, keys: dict[str, tuple[str, str]], known: dict[str, tuple[str, str]]) -> None:
        self.url = url
        self.keys = dict(keys)  # key -> (id, status), as the store has them after the jobs so far
        self.known = dict(known)  # id -> (label, status), likewise
        self.inserts: dict[str, dict[str, Any]] = {}  # new jobs' rows
        self.resets: dict[str, dict[str, Any]] = {}  # stored jobs' rows, reset (their old edges dropped first)
        self.edges: dict[str, list[str]] = {}  # dependent -> prerequisites
        self.events: list[tuple[str, str, str | None, str, str | None]] = []  # (job, event, source, dest, detail)
        self.result: list[str] = []  # the id answering each job, in order
        self._text = options_texts()

    def _waiting(self, after: list[str]) -> tuple[int, tuple[str, str] | None]:
        """How many of ``after`` are not DONE, and the first that blocks (its label and status)."""
        waiting = 0
        for prereq in after:
            found = self.known.get(prereq)
            if found is None:
                raise StoreError(f"{self.url}: prerequisite job {prereq!r} is not in the store")
            if found[1] in BLOCKING:
                return waiting, found
            if found[1] != "DONE":
                waiting += 1
        return waiting, None

    def _continuation(self, job: NewJob, after: list[str]) -> tuple[str, int]:
        """``(status, waiting)`` of a new continuation (a job that runs on ``failure`` or ``any``)."""
        if len(after) != 1:
            raise StoreError(f"{self.url}: job {job.id!r} runs on {job.on}: it must have one prerequisite, not "
                             f"{len(after)}")
        found = self.known.get(after[0])
        if found is None:
            raise StoreError(f"{self.url}: prerequisite job {after[0]!r} is not in the store")
        move = after_end(job.on, found[1])
        return ("PENDING", 1) if move is None else (move, 0)

    def add(self, job: NewJob) -> None:
        """Plan ``job``: returned as stored (a known id, or a key whose job is not FAILED or CANCELLED), reset (a
        key whose job is), or inserted; PENDING while a prerequisite is unfinished, FAILED or CANCELLED at once
        with one that is."""
        after = unique(job.after)
        stored = self.keys.get(job.key) if job.key is not None else None
        if stored is None and (job.id in self.known or job.id in self.inserts):
            self.result.append(job.id)  # enqueued already (a call retried after a lost answer)
            return
        if stored is not None and stored[1] not in BLOCKING:
            self.result.append(stored[0])
            return
        job_id = job.id if stored is None else stored[0]
        if job.on != "success":
            dest, waiting = self._continuation(job, after)
            blocked = None
            row = self._row(job, job_id, dest, waiting, None)
            row["final"] = dest == "CANCELLED"
        else:
            waiting, blocked = self._waiting(after)
            dest = blocked[1] if blocked else ("PENDING" if waiting else "QUEUED")
            row = self._row(job, job_id, dest, waiting, blocked)
        if stored is None:
            self.inserts[job_id] = row
            self.events.append((job_id, "queue", None, dest, None))
        else:  # a reset: of a stored job, or of one added earlier in this call and blocked at once
            (self.inserts if job_id in self.inserts else self.resets)[job_id] = row
            self.events.append((job_id, "retry", stored[1], dest, "submitted again"))
        self.edges[job_id] = after
        if job.key is not None:
            self.keys[job.key] = (job_id, dest)
        self.known[job_id] = (job.key if job.key is not None else job.name, dest)
        self.result.append(job_id)

    def _row(
        self, job: NewJob, job_id: str, dest: str, waiting: int, blocked: tuple[str, str] | None
    ) -> dict[str, Any]:
        return {
            "id": job_id, "key": job.key, "name": job.name, "queue": job.queue, "status": dest,
            "priority": int(job.priority), "payload": bytes(job.payload), "options": self._text(job),
            "error": blocked_error(job.key or job.name, blocked[0], blocked[1]) if blocked else None,
            "waiting": waiting, "delay": float(job.delay),
            "nb": float(job.not_before) if job.not_before is not None else None, "final": blocked is not None,
        }


def columns(rows: Collection[dict[str, Any]]) -> dict[str, list[Any]]:
    """Planned rows (one at least) as one list per column (for PostgreSQL's ``unnest``)."""
    return {name: [row[name] for row in rows] for name in next(iter(rows))}


def in_order(ids: Iterable[str], records: Iterable[JobRecord]) -> list[JobRecord]:
    """The records of ``ids`` among ``records``, in the order of ``ids``."""
    found = {record.id: record for record in records}
    return [found[i] for i in ids if i in found]


def answered(ids: Iterable[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """The ids of ``ids`` that the first column of ``rows`` holds, in the order of ``ids``."""
    found = {row[0] for row in rows}
    return [i for i in ids if i in found]


def tally(rows: Iterable[tuple[str, str, int]]) -> dict[str, dict[str, int]]:
    """``{queue: {status: count}}`` from ``(queue, status, count)`` rows."""
    counts: dict[str, dict[str, int]] = {}
    for queue, status, n in rows:  # a queue or status that is not text (damaged by hand) is counted by its repr
        counts.setdefault(queue if isinstance(queue, str) else repr(queue), {})[
            status if isinstance(status, str) else repr(status)] = n
    return counts


def filters(mark: str, **values: str | None) -> tuple[str, list[str]]:
    """The ``WHERE`` clause of a listing that matches each of ``values`` given (``mark``: the placeholder), and
    its parameters."""
    given = {column: value for column, value in values.items() if value is not None}
    return (f"WHERE {' AND '.join(f'{c} = {mark}' for c in given)}" if given else ""), list(given.values())



def reason(exc: BaseException, hidden: Collection[str]) -> str:
    """A driver's error as one line for a message, with ``hidden`` (passwords) taken out."""
    text = str(exc).strip()
    for prefix in ("connection failed: ", "connection is bad: "):
        text = text.removeprefix(prefix)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    text = " ".join(lines) if lines else type(exc).__name__
    for secret in hidden:
        text = text.replace(secret, "***")
    return text


def unreachable(url: str, server: str, why: str, where: str = "the host and port") -> StoreUnavailable:
    """The error of a server that does not answer."""
    return StoreUnavailable(
        f"{url}: cannot reach the {server} server ({why}); check that it runs and that {where} in the URL are right"
    )


def refused(url: str, server: str, why: str, more: str = "") -> StoreError:
    """The error of a server that refused the credentials."""
    return StoreError(
        f"{url}: the {server} server refused the credentials ({why}); check the user name and password in the URL"
        f"{more}"
    )


def newer_schema(what: str, version: int, known: int) -> StoreError:
    """The error of a store whose tables are of a newer version than this code knows."""
    return StoreError(f"{what} is version {version}, newer than this taskgraph knows ({known}); upgrade taskgraph")


def lost(url: str, server: str, why: str) -> StoreUnavailable:
    """The error of a connection lost in a call; the next call connects again."""
    return StoreUnavailable(f"{url}: lost the connection to the {server} server ({why}); the next call connects again")


def worker_entry(info: Any, ttl: Any, now: float) -> tuple[str, str, float]:
    """``(id, JSON text, expires)`` of a worker's registration: its ``info`` with ``heartbeat`` (``now``) and
    ``expires`` (``now + ttl``) added.

    Raises:
        ValueError: ``info`` is not a JSON object with a text ``id``, or ``ttl`` is not a finite number > 0.
    """
    if not isinstance(info, dict) or not isinstance(info.get("id"), str) or not info["id"]:
        raise ValueError(f"a worker's info must be a dict with its id (text), not {info!r:.200}")
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not (0 < ttl < math.inf):
        raise ValueError(f"a worker's ttl must be a finite number of seconds > 0, not {ttl!r}")
    expires = now + float(ttl)
    try:
        text = json.dumps({**info, "heartbeat": now, "expires": expires}, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"worker {info['id']!r}: its info is not plain JSON ({exc})") from None
    return info["id"], text, expires


def read_worker(text: Any) -> dict[str, Any] | None:
    """A registered worker's info from its JSON text; None if it is damaged (not listed)."""
    try:
        info = json.loads(text)
    except (TypeError, ValueError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("id"), str) else None


def by_start(workers: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Workers oldest started first (a missing or damaged start time first), then by id."""
    def key(info: dict[str, Any]) -> tuple[float, str]:
        started = info.get("started")
        return (float(started) if isinstance(started, (int, float)) and not isinstance(started, bool) else 0.0,
                info["id"])
    return sorted(workers, key=key)



def split_scheduled(counts: dict[str, dict[str, int]], scheduled: dict[str, int]) -> dict[str, dict[str, int]]:
    """``counts`` (:meth:`~taskgraph.stores.base.Store.stats`) with the QUEUED jobs whose time is to come
    (:meth:`~taskgraph.stores.base.Store.scheduled`) counted as SCHEDULED, and QUEUED only those ready to run. The
    two were read one after the other: a count that went below 0 meanwhile is 0, and statuses at 0 are left out."""
    split: dict[str, dict[str, int]] = {}
    for queue, row in counts.items():
        row = dict(row)
        waiting = min(scheduled.get(queue, 0), row.get("QUEUED", 0))
        if waiting:
            row["QUEUED"] -= waiting
            row["SCHEDULED"] = waiting
            if not row["QUEUED"]:
                del row["QUEUED"]
        split[queue] = row
    return split
