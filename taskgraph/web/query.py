"""The one query layer the API and the pages share: what a job, a list, the counts, the workers and the graphs of a
durable queue look like as plain data. It calls the queue's and the store's public methods only (no SQL, no store
internals), and every read is bounded (a page of at most :data:`MAX_LIMIT` jobs).

Each page reads the store once (:meth:`~taskgraph.stores.base.Store.snapshot` with a
:class:`~taskgraph.stores.views.Look` naming what it shows), so a page refreshed live costs one store call per
interval, however many jobs it shows.

Values are left as they are (an API answers JSON); the pages pass each string through
:func:`taskgraph.safetext.shown` as they render it.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from ..durable.admin import STATUSES, WorkerInfo
from ..errors import first_line
from ..stores.common import split_scheduled
from ..stores.records import FINAL, Event, JobRecord
from ..stores.views import Look, Snapshot

if TYPE_CHECKING:
    from ..durable.queue import DurableQueue

__all__ = [
    "MAX_LIMIT", "STATUSES", "job_summary", "job_detail", "job_page", "list_jobs", "task_types", "counts",
    "throughput", "overview", "workers", "queues", "graphs", "graph", "find_record", "health",
]

#: The most jobs one list request returns (``limit`` above it is refused).
MAX_LIMIT = 500

#: How many of the newest jobs the graph listing reads (graphs are the keyed jobs ``make_later`` stored).
GRAPH_SCAN = 2000

#: The minutes of the overview's chart of jobs finished per minute.
MINUTES = 60


def _jsonable(value: Any) -> Any:
    """``value`` if it is JSON as it is, else its ``repr`` (a pickled result of any type)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)
    return value


def job_summary(record: JobRecord, now: float | None = None) -> dict[str, Any]:
    """What a list shows of a job."""
    return {
        "id": record.id, "task_type": record.name, "status": record.shown_status(now), "queue": record.queue,
        "priority": record.priority, "attempts": record.attempts, "created": record.created,
        "started": record.started, "finished": record.finished, "worker": record.worker,
        "progress": record.progress, "progress_message": record.progress_message, "key": record.key,
        "metadata": record.metadata,
    }


def _decoded(queue: DurableQueue, record: JobRecord) -> tuple[Any, Any, Any, str | None]:
    """``(args, kwargs, result, problem)``: what the job was called with and returned, decoded; a payload this
    queue cannot read leaves them None and says why."""
    problem = None
    args: Any = None
    kwargs: Any = None
    result: Any = None
    try:
        written = record.options.get("serializer", "json")
        if written != queue.serializer.name:
            raise ValueError(f"written with {written}; this dashboard reads {queue.serializer.name}")
        if record.payload:
            decoded_args, decoded_kwargs = queue.serializer.decode_call(record.payload)
            args, kwargs = [_jsonable(a) for a in decoded_args], {k: _jsonable(v) for k, v in decoded_kwargs.items()}
        if record.status == "DONE" and record.result is not None:
            result = _jsonable(queue.decode(record, record.result))
    except Exception as exc:  # a damaged record, another serializer: shown, not raised
        problem = f"{type(exc).__name__}: {first_line(exc)}"
    return args, kwargs, result, problem


def job_detail(queue: DurableQueue, record: JobRecord, history: list[Event] | None = None) -> dict[str, Any]:
    """Everything a job's page shows: its summary, arguments, result, error with traceback, options and history
    (read from the store unless given)."""
    args, kwargs, result, problem = _decoded(queue, record)
    error = record.error
    history = queue.store.history(record.id) if history is None else history
    return {
        **job_summary(record),
        "args": args, "kwargs": kwargs, "result": result, "decode_error": problem,
        "error": None if not error else {k: str(error.get(k, "")) for k in ("type", "message", "traceback")},
        "options": {k: _jsonable(v) for k, v in record.options.items() if k != "metadata"},
        "not_before": record.not_before if record.not_before and record.not_before != float("inf") else None,
        "history": [
            {"at": e.at, "event": e.event, "source": e.source, "dest": e.dest, "worker": e.worker,
             "detail": e.detail}
            for e in history
        ],
    }


def job_page(queue: DurableQueue, job_id: str) -> dict[str, Any] | None:
    """:func:`job_detail` of a job id (any spelling of a UUID), read in one store call; None if there is no such
    job."""
    from ..durable.options import canonical_id

    snap = queue.store.snapshot(Look(job=canonical_id(job_id)))
    return None if snap.job is None else job_detail(queue, snap.job, snap.history)


