"""The store conformance suite: run it against any :class:`~taskgraph.stores.base.Store` to prove it keeps the
contract.

Subclass :class:`StoreContract` in a pytest module and give it a ``connect`` fixture: a function that returns a
new connection (a new store object) to one empty, isolated store, the same store at each call::

    class TestMyStore(StoreContract):
        @pytest.fixture
        def connect(self, tmp_path):
            yield lambda: MyStore(tmp_path / "jobs")

Every store in taskgraph runs this suite against a real server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from ..stores.base import Store
from ..stores.records import MAX_LEASE_LOSSES
from .admin import AdminContract
from .batches import BatchContract
from .continuations import ContinuationContract
from .entries import EntriesContract
from .recurring import RecurringContract
from .submissions import ERROR, SubmissionContract, new_job
from .views import ViewsContract

__all__ = ["StoreContract", "new_job", "wakes"]



def wakes(block: Callable[[float], None], act: Callable[[], object]) -> bool:
    """Whether ``block(timeout)``, started in a thread, returns promptly (well within its 20 s) after ``act()``."""
    woke = threading.Event()

    def wait() -> None:
        block(20)
        woke.set()

    thread = threading.Thread(target=wait)
    started = time.monotonic()
    thread.start()
    act()
    ok = woke.wait(20) and time.monotonic() - started < 10
    thread.join()
    return ok


class StoreContract(SubmissionContract, AdminContract, ContinuationContract, EntriesContract,
                    RecurringContract, BatchContract, ViewsContract):
    """The behaviour every store must have. Needs a ``connect`` fixture (see the module docstring)."""

    @pytest.fixture
    def store(self, connect: Callable[[], Store]):
        store = connect()
        yield store
        store.close()

    def test_enqueue_returns_queued_records_in_order(self, store: Store) -> None:
        jobs = [new_job(f"tests:job{i}", payload=f"payload {i}".encode(), priority=i) for i in range(3)]
        records = store.enqueue(jobs)
        assert [r.id for r in records] == [j.id for j in jobs]
        assert [r.status for r in records] == ["QUEUED"] * 3
        assert [r.payload for r in records] == [b"payload 0", b"payload 1", b"payload 2"]
        assert records[2].priority == 2 and records[0].queue == "default" and records[0].attempts == 0
        assert store.get([jobs[2].id, "missing", jobs[0].id])[0].name == "tests:job2"
        assert [r.id for r in store.get([jobs[2].id, "missing", jobs[0].id])] == [jobs[2].id, jobs[0].id]

    def test_values_survive_the_round_trip(self, store: Store) -> None:
        name = "módulo:fünc'tion; DROP TABLE jobs;--\"x\""
        payload = b"\x00\x01 bytes with NUL \xff and ' quotes;"
        options = {"mode": "thread", "note": "ünïcødé ' \" ;", "timeout": 1.5}
        key = "key with 'quotes'; and -- and \\ and ✓"
        [record] = store.enqueue([new_job(name, payload=payload, options=options, key=key, queue="q'1")])
        [again] = store.get([record.id])
        assert (again.name, again.payload, again.options, again.key) == (name, payload, options, key)
        assert again.queue == "q'1"
        assert [r.id for r in store.list_jobs(name=name)] == [record.id]

    def test_list_filters_newest_first_and_leaves_payload_out(self, store: Store) -> None:
        first, second = store.enqueue([new_job("tests:a"), new_job("tests:b", queue="other")])
        assert [r.id for r in store.list_jobs()] == [second.id, first.id]
        assert [r.id for r in store.list_jobs(name="tests:a")] == [first.id]
        assert [r.id for r in store.list_jobs(queue="other")] == [second.id]
        assert [r.id for r in store.list_jobs(status="QUEUED", limit=1)] == [second.id]
        assert store.list_jobs(status="DONE") == []
        assert all(r.payload == b"" for r in store.list_jobs())

    def test_list_running_jobs_newest_first(self, store: Store) -> None:
        a, b, c, queued = store.enqueue(
            [new_job("tests:a"), new_job("tests:b", queue="mail"), new_job("tests:a"), new_job("tests:a")]
        )
        store.claim("w1", ["mail", "default"], 3, 30)  # mail first: b, then a and c
        assert [r.id for r in store.list_jobs(status="RUNNING")] == [c.id, b.id, a.id]
        assert [r.id for r in store.list_jobs(status="RUNNING", name="tests:a")] == [c.id, a.id]
        assert [r.id for r in store.list_jobs(status="RUNNING", queue="mail")] == [b.id]
        assert [r.id for r in store.list_jobs(status="RUNNING", limit=1)] == [c.id]
        assert all(r.worker == "w1" and r.payload == b"" for r in store.list_jobs(status="RUNNING"))
        store.complete("w1", [(c.id, b"1")])
        store.cancel([b.id])
        assert [r.id for r in store.list_jobs(status="RUNNING")] == [a.id]
        assert [r.id for r in store.list_jobs(status="QUEUED")] == [queued.id]

    def test_a_known_key_returns_the_existing_job(self, store: Store) -> None:
        [first] = store.enqueue([new_job(key="build")])
        [second] = store.enqueue([new_job(key="build")])
        assert second.id == first.id and second.status == "QUEUED"
        [claimed] = store.claim("w1", ["default"], 1, 30)
        assert store.complete("w1", [(claimed.id, b"42")]) == [claimed.id]
        [third] = store.enqueue([new_job(key="build")])
        assert third.id == first.id and third.status == "DONE" and third.result == b"42"

    def test_a_failed_key_is_queued_again_with_the_new_payload(self, store: Store) -> None:
        [first] = store.enqueue([new_job(key="build", payload=b"old")])
        store.claim("w1", ["default"], 1, 30)
        assert store.fail("w1", first.id, ERROR, None)
        [again] = store.enqueue([new_job(key="build", payload=b"new")])
        assert again.id == first.id and again.status == "QUEUED" and again.payload == b"new"
        assert again.error is None and again.attempts == 0
        assert [e.event for e in store.history(first.id)] == ["queue", "dispatch", "fail", "retry"]

    def test_claim_takes_priority_then_order_and_counts_attempts(self, store: Store) -> None:
        low, high, low2 = store.enqueue([new_job(priority=0), new_job(priority=5), new_job(priority=0)])
        claimed = store.claim("w1", ["default"], 2, 30)
        assert [r.id for r in claimed] == [high.id, low.id]
        assert all(r.status == "RUNNING" and r.worker == "w1" and r.attempts == 1 for r in claimed)
        assert all(r.lease_expires is not None and r.started is not None for r in claimed)
        assert claimed[0].payload == high.payload
        assert [r.id for r in store.claim("w2", ["default"], 5, 30)] == [low2.id]
        assert store.claim("w2", ["default"], 5, 30) == []
        event = store.history(high.id)[-1]
        assert (event.event, event.source, event.dest, event.worker) == ("dispatch", "QUEUED", "RUNNING", "w1")

    def test_claim_serves_only_the_named_queues(self, store: Store) -> None:
        mail, _ = store.enqueue([new_job(queue="mail"), new_job(queue="video")])
        assert [r.id for r in store.claim("w1", ["mail", "sms"], 10, 30)] == [mail.id]

    def test_a_delayed_job_waits_for_its_time(self, store: Store) -> None:
        [later] = store.enqueue([new_job(delay=0.3)])
        [absolute] = store.enqueue([new_job(not_before=time.time() + 3600)])
        assert store.claim("w1", ["default"], 10, 30) == []
        deadline = time.monotonic() + 10
        claimed: list[str] = []
        while not claimed and time.monotonic() < deadline:
            store.wait_for_work(["default"], 0.05)
            claimed = [r.id for r in store.claim("w1", ["default"], 10, 30)]
        assert claimed == [later.id]
        assert store.get([absolute.id])[0].status == "QUEUED"

    def test_concurrent_claims_take_each_job_once(self, connect: Callable[[], Store]) -> None:
        setup = connect()
        jobs = [new_job() for _ in range(200)]
        setup.enqueue(jobs)
        taken: list[list[str]] = [[] for _ in range(4)]
        barrier = threading.Barrier(4)

        def claimer(slot: int) -> None:
            store = connect()
            barrier.wait()
            while True:
                claimed = store.claim(f"w{slot}", ["default"], 7, 30)
                if not claimed:
                    break
                taken[slot].extend(r.id for r in claimed)
            store.close()

        threads = [threading.Thread(target=claimer, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        everything = [i for ids in taken for i in ids]
        assert sorted(everything) == sorted(j.id for j in jobs)  # each exactly once
        setup.close()

    def test_heartbeat_extends_only_the_workers_own_leases(self, store: Store) -> None:
        a, b = store.enqueue([new_job(), new_job()])
        [ra] = store.claim("w1", ["default"], 1, 1)
        store.claim("w2", ["default"], 1, 30)
        assert store.heartbeat("w1", [a.id, b.id, "missing"], 60) == {a.id}
        assert store.get([a.id])[0].lease_expires >= ra.lease_expires + 50  # type: ignore[operator]
        assert store.heartbeat("w1", [], 60) == set()

    def test_an_expired_lease_is_taken_back_and_the_old_worker_refused(self, store: Store) -> None:
        [job] = store.enqueue([new_job()])
        store.claim("dead", ["default"], 1, 0.2)
        deadline = time.monotonic() + 10
        again: list = []
        while not again and time.monotonic() < deadline:
            store.wait_for_work(["default"], 0.05)
            again = store.claim("alive", ["default"], 1, 30)
        assert [r.id for r in again] == [job.id]
        assert again[0].attempts == 2 and again[0].lease_losses == 1 and again[0].worker == "alive"
        assert store.complete("dead", [(job.id, b"late")]) == []
        assert store.heartbeat("dead", [job.id], 30) == set()
        assert store.complete("alive", [(job.id, b"ok")]) == [job.id]
        events = store.history(job.id)
        assert [e.event for e in events] == ["queue", "dispatch", "requeue", "dispatch", "done"]
        assert events[2].worker == "dead" and "expired" in (events[2].detail or "")
        assert store.get([job.id])[0].result == b"ok"

    def test_a_job_taken_back_keeps_its_place_in_the_queue(self, store: Store) -> None:
        first, second = store.enqueue([new_job(), new_job()])
        assert [r.id for r in store.claim("dead", ["default"], 1, 0.2)] == [first.id]
        time.sleep(0.3)  # let the lease run out (a time-based contract, not synchronisation)
        assert [r.id for r in store.claim("alive", ["default"], 1, 30)] == [first.id]
        assert [r.id for r in store.claim("alive", ["default"], 1, 30)] == [second.id]
        assert store.release("alive", [first.id]) == [first.id]
        assert [r.id for r in store.claim("other", ["default"], 1, 30)] == [first.id]

    def test_release_hands_jobs_back_without_counting_the_attempt(self, store: Store) -> None:
        [job] = store.enqueue([new_job()])
        store.claim("w1", ["default"], 1, 30)
        assert store.release("w2", [job.id]) == []
        assert store.release("w1", [job.id]) == [job.id]
        record = store.get([job.id])[0]
        assert record.status == "QUEUED" and record.attempts == 0 and record.worker is None
        assert [r.attempts for r in store.claim("w3", ["default"], 1, 30)] == [1]

    def test_complete_once_and_only_by_the_owner(self, store: Store) -> None:
        [job] = store.enqueue([new_job()])
        assert store.complete("w1", [(job.id, b"x")]) == []  # not claimed
        store.claim("w1", ["default"], 1, 30)
        assert store.complete("intruder", [(job.id, b"x")]) == []
        assert store.complete("w1", [(job.id, b"result")]) == [job.id]
        assert store.complete("w1", [(job.id, b"again")]) == []
        record = store.get([job.id])[0]
        assert (record.status, record.result, record.lease_expires) == ("DONE", b"result", None)
        assert record.finished is not None and record.finished >= record.started  # type: ignore[operator]

    def test_fail_with_a_retry_requeues_later_and_without_one_fails(self, store: Store) -> None:
        [job] = store.enqueue([new_job()])
        error = {"type": "builtins.ValueError", "message": "bad ' value", "traceback": "Traceback ..."}
        store.claim("w1", ["default"], 1, 30)
        assert store.fail("w1", job.id, error, 3600) is True
        record = store.get([job.id])[0]
        assert record.status == "QUEUED" and record.error == error and record.not_before > time.time() + 3000
        assert store.claim("w1", ["default"], 1, 30) == []
        [other] = store.enqueue([new_job()])
        store.claim("w1", ["default"], 1, 30)
        assert store.fail("w2", other.id, error, None) is False
        assert store.fail("w1", other.id, error, None) is True
        record = store.get([other.id])[0]
        assert record.status == "FAILED" and record.error == error and record.finished is not None
        assert [e.event for e in store.history(job.id)] == ["queue", "dispatch", "retry"]

    def test_cancel_queued_running_and_final_jobs(self, store: Store) -> None:
        queued, running, done = store.enqueue([new_job(priority=0), new_job(priority=2), new_job(priority=1)])
        store.claim("w1", ["default"], 2, 30)
        store.complete("w1", [(done.id, b"1")])
        assert sorted(store.cancel([queued.id, running.id, done.id, "missing"])) == sorted([queued.id, running.id])
        assert [r.status for r in store.get([queued.id, running.id, done.id])] == ["CANCELLED", "CANCELLED", "DONE"]
        assert store.heartbeat("w1", [running.id], 30) == set()  # its worker learns at the next heartbeat
        assert store.complete("w1", [(running.id, b"late")]) == []

    def test_progress_is_recorded_for_the_running_owner(self, store: Store) -> None:
        [job] = store.enqueue([new_job()])
        assert store.set_progress("w1", job.id, 0.5, "half") is False
        store.claim("w1", ["default"], 1, 30)
        assert store.set_progress("w1", job.id, 0.25, "a quarter ✓") is True
        record = store.get([job.id])[0]
        assert (record.progress, record.progress_message) == (0.25, "a quarter ✓")

    def test_dependents_wait_and_are_released_when_all_prerequisites_are_done(self, store: Store) -> None:
        a, b = new_job("tests:a", priority=1), new_job("tests:b")
        c = new_job("tests:c", after=[a.id, b.id])
        records = store.enqueue([a, b, c])
        assert [r.status for r in records] == ["QUEUED", "QUEUED", "PENDING"] and records[2].waiting == 2
        store.claim("w1", ["default"], 2, 30)
        store.complete("w1", [(a.id, b"a")])
        assert store.get([c.id])[0].status == "PENDING"
        store.complete("w1", [(b.id, b"b")])
        assert store.get([c.id])[0].status == "QUEUED"
        assert [r.id for r in store.claim("w1", ["default"], 5, 30)] == [c.id]
        assert [e.event for e in store.history(c.id)][:2] == ["queue", "release"]

    def test_a_failure_fails_the_pending_descendants(self, store: Store) -> None:
        a = new_job("tests:a")
        b = new_job("tests:b", after=[a.id])
        c = new_job("tests:c", after=[b.id])
        free = new_job("tests:free")
        store.enqueue([a, b, c, free])
        store.claim("w1", ["default"], 1, 30)
        store.fail("w1", a.id, ERROR, None)
        rb, rc, rfree = store.get([b.id, c.id, free.id])
        assert (rb.status, rc.status, rfree.status) == ("FAILED", "FAILED", "QUEUED")
        assert rb.error is not None and rb.error["type"] == "taskgraph.errors.BlockedError"
        assert rb.error["message"] == "task 'tests:b' is blocked: prerequisite 'tests:a' is FAILED"
        assert rc.error is not None and "prerequisite 'tests:b' is FAILED" in rc.error["message"]

    def test_a_cancel_cancels_the_pending_descendants(self, store: Store) -> None:
        a = new_job("tests:a")
        b = new_job("tests:b", after=[a.id])
        store.enqueue([a, b])
        assert store.cancel([a.id]) == [a.id]
        assert store.get([b.id])[0].status == "CANCELLED"

    def test_a_prerequisite_that_already_failed_fails_a_new_dependent(self, store: Store) -> None:
        [a] = store.enqueue([new_job("tests:a")])
        store.claim("w1", ["default"], 1, 30)
        store.fail("w1", a.id, ERROR, None)
        [b] = store.enqueue([new_job("tests:b", after=[a.id])])
        assert b.status == "FAILED" and b.error is not None and "'tests:a' is FAILED" in b.error["message"]
        [c] = store.enqueue([new_job("tests:c", after=[])])
        assert c.status == "QUEUED"

    def test_retry_queues_failed_and_cancelled_jobs_again_and_leaves_others(self, store: Store) -> None:
        failed, running, done, cancelled, queued = store.enqueue(
            [new_job(priority=9), new_job(priority=8), new_job(priority=7), new_job(), new_job(queue="mail")]
        )
        store.claim("w1", ["default"], 3, 30)
        assert store.set_progress("w1", failed.id, 0.5, "half")
        assert store.fail("w1", failed.id, ERROR, None)
        assert store.complete("w1", [(done.id, b"1")]) == [done.id]
        assert store.cancel([cancelled.id]) == [cancelled.id]
        asked = [queued.id, failed.id, "missing", running.id, done.id, cancelled.id, failed.id]
        assert store.retry(asked) == [failed.id, cancelled.id]
        assert store.retry([failed.id, cancelled.id]) == []  # QUEUED now: nothing to do
        assert store.retry([]) == []
        rf, rr, rd, rc, rq = store.get([failed.id, running.id, done.id, cancelled.id, queued.id])
        assert (rf.status, rr.status, rd.status, rc.status, rq.status) == (
            "QUEUED", "RUNNING", "DONE", "QUEUED", "QUEUED"
        )
        assert (rf.error, rf.result, rf.attempts, rf.lease_losses, rf.waiting) == (None, None, 0, 0, 0)
        assert (rf.worker, rf.started, rf.finished, rf.lease_expires) == (None, None, None, None)
        assert (rf.progress, rf.progress_message) == (None, None)
        assert rf.payload == failed.payload and rf.priority == 9 and rd.result == b"1"
        event = store.history(failed.id)[-1]
        assert (event.event, event.source, event.dest, event.worker, event.detail) == (
            "retry", "FAILED", "QUEUED", None, "retried by hand"
        )
        assert [(e.event, e.source) for e in store.history(cancelled.id)][-2:] == [
            ("cancel", "QUEUED"), ("retry", "CANCELLED")
        ]
        assert store.stats() == {"default": {"QUEUED": 2, "RUNNING": 1, "DONE": 1}, "mail": {"QUEUED": 1}}
        assert store.purge(-1) == 1  # the DONE one: the retried ones are no longer final
        again = store.claim("w2", ["default"], 5, 30)
        assert [r.id for r in again] == [failed.id, cancelled.id]
        assert [r.attempts for r in again] == [1, 1]
        assert store.complete("w2", [(failed.id, b"ok")]) == [failed.id]

    def test_a_job_that_keeps_losing_its_worker_fails_and_a_retry_resets_its_losses(self, store: Store) -> None:
        [job] = store.enqueue([new_job()])
        deadline = time.monotonic() + 30
        while store.get([job.id])[0].status != "FAILED":
            assert time.monotonic() < deadline, "the job never failed for losing its worker"
            store.claim("doomed", ["default"], 1, 0.02)
            time.sleep(0.03)  # let the lease run out (a time-based contract, not synchronisation)
        failed = store.get([job.id])[0]
        assert failed.lease_losses == MAX_LEASE_LOSSES and failed.error and "lost" in failed.error["message"]
        assert store.retry([job.id]) == [job.id]
        record = store.get([job.id])[0]
        assert (record.status, record.lease_losses, record.attempts, record.error) == ("QUEUED", 0, 0, None)

    def test_retry_waits_for_prerequisites_that_are_not_done(self, store: Store) -> None:
        a, free = new_job("tests:a", priority=1), new_job("tests:free")
        b = new_job("tests:b", after=[a.id, free.id])
        c = new_job("tests:c", after=[b.id])
        store.enqueue([a, free, b, c])
        store.claim("w1", ["default"], 2, 30)
        store.complete("w1", [(free.id, b"1")])
        store.fail("w1", a.id, ERROR, None)
        assert [r.status for r in store.get([b.id, c.id])] == ["FAILED", "FAILED"]
        # b first: a is still FAILED, so unfinished; then a: QUEUED; c, blocked with b, is not touched
        assert store.retry([b.id, a.id]) == [b.id, a.id]
        rb, ra, rc = store.get([b.id, a.id, c.id])
        assert (rb.status, rb.waiting, rb.error) == ("PENDING", 1, None)
        assert (ra.status, rc.status) == ("QUEUED", "FAILED")
        assert [(e.event, e.source, e.dest) for e in store.history(b.id)][-1] == ("retry", "FAILED", "PENDING")
        assert store.stats() == {"default": {"QUEUED": 1, "PENDING": 1, "DONE": 1, "FAILED": 1}}
        [claimed] = store.claim("w1", ["default"], 5, 30)
        assert claimed.id == a.id and store.complete("w1", [(a.id, b"a")]) == [a.id]
        assert store.get([b.id])[0].status == "QUEUED"
        assert [r.id for r in store.claim("w1", ["default"], 5, 30)] == [b.id]
        store.fail("w1", b.id, ERROR, None)
        assert store.retry([c.id]) == [c.id]
        assert (store.get([c.id])[0].status, store.get([c.id])[0].waiting) == ("PENDING", 1)
        # all prerequisites DONE: QUEUED at once
        assert store.retry([b.id]) == [b.id] and store.get([b.id])[0].status == "QUEUED"
        store.claim("w1", ["default"], 5, 30)
        store.fail("w1", b.id, ERROR, None)  # and a failure fails the retried dependent again
        rc = store.get([c.id])[0]
        assert rc.status == "FAILED" and rc.error is not None and "'tests:b' is FAILED" in rc.error["message"]

    def test_retry_wakes_an_idle_worker(self, connect: Callable[[], Store]) -> None:
        idle, client = connect(), connect()
        [job] = client.enqueue([new_job()])
        client.cancel([job.id])
        idle.wait_for_work(["default"], 0)
        retried: list[str] = []
        assert wakes(lambda t: idle.wait_for_work(["default"], t), lambda: retried.extend(client.retry([job.id])))
        assert retried == [job.id]
        assert [r.id for r in idle.claim("w1", ["default"], 5, 30)] == [job.id]
        idle.close()
        client.close()

    def test_stats_count_by_queue_and_status(self, store: Store) -> None:
        store.enqueue([new_job(), new_job(), new_job(queue="mail")])
        store.claim("w1", ["default"], 1, 30)
        assert store.stats() == {"default": {"QUEUED": 1, "RUNNING": 1}, "mail": {"QUEUED": 1}}

    def test_purge_removes_only_old_final_jobs(self, store: Store) -> None:
        done, queued = store.enqueue([new_job(priority=1), new_job()])
        store.claim("w1", ["default"], 1, 30)
        store.complete("w1", [(done.id, b"1")])
        assert store.purge(3600) == 0
        assert store.purge(-1) == 1
        assert store.get([done.id]) == [] and store.history(done.id) == []
        assert store.get([queued.id])[0].status == "QUEUED"

    def test_wait_wakes_when_another_connection_changes_something(self, connect: Callable[[], Store]) -> None:
        waiter, writer = connect(), connect()
        waiter.wait(0)  # take note of now
        assert wakes(waiter.wait, lambda: writer.enqueue([new_job()]))
        waiter.close()
        writer.close()

    def test_wait_for_work_wakes_an_idle_worker_on_enqueue(self, connect: Callable[[], Store]) -> None:
        idle, client = connect(), connect()
        idle.wait_for_work(["default"], 0)
        assert wakes(lambda t: idle.wait_for_work(["default"], t), lambda: client.enqueue([new_job()]))
        assert len(idle.claim("w1", ["default"], 5, 30)) == 1
        idle.close()
        client.close()
