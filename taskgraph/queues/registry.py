"""From a URL or an object to a queue: the scheme registry behind :func:`open_queue`.

A scheme maps to a factory that takes the parsed URL. Plugins add schemes through the ``taskgraph.queues``
entry-point group, each entry point naming its factory (``myqueue = mypkg.queues:open_myqueue``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, parse_qsl, urlsplit

if TYPE_CHECKING:
    from .base import Queue

__all__ = ["open_queue", "register_scheme", "known_schemes", "redact"]

ENTRY_POINT_GROUP = "taskgraph.queues"
Factory = Callable[[SplitResult], "Queue"]
_FACTORIES: dict[str, Factory] = {}


def register_scheme(scheme: str, factory: Factory) -> None:
    """Make ``open_queue`` answer URLs of ``scheme`` with ``factory(parsed_url)``."""
    _FACTORIES[scheme.lower()] = factory


def entry_points(group: str) -> Any:
    """Installed plugins' entry points (importlib.metadata loads only when a plugin is looked for)."""
    from importlib.metadata import entry_points as found

    return found(group=group)


def known_schemes() -> list[str]:
    """The schemes registered here and by installed plugins, sorted."""
    names = set(_FACTORIES)
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``, fit for messages and logs.

    The credentials end at the last ``@``, so a password holding ``@`` or ``/`` is hidden whole; when in doubt
    this hides too much rather than too little.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    userinfo, _, host = rest.rpartition("@")
    if ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    if "/" in user or "?" in user:  # the ':' belongs to a host or path, the '@' to a query: no credentials
        return url
    return f"{scheme}://{user}:***@{host}"


def open_queue(url: str) -> Queue:
    """Open the queue a URL names.

    ``inline:`` (the calling thread), ``threads://N``, ``processes://N`` (``?start=spawn`` picks the start
    method), ``asyncio:`` (``?limit=N`` caps how many run at once), the durable stores ``sqlite:///PATH``,
    ``postgresql://...`` and ``redis://...`` (see :class:`~taskgraph.durable.queue.DurableQueue`), a Dask cluster
    ``dask://HOST:PORT`` or ``dask+tls://HOST:PORT`` (see :class:`~taskgraph.queues.dask.DaskQueue`), and what
    plugins add.

    Raises:
        ValueError: the URL is malformed or its scheme unknown; the message lists the known schemes.
        ConnectionError: the URL names a server that does not answer (a Dask scheduler).
        ImportError: the URL needs a package that is not installed (``distributed`` for ``dask://``).
    """
    if not isinstance(url, str):
        raise TypeError(f"open_queue() takes a URL string, not {type(url).__name__}")
    parsed = urlsplit(url.strip())
    scheme = parsed.scheme.lower()
    factory = _FACTORIES.get(scheme)
    if factory is None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name == scheme:
                factory = ep.load()
                break
    if factory is None:
        known = ", ".join(f"{name}:" for name in known_schemes())
        what = f"unknown queue URL scheme {scheme!r}" if scheme else "no scheme"
        raise ValueError(f"{what} in {redact(url)!r}; known schemes: {known}")
    return factory(parsed)


# ------------------------------------------------------------------ the built-in schemes


def _options(url: SplitResult, allowed: set[str]) -> dict[str, str]:
    options = dict(parse_qsl(url.query, keep_blank_values=True))
    unknown = set(options) - allowed
    if unknown:
        accepted = ", ".join(sorted(allowed)) or "none"
        raise ValueError(f"{url.geturl()!r}: unknown option {sorted(unknown)[0]!r}; accepted options: {accepted}")
    return options


def _count(url: SplitResult, default: int | None) -> int:
    text = (url.netloc or url.path).strip("/")
    if not text:
        if default is None:
            raise ValueError(f"{url.geturl()!r}: say how many workers, like {url.scheme}://4")
        return default
    if not text.isdigit() or int(text) < 1:
        raise ValueError(
            f"{url.geturl()!r}: the number of workers must be a positive whole number, like {url.scheme}://4"
        )
    return int(text)


def _open_inline(url: SplitResult) -> Queue:
    from .inline import InlineQueue

    _options(url, set())
    if url.netloc or url.path.strip("/"):
        raise ValueError(f"{url.geturl()!r}: the inline queue takes nothing after 'inline:'")
    return InlineQueue()


def _open_threads(url: SplitResult) -> Queue:
    from .threads import ThreadQueue

    _options(url, set())
    return ThreadQueue(_count(url, os.cpu_count() or 1))


def _open_processes(url: SplitResult) -> Queue:
    from .processes import ProcessQueue

    options = _options(url, {"start"})
    return ProcessQueue(_count(url, os.cpu_count() or 1), start_method=options.get("start") or None)


def _open_asyncio(url: SplitResult) -> Queue:
    from .aio import AsyncioQueue

    options = _options(url, {"limit"})
    if url.netloc or url.path.strip("/"):
        raise ValueError(f"{url.geturl()!r}: write the asyncio queue as 'asyncio:' or 'asyncio:?limit=N'")
    limit = options.get("limit")
    if limit is not None and (not limit.isdigit() or int(limit) < 1):
        raise ValueError(f"{url.geturl()!r}: limit must be a positive whole number, like asyncio:?limit=100")
    return AsyncioQueue(int(limit) if limit else None)


def _open_dask(url: SplitResult) -> Queue:
    from .dask import open_dask

    return open_dask(url)


def _open_durable(url: SplitResult) -> Queue:
    from ..durable.queue import open_durable

    return open_durable(url)


register_scheme("inline", _open_inline)
register_scheme("threads", _open_threads)
register_scheme("processes", _open_processes)
register_scheme("asyncio", _open_asyncio)
register_scheme("dask", _open_dask)
register_scheme("dask+tls", _open_dask)
for _scheme in ("sqlite", "postgresql", "postgres", "redis", "rediss"):
    register_scheme(_scheme, _open_durable)
