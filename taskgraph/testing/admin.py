"""The part of the store conformance suite about looking after a store: listing pages and ages, deleting single
jobs, running a DONE job again, the order of named queues, scheduled jobs and live workers.

:class:`~taskgraph.testing.stores.StoreContract` includes it; the ``store`` fixture is that class's.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from ..stores.base import Store
from .submissions import ERROR, new_job

__all__ = ["AdminContract"]


def _until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Whether ``check()`` becomes true within ``timeout`` seconds, polled."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class AdminContract:
    """Listing, deleting, forced retries, queue order, scheduled jobs and workers, as every store must do them."""

    def test_list_pages_with_an_offset(self, store: Store) -> None:
        jobs = store.enqueue([new_job(queue="q" if i % 2 else "default", metadata={"n": i}) for i in range(7)])
        ids = [r.id for r in reversed(jobs)]  # newest first
        assert [r.id for r in store.list_jobs(limit=3)] == ids[:3]
        assert [r.id for r in store.list_jobs(limit=3, offset=3)] == ids[3:6]
        assert [r.id for r in store.list_jobs(limit=3, offset=6)] == ids[6:]
        assert store.list_jobs(limit=3, offset=7) == []
        odd = [r.id for r in reversed(jobs) if r.queue == "q"]
        assert [r.id for r in store.list_jobs(queue="q", limit=2, offset=1)] == odd[1:3]
        assert [r.id for r in store.list_jobs(metadata={"n": 4}, offset=0)] == [jobs[4].id]
        assert store.list_jobs(metadata={"n": 4}, offset=1) == []

    def test_list_filters_by_age(self, store: Store) -> None:
        [old] = store.enqueue([new_job(metadata={"k": 1})])
        time.sleep(0.4)  # ages are times: a time-based contract, not synchronisation
        [new] = store.enqueue([new_job(metadata={"k": 1})])
        assert [r.id for r in store.list_jobs(older_than=0.2)] == [old.id]
        assert [r.id for r in store.list_jobs(newer_than=0.2)] == [new.id]
        assert [r.id for r in store.list_jobs(older_than=0.2, metadata={"k": 1})] == [old.id]
        assert [r.id for r in store.list_jobs(newer_than=3600, status="QUEUED")] == [new.id, old.id]
        assert store.list_jobs(older_than=3600) == []
        assert store.list_jobs(older_than=0.2, newer_than=0.2) == []

    def test_delete_removes_only_finished_jobs(self, store: Store) -> None:
        done, failed, cancelled, running, queued = store.enqueue(
            [new_job(priority=3), new_job(priority=2), new_job(), new_job(priority=1), new_job()]
        )
        after = new_job(after=[failed.id])
        store.enqueue([after])
        store.claim("w1", ["default"], 3, 30)
        store.complete("w1", [(done.id, b"1")])
        store.fail("w1", failed.id, ERROR, None)
        store.cancel([cancelled.id])
        asked = [queued.id, done.id, "missing", running.id, failed.id, cancelled.id, done.id]
        assert store.delete(asked) == [done.id, failed.id, cancelled.id]
        assert store.delete([done.id]) == [] and store.delete([]) == []
        assert store.get([done.id, failed.id, cancelled.id]) == []
        assert store.history(done.id) == [] and store.history(failed.id) == []
        assert [r.status for r in store.get([running.id, queued.id, after.id])] == ["RUNNING", "QUEUED", "FAILED"]
        assert store.stats() == {"default": {"RUNNING": 1, "QUEUED": 1, "FAILED": 1}}
        assert store.delete([after.id]) == [after.id]  # its prerequisite gone first: no edge left behind
        assert store.purge(-1) == 0

    def test_retry_with_force_runs_a_done_job_again(self, store: Store) -> None:
        done, failed = store.enqueue([new_job(priority=1), new_job()])
        store.claim("w1", ["default"], 2, 30)
        store.complete("w1", [(done.id, b"first")])
        store.fail("w1", failed.id, ERROR, None)
        assert store.retry([done.id]) == []  # not without force
        assert store.get([done.id])[0].result == b"first"
        assert store.retry([done.id, failed.id], force=True) == [done.id, failed.id]
        record = store.get([done.id])[0]
        assert (record.status, record.result, record.attempts, record.finished) == ("QUEUED", None, 0, None)
        event = store.history(done.id)[-1]
        assert (event.event, event.source, event.dest, event.detail) == ("retry", "DONE", "QUEUED",
                                                                         "run again by hand")
        assert store.history(failed.id)[-1].detail == "retried by hand"
        assert store.stats() == {"default": {"QUEUED": 2}}
        [again, _] = store.claim("w2", ["default"], 2, 30)
        assert again.id == done.id and again.attempts == 1
        assert store.complete("w2", [(done.id, b"second")]) == [done.id]
        assert store.get([done.id])[0].result == b"second"

    def test_claim_takes_the_queues_in_the_order_named(self, store: Store) -> None:
        low_a, high_b, high_a, b2 = store.enqueue(
            [new_job(queue="a"), new_job(queue="b", priority=9), new_job(queue="a", priority=5), new_job(queue="b")]
        )
        assert [r.id for r in store.claim("w1", ["a", "b"], 1, 30)] == [high_a.id]  # b's priority does not count
        assert [r.id for r in store.claim("w1", ["a", "b"], 2, 30)] == [low_a.id, high_b.id]
        assert [r.id for r in store.claim("w1", ["b", "a"], 5, 30)] == [b2.id]
        c1, c2 = store.enqueue([new_job(queue="c"), new_job(queue="a")])
        assert [r.id for r in store.claim("w1", ["c", "a"], 5, 30)] == [c1.id, c2.id]

    def test_scheduled_counts_the_jobs_waiting_for_their_time(self, store: Store) -> None:
        assert store.scheduled() == {}
        _, retried, _ = store.enqueue([new_job(delay=3600), new_job(queue="mail"), new_job()])
        store.enqueue([new_job(not_before=time.time() + 3600, queue="mail")])
        store.claim("w1", ["mail"], 1, 30)
        store.fail("w1", retried.id, ERROR, 3600)  # waits for its retry
        assert store.scheduled() == {"default": 1, "mail": 2}
        assert store.stats() == {"default": {"QUEUED": 2}, "mail": {"QUEUED": 2}}
        [soon] = store.enqueue([new_job(delay=0.2, queue="soon")])
        assert store.scheduled().get("soon") == 1
        assert _until(lambda: "soon" not in store.scheduled())
        assert [r.id for r in store.claim("w1", ["soon"], 1, 30)] == [soon.id]

    def test_workers_register_refresh_and_deregister(self, connect: Callable[[], Store]) -> None:
        store, other = connect(), connect()
        try:
            assert store.list_workers() == [] and store.deregister_worker("nobody") is False
            info = {"id": "w-1", "host": "h", "pid": 42, "queues": ["a", "b"], "concurrency": {"thread": 4},
                    "started": 100.0, "running": [], "done": 0, "failed": 0}
            store.register_worker(info, 30)
            store.register_worker({**info, "id": "w-0", "started": 50.0}, 30)
            [first, listed] = other.list_workers()
            assert first["id"] == "w-0"  # oldest started first
            assert {k: listed[k] for k in info} == info
            assert listed["expires"] >= listed["heartbeat"] + 29 and abs(listed["heartbeat"] - time.time()) < 60
            store.register_worker({**info, "running": ["j1"], "done": 3}, 30)
            [_, refreshed] = other.list_workers()
            assert (refreshed["running"], refreshed["done"]) == (["j1"], 3)
            assert refreshed["heartbeat"] >= listed["heartbeat"]
            assert other.deregister_worker("w-1") is True and other.deregister_worker("w-1") is False
            assert [w["id"] for w in store.list_workers()] == ["w-0"]
        finally:
            store.close()
            other.close()

    def test_a_worker_not_refreshed_disappears_after_its_ttl(self, store: Store) -> None:
        store.register_worker({"id": "lost", "started": 1.0}, 0.3)
        store.register_worker({"id": "alive", "started": 2.0}, 60)
        assert [w["id"] for w in store.list_workers()] == ["lost", "alive"]
        assert _until(lambda: [w["id"] for w in store.list_workers()] == ["alive"])
        assert store.deregister_worker("lost") is False  # pruned

    @pytest.mark.parametrize(("info", "ttl", "message"), [
        ({"host": "h"}, 30, "a worker's info must be a dict with its id"),
        ("w1", 30, "a worker's info must be a dict with its id"),
        ({"id": "w1"}, 0, "a worker's ttl must be a finite number of seconds > 0, not 0"),
        ({"id": "w1"}, float("nan"), "a worker's ttl must be a finite number of seconds > 0, not nan"),
        ({"id": "w1", "x": object()}, 30, "worker 'w1': its info is not plain JSON"),
    ])
    def test_a_bad_worker_entry_is_refused(self, store: Store, info: object, ttl: float, message: str) -> None:
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            store.register_worker(info, ttl)  # type: ignore[arg-type]
        assert store.list_workers() == []

    def test_ids_are_found_by_prefix(self, store: Store) -> None:
        ids = ["abc-1", "abc-2", "abd", "x*y", "x?z", "%_\\", "é-1"]
        store.enqueue([new_job(id=i) for i in ids])
        assert store.match_ids("abc", 10) == ["abc-1", "abc-2"]
        assert store.match_ids("ab", 10) == ["abc-1", "abc-2", "abd"]
        assert store.match_ids("ab", 2) == ["abc-1", "abc-2"]
        assert store.match_ids("abd", 10) == ["abd"] and store.match_ids("abdx", 10) == []
        assert store.match_ids("x*", 10) == ["x*y"] and store.match_ids("x?", 10) == ["x?z"]  # no wildcards
        assert store.match_ids("%", 10) == ["%_\\"] and store.match_ids("é", 10) == ["é-1"]
        assert store.match_ids("zzz", 10) == [] and store.match_ids("abc", 0) == []
