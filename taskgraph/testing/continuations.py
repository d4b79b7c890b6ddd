"""The part of the store conformance suite about continuations: jobs that run when their one prerequisite ends
a given way (``NewJob.on``: ``success``, ``failure`` or ``any``).

:class:`~taskgraph.testing.stores.StoreContract` includes it; the ``store`` fixture is that class's.
"""

from __future__ import annotations

import pytest

from ..stores.base import Store, StoreError
from .submissions import ERROR, new_job

__all__ = ["ContinuationContract"]


class ContinuationContract:
    """Continuations on success, failure and any end, as every store must run them."""

    def _family(self, store: Store) -> tuple[str, str, str, str, str]:
        """A claimed parent ``a`` and its continuations on success, failure and any, and one after the failure
        one; their ids."""
        a = new_job("tests:a", priority=9)
        ok, bad, whatever = (new_job(f"tests:{on}", after=[a.id], on=on) for on in ("success", "failure", "any"))
        then = new_job("tests:then", after=[bad.id])
        records = store.enqueue([a, ok, bad, whatever, then])
        assert [r.status for r in records] == ["QUEUED", "PENDING", "PENDING", "PENDING", "PENDING"]
        assert [r.id for r in store.claim("w1", ["default"], 1, 30)] == [a.id]
        return a.id, ok.id, bad.id, whatever.id, then.id

    def test_a_failure_runs_the_failure_and_any_continuations(self, store: Store) -> None:
        a, ok, bad, whatever, then = self._family(store)
        assert store.fail("w1", a, ERROR, None)
        assert [r.status for r in store.get([ok, bad, whatever, then])] == ["FAILED", "QUEUED", "QUEUED", "PENDING"]
        assert [(e.event, e.source, e.dest, e.detail) for e in store.history(bad)] == [
            ("queue", None, "PENDING", None), ("release", "PENDING", "QUEUED", "prerequisite 'tests:a' is FAILED")]
        assert store.get([ok])[0].error["type"] == "taskgraph.errors.BlockedError"  # type: ignore[index]
        assert {r.id for r in store.claim("w2", ["default"], 5, 30)} == {bad, whatever}
        assert store.complete("w2", [(bad, b"handled")]) == [bad]
        assert store.get([then])[0].status == "QUEUED"  # after the failure continuation, on its success
        assert store.stats() == {"default": {"FAILED": 2, "DONE": 1, "RUNNING": 1, "QUEUED": 1}}

    def test_a_success_cancels_the_failure_continuation_and_its_dependents(self, store: Store) -> None:
        a, ok, bad, whatever, then = self._family(store)
        assert store.complete("w1", [(a, b"1")]) == [a]
        assert [r.status for r in store.get([ok, bad, whatever, then])] == [
            "QUEUED", "CANCELLED", "QUEUED", "CANCELLED"]
        assert store.get([bad])[0].finished is not None
        assert [(e.event, e.dest, e.detail) for e in store.history(bad)][-1] == (
            "cancel", "CANCELLED", "prerequisite 'tests:a' is DONE")
        assert store.stats() == {"default": {"DONE": 1, "QUEUED": 2, "CANCELLED": 2}}

    def test_a_cancel_runs_only_the_any_continuation(self, store: Store) -> None:
        a, ok, bad, whatever, then = self._family(store)
        assert store.cancel([a]) == [a]
        assert [r.status for r in store.get([ok, bad, whatever, then])] == [
            "CANCELLED", "CANCELLED", "QUEUED", "CANCELLED"]

    def test_a_continuation_of_a_finished_job_is_decided_at_once(self, store: Store) -> None:
        done, failed = new_job("tests:done", priority=1), new_job("tests:failed")
        store.enqueue([done, failed])
        store.claim("w1", ["default"], 2, 30)
        store.complete("w1", [(done.id, b"1")])
        store.fail("w1", failed.id, ERROR, None)
        records = store.enqueue([new_job(after=[done.id], on="failure"), new_job(after=[done.id], on="any"),
                                 new_job(after=[failed.id], on="failure"), new_job(after=[failed.id], on="any")])
        assert [r.status for r in records] == ["CANCELLED", "QUEUED", "QUEUED", "QUEUED"]
        assert records[0].finished is not None and records[0].error is None

    def test_a_continuation_has_one_prerequisite(self, store: Store) -> None:
        a, b = store.enqueue([new_job(), new_job()])
        with pytest.raises(StoreError, match=r"runs on failure: it must have one prerequisite, not 2"):
            store.enqueue([new_job(id="c1", after=[a.id, b.id], on="failure")])
        with pytest.raises(StoreError, match=r"runs on any: it must have one prerequisite, not 0"):
            store.enqueue([new_job(id="c2", on="any")])
        assert store.get(["c1", "c2"]) == [] and store.stats() == {"default": {"QUEUED": 2}}

    def test_a_continuation_retried_by_hand_runs_once_its_prerequisite_ended(self, store: Store) -> None:
        a, ok, bad, whatever, then = self._family(store)
        assert store.complete("w1", [(a, b"1")]) == [a]
        assert store.retry([bad]) == [bad]  # cancelled for the success: asked for by hand, it runs
        assert store.get([bad])[0].status == "QUEUED"
        [parent] = store.enqueue([new_job("tests:p")])
        child = new_job(after=[parent.id], on="failure")
        store.enqueue([child])
        assert store.cancel([child.id]) == [child.id]
        assert store.retry([child.id]) == [child.id]
        assert store.get([child.id])[0].status == "PENDING"  # its prerequisite has not ended: it waits for it
        store.claim("w1", ["default"], 5, 30)
        assert store.fail("w1", parent.id, ERROR, None)
        assert store.get([child.id])[0].status == "QUEUED"