def find_record(queue: DurableQueue, job_id: str) -> JobRecord | None:
    """The record of a job id (any spelling of a UUID), or None."""
    from ..durable.options import canonical_id

    found = queue.store.get([canonical_id(job_id)])
    return found[0] if found else None


def list_jobs(
    queue: DurableQueue, *, status: str | None = None, queue_name: str | None = None, task_type: str | None = None,
    limit: int = 50, offset: int = 0, older_than: float | None = None, newer_than: float | None = None,
) -> list[JobRecord]:
    """A page of jobs, newest first.

    Raises:
        ValueError: a limit over :data:`MAX_LIMIT`, or what :meth:`QueueAdmin.list` refuses.
    """
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be a whole number from 0 to {MAX_LIMIT}, not {limit!r}")
    if (status or "").upper() == "SCHEDULED":
        return _scheduled(queue, queue_name=queue_name, task_type=task_type, limit=limit, offset=offset,
                          older_than=older_than, newer_than=newer_than)
    return queue.list(status=status or None, name=task_type or None, queue=queue_name or None, limit=limit,
                      offset=offset, older_than=older_than, newer_than=newer_than)


def _scheduled(queue: DurableQueue, *, queue_name: str | None, task_type: str | None, limit: int, offset: int,
               older_than: float | None, newer_than: float | None) -> list[JobRecord]:
    """A page of SCHEDULED jobs (QUEUED, their time to come). The store keeps them among the QUEUED ones, so they are
    found by reading those a page at a time; the counts say first how many there are, so that the reading stops
    once all are found, and does not start when there are none (10,000 QUEUED jobs read for nothing took 1.4 s)."""
    now = time.time()
    there = sum(row.get("SCHEDULED", 0) for name, row in queue.stats().items() if queue_name in (None, name))
    wanted = min(offset + limit, there)
    found: list[JobRecord] = []
    start = 0
    while len(found) < wanted:
        page = queue.list(status="QUEUED", name=task_type or None, queue=queue_name or None, limit=MAX_LIMIT,
                          offset=start, older_than=older_than, newer_than=newer_than)
        found += [r for r in page if r.shown_status(now) == "SCHEDULED"]
        if len(page) < MAX_LIMIT:
            break
        start += MAX_LIMIT
    return found[offset : offset + limit]


def task_types(queue: DurableQueue) -> list[dict[str, Any]]:
    """The jobs registered on this queue (``@queue.task``), with their options and signature."""
    import inspect
    from dataclasses import asdict

    from ..durable.jobs import NOOP_NAME

    found = []
    for name, job in sorted(queue._jobs.items()):  # the queue's registry; no public listing of it yet
        if name == NOOP_NAME:
            continue
        try:
            signature = str(inspect.signature(job.func))
        except (TypeError, ValueError):
            signature = "(...)"
        doc = inspect.getdoc(job.func) or ""
        found.append({"name": name, "options": asdict(job.options), "signature": signature,
                      "doc": doc.split("\n\n")[0]})
    return found


def counts(queue: DurableQueue, snap: Snapshot | None = None) -> dict[str, Any]:
    """Jobs by named queue and status (the QUEUED ones whose time is to come as SCHEDULED), with totals by status
    (every status, zero included)."""
    snap = queue.store.snapshot(Look(counts=True)) if snap is None else snap
    by_queue = split_scheduled(snap.counts, snap.scheduled)
    totals = {status: 0 for status in STATUSES}
    for row in by_queue.values():
        for status, n in row.items():
            totals[status] = totals.get(status, 0) + n
    return {"queues": by_queue, "totals": totals, "total": sum(totals.values())}


def throughput(snap: Snapshot, minutes: int = MINUTES) -> dict[str, Any]:
    """Jobs that finished DONE or FAILED in each of the last ``minutes`` minutes, oldest first, as the store counted
    them (``exact`` False, and no counts, when the store cannot count them)."""
    finished = snap.finished
    return {
        "minutes": minutes,
        "done": list(finished["DONE"]) if finished else [0] * minutes,
        "failed": list(finished["FAILED"]) if finished else [0] * minutes,
        "exact": finished is not None,
    }


def overview(queue: DurableQueue, minutes: int = MINUTES) -> dict[str, Any]:
    """What the overview shows (counts, live workers, jobs finished per minute), read in one store call."""
    snap = queue.store.snapshot(Look(counts=True, workers=True, minutes=minutes))
    return {"counts": counts(queue, snap), "workers": workers(queue, snap=snap),
            "throughput": throughput(snap, minutes)}


