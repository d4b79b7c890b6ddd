"""The result cache: a job's successful results kept in the store, shared by every worker and client.

A cached job's runs carry ``{"cache": {"key", "ttl", "max"}}`` in their stored options. The key is the job's name,
a canonical encoding of its arguments (JSON with sorted keys; the serializer's bytes for values JSON cannot
encode) and the job's ``cache_version``, hashed: never the function's source text, whose hash changes with a
comment or a reformatting and misses changes in what it calls (prefect#23062, prefect#14236). Bump
``cache_version`` when the code changes what it returns.

Entries live in the store's space ``cache:JOB`` (see :mod:`taskgraph.stores.entries`), scored by their last use
(for ``cache_max``, least recently used first out); each holds either a *pending* mark (the job that will fill it)
or a *done* result with its source job and expiry. Hits and misses are counted in the space ``cache-stats``.

* At enqueue, a submission whose key has a pending mark of a job not yet finished gets that job's handle: equal
  submissions made while the first is waiting or running share it. Two made at the very same moment may both run
  (each writes its mark by compare-and-set; the second's is refused, and its job runs anyway).
* On a worker, before a run: a done entry within its TTL is a hit: the job is DONE with that result without its
  function running, and its history gets a ``cached`` event naming the source job. Otherwise the function runs,
  and a success stores its result. A failure is never stored (and clears the job's pending mark).
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..stores.base import Store

if TYPE_CHECKING:
    from .queue import DurableQueue
    from .runners import JobRun

__all__ = ["CachePolicy", "check_cache", "cache_key", "space_of", "STATS", "PREFIX", "read_entry", "prepare_cached"]

log = logging.getLogger("taskgraph.worker")

PREFIX = "cache:"
STATS = "cache-stats"
_FINAL = ("DONE", "FAILED", "CANCELLED")


@dataclass(frozen=True)
class CachePolicy:
    """How a job's results are cached: ``ttl`` seconds (None: until invalidated or evicted), ``version`` (part of
    the key), ``max`` entries kept for the job (None: no bound)."""

    ttl: float | None
    version: str = ""
    max: int | None = None


def check_cache(job: str | None, cache: Any, version: Any = None, most: Any = None) -> CachePolicy | None:
    """The policy of ``cache=`` (True, False/None, or seconds > 0), ``cache_version=`` and ``cache_max=``.

    Raises:
        ValueError: a value of the wrong type or out of range; the message names the option and the job.
    """
    where = f" (job {job})" if job else ""
    if most is not None and (not isinstance(most, int) or isinstance(most, bool) or most < 1):
        raise ValueError(f"cache_max must be a whole number >= 1, or None for no bound, not {most!r}{where}")
    if version is not None and (isinstance(version, bool) or not isinstance(version, (str, int))):
        raise ValueError(f"cache_version must be a string or a whole number, not {version!r}{where}")
    if cache is None or cache is False:
        return None
    if cache is True:
        return CachePolicy(None, "" if version is None else str(version), most)
    if isinstance(cache, bool) or not isinstance(cache, (int, float)) or not math.isfinite(cache) or cache <= 0:
        raise ValueError(f"cache must be True, False or a finite number of seconds > 0, not {cache!r}{where}")
    return CachePolicy(float(cache), "" if version is None else str(version), most)


def space_of(name: str) -> str:
    return PREFIX + name


def cache_key(queue: DurableQueue, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], version: str) -> str:
    """The key of a call (see the module docstring)."""
    try:
        text = json.dumps([list(args), kwargs], sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError):  # values JSON cannot hold (a pickle queue): the serializer's bytes
        text = queue.serializer.encode_call(name, args, dict(sorted(kwargs.items())))
    digest = hashlib.blake2b(digest_size=16)
    for part in (name.encode(), text, version.encode()):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def read_entry(value: bytes) -> dict[str, Any] | None:
    try:
        found = json.loads(value)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def shared(queue: DurableQueue, store: Store, name: str, key: str) -> tuple[str | None, int]:
    """At enqueue: the id of an unfinished job already filling ``key`` (or None), and the entry's version (0 for
    none, -1 when it holds a fresh result, which the worker will use)."""
    entry = store.entry_get(space_of(name), key)
    value = read_entry(entry.value) if entry is not None else None
    if entry is None or value is None:
        return None, entry.version if entry is not None else 0
    if value.get("state") == "done" and (value.get("expires") is None or value["expires"] > time.time()):
        return None, -1
    job = value.get("job")
    if value.get("state") == "pending" and isinstance(job, str):
        found = store.get([job])
        if found and found[0].status not in _FINAL:
            return job, entry.version
    return None, entry.version


def mark(store: Store, name: str, key: str, job_id: str, version: int) -> None:
    """Write the pending mark of ``job_id`` on ``key``, if the entry is still at ``version``."""
    if version >= 0:
        value = json.dumps({"state": "pending", "job": job_id}).encode()
        store.entry_put(space_of(name), key, value, time.time(), version=version)


def prepare_cached(queue: DurableQueue, run: JobRun) -> None:
    """Before a cached job runs on a worker: make ``run`` return a fresh stored result (a hit), or store what it
    returns once it succeeds (a miss). Store errors are logged: the job then runs uncached."""
    info = run.record.options.get("cache")
    if not isinstance(info, dict) or not isinstance(info.get("key"), str) or run.func is None:
        return
    name, key, store = run.record.name, info["key"], queue.store
    try:
        entry = store.entry_get(space_of(name), key)
        value = read_entry(entry.value) if entry is not None else None
        now = time.time()
        if (value is not None and value.get("state") == "done" and value.get("serializer") == queue.serializer.name
                and (value.get("expires") is None or value["expires"] > now)):
            result = queue.serializer.loads(base64.b64decode(value["result"]))
            store.note(run.id, "cached", f"result of job {value.get('job')}")
            store.entry_touch(space_of(name), key, now)
            store.entry_add(STATS, f"{name}|hits", 1)
            run.func, run.args, run.kwargs = _returning(run.func, result), (), {}
            return
        store.entry_add(STATS, f"{name}|misses", 1)
    except Exception as exc:
        log.warning("job %s (%s): the result cache cannot be read (%s: %s); running it", run.id, name,
                    type(exc).__name__, exc)
        return
    run.func = _storing(queue, run.func, name, run.id, key, info)


def _returning(func: Callable[..., Any], result: Any) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(func):
        async def hit_async() -> Any:
            return result

        return hit_async
    return lambda: result


def _storing(queue: DurableQueue, func: Callable[..., Any], name: str, job_id: str, key: str,
             info: dict[str, Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(func):
        async def miss_async(*args: Any, **kwargs: Any) -> Any:
            try:
                value = await func(*args, **kwargs)
            except BaseException:
                _forget(queue, name, key, job_id)
                raise
            _save(queue, name, key, job_id, info, value)
            return value

        return miss_async

    def miss(*args: Any, **kwargs: Any) -> Any:
        try:
            value = func(*args, **kwargs)
        except BaseException:
            _forget(queue, name, key, job_id)
            raise
        _save(queue, name, key, job_id, info, value)
        return value

    return miss


def _save(queue: DurableQueue, name: str, key: str, job_id: str, info: dict[str, Any], value: Any) -> None:
    try:
        data = queue.serializer.encode_result(name, value)
        now = time.time()
        ttl = info.get("ttl")
        entry = {"state": "done", "job": job_id, "at": now, "expires": None if ttl is None else now + float(ttl),
                 "serializer": queue.serializer.name, "result": base64.b64encode(data).decode()}
        store = queue.store
        store.entry_put(space_of(name), key, json.dumps(entry).encode(), now)
        if isinstance(info.get("max"), int):
            store.entry_trim(space_of(name), info["max"])
    except Exception as exc:  # the job succeeded; only its caching failed (its result is reported as usual)
        log.warning("job %s (%s): its result was not cached: %s: %s", job_id, name, type(exc).__name__, exc)


def _forget(queue: DurableQueue, name: str, key: str, job_id: str) -> None:
    """A failed run: drop its pending mark, so that the next submission runs again."""
    try:
        store = queue.store
        entry = store.entry_get(space_of(name), key)
        value = read_entry(entry.value) if entry is not None else None
        if value is not None and value.get("state") == "pending" and value.get("job") == job_id:
            store.entry_delete(space_of(name), [key])
    except Exception as exc:
        log.debug("job %s (%s): its cache mark was not cleared: %s", job_id, name, exc)
