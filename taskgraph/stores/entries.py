"""Entries: small keyed records a store keeps beside its jobs, for recurring schedules and the result cache.

An entry lives in a *space* (a name such as ``recurring`` or ``cache:app:add``) under a *key*, and holds a value
(bytes), a *score* (a number: a recurring job's next run, a cache entry's last use, a counter) and a *version*
that grows by one at each write. Every method is one atomic step in the store, so many workers can share them:

* :meth:`Entries.entry_put` with ``version`` is a compare-and-set (0: only if the entry does not exist; ``n``:
  only if its version is still ``n``), which is how one worker, and one only, claims each due run of a recurring
  job, or the right to fill a cache entry;
* :meth:`Entries.entry_list` with ``upto`` reads the entries whose score has come (due recurring jobs), lowest
  score first, in one call;
* :meth:`Entries.entry_add` adds to a score atomically (hit and miss counters); :meth:`Entries.entry_trim`
  keeps the highest scores of a space (LRU eviction).

:meth:`Entries.note` adds an event to a job's history without changing its status (a ``cached`` run).

A store that keeps no entries inherits these methods, which raise :class:`NotImplementedError`. The conformance
tests of :mod:`taskgraph.testing.entries` check every store.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

__all__ = ["Entry", "Entries", "MemoryEntries", "MAX_SCORE"]

#: A score above every time: the score of a paused recurring job, never due.
MAX_SCORE = 1e15


@dataclass(frozen=True)
class Entry:
    """One entry, as read from a store.

    Attributes:
        space, key: where it is kept.
        value: what it holds.
        score: its number (a time, or a count).
        version: 1 when first written, one more at each write.
    """

    space: str
    key: str
    value: bytes
    score: float
    version: int


class Entries:
    """The entry methods of :class:`~taskgraph.stores.base.Store`; optional, each raises until a store has them."""

    url: str

    def _no_entries(self) -> Exception:
        return NotImplementedError(f"{self.url}: this store keeps no entries (recurring jobs, result cache)")

    def entry_get(self, space: str, key: str) -> Entry | None:
        """The entry of ``key`` in ``space``, or None."""
        raise self._no_entries()

    def entry_list(self, space: str, upto: float | None = None, limit: int = 1000) -> list[Entry]:
        """Up to ``limit`` entries of ``space`` (with ``upto``: those whose score is at most it), lowest score
        first, then by key."""
        raise self._no_entries()

    def entry_put(self, space: str, key: str, value: bytes, score: float, version: int | None = None) -> int | None:
        """Write an entry. With ``version`` 0 only if it does not exist, with ``version`` n only if its version is
        n; without, in any case.

        Returns:
            its new version, or None if the condition did not hold (nothing was written).
        """
        raise self._no_entries()

    def entry_touch(self, space: str, key: str, score: float) -> bool:
        """Set the score of an entry that exists, its value and version kept. Returns whether it existed."""
        raise self._no_entries()

    def entry_add(self, space: str, key: str, amount: float) -> float:
        """Add ``amount`` to an entry's score (created with an empty value and score 0 if missing); the new
        score."""
        raise self._no_entries()

    def entry_delete(self, space: str, keys: Collection[str] | None = None) -> int:
        """Delete the entries of ``keys`` in ``space`` (every entry of it if None). Returns how many were."""
        raise self._no_entries()

    def entry_trim(self, space: str, keep: int) -> int:
        """Delete the entries of ``space`` but the ``keep`` of highest score. Returns how many were deleted."""
        raise self._no_entries()

    def entry_spaces(self, prefix: str) -> list[str]:
        """The spaces that hold entries and start with ``prefix``, sorted."""
        raise self._no_entries()

    def note(self, job_id: str, event: str, detail: str | None) -> bool:
        """Add ``event`` (with ``detail``) to the history of a job, its status kept. Returns whether the job
        exists."""
        raise self._no_entries()


class MemoryEntries(Entries):
    """Entries of the in-memory store, under its one lock (used by :class:`~.memory.MemoryStore`)."""

    _m: Any  # the store's Memory
    _call: Any  # its one-call context manager

    def _space(self, space: str) -> dict[str, Entry]:
        found: dict[str, dict[str, Entry]] = self._m.__dict__.setdefault("entries", {})
        return found.setdefault(space, {})

    def entry_get(self, space: str, key: str) -> Entry | None:
        with self._call() as _:
            return self._space(space).get(key)

    def entry_list(self, space: str, upto: float | None = None, limit: int = 1000) -> list[Entry]:
        with self._call() as _:
            found = [e for e in self._space(space).values() if upto is None or e.score <= upto]
        return sorted(found, key=lambda e: (e.score, e.key))[: max(limit, 0)]

    def entry_put(self, space: str, key: str, value: bytes, score: float, version: int | None = None) -> int | None:
        with self._call() as (m, _):
            entries = self._space(space)
            old = entries.get(key)
            if version is not None and (old.version if old else 0) != version:
                return None
            entries[key] = Entry(space, key, bytes(value), float(score), (old.version if old else 0) + 1)
            m.dirty = True
            return entries[key].version

    def entry_touch(self, space: str, key: str, score: float) -> bool:
        with self._call() as _:
            entries = self._space(space)
            old = entries.get(key)
            if old is not None:
                entries[key] = Entry(space, key, old.value, float(score), old.version)
            return old is not None

    def entry_add(self, space: str, key: str, amount: float) -> float:
        with self._call() as _:
            entries = self._space(space)
            old = entries.get(key) or Entry(space, key, b"", 0.0, 0)
            entries[key] = Entry(space, key, old.value, old.score + amount, old.version + 1)
            return entries[key].score

    def entry_delete(self, space: str, keys: Collection[str] | None = None) -> int:
        with self._call() as _:
            entries = self._space(space)
            gone = list(entries) if keys is None else [k for k in set(keys) if k in entries]
            for key in gone:
                del entries[key]
            return len(gone)

    def entry_trim(self, space: str, keep: int) -> int:
        with self._call() as _:
            entries = self._space(space)
            ranked = sorted(entries.values(), key=lambda e: (-e.score, e.key))
            for entry in ranked[max(keep, 0):]:
                del entries[entry.key]
            return max(len(ranked) - max(keep, 0), 0)

    def entry_spaces(self, prefix: str) -> list[str]:
        with self._call() as (m, _):
            spaces = m.__dict__.get("entries", {})
            return sorted(s for s, held in spaces.items() if held and s.startswith(prefix))

    def note(self, job_id: str, event: str, detail: str | None) -> bool:
        with self._call() as (m, now):
            job = m.jobs.get(job_id)
            if job is None:
                return False
            m.event(job_id, now, event, job.status, job.status, None, detail)
            return True
