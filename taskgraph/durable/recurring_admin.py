"""What a durable queue offers for recurring jobs: defining them in code, listing, pausing, resuming, triggering and
removing them, and the ticker its workers run. :class:`RecurringAdmin` is a part of
:class:`~taskgraph.durable.queue.DurableQueue`; how runs are enqueued exactly once is in :mod:`.recurring`."""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..stores import Store
from .jobs import import_path
from .options import check_option
from .recurring import (
    IDLE_TICK,
    SPACE,
    SPEC,
    TICK,
    RecurringInfo,
    check_recurring_id,
    look_and_tick,
    read,
    run_job,
    schedule_of,
    write,
)
from .schedules import make_schedule

if TYPE_CHECKING:
    from .handle import JobHandle
    from .jobs import JobFunction

__all__ = ["RecurringAdmin"]

log = logging.getLogger("taskgraph.worker")
_TRIES = 20  # compare-and-set attempts of a change made by hand, each after another writer's


class RecurringAdmin:
    """Recurring jobs: see docs/jobs.md, "Recurring jobs"."""

    _recurring_defs: dict[str, dict[str, Any]]
    serializer: Any

    @property
    def store(self) -> Store:  # pragma: no cover - the queue's
        raise NotImplementedError

    def job(self, name: str) -> JobFunction | None:  # pragma: no cover - the queue's
        raise NotImplementedError

    def recurring(
        self, id: str, job: JobFunction | str, cron: str | None = None, *,  # noqa: A002 - the name users expect
        every: float | timedelta | None = None, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None,
        tz: str = "UTC", queue: str | None = None, catch_up: str = "skip",
    ) -> RecurringInfo:
        """Add a recurring job, or update it: a changed schedule, arguments or options take effect at once (its next
        run computed again); the same definition again changes nothing, pauses included.

        Args:
            id: its id: 1 to 100 letters, digits or ``_ . : -``.
            job: a job of this queue (``@queue.task``), or its name.
            cron: a 5-field cron expression, or 6 fields with seconds first; or, instead, ``every``: seconds or a
                timedelta.
            args, kwargs: the arguments of each run (JSON values).
            tz: the IANA time zone cron times are read in.
            queue: the named queue of its runs; the job's own by default.
            catch_up: after a time with no worker (or no store), ``skip`` runs once, for the latest missed time;
                ``all`` runs every missed time, the latest :data:`~.recurring.CATCH_UP_MAX` at most.

        Raises:
            ValueError: an invalid id, cron expression, interval, time zone, queue or catch_up, or arguments that
                are not JSON; nothing is stored.
            TypeError: ``job`` is not a job of this queue, or the arguments do not fit it.
        """
        value = self._definition(id, job, cron, every, args, kwargs, tz, queue, catch_up)
        self._recurring_defs[id] = value
        return self._define(self.store, id, value)

    def _definition(self, rid: Any, job: Any, cron: Any, every: Any, args: Any, kwargs: Any, tz: Any, queue: Any,
                    catch_up: Any) -> dict[str, Any]:
        check_recurring_id(rid)
        found = job
        if isinstance(job, str):
            found = self.job(job)
        elif callable(job) and not hasattr(job, "options"):  # the function itself, registered with @queue.task
            with contextlib.suppress(TypeError):
                found = self.job(import_path(job))
        if found is None or getattr(found, "queue", None) is not self:
            raise TypeError(f"recurring job {rid!r}: {job!r} is not a job of this queue; decorate it with "
                            "@queue.task and pass the function")
        schedule = make_schedule(cron, every, tz)
        if catch_up not in ("skip", "all"):
            raise ValueError(f"catch_up must be 'skip' or 'all', not {catch_up!r} (recurring job {rid!r})")
        if queue is not None:
            check_option(found.name, "queue", queue)
        kwargs = dict(kwargs or {})
        args = found.bind(args, kwargs)
        try:
            text = json.dumps([list(args), kwargs], allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"recurring job {rid!r}: its arguments must be JSON values: {exc}") from None
        args_json, kwargs_json = json.loads(text)
        return {"job": found.name, "cron": schedule.cron, "every": schedule.every, "tz": schedule.tz,
                "args": args_json, "kwargs": kwargs_json, "queue": queue or found.options.queue,
                "catch_up": catch_up, "options": found.options.stored(self.serializer.name)}

    def _define(self, store: Store, rid: str, spec: dict[str, Any]) -> RecurringInfo:
        """Write a definition unless the store has it already (keeping its next run, last run and pause)."""
        for _ in range(_TRIES):
            entry = store.entry_get(SPACE, rid)
            old = read(entry) if entry is not None else None
            if old is not None and all(old.get(k) == spec.get(k) for k in SPEC) and "error" not in old:
                return RecurringInfo.from_value(rid, old)
            kept: dict[str, Any] = {k: old[k] for k in ("paused", "last_run", "last_job")
                                    if old is not None and k in old}
            value = {**spec, **kept, "next_run": schedule_of(spec).next_after(time.time())}
            if store.entry_put(SPACE, rid, *write(value), version=entry.version if entry else 0) is not None:
                return RecurringInfo.from_value(rid, value)
        raise RuntimeError(f"recurring job {rid!r}: the store kept changing under this update; try again")

    def recurring_jobs(self) -> builtins.list[RecurringInfo]:
        """Every recurring job of the store, soonest next run first (paused ones last), with the status of the job
        of its last run."""
        store = self.store
        found = [(e.key, v) for e in store.entry_list(SPACE, limit=100_000) if (v := read(e)) is not None]
        last = [v["last_job"] for _, v in found if isinstance(v.get("last_job"), str)]
        status = {r.id: r.status for r in store.get(last)} if last else {}
        return [RecurringInfo.from_value(k, v, status.get(str(v.get("last_job")))) for k, v in found]

    def _change(self, rid: str, change: Callable[[dict[str, Any]], None]) -> RecurringInfo:
        check_recurring_id(rid)
        store = self.store
        for _ in range(_TRIES):
            entry = store.entry_get(SPACE, rid)
            value = read(entry) if entry is not None else None
            if entry is None or value is None:
                raise LookupError(f"no recurring job {rid!r} in {getattr(self, 'url', 'the store')}; "
                                  "`taskgraph recurring URL list` lists them")
            change(value)
            if store.entry_put(SPACE, rid, *write(value), version=entry.version) is not None:
                return RecurringInfo.from_value(rid, value)
        raise RuntimeError(f"recurring job {rid!r}: the store kept changing under this update; try again")

    def pause_recurring(self, id: str) -> RecurringInfo:  # noqa: A002
        """Hold a recurring job's runs until :meth:`resume_recurring` (a run already enqueued still runs).

        Raises:
            LookupError: no such recurring job.
        """
        return self._change(id, lambda v: v.update(paused=True))

    def resume_recurring(self, id: str) -> RecurringInfo:  # noqa: A002
        """Let a paused recurring job run again, from its next due time after now (the paused time is not caught
        up).

        Raises:
            LookupError: no such recurring job.
        """
        def resume(value: dict[str, Any]) -> None:
            value.pop("error", None)
            value.update(paused=False, next_run=schedule_of(value).next_after(time.time()))

        return self._change(id, resume)

    def trigger_recurring(self, id: str) -> JobHandle:  # noqa: A002
        """Run a recurring job now, once, its schedule kept (paused or not).

        Raises:
            LookupError: no such recurring job.
        """
        from .handle import JobHandle

        job_id = f"{id}@now-{uuid.uuid4().hex[:12]}"
        store = self.store

        def note(value: dict[str, Any]) -> None:
            payload = self.serializer.encode_call(value["job"], tuple(value.get("args") or ()),
                                                  dict(value.get("kwargs") or {}))
            if not store.get([job_id]):
                store.enqueue([run_job(id, value, None, payload, job_id.partition("@")[2])])
            value["last_job"] = job_id

        self._change(id, note)
        return JobHandle(self, job_id)  # type: ignore[arg-type]

    def remove_recurring(self, id: str) -> bool:  # noqa: A002
        """Delete a recurring job (its runs already enqueued stay). Returns whether there was one.

        A worker whose app still defines it adds it back when it starts: remove it from the code too."""
        check_recurring_id(id)
        self._recurring_defs.pop(id, None)
        return self.store.entry_delete(SPACE, [id]) > 0

    def recurring_ticker(self) -> Callable[[Store], None]:
        """What a worker calls from its heartbeat thread, with that thread's connection: at most every
        :data:`~.recurring.TICK` seconds (every :data:`~.recurring.IDLE_TICK` while there are none, here or in
        the store), one read of the soonest recurring jobs (and the runs of the due ones enqueued, see
        :func:`.recurring.tick`); at the first call it writes the recurring jobs defined in this process's code
        first, updating changed ones. Errors are logged, never raised: the scheduler keeps going."""
        state = {"next": 0.0, "synced": False}

        def ticker(store: Store) -> None:
            now = time.monotonic()
            if now < state["next"]:
                return
            state["next"] = now + TICK
            try:
                if not state["synced"]:
                    for rid, spec in list(self._recurring_defs.items()):
                        self._define(store, rid, spec)
                    state["synced"] = True
                _, found = look_and_tick(store, self.serializer.encode_call)
                if not found and not self._recurring_defs:
                    state["next"] = now + IDLE_TICK  # none anywhere: look again now and then
            except NotImplementedError:
                state["next"] = float("inf")  # a store without entries: nothing to schedule
            except Exception as exc:  # the store is away: the next tick tries again
                log.warning("recurring jobs not scheduled this time: %s: %s", type(exc).__name__, exc)

        return ticker
