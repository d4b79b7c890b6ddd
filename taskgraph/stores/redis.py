"""The Redis store: jobs in one Redis server, shared by any number of processes and machines.

Every change is one Lua script (:mod:`~taskgraph.stores._redis_lua`), run atomically by the server: no other
client ever sees half of it. Times come from the server's clock (``TIME`` inside the scripts), never a client's.

Keys, all under the prefix of the URL's ``?prefix=NAME`` option (default ``taskgraph``):

* ``P:job:ID``: a hash, the job's record (text fields UTF-8, payload and result as they are).
* ``P:ready:QUEUE``: the QUEUED jobs of a queue that may run now: a sorted set whose members all have score 0 and
  sort by their bytes: ``priority key (20 digits) + not_before in µs (16) + enqueue sequence (16) + ID``, so the
  first member is the next job in the contract's order (higher priority, then earlier ``not_before``, then
  enqueue order). The member is kept in the job hash (``rk``) so a cancel can remove it.
* ``P:delayed``: QUEUED jobs whose ``not_before`` is still to come, scored by it; a claim moves those due to
  their ready set.
* ``P:running``: RUNNING jobs scored by their lease expiry; a claim takes back those expired.
* ``P:finished``: final jobs scored by when they finished, for :meth:`RedisStore.purge`.
* ``P:all``: every job scored by its enqueue sequence (``P:seq``), for :meth:`RedisStore.list_jobs`.
* ``P:events:ID`` (a list of JSON arrays), ``P:edges:ID`` (the set of its dependents), ``P:after:ID`` (the set
  of its prerequisites), ``P:keys`` (a hash, key -> id), ``P:counts`` (a hash, ``STATUS:queue`` -> how many).
* ``P:wake:QUEUE``: a short list idle workers block on (``BLPOP``); anything that makes a job of the queue QUEUED
  pushes to it (at most 16 entries are kept).
* ``P:changes``: a stream with an entry for every script that changed a status (trimmed to about 10,000);
  waiting clients block on it (``XREAD``) from the last entry they saw, so no change between two waits is missed.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import SplitResult

from ..urls import redact, secrets, written
from . import _redis_lua as lua  # the scripts live there
from .base import Store, StoreError
from .common import by_start, fail_detail, lost, read_worker, reason, refused, unique, unreachable, worker_entry
from .entries_redis import RedisEntries
from .records import (
    FIELDS,
    MAX_LEASE_LOSSES,
    Event,
    JobRecord,
    NewJob,
    metadata_matches,
    options_texts,
)
from .redis_jobs import OneEnqueue, ScriptJobs, unfinished_ids
from .redis_records import _field, _number, _record
from .redis_url import DEFAULT_PREFIX, parse
from .views_redis import RedisViews

__all__ = ["RedisStore", "open_redis", "DEFAULT_PREFIX"]

_PURGE_BATCH = 500
_LIST_CHUNK = 200


class RedisStore(RedisEntries, RedisViews, Store):
    """A store in a Redis server (6.2 or newer).

    Args:
        url: ``redis://[user:password@]host[:port][/db]`` or ``rediss://...`` for TLS, with options
            ``prefix`` (every key starts with ``PREFIX:``; default ``taskgraph``), ``socket_connect_timeout``
            (seconds, default 10), ``socket_timeout`` (seconds, default 30) and, for TLS, ``ssl_cert_reqs``
            (``none``, ``optional``, ``required``), ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``.
        prefix: the key prefix, overriding the URL's.

    Raises:
        StoreError: the URL is malformed, or the server does not answer or refuses the credentials.
    """

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str | None = None) -> None:
        try:
            import redis
            from redis.backoff import ExponentialBackoff
            from redis.retry import Retry
        except ImportError as exc:  # pragma: no cover - the extra is missing
            raise StoreError(f"{redact(url)}: the Redis store needs redis-py: pip install 'redis>=5'") from exc
        self._redis = redis
        self.url, self._secrets = redact(url), secrets(url)
        settings = parse(url, prefix)
        self._password = password = settings.pop("password")
        self.prefix = settings.pop("prefix")
        # blocking reads (BLPOP, XREAD) wait at most this long per command, well inside the socket timeout
        self._block_cap = max(0.05, min(10.0, settings["socket_timeout"] / 3))
        # retry only a connection that broke; a timed-out script may have run, and must not run twice
        retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), 2, supported_errors=(redis.ConnectionError,))
        # first a probe whose every wait (TCP, TLS handshake, AUTH, the answer) is the connect timeout
        probe = redis.Redis(
            password=password, retry=retry, **{**settings, "socket_timeout": settings["socket_connect_timeout"]}
        )
        try:
            probe.ping()
            try:
                version = re.match(r"(\d+)\.(\d+)", str(probe.info("server").get("redis_version")))
            except redis.ResponseError:  # INFO disabled (some managed services)
                version = None
        except Exception as exc:
            raise self._connect_error(exc) from None
        finally:
            probe.close()
        if version is not None and (int(version[1]), int(version[2])) < (6, 2):
            raise StoreError(
                f"{self.url}: the server runs Redis {version[0]}; the Redis store needs 6.2 or newer: upgrade the "
                "server"
            )
        self._client: Any = redis.Redis(password=password, decode_responses=False, retry=retry, **settings)
        register = self._client.register_script
        (self._enqueue, self._claim, self._heartbeat, self._complete, self._fail, self._release, self._cancel,
         self._retry, self._progress, self._purge, self._delete, self._scheduled, self._workers) = (
            register(lua._PRELUDE + script) for script in (
                lua._ENQUEUE, lua._CLAIM, lua._HEARTBEAT, lua._COMPLETE, lua._FAIL, lua._RELEASE, lua._CANCEL,
                lua._RETRY, lua._PROGRESS, lua._PURGE, lua._DELETE, lua._SCHEDULED, lua._WORKERS))
        self._one = OneEnqueue(self._client, self.prefix, lua._ENQUEUE_ONE)
        with self._errors():
            newest: Any = self._client.xrevrange(self._k("changes"), count=1)
        self._last_change: bytes = newest[0][0] if newest else b"0-0"
        self._reported = 0.0  # wait_for_work has reported due delayed jobs and leases up to this server time
        self._closed = False

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _connect_error(self, exc: BaseException) -> StoreError:
        redis = self._redis
        why = reason(exc, self._secrets)
        if "DB index is out of range" in why:
            return StoreError(f"{self.url}: the server has no database of that number ({why}); name one it has (/0)")
        if isinstance(exc, redis.AuthenticationError) or any(
            word in why for word in ("WRONGPASS", "NOAUTH", "NOPERM", "Authentication required", "authenticated")
        ):
            if self._password is None:
                return StoreError(
                    f"{self.url}: the Redis server wants credentials ({why}); put them in the URL: "
                    "redis://:password@host:port/db, or redis://user:password@host:port/db"
                )
            return refused(self.url, "Redis", why, " (redis://user:password@host:port/db)")
        if "SSL" in why or "TLS" in why:
            return StoreError(
                f"{self.url}: the TLS connection failed ({why}); give the server's CA certificate with "
                "?ssl_ca_certs=/path/to/ca.pem (or ?ssl_cert_reqs=none to skip verification), and check that the "
                "server speaks TLS on that port"
            )
        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, OSError)):
            return unreachable(self.url, "Redis", why, "the host, port and scheme (redis:// or rediss:// for TLS)")
        return StoreError(
            f"{self.url}: the server did not answer as Redis does ({why}); check that the host and port are "
            "those of a Redis server, and the scheme (redis:// or rediss:// for TLS)"
        )

    @contextmanager
    def _errors(self) -> Iterator[None]:
        redis = self._redis
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise lost(self.url, "Redis", reason(exc, self._secrets)) from None
        except redis.ResponseError as exc:
            raise StoreError(f"{self.url}: the Redis server refused a command ({reason(exc, self._secrets)})") from None

    def enqueue(self, jobs: Sequence[NewJob]) -> list[JobRecord]:
        return [_record(r) for r in self._enqueued(jobs, False)]

    def enqueue_ids(self, jobs: Sequence[NewJob]) -> list[str]:
        if len(jobs) == 1 and self._one.fits(jobs[0]):  # delay(): the lean script
            with self._errors():
                return [self._one(jobs[0])]
        return [i.decode() for i in self._enqueued(jobs, True)]

    def _enqueued(self, jobs: Sequence[NewJob], ids: bool) -> list[Any]:
        """The script's answer to enqueueing ``jobs``: the rows of their records, or (``ids``) their ids."""
        if not jobs:
            return []
        text, named = options_texts(), ScriptJobs()
        meta = [named.fields(job, text(job), self.url) for job in jobs]  # each job but its payload, for the script
        call = json.dumps({"jobs": meta, "ids": ids}, ensure_ascii=False)
        with self._errors():
            ok, rows = self._enqueue(args=[self.prefix, call, *(job.payload for job in jobs)])
        if not ok:
            raise StoreError(f"prerequisite job {rows.decode()!r} is not in the store")
        return list(rows)

    def claim(self, worker: str, queues: Sequence[str], limit: int, lease: float) -> list[JobRecord]:
        queues = unique(queues)
        if not queues:
            return []
        with self._errors():
            rows = self._claim(
                args=[self.prefix, worker, repr(float(lease)), int(limit), MAX_LEASE_LOSSES, len(queues), *queues]
            )
        return [_record(r) for r in rows]

    def _ids(self, script: Any, args: list[Any], ids: Collection[Any]) -> list[str]:
        """The ids ``script`` answers when run on ``args`` and ``ids`` (none for none)."""
        if not ids:
            return []
        with self._errors():
            return [i.decode() for i in script(args=[*args, *ids])]

    def heartbeat(self, worker: str, ids: Collection[str], lease: float) -> set[str]:
        return set(self._ids(self._heartbeat, [self.prefix, worker, repr(float(lease))], ids))

    def complete(self, worker: str, results: Sequence[tuple[str, bytes]]) -> list[str]:
        return self._ids(self._complete, [self.prefix, worker], [part for pair in results for part in pair])

    def fail(self, worker: str, job_id: str, error: dict[str, str], retry_in: float | None) -> bool:
        args = [self.prefix, worker, job_id, json.dumps(error), "" if retry_in is None else repr(float(retry_in))]
        with self._errors():
            return bool(self._fail(args=[*args, fail_detail(error, retry_in)]))

    def release(self, worker: str, ids: Collection[str]) -> list[str]:
        return self._ids(self._release, [self.prefix, worker], ids)

    def cancel(self, ids: Collection[str]) -> list[str]:
        return self._ids(self._cancel, [self.prefix], ids)

    def retry(self, ids: Collection[str], force: bool = False) -> list[str]:
        return self._ids(self._retry, [self.prefix, "1" if force else "0"], unique(ids))

    def delete(self, ids: Collection[str]) -> list[str]:
        return self._ids(self._delete, [self.prefix], unique(ids))

    def match_ids(self, prefix: str, limit: int) -> list[str]:
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*"
        with self._errors():
            found = {m.decode(errors="replace") for m, _ in self._client.zscan_iter(self._k("all"), match=pattern,
                                                                                  count=1000)}
        return sorted(found)[: max(int(limit), 0)]

    def scheduled(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._errors():
            for queue in self._scheduled(args=[self.prefix]):
                name = queue.decode(errors="replace") if isinstance(queue, bytes) else repr(queue)
                counts[name] = counts.get(name, 0) + 1
        return counts

    def register_worker(self, info: dict[str, Any], ttl: float) -> None:
        with self._errors():
            whole, micros = self._client.time()
            worker_id, text, expires = worker_entry(info, ttl, whole + micros / 1e6)
            self._workers(args=[self.prefix, "put", worker_id, text, repr(expires)])

    def deregister_worker(self, worker_id: str) -> bool:
        with self._errors():
            return bool(self._workers(args=[self.prefix, "drop", worker_id]))

    def list_workers(self) -> list[dict[str, Any]]:
        with self._errors():
            rows = self._workers(args=[self.prefix, "list"])
        return by_start(info for info in map(read_worker, rows) if info is not None)

    def set_progress(self, worker: str, job_id: str, value: float, message: str | None) -> bool:
        args = [self.prefix, worker, job_id, repr(float(value)), "0" if message is None else "1", message or ""]
        with self._errors():
            return bool(self._progress(args=args))

    def purge(self, older_than: float) -> int:
        total = 0
        with self._errors():
            while True:
                deleted = int(self._purge(args=[self.prefix, repr(float(older_than)), _PURGE_BATCH]))
                total += deleted
                if deleted < _PURGE_BATCH:
                    return total

    def _rows(self, ids: Sequence[str | bytes], fields: Sequence[str]) -> list[Any]:
        """The ``fields`` of the job hashes of ``ids`` that exist, in one round trip."""
        pipe = self._client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hmget(self._k("job", job_id.decode() if isinstance(job_id, bytes) else job_id), fields)
        return [row for row in pipe.execute() if row[0] is not None]

    def get(self, ids: Sequence[str]) -> list[JobRecord]:
        with self._errors():
            return [_record(r) for r in self._rows(ids, FIELDS)] if ids else []

    def status_of(self, ids: Sequence[str]) -> dict[str, tuple[str, Any]]:
        fields = ("id", "status", "not_before")
        with self._errors():  # one job (a handle's status): one HMGET, no pipeline
            rows = [self._client.hmget(self._k("job", ids[0]), fields)] if len(ids) == 1 else self._rows(ids, fields)
        return {_field(0, i): (_field(2, status), _field(13, nb)) for i, status, nb in rows if i is not None}

    def list_jobs(
        self, status: str | None = None, name: str | None = None, queue: str | None = None, limit: int = 100,
        metadata: dict[str, Any] | None = None, offset: int = 0, older_than: float | None = None,
        newer_than: float | None = None,
    ) -> list[JobRecord]:
        offset, limit = max(int(offset), 0), int(limit)
        if limit < 0:  # everything (what the tests of this store read)
            limit = 2**62
        with self._errors():
            aged = older_than is not None or newer_than is not None
            whole, micros = self._client.time() if aged else (0, 0)
        now = whole + micros / 1e6
        before = now - older_than if older_than is not None else None
        after = now - newer_than if newer_than is not None else None

        def wanted(record: JobRecord) -> bool:
            return all(value is None or getattr(record, field) == value
                       for field, value in (("status", status), ("name", name), ("queue", queue))
                       ) and metadata_matches(record, metadata) and (
                before is None or _number(record.created) < before) and (
                after is None or _number(record.created) > after)

        found: list[JobRecord] = []
        end = offset + limit
        with self._errors():
            if status in ("RUNNING", "QUEUED"):  # from their sets: not the finished jobs, however many
                rows = self._rows(unfinished_ids(self._client, self.prefix, status), [*lua._LIGHT_FIELDS, "seq"])
                found = [r for r in map(_record, sorted(rows, key=lambda r: -int(r[-1] or 0))) if wanted(r)]
                return found[offset:end]
            if status or name or queue or metadata or aged:  # walked in the server (views_redis)
                return self._list(status, name, queue, limit, metadata, offset, before, after)
            chunk = limit if 0 < limit <= _LIST_CHUNK else _LIST_CHUNK
            start, skip = offset, 0  # unfiltered: the page starts at the offset
            while len(found) < skip + limit:
                ids = self._client.zrevrange(self._k("all"), start, start + chunk - 1)
                if not ids:
                    break
                start += len(ids)
                found += [r for r in map(_record, self._rows(ids, lua._LIGHT_FIELDS)) if wanted(r)]
        return found[skip : skip + limit]

    def stats(self) -> dict[str, dict[str, int]]:
        with self._errors():
            raw = self._client.hgetall(self._k("counts"))
        counts: dict[str, dict[str, int]] = {}
        for field, value in raw.items():
            status, _, queue = field.decode().partition(":")
            if int(value) > 0:
                counts.setdefault(queue, {})[status] = int(value)
        return counts

    def any_unfinished(self, queues: Sequence[str]) -> bool:
        fields = [f"{s}:{q}" for q in unique(queues) for s in ("PENDING", "QUEUED", "RUNNING")]
        with self._errors():
            return bool(fields) and any(int(n or 0) > 0 for n in self._client.hmget(self._k("counts"), fields))

    def history(self, job_id: str) -> list[Event]:
        with self._errors():
            rows = self._client.lrange(self._k("events", job_id), 0, -1)
        events = []
        for row in rows:
            at, event, source, dest, worker, detail = json.loads(row)
            events.append(Event(float(at), event, source, dest, worker, detail))
        return events

    def _until(self, deadline: float, answered: Callable[[float], Any]) -> None:
        """Call ``answered(seconds)``, a blocking read of at most that long (``_block_cap`` at most), until it
        answers something or the ``deadline`` (monotonic) passes."""
        while (left := deadline - time.monotonic()) > 0:
            if answered(min(left, self._block_cap)):
                return

    def wait(self, timeout: float) -> None:
        key = self._k("changes")
        with self._errors():
            self._until(time.monotonic() + timeout, lambda block: self._client.xread(
                {key: self._last_change}, count=1, block=max(1, int(block * 1000))
            ))
            newest = self._client.xrevrange(key, count=1)
        if newest:
            self._last_change = newest[0][0]

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        queues = unique(queues)
        if timeout <= 0:
            return
        deadline = time.monotonic() + timeout
        with self._errors():
            # A delayed job coming due or a lease running out pushes no wake-up: wait no longer than until the
            # next of them, and return at once for one that is due and not yet reported by this object (only
            # once: a caller that does not claim at once must not spin on it).
            after = f"({self._reported!r}"
            pipe = self._client.pipeline(transaction=False)
            pipe.time()
            pipe.zrangebyscore(self._k("delayed"), after, "+inf", start=0, num=1, withscores=True)
            pipe.zrangebyscore(self._k("running"), after, "+inf", start=0, num=1, withscores=True)
            (whole, micros), delayed, running = pipe.execute()
            now = whole + micros / 1e6
            due = [score for _, score in delayed + running]
            if due:
                if min(due) <= now:
                    self._reported = now
                    return
                deadline = min(deadline, time.monotonic() + min(due) - now + 0.002)
            keys = [self._k("wake", q) for q in queues]
            if keys:
                self._until(deadline, lambda block: self._client.blpop(keys, timeout=max(0.01, block)))
            else:
                time.sleep(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        if not getattr(self, "_closed", True):
            self._closed = True
            self._one.close()
            self._client.close()



def open_redis(url: SplitResult) -> RedisStore:
    """``redis://[user:password@]host[:port][/db][?prefix=NAME]``, or ``rediss://...`` for TLS."""
    return RedisStore(written(url))
