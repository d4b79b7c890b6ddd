"""From a URL to a queue or a store: the one scheme registry behind :func:`open_queue` and :func:`open_store`; and
from ``make``'s ``queue=`` argument to a queue (:func:`as_queue`).

A scheme names the factory that opens its queue from the parsed URL; a store's scheme also names the factory of a
connection to its store, and its queue is a :class:`~taskgraph.durable.queue.DurableQueue` on that store. Built-in
factories are ``"module:function"`` strings, imported on first use, so this module imports no queue or store.
Plugins add schemes through entry points named after them: in the group ``taskgraph.queues``, queue factories
(``myqueue = mypkg:open_myqueue``); in ``taskgraph.stores``, store factories (``mystore = mypkg:open_mystore``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import SplitResult

from ..stores.base import StoreError
from ..urls import query_options, redact, shown, split, worker_count
from .base import BaseQueue

if TYPE_CHECKING:
    from ..stores.base import Store
    from .base import Queue

__all__ = ["open_queue", "open_store", "register_scheme", "known_schemes", "as_queue", "redact"]

ENTRY_POINT_GROUP = "taskgraph.queues"
STORE_ENTRY_POINT_GROUP = "taskgraph.stores"
Factory = Callable[[SplitResult], "Queue"]
StoreFactory = Callable[[SplitResult], "Store"]
_DURABLE = "taskgraph.durable.queue:open_durable"


class Scheme(NamedTuple):
    """What a scheme opens: its queue factory and, for a store's scheme, its store factory, each a callable or its
    ``"module:function"``; ``extra`` names the extra of taskgraph-fsm that the store's module needs."""

    queue: Factory | str
    store: StoreFactory | str | None = None
    extra: str | None = None


_SCHEMES: dict[str, Scheme] = {}


def register_scheme(scheme: str, factory: Callable[[SplitResult], Any], *, store: bool = False) -> None:
    """Make ``open_queue`` answer URLs of ``scheme`` with ``factory(parsed_url)``.

    Args:
        store: ``factory`` opens a new connection to a :class:`~taskgraph.stores.base.Store`, not a queue; then
            ``open_queue`` answers with a :class:`~taskgraph.durable.queue.DurableQueue` on that store (which takes
            the queue options ``serializer``, ``namespace`` and ``patience`` out of the URL first).
    """
    _SCHEMES[scheme.lower()] = Scheme(_DURABLE, factory) if store else Scheme(factory)


def entry_points(group: str) -> Any:
    """Installed plugins' entry points (importlib.metadata loads only when a plugin is looked for)."""
    from importlib.metadata import entry_points as found

    return found(group=group)


def known_schemes() -> list[str]:
    """The schemes registered here and by installed plugins, sorted."""
    names = set(_SCHEMES)
    for group in (ENTRY_POINT_GROUP, STORE_ENTRY_POINT_GROUP):
        names.update(ep.name for ep in entry_points(group=group))
    return sorted(names)


def _scheme(name: str) -> Scheme | None:
    """The scheme registered as ``name``, else the one a plugin's entry point names (remembered)."""
    found = _SCHEMES.get(name)
    if found is None:
        for group in (ENTRY_POINT_GROUP, STORE_ENTRY_POINT_GROUP):
            ep = next((ep for ep in entry_points(group=group) if ep.name == name), None)
            if ep is not None:
                found = Scheme(ep.value) if group == ENTRY_POINT_GROUP else Scheme(_DURABLE, ep.value)
                _SCHEMES[name] = found
                break
    return found


def _load(target: Callable[..., Any] | str) -> Callable[..., Any]:
    """A factory, imported first if it is given as ``"module:function"``."""
    if not isinstance(target, str):
        return target
    module, _, qualname = target.split("[")[0].partition(":")  # an entry point's value may end with [extras]
    found: Any = importlib.import_module(module.strip())
    for part in qualname.strip().split("."):
        found = getattr(found, part)
    return found


def open_queue(url: str) -> Queue:
    """Open the queue a URL names.

    ``inline:`` (the calling thread), ``threads://N``, ``processes://N`` (``?start=spawn`` picks the start
    method), ``asyncio:`` (``?limit=N`` caps how many run at once), the durable stores ``sqlite:///PATH``,
    ``postgresql://...``, ``redis://...`` and ``memory://NAME`` (in this process; see
    :class:`~taskgraph.durable.queue.DurableQueue`), a Dask cluster ``dask://HOST:PORT`` or ``dask+tls://HOST:PORT``
    (see :class:`~taskgraph.queues.dask.DaskQueue`), and what plugins add.

    Raises:
        ValueError: the URL is malformed or its scheme unknown; the message lists the known schemes.
        ConnectionError: the URL names a server that does not answer (a Dask scheduler).
        ImportError: the URL needs a package that is not installed (``distributed`` for ``dask://``).
        StoreError: the URL names a store that cannot be opened (see :func:`open_store`).
    """
    if not isinstance(url, str):
        raise TypeError(f"open_queue() takes a URL string, not {type(url).__name__}")
    parsed = split(url.strip())
    scheme = _scheme(parsed.scheme.lower())
    if scheme is None:
        known = ", ".join(f"{name}:" for name in known_schemes())
        what = f"unknown queue URL scheme {parsed.scheme.lower()!r}" if parsed.scheme else "no scheme"
        raise ValueError(f"{what} in {redact(url)!r}; known schemes: {known}")
    return _load(scheme.queue)(parsed)


