"""The Redis store: jobs in one Redis server, shared by any number of processes and machines.

Every change that touches more than one key is one Lua script, run atomically by the server, so no other client
ever sees half of it; a claim moves a job from its queue's ready set to the running set, marks it RUNNING under
its worker's lease and records the ``dispatch`` event in one step, so a claimed job is never only in a worker's
memory. Times (leases, ``not_before``, timestamps) come from the server's clock (``TIME`` inside the scripts),
never from a client's.

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
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from ..queues.registry import redact
from ._redis_lua import (  # the scripts live there
    _CANCEL,
    _CLAIM,
    _COMPLETE,
    _ENQUEUE,
    _FAIL,
    _FIELDS,
    _HEARTBEAT,
    _LIGHT_FIELDS,
    _PRELUDE,
    _PROGRESS,
    _PURGE,
    _RELEASE,
    _RETRY,
)
from .base import Store, StoreError, StoreUnavailable
from .records import MAX_LEASE_LOSSES, Event, JobRecord, NewJob, read_error, read_options

__all__ = ["RedisStore", "open_redis"]

DEFAULT_PREFIX = "taskgraph"
_PREFIX_RE = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_URL_OPTIONS = {
    "prefix", "socket_connect_timeout", "socket_timeout", "ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile",
    "ssl_keyfile",
}
_URL_SHAPE = "write it like redis://[user:password@]host[:port][/db][?prefix=NAME] (rediss:// for TLS)"
_PURGE_BATCH = 500
_LIST_CHUNK = 200


# ---------------------------------------------------------------------------------------------- decoding


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def _float(value: bytes | None) -> float | None:
    return None if value is None else float(value)


def _record(row: Sequence[Any]) -> JobRecord:
    return JobRecord(
        id=row[0].decode(), name=row[1].decode(), status=row[2].decode(), queue=row[3].decode(), key=_text(row[4]),
        priority=int(row[5]), payload=row[6] or b"", options=read_options(row[0].decode(), row[7]), result=row[8],
        error=read_error(row[0].decode(), row[9]) if row[9] else None, attempts=int(row[10]), lease_losses=int(row[11]),
        waiting=int(row[12]), not_before=float(row[13]), created=float(row[14]), started=_float(row[15]),
        finished=_float(row[16]), worker=_text(row[17]), lease_expires=_float(row[18]), progress=_float(row[19]),
        progress_message=_text(row[20]),
    )


def _priority_key(priority: int) -> str:
    """20 digits that sort the other way round from ``priority`` (higher priority, smaller key)."""
    if not -(1 << 63) <= priority < (1 << 63):
        raise ValueError(f"priority must fit in 64 bits (-2**63 .. 2**63-1), not {priority}")
    return f"{(1 << 63) - 1 - priority:020d}"


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


class RedisStore(Store):
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
        settings = _parse(url)
        password = settings.pop("password")
        self._password = password
        self.url = _hide(url, password)
        self.prefix = prefix if prefix is not None else settings.pop("prefix")
        settings.pop("prefix", None)
        _check_prefix(self.prefix, self.url)
        socket_timeout = settings.get("socket_timeout")
        # blocking reads (BLPOP, XREAD) wait at most this long per command, well inside the socket timeout
        self._block_cap = 10.0 if socket_timeout is None else max(0.05, min(10.0, socket_timeout / 3))
        # retry only a connection that broke; a timed-out script may have run, and must not run twice
        retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), 2, supported_errors=(redis.ConnectionError,))
        # first a probe whose every wait (TCP, TLS handshake, AUTH, the answer) is the connect timeout
        probe = redis.Redis(
            password=password, retry=retry, **{**settings, "socket_timeout": settings["socket_connect_timeout"]}
        )
        try:
            probe.ping()
            version = self._server_version(probe)
        except Exception as exc:
            raise self._connect_error(exc) from None
        finally:
            probe.close()
        if version is not None and version < (6, 2):
            raise StoreError(
                f"{self.url}: the server runs Redis {'.'.join(map(str, version))}; the Redis store needs 6.2 or "
                "newer: upgrade the server"
            )
        self._client: Any = redis.Redis(password=password, decode_responses=False, retry=retry, **settings)
        register = self._client.register_script
        self._enqueue = register(_PRELUDE + _ENQUEUE)
        self._claim = register(_PRELUDE + _CLAIM)
        self._heartbeat = register(_PRELUDE + _HEARTBEAT)
        self._complete = register(_PRELUDE + _COMPLETE)
        self._fail = register(_PRELUDE + _FAIL)
        self._release = register(_PRELUDE + _RELEASE)
        self._cancel = register(_PRELUDE + _CANCEL)
        self._retry = register(_PRELUDE + _RETRY)
        self._progress = register(_PRELUDE + _PROGRESS)
        self._purge = register(_PRELUDE + _PURGE)
        with self._errors():
            newest: Any = self._client.xrevrange(self._k("changes"), count=1)
        self._last_change: bytes = newest[0][0] if newest else b"0-0"
        self._reported = 0.0  # wait_for_work has reported due delayed jobs and leases up to this server time
        self._closed = False

    # ------------------------------------------------------------ plumbing

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _server_version(self, client: Any) -> tuple[int, ...] | None:
        try:
            text = client.info("server").get("redis_version")
        except self._redis.ResponseError:  # INFO disabled (some managed services)
            return None
        try:
            return tuple(int(p) for p in str(text).split(".")[:2])
        except ValueError:
            return None

    def _reason(self, exc: BaseException) -> str:
        text = str(exc).strip() or type(exc).__name__
        if self._password and self._password in text:
            text = text.replace(self._password, "***")
        return text

    def _connect_error(self, exc: BaseException) -> StoreError:
        redis = self._redis
        reason = self._reason(exc)
        refused = isinstance(exc, redis.AuthenticationError) or any(
            word in reason for word in ("WRONGPASS", "NOAUTH", "NOPERM", "Authentication required", "authenticated")
        )
        if "DB index is out of range" in reason:
            return StoreError(f"{self.url}: the server has no database of that number ({reason}); name one it has, "
                              "like /0")
        if refused and self._password is None:
            return StoreError(
                f"{self.url}: the Redis server wants credentials ({reason}); put them in the URL: "
                "redis://:password@host:port/db, or redis://user:password@host:port/db"
            )
        if refused:
            return StoreError(
                f"{self.url}: the Redis server refused the credentials ({reason}); check the user name and "
                "password in the URL (redis://user:password@host:port/db)"
            )
        if "SSL" in reason or "TLS" in reason:
            return StoreError(
                f"{self.url}: the TLS connection failed ({reason}); give the server's CA certificate with "
                "?ssl_ca_certs=/path/to/ca.pem (or ?ssl_cert_reqs=none to skip verification), and check that the "
                "server speaks TLS on that port"
            )
        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, OSError)):
            return StoreUnavailable(
                f"{self.url}: cannot reach the Redis server ({reason}); check that it runs and that the host, "
                "port and scheme (redis:// or rediss:// for TLS) in the URL are right"
            )
        return StoreError(
            f"{self.url}: the server did not answer as Redis does ({reason}); check that the host and port are "
            "those of a Redis server, and the scheme (redis:// or rediss:// for TLS)"
        )

    @contextmanager
    def _errors(self) -> Iterator[None]:
        redis = self._redis
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(
                f"{self.url}: lost the Redis server ({self._reason(exc)}); check that it runs and is reachable"
            ) from None
        except redis.ResponseError as exc:
            raise StoreError(f"{self.url}: the Redis server refused a command ({self._reason(exc)})") from None

    # ------------------------------------------------------------ writing

    def enqueue(self, jobs: Sequence[NewJob]) -> list[JobRecord]:
        if not jobs:
            return []
        args: list[Any] = [self.prefix, len(jobs)]
        for job in jobs:
            priority = int(job.priority)
            label = job.key if job.key is not None else job.name
            own = job.key or job.name
            args += [
                job.id, job.name, label, repr(label), own, repr(own), job.queue, str(priority),
                _priority_key(priority), job.payload,
                json.dumps(job.options), "1" if job.key is not None else "0", job.key or "",
                repr(float(job.delay)), "" if job.not_before is None else repr(float(job.not_before)),
                len(job.after), *job.after,
            ]
        with self._errors():
            ok, rows = self._enqueue(args=args)
        if not ok:
            raise StoreError(f"prerequisite job {rows.decode()!r} is not in the store")
        return [_record(r) for r in rows]

    def claim(self, worker: str, queues: Sequence[str], limit: int, lease: float) -> list[JobRecord]:
        queues = _unique(queues)
        if not queues:
            return []
        with self._errors():
            rows = self._claim(
                args=[self.prefix, worker, repr(float(lease)), int(limit), MAX_LEASE_LOSSES, len(queues), *queues]
            )
        return [_record(r) for r in rows]

    def heartbeat(self, worker: str, ids: Collection[str], lease: float) -> set[str]:
        if not ids:
            return set()
        with self._errors():
            held = self._heartbeat(args=[self.prefix, worker, repr(float(lease)), *ids])
        return {i.decode() for i in held}

    def complete(self, worker: str, results: Sequence[tuple[str, bytes]]) -> list[str]:
        if not results:
            return []
        args: list[Any] = [self.prefix, worker]
        for job_id, result in results:
            args += [job_id, result]
        with self._errors():
            accepted = self._complete(args=args)
        return [i.decode() for i in accepted]

    def fail(self, worker: str, job_id: str, error: dict[str, str], retry_in: float | None) -> bool:
        if retry_in is not None:
            detail = f"{error.get('type')}: {error.get('message')}; again in {retry_in:.3g} s"
        else:
            detail = f"{error.get('type')}: {error.get('message')}"
        retry = "" if retry_in is None else repr(float(retry_in))
        with self._errors():
            return bool(self._fail(args=[self.prefix, worker, job_id, json.dumps(error), retry, detail]))

    def release(self, worker: str, ids: Collection[str]) -> list[str]:
        if not ids:
            return []
        with self._errors():
            done = self._release(args=[self.prefix, worker, *ids])
        return [i.decode() for i in done]

    def cancel(self, ids: Collection[str]) -> list[str]:
        if not ids:
            return []
        with self._errors():
            cancelled = self._cancel(args=[self.prefix, *ids])
        return [i.decode() for i in cancelled]

    def retry(self, ids: Collection[str]) -> list[str]:
        if not ids:
            return []
        with self._errors():
            retried = self._retry(args=[self.prefix, *_unique(list(ids))])
        return [i.decode() for i in retried]

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

    # ------------------------------------------------------------ reading

    def get(self, ids: Sequence[str]) -> list[JobRecord]:
        if not ids:
            return []
        with self._errors():
            pipe = self._client.pipeline(transaction=False)
            for job_id in ids:
                pipe.hmget(self._k("job", job_id), _FIELDS)
            rows = pipe.execute()
        return [_record(r) for r in rows if r[0] is not None]

    def list_jobs(
        self, status: str | None = None, name: str | None = None, queue: str | None = None, limit: int = 100
    ) -> list[JobRecord]:
        if limit == 0:
            return []
        if status == "RUNNING":
            return self._list_running(name, queue, limit)
        filtered = status is not None or name is not None or queue is not None
        chunk = limit if limit > 0 and not filtered else _LIST_CHUNK
        found: list[JobRecord] = []
        start = 0
        with self._errors():
            while limit < 0 or len(found) < limit:
                ids = self._client.zrevrange(self._k("all"), start, start + chunk - 1)
                if not ids:
                    break
                start += len(ids)
                pipe = self._client.pipeline(transaction=False)
                for job_id in ids:
                    pipe.hmget(self._k("job", job_id.decode()), _LIGHT_FIELDS)
                for row in pipe.execute():
                    if row[0] is None:
                        continue
                    record = _record(row)
                    if (
                        (status is None or record.status == status)
                        and (name is None or record.name == name)
                        and (queue is None or record.queue == queue)
                    ):
                        found.append(record)
                        if len(found) == limit:
                            break
        return found

    def _list_running(self, name: str | None, queue: str | None, limit: int) -> list[JobRecord]:
        """RUNNING jobs from the running set (a few, however many jobs the store holds), newest first."""
        with self._errors():
            ids = self._client.zrange(self._k("running"), 0, -1)
            pipe = self._client.pipeline(transaction=False)
            for job_id in ids:
                pipe.hmget(self._k("job", job_id.decode()), *_LIGHT_FIELDS, "seq")
            rows = pipe.execute()
        found = []
        for row in rows:
            if row[0] is None:
                continue
            record = _record(row)
            if record.status == "RUNNING" and (name is None or record.name == name) and (
                queue is None or record.queue == queue
            ):
                found.append((int(row[-1] or 0), record))
        found.sort(key=lambda pair: pair[0], reverse=True)
        return [record for _, record in (found if limit < 0 else found[:limit])]

    def stats(self) -> dict[str, dict[str, int]]:
        with self._errors():
            raw = self._client.hgetall(self._k("counts"))
        counts: dict[str, dict[str, int]] = {}
        for field, value in raw.items():
            status, _, queue = field.decode().partition(":")
            if int(value) > 0:
                counts.setdefault(queue, {})[status] = int(value)
        return counts

    def history(self, job_id: str) -> list[Event]:
        with self._errors():
            rows = self._client.lrange(self._k("events", job_id), 0, -1)
        events = []
        for row in rows:
            at, event, source, dest, worker, detail = json.loads(row)
            events.append(Event(float(at), event, source, dest, worker, detail))
        return events

    # ------------------------------------------------------------ waiting

    def wait(self, timeout: float) -> None:
        key = self._k("changes")
        deadline = time.monotonic() + timeout
        with self._errors():
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                block = max(1, int(min(left, self._block_cap) * 1000))
                if self._client.xread({key: self._last_change}, count=1, block=block):
                    break
            newest = self._client.xrevrange(key, count=1)
        if newest:
            self._last_change = newest[0][0]

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        queues = _unique(queues)
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
            (seconds, micros), delayed, running = pipe.execute()
            now = seconds + micros / 1e6
            due = [score for _, score in delayed + running]
            if due:
                if min(due) <= now:
                    self._reported = now
                    return
                deadline = min(deadline, time.monotonic() + min(due) - now + 0.002)
            keys = [self._k("wake", q) for q in queues]
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                block = max(0.01, min(left, self._block_cap))
                if not keys:
                    time.sleep(block)
                elif self._client.blpop(keys, timeout=block):
                    return

    def close(self) -> None:
        if not getattr(self, "_closed", True):
            self._closed = True
            self._client.close()


# ---------------------------------------------------------------------------------------------- URLs


def _hide(url: str, password: str | None) -> str:
    text = redact(url)
    if password and password in text:
        text = text.replace(password, "***")
    return text


def _check_prefix(prefix: str, shown: str) -> None:
    if not prefix:
        raise StoreError(f"{shown}: the prefix is empty; give one like ?prefix=myapp, or leave the option out")
    if not _PREFIX_RE.fullmatch(prefix):
        raise StoreError(
            f"{shown}: the prefix {prefix!r} is not valid; use 1 to 100 letters, digits, '_', '-' or '.' "
            "(no ':' and no wildcards), like ?prefix=myapp"
        )


def _parse(url: str) -> dict[str, Any]:
    """The redis.Redis keyword arguments a URL names, with ``prefix`` and ``password`` among them."""
    try:
        parts = urlsplit(url.strip())
        password = unquote(parts.password) if parts.password is not None else None
    except ValueError:
        parts, password = None, None
    shown = _hide(url, password)
    if parts is None:
        raise StoreError(f"{shown}: not a URL; {_URL_SHAPE}")
    if parts.scheme.lower() not in ("redis", "rediss"):
        raise StoreError(f"{shown}: the scheme must be redis:// or rediss:// (TLS); {_URL_SHAPE}")
    try:
        port = parts.port
    except ValueError:
        raise StoreError(f"{shown}: the port must be a number from 1 to 65535; {_URL_SHAPE}") from None
    path = unquote(parts.path).strip("/")
    if path and not path.isdigit():
        raise StoreError(f"{shown}: the path must be a database number like /0, not {path!r}; {_URL_SHAPE}")
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise StoreError(f"{shown}: the options after '?' are malformed; {_URL_SHAPE}") from None
    options: dict[str, str] = {}
    for name, value in pairs:
        if name not in _URL_OPTIONS:
            raise StoreError(f"{shown}: unknown option {name!r}; accepted options: {', '.join(sorted(_URL_OPTIONS))}")
        if name in options:
            raise StoreError(f"{shown}: the option {name!r} is given twice")
        options[name] = value
    settings: dict[str, Any] = {
        "host": parts.hostname or "localhost",
        "port": port or 6379,
        "db": int(path) if path else 0,
        "username": unquote(parts.username) if parts.username else None,
        "password": password,
        "prefix": options.pop("prefix", DEFAULT_PREFIX),
        "socket_connect_timeout": 10.0,
        "socket_timeout": 30.0,
        "socket_keepalive": True,
    }
    for name in ("socket_connect_timeout", "socket_timeout"):
        if name in options:
            try:
                seconds = float(options.pop(name))
            except ValueError:
                seconds = -1.0
            if not seconds > 0:
                raise StoreError(f"{shown}: {name} must be a positive number of seconds, like ?{name}=10")
            settings[name] = seconds
    if parts.scheme.lower() == "rediss":
        settings["ssl"] = True
        reqs = options.pop("ssl_cert_reqs", "required")
        if reqs not in ("none", "optional", "required"):
            raise StoreError(f"{shown}: ssl_cert_reqs must be none, optional or required, not {reqs!r}")
        settings["ssl_cert_reqs"] = reqs
        for name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
            if name in options:
                settings[name] = options.pop(name)
    elif any(name.startswith("ssl_") for name in options):
        raise StoreError(f"{shown}: ssl_* options need a rediss:// (TLS) URL")
    _check_prefix(settings["prefix"], shown)
    return settings


def open_redis(url: SplitResult) -> RedisStore:
    """``redis://[user:password@]host[:port][/db][?prefix=NAME]``, or ``rediss://...`` for TLS."""
    return RedisStore(url.geturl())
