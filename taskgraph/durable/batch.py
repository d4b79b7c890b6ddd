"""Batch enqueue: many runs checked in the caller, then stored :data:`BATCH` at a time, each batch in one round trip
and one transaction of the store (``job.map(...)``, ``queue.enqueue_many(...)``).

A batch is all-or-nothing as far as the caller can cause: every run is checked (its arguments against the
function's signature, its options, its encoding, each ``on_enqueue`` hook) before any is stored, so one bad run
refuses the whole call and nothing is stored. The batches are then stored one after the other: if the store fails
in the middle (a lost connection), the batches before are stored and the error says how many runs were.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..stores.base import StoreError
from ..stores.records import NewJob
from .handle import JobHandle
from .jobs import JobOptions, bound

if TYPE_CHECKING:
    from .jobs import JobFunction
    from .queue import DurableQueue

__all__ = ["BATCH", "calls_of", "enqueue_many"]

#: The most runs stored in one store call (one transaction, one round trip).
BATCH = 1000

#: One run to enqueue: the job, its positional and keyword arguments, and the keyword arguments of ``_enqueue``.
Run = tuple["JobFunction", tuple[Any, ...], dict[str, Any], dict[str, Any]]


def calls_of(queue: DurableQueue, items: Iterable[Any], kind: type[JobFunction]) -> list[Run]:
    """The runs of ``queue.enqueue_many(items)``: each item ``(job, args)`` or ``(job, args, kwargs)``, the job a
    ``kind`` (:class:`~taskgraph.durable.jobs.JobFunction`) of ``queue``'s store.

    Raises:
        TypeError: an item is not of that shape, its job is not a job of ``queue``, or its arguments do not fit.
    """
    runs: list[Run] = []
    for n, item in enumerate(items):
        if not isinstance(item, tuple) or len(item) not in (2, 3):
            raise TypeError(f"item {n} of enqueue_many() must be a tuple (job, args) or (job, args, kwargs), not "
                            f"{item!r:.80}")
        job, args, kwargs = item if len(item) == 3 else (*item, {})
        if not isinstance(job, kind) or job.queue.url != queue.url:
            raise TypeError(f"item {n} of enqueue_many(): {job!r:.80} is not a job of {queue!r} (a function "
                            "decorated with @queue.task)")
        if not isinstance(kwargs, dict):
            raise TypeError(f"item {n} of enqueue_many(): kwargs must be a dict, not {type(kwargs).__name__}")
        runs.append((job, bound(job, n, args, kwargs), dict(kwargs), {}))
    return runs


def enqueue_many(queue: DurableQueue, runs: Sequence[Run]) -> list[JobHandle]:
    """Store ``runs`` (checked already), :data:`BATCH` per store call; their handles, in order.

    Every run is made into its job (its arguments encoded) and shown to the ``on_enqueue`` hooks before any is
    stored. A run of a job that caches its results is enqueued on its own after the batches, as ``delay`` does (it
    must look for an equal run first): the hooks see it then.

    Raises:
        ValueError, SerializationError: a run's options or arguments are refused; nothing was stored.
        Exception: an ``on_enqueue`` hook refused a run, with its error; nothing was stored.
        StoreError: the store failed; the message says how many runs were stored before.
    """
    handles: list[JobHandle | None] = [None] * len(runs)
    news: list[tuple[int, NewJob]] = []
    cached: list[int] = []
    shared: dict[int, tuple[JobOptions, dict[str, Any]]] = {}  # runs with the same options share them as stored
    for n, (job, args, kwargs, how) in enumerate(runs):
        caching = (job.cache if how.get("cache", "declared") == "declared" else how["cache"]) is not None
        options = how.get("options") or job.options
        found = shared.get(id(options))
        if found is None or found[0] is not options:
            found = shared[id(options)] = (options, options.stored(queue.serializer.name))
        new = queue.new_job(job, args, kwargs, stored=found[1], **{k: v for k, v in how.items() if k != "cache"})
        if caching:
            cached.append(n)  # encoded (so checked) with the others; enqueued on its own below
        else:
            news.append((n, new))
    if queue.hooks:
        for _, new in news:
            queue.hooks.refuse(new)
    stored = 0
    for start in range(0, len(news), BATCH):
        chunk = news[start:start + BATCH]
        try:
            ids = queue.store.enqueue_ids([new for _, new in chunk])
        except StoreError as exc:
            if not stored:
                raise
            raise type(exc)(f"{exc}; {stored} of the {len(runs)} runs were stored before it (the first {stored} in "
                            "order)") from exc
        for (n, _), job_id in zip(chunk, ids, strict=True):
            handles[n] = JobHandle(queue, job_id)
        stored += len(chunk)
    for n in cached:
        job, args, kwargs, how = runs[n]
        handles[n] = queue._enqueue(job, args, kwargs, **how)
    return [h for h in handles if h is not None]
