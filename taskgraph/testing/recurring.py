"""The recurring-jobs part of the store contract: what :func:`taskgraph.durable.recurring.tick` needs of a store
for each due time to be enqueued exactly once, whatever the number of workers ticking. A part of
:class:`~taskgraph.testing.StoreContract`."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from ..durable.recurring import SPACE, tick, write
from ..stores.base import Store

__all__ = ["RecurringContract"]

_START = 1_800_000_000.0  # a whole second, in 2027: due times are computed from it, never from the clock


def _encode(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    return json.dumps({"v": 1, "args": list(args), "kwargs": kwargs}).encode()


def _define(store: Store, rid: str, catch_up: str = "skip", paused: bool = False) -> None:
    value: dict[str, Any] = {
        "job": "tests.jobs:noop", "cron": None, "every": 1.0, "tz": "UTC", "args": [], "kwargs": {},
        "queue": "default", "catch_up": catch_up, "options": {"serializer": "json"}, "next_run": _START,
        "paused": paused,
    }
    assert store.entry_put(SPACE, rid, *write(value), version=0) == 1


def _dues(store: Store, rid: str) -> list[float]:
    return sorted(r.metadata["due"] for r in store.list_jobs(metadata={"recurring": rid}, limit=1000))


class RecurringContract:
    """Recurring jobs on a store: racing ticks, catch-up, pauses."""

    def test_racing_ticks_enqueue_each_due_time_once(self, connect: Callable[[], Store], store: Store) -> None:
        _define(store, "race", catch_up="all")
        errors: list[BaseException] = []

        def racer(now: float) -> None:
            mine = connect()
            try:
                tick(mine, _encode, now)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                mine.close()

        threads = [threading.Thread(target=racer, args=(_START + 4.5,)) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors
        assert _dues(store, "race") == [_START + i for i in range(5)]
        entry = store.entry_get(SPACE, "race")
        assert entry is not None and json.loads(entry.value)["next_run"] == _START + 5 == entry.score
        tick(store, _encode, _START + 4.9)  # not due: nothing more
        assert len(_dues(store, "race")) == 5

    def test_skip_runs_the_latest_missed_time_and_paused_jobs_never_come_due(self, store: Store) -> None:
        _define(store, "skip")
        _define(store, "held", paused=True)
        assert tick(store, _encode, _START + 30.2) == 1
        assert _dues(store, "skip") == [_START + 30] and _dues(store, "held") == []
        [record] = store.list_jobs(metadata={"recurring": "skip"})
        assert record.id == f"skip@{round((_START + 30) * 1000)}" and record.status == "QUEUED"