def open_store(url: SplitResult | str) -> Store:
    """Open a new connection to the store a URL names (a URL of a store scheme, without the queue's options).

    Raises:
        ValueError: the URL is malformed, or its scheme names no store.
        StoreError: the store cannot be opened: a server that does not answer, refused credentials, a package that
            is not installed.
    """
    parsed = split(url.strip()) if isinstance(url, str) else url
    name = parsed.scheme.lower()
    scheme = _scheme(name)
    if scheme is None or scheme.store is None:
        raise ValueError(f"{shown(parsed)!r}: {name!r} is not the scheme of a store")
    try:
        factory = _load(scheme.store)
    except ImportError as exc:
        if scheme.extra is None:
            raise
        raise StoreError(
            f"{shown(parsed)}: {exc}; install the extra: pip install 'taskgraph-fsm[{scheme.extra}]'"
        ) from None
    return factory(parsed)


def as_queue(queue: Any) -> tuple[Any, bool]:
    """The queue ``make`` should use for its ``queue=`` argument, and whether ``make`` opened it (and closes it).

    None means the inline queue; a string is a URL; a queue of ours, or any object with a ``submit`` method, is
    used as it is; another :class:`~concurrent.futures.Executor` is wrapped in an
    :class:`~taskgraph.queues.executor.ExecutorQueue` (a short backlog, and clear errors for calls that cannot be
    pickled). A Dask ``distributed.Client`` is wrapped in a :class:`~taskgraph.queues.dask.DaskQueue` that ``make``
    closes at the end of its run, which leaves the client open: the client stays the caller's.
    """
    if queue is None:
        from .inline import InlineQueue

        return InlineQueue(), True
    if isinstance(queue, str):
        return open_queue(queue), True
    if isinstance(queue, BaseQueue):
        return queue, False
    if _is_dask_client(queue):
        from .dask import DaskQueue

        return DaskQueue(queue), True
    if isinstance(queue, Executor):
        from .executor import ExecutorQueue

        return ExecutorQueue(queue), False
    if callable(getattr(queue, "submit", None)):
        return queue, False
    raise TypeError(
        f"queue= takes a queue (any object whose submit(fn, *args, **kwargs) returns a concurrent.futures.Future), "
        f"a queue URL such as 'threads://4', a concurrent.futures.Executor or a Dask distributed.Client, not "
        f"{type(queue).__name__}"
    )


def _is_dask_client(obj: Any) -> bool:
    """Whether ``obj`` is a ``distributed.Client``, without importing Dask for objects that cannot be one."""
    if not any(kind.__module__.startswith("distributed.") for kind in type(obj).__mro__):
        return False
    try:
        from distributed import Client
    except ImportError:
        return False
    return isinstance(obj, Client)



def _open_inline(url: SplitResult) -> Queue:
    from .inline import InlineQueue

    query_options(url, set())
    if url.netloc or url.path.strip("/"):
        raise ValueError(f"{shown(url)!r}: the inline queue takes nothing after 'inline:'")
    return InlineQueue()


def _open_threads(url: SplitResult) -> Queue:
    from .threads import ThreadQueue

    query_options(url, set())
    return ThreadQueue(worker_count(url, os.cpu_count() or 1))


def _open_processes(url: SplitResult) -> Queue:
    from .processes import ProcessQueue

    options = query_options(url, {"start"})
    return ProcessQueue(worker_count(url, os.cpu_count() or 1), start_method=options.get("start") or None)


def _open_asyncio(url: SplitResult) -> Queue:
    from .aio import AsyncioQueue

    options = query_options(url, {"limit"})
    if url.netloc or url.path.strip("/"):
        raise ValueError(f"{url.geturl()!r}: write the asyncio queue as 'asyncio:' or 'asyncio:?limit=N'")
    limit = options.get("limit")
    if limit is not None and (not limit.isdigit() or int(limit) < 1):
        raise ValueError(f"{url.geturl()!r}: limit must be a positive whole number, like asyncio:?limit=100")
    return AsyncioQueue(int(limit) if limit else None)


_SCHEMES.update({
    "inline": Scheme(_open_inline),
    "threads": Scheme(_open_threads),
    "processes": Scheme(_open_processes),
    "asyncio": Scheme(_open_asyncio),
    "dask": Scheme("taskgraph.queues.dask:open_dask"),
    "dask+tls": Scheme("taskgraph.queues.dask:open_dask"),
    "sqlite": Scheme(_DURABLE, "taskgraph.stores.sqlite:open_sqlite"),
    "memory": Scheme(_DURABLE, "taskgraph.stores.memory:open_memory"),
    "postgresql": Scheme(_DURABLE, "taskgraph.stores.postgres:open_postgres", "postgres"),
    "postgres": Scheme(_DURABLE, "taskgraph.stores.postgres:open_postgres", "postgres"),
    "redis": Scheme(_DURABLE, "taskgraph.stores.redis:open_redis", "redis"),
    "rediss": Scheme(_DURABLE, "taskgraph.stores.redis:open_redis", "redis"),
})
