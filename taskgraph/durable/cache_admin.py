"""Looking after a durable queue's result cache: its entries, hit and miss counts, and clearing it.
:class:`CacheAdmin` is a part of :class:`~taskgraph.durable.queue.DurableQueue`; how results are cached is in
:mod:`.cache`."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from ..stores import Store
from .cache import PREFIX, STATS, origin, read_entry, space_of

__all__ = ["CacheAdmin", "CacheEntry", "CacheStats"]


@dataclass(frozen=True)
class CacheEntry:
    """One entry of the result cache (see :meth:`CacheAdmin.cache_entries`).

    Attributes:
        job: the job's name (``module:qualname``).
        key: the hash of its name, arguments and ``cache_version``.
        state: ``done`` (a result kept) or ``pending`` (a job that will fill it).
        source: the id of the job whose result it is (or that will fill it); None for a direct call's.
        stored: when the result was stored (epoch seconds), None while pending.
        expires: when it stops being used (epoch seconds), None for never.
        last_used: when it was stored or last returned (epoch seconds).
        local: ``host:pid`` of the process whose direct call of the job (not a worker's run) stored the result;
            None for a job's.
    """

    job: str
    key: str
    state: str
    source: str | None
    stored: float | None
    expires: float | None
    last_used: float
    local: str | None = None

    @property
    def origin(self) -> str:
        """Where the result came from, for people: ``job ID`` or ``a local call on HOST:PID``."""
        return origin(self.source, self.local)


@dataclass(frozen=True)
class CacheStats:
    """Hits and misses of one job's cached runs (see :meth:`CacheAdmin.cache_stats`)."""

    hits: int = 0
    misses: int = 0


class CacheAdmin:
    """The result cache: see docs/jobs.md, "Caching results"."""

    @property
    def store(self) -> Store:  # pragma: no cover - the queue's
        raise NotImplementedError

    def cache_entries(self, job: Any = None) -> builtins.list[CacheEntry]:
        """The entries of the result cache, of one job (a job function or its name) or of all, most recently used
        first."""
        store = self.store
        spaces = [space_of(_name(job))] if job is not None else store.entry_spaces(PREFIX)
        found: builtins.list[CacheEntry] = []
        for space in spaces:
            for entry in store.entry_list(space, limit=100_000):
                value = read_entry(entry.value) or {}
                found.append(CacheEntry(
                    job=space[len(PREFIX):], key=entry.key, state=str(value.get("state", "?")),
                    source=value.get("job"), stored=value.get("at"), expires=value.get("expires"),
                    last_used=entry.score, local=value.get("local"),
                ))
        return sorted(found, key=lambda e: -e.last_used)

    def cache_stats(self) -> dict[str, CacheStats]:
        """Hits and misses of each cached job since the store began (clearing the cache keeps them)."""
        try:
            rows = self.store.entry_list(STATS, limit=100_000)
        except NotImplementedError:
            return {}
        counts: dict[str, dict[str, int]] = {}
        for entry in rows:
            name, _, kind = entry.key.rpartition("|")
            if kind in ("hits", "misses"):
                counts.setdefault(name, {})[kind] = int(entry.score)
        return {name: CacheStats(**values) for name, values in sorted(counts.items())}

    def clear_cache(self, job: Any = None) -> int:
        """Delete the cached results of one job (a job function or its name), or of every job.

        Returns:
            how many entries were deleted.
        """
        store = self.store
        spaces = [space_of(_name(job))] if job is not None else store.entry_spaces(PREFIX)
        return sum(store.entry_delete(space) for space in spaces)


def _name(job: Any) -> str:
    name = job if isinstance(job, str) else getattr(job, "name", None)
    if not isinstance(name, str):
        raise TypeError(f"give a job function of this queue, or its name 'module:qualname', not {job!r}")
    return name
