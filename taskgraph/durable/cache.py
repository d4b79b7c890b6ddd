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
  and a success stores its result. A failure is never stored (and clears the job's pending mark). A ``process``
  job's lookup and store happen here too, in the worker, around its worker process: a hit starts no process.
* A direct call of the job (``quote("ACME", "d")``, as a local graph's task makes it) looks up and fills the same
  entries, here: no pending mark, no history; its entries name the call's ``host:pid`` (``local``) instead of a job.
  Equal direct calls at once (threads) may each run; the last to end stores its result.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
import logging
import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..stores.base import Store, StoreError

if TYPE_CHECKING:
    from .jobs import JobFunction
    from .queue import DurableQueue
    from .runners import JobRun

__all__ = ["CachePolicy", "check_cache", "cache_key", "space_of", "STATS", "PREFIX", "read_entry", "prepare_cached",
           "call_cached", "origin", "stored_option"]

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


def stored_option(queue: DurableQueue, job: JobFunction, args: tuple[Any, ...], kwargs: dict[str, Any]
                  ) -> dict[str, Any]:
    """The ``cache`` option stored with a run of ``job`` (declared with ``cache=``) that is not enqueued by
    ``delay`` (a graph's task): the worker looks its result up and stores it, without any pending mark."""
    assert job.cache is not None
    key = cache_key(queue, job.name, args, kwargs, job.cache.version)
    return {"key": key, "ttl": job.cache.ttl, "max": job.cache.max}


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
    returns once it succeeds (a miss). A hit of a ``process`` job is returned by a thread, with no worker process
    started; a miss of one is stored by ``run.after``, which its runner calls in the worker's thread once its worker
    process has reported the end. Store errors are logged: the job then runs uncached."""
    info = run.record.options.get("cache")
    if not isinstance(info, dict) or not isinstance(info.get("key"), str):
        return
    name, key, store = run.record.name, info["key"], queue.store
    try:
        hit, result, source = _lookup(queue, name, key)
        if hit:
            store.note(run.id, "cached", f"result of {source}")
    except Exception as exc:
        log.warning("job %s (%s): the result cache cannot be read (%s: %s); running it", run.id, name,
                    type(exc).__name__, exc)
        return
    if hit:
        if run.func is None:  # a process job: nothing to run in a process
            run.options = replace(run.options, mode="thread")
        run.func, run.args, run.kwargs = _returning(run.func, result), (), {}
    elif run.func is None:
        def after(ok: bool, data: Any) -> None:
            if ok:
                _save(queue, name, key, run.id, info, data, encoded=True)
            else:
                _forget(queue, name, key, run.id)

        run.after = after
    else:
        run.func = _storing(queue, run.func, name, run.id, key, info)


def call_cached(job: JobFunction, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A direct call of a cached job, ``job(*args, **kwargs)`` (a local graph's task makes one): the stored result
    of an equal call, whoever made it, while fresh; otherwise the function's result, stored if it succeeds. What
    it returns for an ``async`` job is a coroutine. Store errors are logged: the function then runs uncached.

    Raises:
        TypeError: the arguments do not fit the function's signature.
    """
    policy, name = job.cache, job.name
    assert policy is not None
    args = job.bind(args, kwargs)
    try:
        key = cache_key(job.queue, name, args, kwargs, policy.version)
        hit, result, _ = _lookup(job.queue, name, key)
    except Exception as exc:
        log.warning("a direct call of %s: the result cache cannot be read (%s: %s); running it", name,
                    type(exc).__name__, exc)
        if isinstance(exc, StoreError):
            job.queue.reconnect()  # a broken connection is not kept for the next call
        return job.func(*args, **kwargs)
    if hit:
        return _returning(job.func, result)()
    return _storing(job.queue, job.func, name, None, key, {"ttl": policy.ttl, "max": policy.max})(*args, **kwargs)


def _lookup(queue: DurableQueue, name: str, key: str) -> tuple[bool, Any, str]:
    """``(True, result, where it came from)`` for a fresh result of ``key``, which is touched (for LRU) and
    counted as a hit; otherwise ``(False, None, "")``, counted as a miss."""
    store = queue.store
    entry = store.entry_get(space_of(name), key)
    value = read_entry(entry.value) if entry is not None else None
    now = time.time()
    if (value is not None and value.get("state") == "done" and value.get("serializer") == queue.serializer.name
            and (value.get("expires") is None or value["expires"] > now)):
        result = queue.serializer.loads(base64.b64decode(value["result"]))
        store.entry_touch(space_of(name), key, now)
        store.entry_add(STATS, f"{name}|hits", 1)
        return True, result, origin(value.get("job"), value.get("local"))
    store.entry_add(STATS, f"{name}|misses", 1)
    return False, None, ""


def origin(job: Any, local: Any) -> str:
    """Where a result came from, for people: ``job ID``, or ``a local call on HOST:PID``."""
    return f"job {job}" if job is not None else f"a local call on {local}" if local is not None else "-"


def _returning(func: Callable[..., Any] | None, result: Any) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(func):
        async def hit_async() -> Any:
            return result

        return hit_async
    return lambda: result


def _storing(queue: DurableQueue, func: Callable[..., Any], name: str, job_id: str | None, key: str,
             info: dict[str, Any]) -> Callable[..., Any]:
    """``func``, storing what it returns under ``key``; ``job_id`` None for a direct call."""
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


def _save(queue: DurableQueue, name: str, key: str, job_id: str | None, info: dict[str, Any], value: Any,
          encoded: bool = False) -> None:
    """Store ``value`` (already the serializer's bytes if ``encoded``) as the result of ``key``, made by the job
    ``job_id``, or by a direct call here if None."""
    try:
        data = value if encoded else queue.serializer.encode_result(name, value)
        now = time.time()
        ttl = info.get("ttl")
        entry = {"state": "done", "job": job_id, "at": now, "expires": None if ttl is None else now + float(ttl),
                 "serializer": queue.serializer.name, "result": base64.b64encode(data).decode()}
        if job_id is None:
            entry["local"] = f"{socket.gethostname()}:{os.getpid()}"
        store = queue.store
        store.entry_put(space_of(name), key, json.dumps(entry).encode(), now)
        if isinstance(info.get("max"), int):
            store.entry_trim(space_of(name), info["max"])
    except Exception as exc:  # the job succeeded; only its caching failed (its result is reported as usual)
        what = f"job {job_id} ({name})" if job_id is not None else f"a direct call of {name}"
        log.warning("%s: its result was not cached: %s: %s", what, type(exc).__name__, exc)


def _forget(queue: DurableQueue, name: str, key: str, job_id: str | None) -> None:
    """A failed run: drop its pending mark, so that the next submission runs again (a direct call has none)."""
    if job_id is None:
        return
    try:
        store = queue.store
        entry = store.entry_get(space_of(name), key)
        value = read_entry(entry.value) if entry is not None else None
        if value is not None and value.get("state") == "pending" and value.get("job") == job_id:
            store.entry_delete(space_of(name), [key])
    except Exception as exc:
        log.debug("job %s (%s): its cache mark was not cleared: %s", job_id, name, exc)
