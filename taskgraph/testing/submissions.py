"""The part of the store conformance suite about what a submission carries: caller-chosen ids and metadata.

:class:`~taskgraph.testing.stores.StoreContract` includes it; the ``store`` fixture is that class's.
"""

from __future__ import annotations

import uuid

import pytest

from ..stores.base import Store
from ..stores.records import NewJob

__all__ = ["SubmissionContract", "new_job", "ERROR"]

#: A stored error, for tests that fail a job.
ERROR = {"type": "builtins.ValueError", "message": "x", "traceback": ""}


def new_job(name: str = "tests:job", **fields: object) -> NewJob:
    """A NewJob with a fresh id; ``fields`` override the defaults."""
    values: dict[str, object] = {"id": uuid.uuid4().hex, "name": name, "payload": b'{"v":1,"args":[],"kwargs":{}}'}
    values.update(fields)
    return NewJob(**values)  # type: ignore[arg-type]


class SubmissionContract:
    """Ids and metadata, as every store must keep them."""

    @pytest.mark.parametrize("end", ["QUEUED", "RUNNING", "DONE", "FAILED", "CANCELLED"])
    def test_a_known_id_returns_the_stored_job_whatever_its_status(self, store: Store, end: str) -> None:
        # unlike a key, an id never runs its job again, even FAILED or CANCELLED: an idempotent submit
        store.enqueue([new_job(id="order-42", payload=b"old")])
        if end != "QUEUED":
            store.claim("w1", ["default"], 1, 30)
        if end == "DONE":
            store.complete("w1", [("order-42", b"1")])
        elif end == "FAILED":
            store.fail("w1", "order-42", ERROR, None)
        elif end == "CANCELLED":
            store.cancel(["order-42"])
        before = store.history("order-42")
        [again] = store.enqueue([new_job(id="order-42", payload=b"new", metadata={"k": 1})])
        assert (again.id, again.status, again.payload, again.metadata) == ("order-42", end, b"old", {})
        assert store.history("order-42") == before
        assert len(store.list_jobs()) == 1

    def test_metadata_round_trips_and_filters_listings(self, store: Store) -> None:
        meta = {"tenant": "acme", "n": 1, "tags": ["x", "ü"], "deep": {"a": None}}
        a, b, c = store.enqueue([new_job(metadata=meta), new_job(metadata={"tenant": "other"}), new_job()])
        assert (store.get([a.id])[0].metadata, a.metadata, c.metadata) == (meta, meta, {})
        assert store.get([a.id])[0].options.get("metadata") == meta  # kept inside the options: no new column
        assert [r.id for r in store.list_jobs(metadata={"tenant": "acme"})] == [a.id]
        assert [r.id for r in store.list_jobs(metadata={"tags": ["x", "ü"], "n": 1})] == [a.id]
        assert store.list_jobs(metadata={"tenant": "acme", "n": 2}) == []
        assert store.list_jobs(metadata={"missing": None}) == []
        assert [r.id for r in store.list_jobs(metadata={"tenant": "other"}, status="QUEUED")] == [b.id]
        assert store.list_jobs(metadata={"tenant": "other"}, status="DONE") == []
        _, d, e = store.enqueue([new_job(metadata={"tenant": "acme"}) for _ in range(3)])
        assert [r.id for r in store.list_jobs(metadata={"tenant": "acme"}, limit=2)] == [e.id, d.id]
