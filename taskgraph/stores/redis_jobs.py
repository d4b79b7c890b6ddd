"""The jobs of an enqueue as the Redis store's enqueue script takes them (see :mod:`~taskgraph.stores._redis_lua`)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from typing import Any

from .base import StoreError
from .common import unique
from .records import NewJob
from .records import label as job_label

__all__ = ["ScriptJobs", "OneEnqueue", "unfinished_ids"]


def _priority_key(priority: int) -> str:
    """20 digits that sort the other way round from ``priority`` (higher priority, smaller key)."""
    if not -(1 << 63) <= priority < (1 << 63):
        raise ValueError(f"priority must fit in 64 bits (-2**63 .. 2**63-1), not {priority}")
    return f"{(1 << 63) - 1 - priority:020d}"


class ScriptJobs(dict[tuple[str | None, str, int], dict[str, str]]):
    """The fields of the jobs of one enqueue for its script, those that the jobs of a batch share made once."""

    def fields(self, job: NewJob, options: str, url: str) -> dict[str, Any]:
        shared = self.get((job.key, job.name, job.priority))
        if shared is None:
            label, own = job_label(job.key if job.key is not None else job.name), job_label(job.key or job.name)
            shared = self[job.key, job.name, job.priority] = {
                "name": job.name, "label": label, "rlabel": repr(label), "own": own, "rown": repr(own),
                "priority": str(int(job.priority)), "pk": _priority_key(int(job.priority))}
        after = unique(job.after)
        if job.on != "success" and len(after) != 1:
            raise StoreError(f"{url}: job {job.id!r} runs on {job.on}: it must have one prerequisite, not {len(after)}")
        fields = {**shared, "id": job.id, "queue": job.queue, "options": options, "delay": repr(float(job.delay)),
                  "after": after}
        if job.key is not None:
            fields["key"] = job.key
        if job.not_before is not None:
            fields["not_before"] = repr(float(job.not_before))
        if job.on != "success":
            fields["on"] = job.on
        return fields


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


class OneEnqueue:
    """The enqueue of one plain job (no key, prerequisites, condition, delay, time or metadata: what ``delay()``
    stores) through the lean script ``_ENQUEUE_ONE``, its command packed here: the part that the runs of one job
    function share (prefix, queue, names, priority, options) once, then only the id and the payload per run. It
    has a connection of its own, taken from the client's pool at first use, used under a lock."""

    def __init__(self, client: Any, prefix: str, script: str) -> None:
        self._client, self._prefix, self._script = client, prefix, script
        self._sha = hashlib.sha1(script.encode()).hexdigest().encode()
        self._heads: dict[tuple[int, str, str, int], tuple[object, bytes]] = {}
        self._conn: Any = None
        self._pid = 0
        self._lock = threading.Lock()

    @staticmethod
    def fits(job: NewJob) -> bool:
        """Whether ``job`` is one this script stores."""
        return (job.key is None and not job.after and job.on == "success" and not job.delay
                and job.not_before is None and not job.metadata)

    def _head(self, job: NewJob) -> bytes:
        """The command up to the id: made once per options object, name, queue and priority."""
        memo = (id(job.options), job.name, job.queue, job.priority)
        found = self._heads.get(memo)
        if found is not None and found[0] is job.options:
            return found[1]
        name = job_label(job.name)
        args = (self._prefix, job.queue, job.name, name, repr(name), str(int(job.priority)),
                _priority_key(int(job.priority)), json.dumps(job.options))
        head = b"*13\r\n$7\r\nEVALSHA\r\n" + _bulk(self._sha) + b"$1\r\n0\r\n" + b"".join(
            _bulk(a.encode()) for a in args)
        if len(self._heads) >= 256:  # options objects made per call (a hook that copies them): keep a few
            self._heads.clear()
        self._heads[memo] = (job.options, head)  # the options kept, so that their id stays theirs
        return head

    def __call__(self, job: NewJob) -> str:
        """Store ``job``; its id. A connection that broke is retried twice (the script does nothing for an id it
        has already), as the client's own commands are.

        Raises:
            redis.ConnectionError, redis.TimeoutError, redis.ResponseError: as the client raises them.
        """
        from redis.exceptions import ConnectionError as Broken
        from redis.exceptions import NoScriptError

        command = self._head(job) + _bulk(job.id.encode()) + _bulk(job.payload)
        with self._lock:
            for attempt in range(3):
                conn = self._conn
                if conn is None or self._pid != os.getpid():
                    conn = self._conn = self._client.connection_pool.make_connection()
                    self._pid = os.getpid()
                try:
                    conn.send_packed_command((command,), check_health=False)
                    conn.read_response()
                    return job.id
                except NoScriptError:
                    if attempt == 2:
                        raise
                    self._client.script_load(self._script)
                except Broken:
                    conn.disconnect()
                    if attempt == 2:
                        raise
                    time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.disconnect()
                self._conn = None


def unfinished_ids(client: Any, prefix: str, status: str) -> list[bytes]:
    """The ids of the jobs that may be RUNNING (the running set) or QUEUED (the ready set of each queue that counts
    QUEUED jobs, and the delayed set), read without the finished jobs; the caller checks each job's status."""
    if status == "RUNNING":
        return list(client.zrange(f"{prefix}:running", 0, -1))
    queues = [f[7:] for f in client.hkeys(f"{prefix}:counts") if f.startswith(b"QUEUED:")]
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        pipe.zrange(f"{prefix}:ready:".encode() + queue, 0, -1)
    pipe.zrange(f"{prefix}:delayed", 0, -1)
    *ready, delayed = pipe.execute()
    ids = [m[52:] for members in ready for m in members] + list(delayed)  # a ready member ends with its id
    return list(dict.fromkeys(ids))
