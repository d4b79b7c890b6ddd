"""Job functions: what ``@queue.task`` makes of a function, how it is named, and how a running job reports
progress."""

from __future__ import annotations

import functools
import inspect
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .cache import CachePolicy, cache_key, call_cached, check_cache, space_of
from .context import _current
from .options import MODES, check_id, check_metadata, check_option

if TYPE_CHECKING:
    from .handle import JobHandle
    from .queue import DurableQueue

__all__ = ["JobOptions", "JobFunction", "import_path", "progress", "MODES"]


@dataclass(frozen=True)
class JobOptions:
    """How a job runs. Stored with each job, so a worker runs it as it was declared.

    Attributes:
        mode: ``thread`` (I/O-bound), ``process`` (CPU-bound; killed at its timeout) or ``async`` (a coroutine).
        retries: how many times a failure is retried before the job is FAILED.
        backoff: seconds before the first retry; each later one waits twice as long.
        timeout: seconds a run may take before it fails (and, in a process, is killed); None for no limit.
        priority: higher runs first; from -2**31 to 2**31-1.
        queue: the named queue; a worker serves the queues it is told to. 1 to 100 printable characters without
            whitespace or commas.
        daemon: True if a shutting-down worker may stop it at once instead of waiting for it.
    """

    mode: str = "thread"
    retries: int = 0
    backoff: float = 1.0
    timeout: float | None = None
    priority: int = 0
    queue: str = "default"
    daemon: bool = False

    def __post_init__(self) -> None:
        # what a worker needs to run it; queue and priority are checked where a job is declared or submitted
        # (:meth:`checked`), so that a record stored by an older version under another queue name still runs
        for option in ("mode", "retries", "backoff", "timeout"):
            check_option(None, option, getattr(self, option))

    @classmethod
    def checked(cls, job: str | None, **values: Any) -> JobOptions:
        """Options with every value checked, refusals naming ``job``.

        Raises:
            ValueError: a value of the wrong type or out of range (see :mod:`taskgraph.durable.options`).
        """
        for option, value in values.items():
            check_option(job, option, value)
        return cls(**values)

    def stored(self, serializer: str) -> dict[str, Any]:
        # every field is a scalar: no deep copy (asdict's) needed, and an enqueue makes one per job
        return {**{name: getattr(self, name) for name in _OPTION_FIELDS}, "serializer": serializer}

    @classmethod
    def from_stored(cls, options: dict[str, Any]) -> JobOptions:
        if "damaged" in options:
            raise ValueError(options["damaged"])
        return cls(**{name: options[name] for name in cls.__dataclass_fields__ if name in options})

    def retry_in(self, attempts: int) -> float | None:
        """Seconds before the next run after the ``attempts``-th failed, or None when retries are spent."""
        return None if attempts > self.retries else min(self.backoff * 2 ** (attempts - 1), 24 * 3600.0)


_OPTION_FIELDS = tuple(JobOptions.__dataclass_fields__)


def _main_module_name() -> str | None:
    """The name the ``__main__`` script would have if imported, so a worker that imports it finds its jobs."""
    main = sys.modules.get("__main__")
    spec, path = getattr(main, "__spec__", None), getattr(main, "__file__", None)
    if spec is not None and spec.name:
        return str(spec.name)
    return os.path.splitext(os.path.basename(path))[0] if path else None


def import_path(func: Callable[..., Any]) -> str:
    """``module:qualname``, the name a job is stored under and a worker finds it by.

    Raises:
        TypeError: the function cannot be found by an import path (a lambda, a nested function, a method of a
            local class, or code typed into an interactive session).
    """
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not module or not qualname:
        raise TypeError(f"{func!r} has no module and qualified name, so a worker could not find it")
    if "<lambda>" in qualname or "<locals>" in qualname:
        what = "a lambda" if "<lambda>" in qualname else "a function defined inside another function"
        raise TypeError(f"{module}.{qualname} is {what}: a worker finds a job by its import path, so define it at "
                        "the top level of a module the worker imports")
    if module == "__main__":
        module = _main_module_name() or module
        if module == "__main__":
            raise TypeError(f"{qualname} is defined in an interactive session: put it in a module the worker can "
                            "import")
    return f"{module}:{qualname}"


