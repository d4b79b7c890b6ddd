"""The views part of the store contract (:mod:`taskgraph.stores.views`): what a dashboard reads of a store, the edges
of a graph, jobs finished per minute, snapshots and the filtered, paged listing. A part of
:class:`~taskgraph.testing.StoreContract`."""

from __future__ import annotations

from ..stores.base import Store
from ..stores.views import Look
from .submissions import ERROR, new_job

__all__ = ["ViewsContract"]


class ViewsContract:
    """Prerequisites, finished jobs per minute, snapshots, deep filtered pages."""

    def test_prerequisites_are_the_edges_into_the_jobs_asked_for(self, store: Store) -> None:
        a, b, c, d = (new_job(key=k) for k in "abcd")
        b = new_job(key="b", after=[a.id])
        c = new_job(key="c", after=[a.id])
        d = new_job(key="d", after=[b.id, c.id, b.id])  # a repeated prerequisite is one edge
        store.enqueue([a, b, c, d])
        assert store.prerequisites([d.id, b.id, c.id, a.id, "nope"]) == sorted(
            [(a.id, b.id), (a.id, c.id), (b.id, d.id), (c.id, d.id)])
        assert store.prerequisites([d.id]) == sorted([(b.id, d.id), (c.id, d.id)])
        assert store.prerequisites([a.id]) == [] and store.prerequisites([]) == []
        # they stay once the jobs ran, and go with a job deleted
        for _ in range(3):
            claimed = store.claim("w", ["default"], 10, 30.0)
            store.complete("w", [(r.id, b"1") for r in claimed])
        assert store.get([d.id])[0].status == "DONE"
        assert store.prerequisites([d.id]) == sorted([(b.id, d.id), (c.id, d.id)])
        assert store.delete([b.id, d.id]) == [b.id, d.id]
        assert store.prerequisites([b.id, c.id, d.id]) == [(a.id, c.id)]

    def test_finished_per_minute_counts_done_and_failed_in_the_last_minute(self, store: Store) -> None:
        jobs = [new_job() for _ in range(5)]
        store.enqueue(jobs)
        claimed = store.claim("w", ["default"], 5, 30.0)
        store.complete("w", [(r.id, b"1") for r in claimed[:3]])
        store.fail("w", claimed[3].id, ERROR, None)
        counts = store.finished_per_minute(10)
        assert (len(counts["DONE"]), sum(counts["DONE"]), sum(counts["FAILED"])) == (10, 3, 1)  # not RUNNING
        # in the current clock minute, or the one before if the test crossed a minute's end
        assert not any(counts["DONE"][:8]) and not any(counts["FAILED"][:8])
        store.cancel([claimed[4].id])  # CANCELLED is not counted
        again = store.finished_per_minute(10)
        assert (sum(again["DONE"]), sum(again["FAILED"])) == (3, 1)
        assert store.finished_per_minute(0) == {"DONE": [], "FAILED": []}
        store.retry([claimed[3].id])  # no longer FAILED: not counted
        store.delete([claimed[0].id])  # nor a job deleted
        again = store.finished_per_minute(60)
        assert (len(again["FAILED"]), sum(again["DONE"]), sum(again["FAILED"])) == (60, 2, 0)

    def test_a_snapshot_reads_every_part_asked_for_and_only_those(self, store: Store) -> None:
        a = new_job(key="a")
        b = new_job(key="b", after=[a.id], queue="other")
        store.enqueue([a, b, new_job()])
        store.register_worker({"id": "w1", "queues": ["default"], "started": 1.0}, 30.0)
        [first] = store.claim("w1", ["default"], 1, 30.0)
        store.complete("w1", [(first.id, b"1")])
        snap = store.snapshot(Look(counts=True, workers=True, minutes=5, job=a.id, jobs={"limit": 2}, edges=True))
        assert snap.counts == store.stats() and snap.scheduled == store.scheduled()
        assert [w["id"] for w in snap.workers] == ["w1"]
        assert snap.finished == store.finished_per_minute(5) and sum(snap.finished["DONE"]) == 1
        assert snap.job is not None and snap.job.id == a.id and snap.job.status == "DONE"
        assert [e.event for e in snap.history] == [e.event for e in store.history(a.id)]
        assert [r.id for r in snap.jobs] == [r.id for r in store.list_jobs(limit=2)]
        assert snap.edges == store.prerequisites([r.id for r in snap.jobs])
        bare = store.snapshot(Look(job="no-such-job"))
        assert (bare.counts, bare.workers, bare.finished, bare.job, bare.history, bare.jobs, bare.edges) == (
            {}, [], None, None, [], [], None)

    def test_a_deep_page_of_a_filtered_list_skips_exactly_the_offset(self, store: Store) -> None:
        jobs = [new_job(name="tests:even" if i % 2 == 0 else "tests:odd", queue="q1" if i % 3 else "q2")
                for i in range(120)]
        store.enqueue(jobs)
        newest = list(reversed(jobs))
        evens = [j.id for j in newest if j.name == "tests:even"]
        assert [r.id for r in store.list_jobs(name="tests:even", offset=25, limit=10)] == evens[25:35]
        assert [r.id for r in store.list_jobs(name="tests:even", offset=55, limit=10)] == evens[55:]
        both = [j.id for j in newest if j.name == "tests:odd" and j.queue == "q2"]
        assert [r.id for r in store.list_jobs(name="tests:odd", queue="q2", offset=3)] == both[3:]
        assert [r.id for r in store.list_jobs(status="QUEUED", offset=100, limit=50)] == [j.id for j in newest][100:]
        assert store.list_jobs(status="DONE", offset=0, limit=5) == []
