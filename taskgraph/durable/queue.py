"""A queue backed by a durable store: background jobs, and graphs that outlive the driver; and the queue factory
of every store scheme (`open_durable`)."""

from __future__ import annotations

import builtins
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import SplitResult, parse_qsl, unquote

from ..errors import SerializationError, first_line
from ..queues.base import BaseQueue, Call
from ..queues.registry import open_store
from ..stores import Store, StoreUnavailable
from ..stores.base import close_quietly
from ..stores.records import JobRecord, NewJob
from ..stores.serializers import get_serializer
from ..urls import seconds, shown
from .admin import QueueAdmin
from .batch import Run, calls_of, enqueue_many
from .cache import cache_key, check_cache, mark, shared
from .cache_admin import CacheAdmin
from .handle import JobHandle, cancelled, failure
from .hooks import Hooks
from .jobs import NOOP_NAME, JobFunction, JobOptions, import_path, noop
from .options import canonical_id
from .recurring_admin import RecurringAdmin

if TYPE_CHECKING:
    from .awaiting import Resolver
    from .follower import JobFollower

__all__ = ["DurableQueue", "open_durable", "QUEUE_OPTIONS"]

log = logging.getLogger("taskgraph")
T = TypeVar("T")


class DurableQueue(QueueAdmin, RecurringAdmin, CacheAdmin, BaseQueue):
    """Jobs kept in a store, run by worker processes (``taskgraph worker MODULE:QUEUE``).

    Open one with :func:`taskgraph.open_queue` (``sqlite:///jobs.db``, ``postgresql://...``, ``redis://...``).
    Use it three ways: ``@queue.task`` makes functions into jobs you ``delay``; ``make_now(*tasks, queue=queue)``
    runs a graph on the workers and brings results back; ``make_later(queue, *tasks)`` hands the whole graph to
    the store (``submit_graph``), where workers finish it even if this process exits.

    Args:
        connect: opens a new connection to the store (one per thread is opened as needed).
        url: the store's URL, password hidden.
        serializer: ``json`` (the default) or ``pickle`` (trusts every writer of the store).
        namespace: prefixed to the keys of graph tasks, so that separate runs of one graph do not share results.
        patience: how long, in seconds, code that waits on the store (``JobHandle.join``, ``make_now`` through
            this queue) goes on retrying while the store is unavailable (a server restarting, a lost connection),
            before it gives up with :class:`~taskgraph.StoreUnavailable`. Each retry is logged.
    """

    capacity: int | None = 512

    def __init__(
        self, connect: Callable[[], Store], url: str, serializer: str = "json", namespace: str = "",
        patience: float = 300.0,
    ) -> None:
        if not isinstance(patience, (int, float)) or isinstance(patience, bool) or not patience >= 0:
            raise ValueError(f"patience must be a number of seconds >= 0, not {patience!r}")
        self._connect = connect
        self.url = url
        self.serializer = get_serializer(serializer)
        self.namespace = namespace
        self.patience = float(patience)
        self._local = threading.local()
        self._stores: list[Store] = []
        self._lock = threading.Lock()
        self._jobs: dict[str, JobFunction] = {}
        self._recurring_defs: dict[str, dict[str, Any]] = {}  # defined in this process's code
        self._stored: dict[int, tuple[JobOptions, dict[str, Any]]] = {}  # see _stored_of
        self._calls: JobFollower | None = None
        self._awaited: Resolver | None = None
        self._closed = False
        self.hooks = Hooks()
        self.store  # connect now, so that a bad URL or a server that is down is reported here  # noqa: B018
        self._jobs[NOOP_NAME] = JobFunction(self, noop, JobOptions())

    def __repr__(self) -> str:
        return f"DurableQueue({self.url!r})"

    @property
    def store(self) -> Store:
        """This thread's connection to the store."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._connect()
            self._local.store = store
            with self._lock:
                self._stores.append(store)
        return store

    def reconnect(self) -> None:
        """Drop this thread's connection, after an error; the next use opens a new one."""
        store = getattr(self._local, "store", None)
        self._local.store = None
        if store is not None:
            with self._lock:
                if store in self._stores:
                    self._stores.remove(store)
            close_quietly(store)

    def patiently(self, call: Callable[[Store], T], deadline: float | None = None) -> T:
        """``call(store)`` with this thread's connection, retried while the store is unavailable.

        Between attempts the connection is dropped and opened again, waiting 0.1 s, then twice as long each time up
        to 5 s, and a warning is logged. Other errors are raised at once.

        Args:
            deadline: a :func:`time.monotonic` time after which to stop retrying, if sooner than :attr:`patience`.

        Raises:
            StoreUnavailable: the store stayed unavailable for :attr:`patience` seconds (or until ``deadline``).
        """
        pause = 0.0
        limit: float | None = None
        while True:
            try:
                return call(self.store)
            except StoreUnavailable as exc:
                now = time.monotonic()
                if limit is None:
                    limit = now + self.patience if deadline is None else min(now + self.patience, deadline)
                if now >= limit:
                    raise
                pause = min(max(pause * 2, 0.1), 5.0, limit - now)
                log.warning("store unavailable: %s; retrying in %.2g s", first_line(exc), pause)
                self.reconnect()
                time.sleep(pause)

    def task(
        self,
        func: Callable[..., Any] | None = None,
        *,
        mode: str | None = None,
        retries: int = 0,
        backoff: float = 1.0,
        timeout: float | None = None,
        priority: int = 0,
        queue: str = "default",
        daemon: bool = False,
        cache: bool | float | None = None,
        cache_version: str | int | None = None,
        cache_max: int | None = None,
    ) -> Any:
        """Make a module-level function into a job of this queue: ``@queue.task`` or ``@queue.task(mode=...)``.

        Args:
            mode: ``thread``, ``process`` or ``async``; by default ``async`` for an ``async def`` function, else
                ``thread``.
            retries, backoff, timeout, priority, queue, daemon: see :class:`~taskgraph.durable.jobs.JobOptions`.
            cache: keep successful results in the store and return them for equal arguments without running: True
                (until invalidated), or seconds (a TTL); see :mod:`taskgraph.durable.cache`.
            cache_version: part of the cache key: bump it when the code changes what the job returns.
            cache_max: the most results kept for this job; the least recently used go first.

        Raises:
            TypeError: the function has no import path (a lambda, a nested function) or its mode does not fit.
            ValueError: an option of the wrong type or out of range; the message names it, what is allowed, the
                value and the job (see :func:`~taskgraph.durable.options.check_option`).
        """
        import inspect

        def decorate(f: Callable[..., Any]) -> JobFunction:
            chosen = mode or ("async" if inspect.iscoroutinefunction(f) else "thread")
            try:
                name: str | None = import_path(f)
            except TypeError:
                name = None  # JobFunction says why
            options = JobOptions.checked(name, mode=chosen, retries=retries, backoff=backoff, timeout=timeout,
                                         priority=priority, queue=queue, daemon=daemon)
            policy = check_cache(name, cache, cache_version, cache_max)
            job = JobFunction(self, f, options)
            job.cache = policy
            known = self._jobs.get(job.name)
            if known is not None and known.func is not f:
                raise ValueError(
                    f"another function is already a job of this queue under the name {job.name}: rename one of "
                    "them, since a worker finds a job by its name"
                )
            self._jobs[job.name] = job
            return job

        return decorate(func) if func is not None else decorate

    def add_hook(self, hook: Any) -> None:
        """Add a lifecycle hook: an object with any of ``on_enqueue(job)``, ``before_run(ctx)``,
        ``after_run(ctx, outcome)`` and ``on_state_change(record, old, new)``. See :mod:`taskgraph.durable.hooks`
        for where each runs; an ``on_enqueue`` that raises refuses the submission."""
        self.hooks.add(hook)

    def job(self, name: str) -> JobFunction | None:
        """The job registered under ``name`` (``module:qualname``), or None."""
        return self._jobs.get(name)

    def new_job(
        self, job: JobFunction, args: Sequence[Any], kwargs: dict[str, Any], when: Any = None, *,
        options: JobOptions | None = None, job_id: str | None = None, metadata: dict[str, Any] | None = None,
        at: float | None = None, after: Sequence[str] = (), on: str = "success",
        stored: dict[str, Any] | None = None,
    ) -> NewJob:
        """The job that stores a run of ``job`` whose arguments and options are checked already (see
        :meth:`JobFunction.enqueue`): its arguments encoded, its time worked out; not cached (see :meth:`_enqueue`).
        ``stored``: the options as stored, if made already (the runs of a batch share them).

        Raises:
            SerializationError: an argument cannot be encoded.
        """
        options = options or job.options
        payload = self.serializer.encode_call(job.name, tuple(args), kwargs)
        delay, not_before = _when(when) if when is not None else (0.0, None)
        if at is not None:
            not_before = at if not_before is None else max(at, not_before)
        if stored is None:  # one dict per options object: a store's enqueue encodes it once (see _stored_of)
            stored = self._stored_of(options)
        return NewJob(
            id=job_id or new_id(), name=job.name, payload=payload, options=stored, queue=options.queue,
            priority=options.priority, delay=delay, not_before=not_before, metadata=metadata or {},
            after=list(after), on=on,
        )

    def _stored_of(self, options: JobOptions) -> dict[str, Any]:
        """``options`` as stored, one dict per options object (a job function's declared ones, or those of one
        call); stores that encode the options of many runs once know them by it. Never changed in place: what
        changes a job's options (its cache, an ``on_enqueue`` hook) is given a copy."""
        found = self._stored.get(id(options))
        if found is not None and found[0] is options:
            return found[1]
        made = options.stored(self.serializer.name)
        if len(self._stored) >= 256:  # per-call options (enqueue(priority=...)): keep a few
            self._stored.clear()
        self._stored[id(options)] = (options, made)  # the options kept, so that their id stays theirs
        return made

    def _enqueue(
        self, job: JobFunction, args: Sequence[Any], kwargs: dict[str, Any], when: Any = None, *,
        cache: Any = "declared", **how: Any,
    ) -> JobHandle:
        """Store a run of ``job``: its arguments and options already checked (see :meth:`JobFunction.enqueue`);
        with ``after``, PENDING until those jobs end as ``on`` says (see :meth:`JobHandle.then`). The other
        arguments are :meth:`new_job`'s."""
        new = self.new_job(job, args, kwargs, when, **how)
        policy = job.cache if cache == "declared" else cache
        if policy is not None:
            key = cache_key(self, job.name, tuple(args), kwargs, policy.version)
            running, version = shared(self, self.store, job.name, key)
            if running is not None:
                return JobHandle(self, running)  # an equal submission not finished yet: share its run
            new.options = {**new.options, "cache": {"key": key, "ttl": policy.ttl, "max": policy.max}}
        if self.hooks:
            new.options = dict(new.options)  # a hook may change them: not the shared dict
            self.hooks.refuse(new)
        [job_id] = self.store.enqueue_ids([new])
        if policy is not None:
            mark(self.store, job.name, key, job_id, version)
        return JobHandle(self, job_id)

    def enqueue_many(self, items: Iterable[tuple[Any, ...]]) -> builtins.list[JobHandle]:
        """Enqueue many runs, each ``(job, args)`` or ``(job, args, kwargs)`` with its job's declared options,
        :data:`~taskgraph.durable.batch.BATCH` (1,000) per transaction and round trip of the store; their handles,
        in order. Every run is checked (arguments, encoding, ``on_enqueue`` hooks) before any is stored, so one
        bad run stores nothing. ``job.map(...)`` does the same for runs of one job, with per-call options.

        Raises:
            TypeError: an item is not of that shape, its job is not one of this queue, or its arguments do not fit
                the function's signature; the message names the item.
            SerializationError: an argument cannot be encoded.
        """
        return enqueue_many(self, calls_of(self, items, JobFunction))

    def _enqueue_runs(self, runs: Sequence[Run]) -> builtins.list[JobHandle]:
        """Store runs checked already (see :func:`~taskgraph.durable.batch.enqueue_many`); their handles."""
        return enqueue_many(self, runs)

    def _outcome(self, record: JobRecord) -> Any:
        """The result of a finished job, or its exception raised."""
        if record.status == "DONE":
            return self.decode(record, record.result)
        if record.status == "CANCELLED":
            raise cancelled(record)
        raise failure(record)

    def decode(self, record: JobRecord, data: bytes | None) -> Any:
        """Decode a payload or result of ``record`` with this queue's serializer, refusing another's."""
        written = record.options.get("serializer", "json")
        if written != self.serializer.name:
            raise SerializationError(
                f"job {record.id} ({record.name}) was written with {written}, and this queue reads "
                f"{self.serializer.name}: open the queue with ?serializer={written} if you trust its writers"
            )
        if data is None:
            return None
        try:
            return self.serializer.loads(data)
        except Exception as exc:
            raise SerializationError(
                f"job {record.id} ({record.name}): its stored result cannot be read as {self.serializer.name} "
                f"({type(exc).__name__}: {exc}); it was damaged or written by something else"
            ) from None

    def get(self, job_id: str) -> JobHandle | None:
        """The handle of a stored job, or None if the store has no such job. A UUID id may be given in any
        spelling (dashed or not)."""
        job_id = canonical_id(job_id)
        return JobHandle(self, job_id) if self.store.get([job_id]) else None

    def _resolver(self) -> Resolver:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self!r} is closed")
            if self._awaited is None:
                from .awaiting import Resolver  # asyncio only for those who await

                self._awaited = Resolver(self)
            return self._awaited

    def _follower(self) -> JobFollower:
        with self._lock:
            if self._calls is None:
                from .follower import JobFollower

                self._calls = JobFollower(self)
            return self._calls

    def submit_call(self, call: Call) -> Future[Any]:
        """Run a task's call as a job keyed by the task (called by ``make``)."""
        return self._follower().submit(call)

    def submit_graph(self, calls: Sequence[Call]) -> builtins.list[Future[Any]]:
        """Store the jobs of many calls, edges included, in one transaction (called by ``make_later``)."""
        return self._follower().submit_graph(calls)

    def job_for(self, call: Call) -> JobFunction:
        """The job that runs ``call``'s function on a worker.

        Raises:
            TypeError: the function is not a job of this queue.
        """
        func = call.func
        if func is None:
            return self._jobs[NOOP_NAME]
        if isinstance(func, JobFunction) and (func.queue is self or func.queue.url == self.url):
            return func  # a job of this queue, or of another queue object on the same store (a pipeline's own)
        try:
            name = import_path(func)
        except TypeError as exc:
            raise TypeError(f"task {call.name!r}: {exc}") from None
        job = self._jobs.get(name)
        if job is None or job.func is not func:
            raise TypeError(
                f"task {call.name!r}: its function {name} is not a job of {self!r}; decorate it with "
                "@queue.task in a module the workers import"
            )
        return job

    def key_of(self, call: Call, job: str, payload: bytes) -> str:
        """The store key of a task's call: its key and a digest of what it runs (the job's name and its encoded
        arguments), under the queue's namespace; so a rerun finds the job again only if the task is the same."""
        key = f"{call.key}@{hashlib.blake2b(job.encode() + b'@' + payload, digest_size=5).hexdigest()}"
        return f"{self.namespace}/{key}" if self.namespace else key

    def close(self, wait: bool = True) -> None:
        """Stop following graphs and close every connection this queue opened."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            calls, awaited, stores = self._calls, self._awaited, list(self._stores)
        if calls is not None:
            calls.stop()
        if awaited is not None:
            busy = awaited.close()  # its thread ends first: it may be using its connection
            stores = [s for s in stores if s is not busy]
        for store in stores:
            close_quietly(store)


def new_id() -> str:
    """A new job id: ``uuid.uuid4().hex``, made without building a UUID object."""
    b = bytearray(os.urandom(16))
    b[6], b[8] = b[6] & 0x0F | 0x40, b[8] & 0x3F | 0x80  # version 4, RFC 4122 variant
    return b.hex()


def _when(when: Any) -> tuple[float, float | None]:
    """``(delay, not_before)`` for ``schedule(when, ...)``."""
    if when is None:
        return 0.0, None
    if isinstance(when, timedelta):
        return max(when.total_seconds(), 0.0), None
    if isinstance(when, datetime):
        return 0.0, when.timestamp()
    if isinstance(when, (int, float)) and not isinstance(when, bool):
        return max(float(when), 0.0), None
    raise TypeError(f"schedule() takes seconds, a timedelta or a datetime, not {type(when).__name__}")


#: The options of a store URL that are the queue's; the others are the store's.
QUEUE_OPTIONS = frozenset({"serializer", "namespace", "patience"})


def open_durable(url: SplitResult) -> DurableQueue:
    """The queue of a store URL: its options ``serializer``, ``namespace`` and ``patience`` are the queue's, the
    others go to the store (see :func:`~taskgraph.queues.registry.open_store`) as they were written.

    Raises:
        ValueError: a queue option has a bad value.
        StoreError: the store cannot be opened.
    """
    text = shown(url)  # as the user wrote it, password hidden
    ours = {k: v for k, v in parse_qsl(url.query, keep_blank_values=True) if k in QUEUE_OPTIONS}
    rest = [item for item in url.query.split("&") if item and unquote(item.partition("=")[0]) not in QUEUE_OPTIONS]
    store_url = url._replace(query="&".join(rest))
    serializer = ours.get("serializer") or "json"
    get_serializer(serializer)  # a ValueError naming the known ones
    patience = seconds(repr(text), "patience", ours.get("patience"), 300.0, zero=True)
    return DurableQueue(
        lambda: open_store(store_url), text, serializer=serializer, namespace=ours.get("namespace", ""),
        patience=patience,
    )