class JobFunction:
    """A function made into a job by ``@queue.task``. Call it to run it here; ``delay`` runs it on a worker.

    Attributes:
        queue: the queue it belongs to.
        func: the function itself.
        name: its import path, ``module:qualname``.
        options: how it runs.
        cache: how its results are cached (``@queue.task(cache=...)``), or None.
    """

    cache: CachePolicy | None = None

    def __init__(self, queue: DurableQueue, func: Callable[..., Any], options: JobOptions) -> None:
        _check_mode(func, options.mode)
        self.queue = queue
        self.func = func
        self.name = import_path(func)
        self.options = options
        self._signature: inspect.Signature | None = None
        self._positional: tuple[int, int] | None = None  # see _positional
        functools.update_wrapper(self, func)

    def __new__(cls, queue: DurableQueue, func: Callable[..., Any], options: JobOptions) -> JobFunction:
        # an async def function's job is an AsyncJobFunction, so that an asyncio queue sees it gives a coroutine
        return super().__new__(AsyncJobFunction if inspect.iscoroutinefunction(func) else cls)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the function here; a cached job (``cache=``) uses and fills the queue's result cache, as a worker
        does (see :func:`~taskgraph.durable.cache.call_cached`)."""
        if self.cache is None:
            return self.func(*args, **kwargs)
        return call_cached(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<job {self.name} mode={self.options.mode} queue={self.options.queue!r}>"

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled by reference, like the function it wraps: module attribute lookup finds this object
        module, _, qualname = self.name.partition(":")
        return (_find, (module, qualname))

    def delay(self, *args: Any, **kwargs: Any) -> JobHandle:
        """Enqueue a run with these arguments and its declared options; return its handle at once. The short form
        of :meth:`enqueue`.

        Raises:
            TypeError: the arguments do not fit the function's signature; the message names the job.
            SerializationError: an argument cannot be encoded by the queue's serializer; the message names it.
        """
        return self.queue._enqueue(self, self.bind(args, kwargs), kwargs)

    def enqueue(
        self,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        priority: int | None = None,
        queue: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float | None = None,
        mode: str | None = None,
        daemon: bool | None = None,
        id: str | None = None,  # noqa: A002 - the name users expect: job.enqueue(id="order-42")
        metadata: dict[str, Any] | None = None,
        at: datetime | float | None = None,
        delay: timedelta | float | None = None,
        cache: bool | float | None = None,
    ) -> JobHandle:
        """Enqueue a run with per-call options; every option left None is the job's declared one.

        Args:
            args: the positional arguments.
            kwargs: the keyword arguments.
            priority, queue, timeout, retries, backoff, mode, daemon: as in :class:`JobOptions`, for this run.
            id: the job's id, chosen by the caller (see :func:`~taskgraph.durable.options.check_id`): if the store
                already has a job of this id, in whatever status, its handle is returned and nothing is enqueued.
            metadata: a JSON object kept with the job: ``handle.record().metadata``, ``queue.list(metadata=...)``.
            at: when it may start: a datetime (a naive one is local time) or epoch seconds.
            delay: seconds (or a timedelta) from now before it may start; with ``at`` too, the later wins.
            cache: False to neither use nor fill the result cache for this run; seconds for a TTL of its own (the
                job's ``cache_version`` and ``cache_max`` kept); None for the job's declared caching.

        Raises:
            TypeError: the arguments do not fit the function's signature; the message names the job.
            ValueError: an option, the id, the metadata or a time is refused; the message names it and the job.
            SerializationError: an argument cannot be encoded by the queue's serializer; the message names it.
        """
        kwargs = dict(kwargs or {})
        args = self.bind(args, kwargs)
        how = self._how(priority=priority, queue=queue, timeout=timeout, retries=retries, backoff=backoff, mode=mode,
                        daemon=daemon, metadata=metadata, at=at, delay=delay)
        return self.queue._enqueue(self, args, kwargs, job_id=None if id is None else check_id(self.name, id),
                                   cache=self._cache_for(cache), **how)

    def map(
        self,
        items: Iterable[tuple[Any, ...] | list[Any] | dict[str, Any]],
        *,
        priority: int | None = None,
        queue: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float | None = None,
        mode: str | None = None,
        daemon: bool | None = None,
        metadata: dict[str, Any] | None = None,
        at: datetime | float | None = None,
        delay: timedelta | float | None = None,
    ) -> list[JobHandle]:
        """Enqueue one run per item, 1,000 per transaction and round trip of the store; their handles, in order.

        Each item is a tuple (or list) of positional arguments, or a dict of keyword arguments: ``send.map([(1,),
        (2,)])``, ``send.map([{"to": "a"}, {"to": "b"}])``; a single argument is written ``(value,)``. The options
        are :meth:`enqueue`'s, for every run. All or nothing: every run is checked (its arguments against the
        signature, its encoding, the ``on_enqueue`` hooks) before any is stored, so one bad item stores nothing.
        A job that caches its results is enqueued one run at a time (each looks for an equal run first).

        Raises:
            TypeError: an item is not a tuple, list or dict, or does not fit the signature; the message names the
                item and the job.
            ValueError: an option is refused; the message names it and the job.
            SerializationError: an argument cannot be encoded by the queue's serializer.
        """
        how = self._how(priority=priority, queue=queue, timeout=timeout, retries=retries, backoff=backoff, mode=mode,
                        daemon=daemon, metadata=metadata, at=at, delay=delay)
        return self.queue._enqueue_runs([(self, args, kwargs, how) for args, kwargs in _arguments(self, items)])

    def _how(self, metadata: Any, at: Any, delay: Any, **given: Any) -> dict[str, Any]:
        """The checked per-call options of :meth:`enqueue` and :meth:`map`, as ``_enqueue`` takes them."""
        changes = {option: value for option, value in given.items() if value is not None}
        options = self.options
        if changes:
            options = JobOptions.checked(self.name, **{**asdict(self.options), **changes})
            if "mode" in changes:
                _check_mode(self.func, options.mode)
        return {"when": _seconds(self.name, "delay", delay), "options": options, "at": _epoch(self.name, at),
                "metadata": None if metadata is None else check_metadata(self.name, metadata)}

    def _cache_for(self, cache: Any) -> CachePolicy | None:
        """The caching of one run: ``cache`` per call (see :meth:`enqueue`) over the declared one."""
        if cache is None:
            return self.cache
        policy = self.cache or CachePolicy(None)
        found = check_cache(self.name, cache, policy.version, policy.max)
        if found is not None and cache is True:
            return policy
        return found

    def invalidate(self, *args: Any, **kwargs: Any) -> bool:
        """Drop the cached result of a call with these arguments, so that the next one runs.

        Returns:
            whether there was one.
        """
        args = self.bind(args, kwargs)
        key = cache_key(self.queue, self.name, args, kwargs, self.cache.version if self.cache else "")
        return self.queue.store.entry_delete(space_of(self.name), [key]) > 0

    def schedule(self, when: Any, *args: Any, **kwargs: Any) -> JobHandle:
        """Enqueue a run that starts no earlier than ``when``: seconds (or a timedelta) from now, or a datetime
        (a naive one is local time)."""
        return self.queue._enqueue(self, self.bind(args, kwargs), kwargs, when=when)

    def bind(self, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """``args`` as a tuple, once they and ``kwargs`` are known to fit the function's signature.

        Raises:
            TypeError: they do not fit; the message names the job and what is wrong.
        """
        if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
            raise TypeError(f"job {self.name}: args must be a list or tuple of arguments, not {type(args).__name__}")
        if self._signature is None:
            try:
                self._signature = inspect.signature(self.func)
            except (TypeError, ValueError):  # a builtin without one: the worker's call will tell
                return tuple(args)
            self._positional = _positional(self._signature)
        if not kwargs and self._positional is not None and self._positional[0] <= len(args) <= self._positional[1]:
            return tuple(args)  # fits for sure: plain parameters, enough and not too many (map's common case)
        try:
            self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"job {self.name}: {exc}") from None
        return tuple(args)


class AsyncJobFunction(JobFunction):
    """The job of an ``async def`` function: calling it gives a coroutine (``inspect.iscoroutinefunction`` of its
    ``__call__`` says so, as asyncio queues ask)."""

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return await JobFunction.__call__(self, *args, **kwargs)


def _positional(signature: inspect.Signature) -> tuple[int, int] | None:
    """``(required, total)`` of a signature of plain parameters (positional or keyword, no ``*args``, ``**kwargs``
    or keyword-only ones), which any number of positional arguments in that range fits; None for another."""
    params = signature.parameters.values()
    if any(p.kind is not p.POSITIONAL_OR_KEYWORD for p in params):
        return None
    return sum(p.default is p.empty for p in params), len(params)


def _arguments(job: JobFunction, items: Iterable[Any]) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """The arguments of each item of ``job.map(items)``, checked against the function's signature: a tuple (or
    list) is the positional arguments, a dict the keyword arguments.

    Raises:
        TypeError: an item is neither, or does not fit the signature; the message names the job and the item.
    """
    if isinstance(items, (str, bytes, dict)) or not isinstance(items, Iterable):
        raise TypeError(f"job {job.name}: map() takes an iterable of items (each a tuple of positional arguments "
                        f"or a dict of keyword arguments), not {type(items).__name__}")
    out = []
    for n, item in enumerate(items):
        if isinstance(item, (tuple, list)):
            args, kwargs = tuple(item), {}
        elif isinstance(item, dict) and all(isinstance(k, str) for k in item):
            args, kwargs = (), dict(item)
        else:
            raise TypeError(f"job {job.name}: item {n} of map() must be a tuple of positional arguments or a dict of "
                            f"keyword arguments, not {type(item).__name__} ({item!r:.80}); wrap a single argument "
                            "as (value,)")
        out.append((bound(job, n, args, kwargs), kwargs))
    return out


def bound(job: JobFunction, n: int, args: Any, kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """``job.bind(args, kwargs)``, a refusal naming item ``n``."""
    try:
        return job.bind(args, kwargs)
    except TypeError as exc:
        raise TypeError(f"item {n}: {exc}") from None


def _check_mode(func: Callable[..., Any], mode: str) -> None:
    if mode == "async" and not inspect.iscoroutinefunction(func):
        raise TypeError(f"{func.__qualname__} has mode='async' but is not an async def function")
    if mode != "async" and inspect.iscoroutinefunction(func):
        raise TypeError(f"{func.__qualname__} is an async def function: declare it with mode='async'")


def _seconds(job: str, option: str, value: Any) -> Any:
    """``value`` (seconds or a timedelta, or None) once it is known to be finite."""
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{option} must be a finite number of seconds or a timedelta, not {value!r} (job {job})")
    return value


def _epoch(job: str, at: Any) -> float | None:
    """``at`` (a datetime or epoch seconds, or None) as epoch seconds."""
    if at is None:
        return None
    if isinstance(at, datetime):
        return at.timestamp()
    if isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at):
        raise ValueError(f"at must be a datetime or finite epoch seconds, not {at!r} (job {job})")
    return float(at)


def _find(module: str, qualname: str) -> Any:
    import importlib

    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def progress(value: float, message: str | None = None) -> bool:
    """Report how far the running job has got, from 0 to 1, with an optional message.

    Handles and ``queue.list()`` show it. Outside a job run by a worker it does nothing. The same as
    ``taskgraph.current_job().progress(value, message)``.

    Returns:
        whether there was a job to report for.

    Raises:
        ValueError: ``value`` is not between 0 and 1.
    """
    job = _current.get()
    if job is None:
        if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"progress must be a number from 0 to 1, not {value!r}")
        return False
    job.progress(value, message)
    return True


def noop(*args: Any, **kwargs: Any) -> None:
    """The job of a task that has no function: it only groups its prerequisites."""
    return None


NOOP_NAME = "taskgraph.durable.jobs:noop"
