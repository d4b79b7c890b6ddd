"""Recurring jobs in a store: their definitions, and the tick that enqueues each due run exactly once.

A recurring job is an entry of the store's ``recurring`` space (see :mod:`taskgraph.stores.entries`): its value
is the definition (job name, schedule, arguments, options) with its next run, last run and whether it is paused;
its score is its next run (:data:`~taskgraph.stores.entries.MAX_SCORE` while paused), so one indexed read finds
the due ones.

Each worker ticks about once a second (in its heartbeat thread, on that thread's connection); every
:data:`IDLE_TICK` seconds only while neither its app nor the store has any recurring job:

1. one read: the recurring jobs of soonest next run, of which those whose time has come are due;
2. for each, the due times to run (``catch_up="skip"``: the latest one; ``"all"``: every missed one, at most
   :data:`CATCH_UP_MAX`, the latest ones), enqueued as jobs whose ids are ``RECURRING_ID@MILLISECONDS`` of their
   due time: the store adds a job of an id it already has only once, so workers racing on one due time make one
   job;
3. a compare-and-set of the entry to its new next run, on the version read in 1: one worker moves it, the others
   find it moved and leave it.

A worker that stopped between 2 and 3 leaves the entry due: the next tick enqueues the same ids again, which adds
nothing, and moves it. So each due time is enqueued once, however many workers tick, as long as its job is not
purged within the moment between.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from ..stores.base import Store
from ..stores.entries import MAX_SCORE, Entry
from ..stores.records import NewJob
from .schedules import Schedule, make_schedule

__all__ = ["RecurringInfo", "SPACE", "CATCH_UP_MAX", "TICK", "IDLE_TICK", "check_recurring_id", "tick",
           "look_and_tick", "read", "write"]

log = logging.getLogger("taskgraph.worker")

SPACE = "recurring"
#: The most missed runs ``catch_up="all"`` enqueues at once (the latest ones); older missed runs are skipped.
CATCH_UP_MAX = 100
#: Seconds between two ticks of a worker.
TICK = 1.0
#: Seconds between two looks of a worker whose app defines no recurring job at a store that holds none: a
#: recurring job defined elsewhere is picked up within this time.
IDLE_TICK = 10.0
#: Due entries handled per tick, at most (the others at the next).
_PER_TICK = 50
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
#: The fields of a definition; a change to any of them is a new schedule.
SPEC = ("job", "cron", "every", "tz", "args", "kwargs", "queue", "catch_up", "options")


def check_recurring_id(value: Any) -> str:
    """``value``, once it is a valid recurring id.

    Raises:
        ValueError: not 1 to 100 characters of letters, digits, ``_ . : -``, starting with a letter or digit.
    """
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValueError(f"recurring id must be 1 to 100 letters, digits or _ . : - (starting with a letter or "
                         f"digit), such as 'nightly-report', not {value!r}")
    return value


@dataclass(frozen=True)
class RecurringInfo:
    """A recurring job as the store holds it (see :meth:`DurableQueue.recurring_jobs`).

    Attributes:
        id: its id.
        job: the name of the job it runs (``module:qualname``).
        schedule: how it recurs, as a person reads it (``cron '0 3 * * *' (Europe/Berlin)``, ``every 60 s``).
        cron, every, tz: the schedule itself: a cron expression or seconds, and the time zone.
        next_run: when it runs next (epoch seconds); while paused, when it would have.
        last_run: the due time of the last run enqueued by the schedule (epoch seconds), or None.
        last_job: the id of the job of the last run (scheduled or triggered), or None.
        last_status: that job's status (``DONE``, ``FAILED``...), or None when there is none (or it was purged).
        paused: whether its runs are held.
        queue: the named queue its runs go to.
        catch_up: ``skip`` or ``all``.
        args, kwargs: the arguments of each run.
        error: why the scheduler paused it (a stored definition it could not use), or None.
    """

    id: str
    job: str
    schedule: str
    cron: str | None
    every: float | None
    tz: str
    next_run: float | None
    last_run: float | None
    last_job: str | None
    last_status: str | None
    paused: bool
    queue: str
    catch_up: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def from_value(cls, rid: str, value: dict[str, Any], status: str | None = None) -> RecurringInfo:
        schedule = Schedule(value.get("cron"), value.get("every"), value.get("tz") or "UTC")
        return cls(
            id=rid, job=str(value.get("job")), schedule=schedule.describe(), cron=schedule.cron,
            every=schedule.every, tz=schedule.tz, next_run=value.get("next_run"), last_run=value.get("last_run"),
            last_job=value.get("last_job"), last_status=status, paused=bool(value.get("paused")),
            queue=str(value.get("queue") or "default"), catch_up=str(value.get("catch_up") or "skip"),
            args=tuple(value.get("args") or ()), kwargs=dict(value.get("kwargs") or {}),
            error=value.get("error") if isinstance(value.get("error"), str) else None,
        )


def read(entry: Entry) -> dict[str, Any] | None:
    """The definition an entry holds, or None if it is damaged (logged)."""
    try:
        value = json.loads(entry.value)
        if isinstance(value, dict) and isinstance(value.get("job"), str):
            return value
    except ValueError:
        pass
    log.warning("recurring job %r: its stored definition cannot be read; define it again", entry.key)
    return None


def write(value: dict[str, Any]) -> tuple[bytes, float]:
    """The bytes and score of an entry holding ``value``."""
    score = MAX_SCORE if value.get("paused") or value.get("next_run") is None else float(value["next_run"])
    return json.dumps(value, sort_keys=True).encode(), score


def schedule_of(value: dict[str, Any]) -> Schedule:
    return Schedule(value.get("cron"), value.get("every"), value.get("tz") or "UTC")


def run_job(rid: str, value: dict[str, Any], due: float | None, payload: bytes, suffix: str = "") -> NewJob:
    """The job of one run of a recurring job: its id ``RID@MILLISECONDS`` of the due time (or ``suffix``)."""
    options = dict(value.get("options") or {})
    queue = str(value.get("queue") or options.get("queue") or "default")
    options["queue"] = queue
    metadata: dict[str, Any] = {"recurring": rid}
    if due is not None:
        metadata["due"] = due
    return NewJob(
        id=f"{rid}@{round(due * 1000)}" if due is not None else f"{rid}@{suffix}", name=str(value["job"]),
        payload=payload, options=options, queue=queue, priority=int(options.get("priority") or 0),
        metadata=metadata,
    )


def tick(store: Store, encode: Any, now: float | None = None) -> int:
    """Enqueue the due runs of every recurring job of ``store`` (see the module docstring).

    Args:
        encode: ``encode(name, args, kwargs) -> bytes``, the queue's serializer.

    Returns:
        how many recurring jobs this call moved to their next run.
    """
    return look_and_tick(store, encode, now)[0]


def look_and_tick(store: Store, encode: Any, now: float | None = None) -> tuple[int, bool]:
    """:func:`tick`, and whether the store has any recurring job at all: one read of the soonest ones, due or not,
    which says both."""
    now = time.time() if now is None else now
    moved = 0
    soonest = store.entry_list(SPACE, limit=_PER_TICK)
    for entry in (e for e in soonest if e.score <= now):
        value = read(entry)
        if value is None:
            store.entry_put(SPACE, entry.key, entry.value, MAX_SCORE, version=entry.version)  # not due again
            continue
        try:
            schedule = make_schedule(value.get("cron"), value.get("every"), value.get("tz") or "UTC")  # checked
            most = CATCH_UP_MAX if value.get("catch_up") == "all" else 1
            times = schedule.latest(float(value["next_run"]), now, most)
            payload = encode(value["job"], tuple(value.get("args") or ()), dict(value.get("kwargs") or {}))
            jobs = [run_job(entry.key, value, t, payload) for t in times]
            if jobs:
                store.enqueue(jobs)
            following = schedule.next_after(max(now, times[-1] if times else now))
        except Exception as exc:  # a definition that cannot run: held, saying why; the others go on
            log.error("recurring job %r cannot be scheduled: %s: %s; it is paused", entry.key, type(exc).__name__, exc)
            value.update(paused=True, error=f"{type(exc).__name__}: {exc}")
            store.entry_put(SPACE, entry.key, *write(value), version=entry.version)
            continue
        if times:
            value.update(last_run=times[-1], last_job=jobs[-1].id)
        value["next_run"] = following
        if store.entry_put(SPACE, entry.key, *write(value), version=entry.version) is not None:
            moved += 1
    return moved, bool(soonest)
