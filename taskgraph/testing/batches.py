"""The part of the store conformance suite about batches and light reads: :meth:`Store.enqueue_ids` (many jobs in
one call, answering ids) and :meth:`Store.status_of` (status and ``not_before`` only).

:class:`~taskgraph.testing.stores.StoreContract` includes it; the ``store`` fixture is that class's.
"""

from __future__ import annotations

import time

from ..stores.base import Store
from .submissions import new_job

__all__ = ["BatchContract"]


class BatchContract:
    """What every store does with a batch of jobs, and how it answers a status."""

    def test_enqueue_ids_answers_the_ids_in_order_and_stores_every_job(self, store: Store) -> None:
        jobs = [new_job(f"tests:job{i % 3}", payload=str(i).encode(), priority=i % 2) for i in range(2500)]
        assert store.enqueue_ids(jobs) == [j.id for j in jobs]
        assert store.stats() == {"default": {"QUEUED": 2500}}
        some = store.get([jobs[0].id, jobs[2499].id])
        assert [(r.name, r.payload, r.status) for r in some] == [("tests:job0", b"0", "QUEUED"),
                                                                  ("tests:job0", b"2499", "QUEUED")]
        claimed = store.claim("w1", ["default"], 3, 30)
        assert [r.id for r in claimed] == [jobs[1].id, jobs[3].id, jobs[5].id]  # priority 1 first, then in order

    def test_enqueue_ids_answers_the_stored_job_for_a_known_id_or_key(self, store: Store) -> None:
        [first] = store.enqueue([new_job(id="order-7", payload=b"old")])
        [keyed] = store.enqueue([new_job(key="report:1")])
        again = new_job(key="report:1")
        ids = store.enqueue_ids([new_job(id="order-7", payload=b"new"), again, new_job(id="fresh-1")])
        assert ids == ["order-7", keyed.id, "fresh-1"]
        assert store.get(["order-7"])[0].payload == b"old"
        assert store.get([again.id]) == []  # the key's job answered; nothing new stored under the new id
        assert store.stats()["default"]["QUEUED"] == 3

    def test_status_of_answers_status_and_not_before_of_the_jobs_that_exist(self, store: Store) -> None:
        now = time.time()
        ready, later, gone = new_job(), new_job(delay=3600.0), new_job()
        store.enqueue_ids([ready, later, gone])
        store.claim("w1", ["default"], 1, 30)
        store.complete("w1", [(ready.id, b"1")])
        store.cancel([gone.id])
        found = store.status_of([ready.id, later.id, gone.id, "missing"])
        assert set(found) == {ready.id, later.id, gone.id}
        assert found[ready.id][0] == "DONE" and found[gone.id][0] == "CANCELLED"
        status, not_before = found[later.id]
        assert status == "QUEUED" and now + 3500 < not_before < now + 3700
        assert store.status_of([]) == {} and store.status_of(["missing"]) == {}