def workers(queue: DurableQueue, now: float | None = None, snap: Snapshot | None = None) -> list[dict[str, Any]]:
    """The live workers, as registered in the store."""
    now = time.time() if now is None else now
    found = queue.workers() if snap is None else [WorkerInfo.from_entry(info) for info in snap.workers]
    return [
        {"id": w.id, "host": w.host, "pid": w.pid, "queues": list(w.queues), "concurrency": dict(w.concurrency),
         "started": w.started, "heartbeat": w.heartbeat, "expires": w.expires, "running": list(w.running),
         "done": w.done, "failed": w.failed,
         "heartbeat_age": None if w.heartbeat is None else max(now - w.heartbeat, 0.0)}
        for w in found
    ]


def queues(queue: DurableQueue) -> list[dict[str, Any]]:
    """Each named queue with its jobs by status, and the workers serving it, read in one store call."""
    snap = queue.store.snapshot(Look(counts=True, workers=True))
    by_queue = counts(queue, snap)["queues"]
    served: dict[str, list[str]] = {}
    for w in workers(queue, snap=snap):
        for name in w["queues"]:
            served.setdefault(name, []).append(w["id"])
    names = sorted(set(by_queue) | set(served))
    return [
        {"name": name, "counts": dict(by_queue.get(name, {})), "total": sum(by_queue.get(name, {}).values()),
         "workers": served.get(name, [])}
        for name in names
    ]


def _graph_of(record: JobRecord) -> str:
    """The graph a keyed job belongs to: its key's namespace (``namespace/task@digest``), or ``default``."""
    key = record.key or ""
    return key.rpartition("/")[0] or "default"


def _node(record: JobRecord) -> str:
    key = record.key or record.id
    name = key.rpartition("/")[2]
    return name.rsplit("@", 1)[0] if "@" in name else name


def graphs(queue: DurableQueue) -> list[dict[str, Any]]:
    """The graphs handed to the store (``make_later``): the keyed jobs among the newest :data:`GRAPH_SCAN`,
    grouped by their namespace, with counts by status."""
    groups: dict[str, Counter[str]] = {}
    newest: dict[str, float] = {}
    now = time.time()
    for record in queue.store.snapshot(Look(jobs={"limit": GRAPH_SCAN})).jobs:
        if not record.key:
            continue
        name = _graph_of(record)
        groups.setdefault(name, Counter())[record.shown_status(now)] += 1
        newest[name] = max(newest.get(name, 0.0), record.created)
    return [
        {"id": name, "tasks": sum(c.values()), "counts": dict(c), "created": newest[name],
         "finished": all(s in FINAL for s in c)}
        for name, c in sorted(groups.items(), key=lambda item: -newest[item[0]])
    ]


def graph(queue: DurableQueue, graph_id: str) -> dict[str, Any] | None:
    """A graph's tasks (nodes with their states) and the edges between them (``[prerequisite, dependent]`` job
    ids), read in one store call; None when no keyed job of the newest belongs to it. ``edges_known`` is False when
    the store cannot list prerequisites; a task waiting for prerequisites shows how many (``waiting``)."""
    now = time.time()
    snap = queue.store.snapshot(Look(jobs={"limit": GRAPH_SCAN}, edges=True))
    nodes = [
        {"id": r.id, "name": _node(r), "task_type": r.name, "status": r.shown_status(now), "waiting": r.waiting,
         "progress": r.progress}
        for r in snap.jobs if r.key and _graph_of(r) == graph_id
    ]
    if not nodes:
        return None
    nodes.reverse()  # oldest first: the order the graph was submitted in
    ids = {n["id"] for n in nodes}
    edges = [[p, d] for p, d in snap.edges or () if p in ids and d in ids]
    return {"id": graph_id, "nodes": nodes, "edges": edges, "edges_known": snap.edges is not None}


def health(queue: DurableQueue, hide: str = "") -> tuple[bool, str]:
    """Whether the store answers, and why not (its password, ``hide``, replaced by ``***``)."""
    try:
        queue.store.scheduled()
    except Exception as exc:
        queue.reconnect()
        reason = f"{type(exc).__name__}: {first_line(exc)}"
        return False, reason.replace(hide, "***") if hide else reason
    return True, "ok"
