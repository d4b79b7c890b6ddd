"""The entries part of the store contract (:mod:`taskgraph.stores.entries`): what recurring jobs and the result
cache rely on. A part of :class:`~taskgraph.testing.StoreContract`."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..stores.base import Store
from .submissions import new_job

__all__ = ["EntriesContract"]


class EntriesContract:
    """Entries: compare-and-set, due listings, counters, LRU trimming, history notes."""

    def test_entry_put_is_compare_and_set(self, store: Store) -> None:
        assert store.entry_get("s", "k") is None
        assert store.entry_put("s", "k", b"one", 5.0, version=0) == 1
        assert store.entry_put("s", "k", b"two", 6.0, version=0) is None  # exists already
        assert store.entry_put("s", "k", b"two", 6.0, version=2) is None  # not that version
        assert store.entry_put("s", "k", b"two", 6.0, version=1) == 2
        entry = store.entry_get("s", "k")
        assert entry is not None and (entry.value, entry.score, entry.version) == (b"two", 6.0, 2)
        assert store.entry_put("s", "k", b"\x00\xff", 7.0) == 3  # unconditional, binary value
        assert store.entry_get("s", "k").value == b"\x00\xff"  # type: ignore[union-attr]
        assert store.entry_get("other", "k") is None

    def test_entry_list_gives_due_entries_lowest_score_first(self, store: Store) -> None:
        for key, score in (("c", 30.0), ("a", 10.0), ("b", 20.0), ("z", 1e15)):
            store.entry_put("due", key, key.encode(), score)
        assert [e.key for e in store.entry_list("due", upto=20.0)] == ["a", "b"]
        assert [e.key for e in store.entry_list("due")] == ["a", "b", "c", "z"]
        assert [e.key for e in store.entry_list("due", limit=1)] == ["a"]
        assert store.entry_list("due", upto=5.0) == [] and store.entry_list("empty") == []

    def test_entry_add_touch_trim_delete_and_spaces(self, store: Store) -> None:
        assert store.entry_add("stats", "hits", 1) == 1.0
        assert store.entry_add("stats", "hits", 2) == 3.0
        for i in range(5):
            store.entry_put("cache:x", f"k{i}", b"v", float(i))
        assert store.entry_touch("cache:x", "k0", 100.0) and not store.entry_touch("cache:x", "nope", 1.0)
        assert store.entry_trim("cache:x", 2) == 3
        assert {e.key for e in store.entry_list("cache:x")} == {"k0", "k4"}
        assert store.entry_spaces("cache:") == ["cache:x"] and "stats" in store.entry_spaces("")
        assert store.entry_delete("cache:x", ["k4", "missing"]) == 1
        assert store.entry_delete("cache:x") == 1 and store.entry_list("cache:x") == []
        assert store.entry_spaces("cache:") == []

    def test_only_one_of_many_racing_compare_and_sets_wins(self, connect: Callable[[], Store],
                                                           store: Store) -> None:
        store.entry_put("race", "k", b"0", 0.0, version=0)
        wins: list[int] = []
        lock = threading.Lock()

        def racer(n: int) -> None:
            mine = connect()
            try:
                if mine.entry_put("race", "k", str(n).encode(), 1.0, version=1) is not None:
                    with lock:
                        wins.append(n)
            finally:
                mine.close()

        threads = [threading.Thread(target=racer, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(wins) == 1
        assert store.entry_get("race", "k").value == str(wins[0]).encode()  # type: ignore[union-attr]

    def test_note_adds_an_event_and_keeps_the_status(self, store: Store) -> None:
        [record] = store.enqueue([new_job("tests.jobs:add")])
        assert store.note(record.id, "cached", "from job x")
        assert not store.note("no-such-job", "cached", None)
        last = store.history(record.id)[-1]
        assert (last.event, last.source, last.dest, last.detail) == ("cached", "QUEUED", "QUEUED", "from job x")
        assert store.get([record.id])[0].status == "QUEUED"
