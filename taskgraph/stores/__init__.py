"""Durable stores: SQLite (embedded), PostgreSQL and Redis, behind one contract (:mod:`taskgraph.stores.base`)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import SplitResult

from ..queues.registry import redact
from .base import Store, StoreError, StoreUnavailable

__all__ = ["Store", "StoreError", "StoreUnavailable", "open_store", "STORE_SCHEMES"]


def _sqlite(url: SplitResult) -> Store:
    from .sqlite import open_sqlite

    return open_sqlite(url)


def _postgres(url: SplitResult) -> Store:
    try:
        from .postgres import open_postgres
    except ImportError as exc:
        raise StoreError(f"{redact(url.geturl())}: {exc}; install the extra: pip install 'taskgraph-fsm[postgres]'")
    return open_postgres(url)


def _redis(url: SplitResult) -> Store:
    try:
        from .redis import open_redis
    except ImportError as exc:
        raise StoreError(f"{redact(url.geturl())}: {exc}; install the extra: pip install 'taskgraph-fsm[redis]'")
    return open_redis(url)


#: URL scheme -> function opening a store from the parsed URL.
STORE_SCHEMES: dict[str, Callable[[SplitResult], Store]] = {
    "sqlite": _sqlite,
    "postgresql": _postgres,
    "postgres": _postgres,
    "redis": _redis,
    "rediss": _redis,
}


def open_store(url: SplitResult) -> Store:
    """Open a new connection to the store a parsed URL names."""
    return STORE_SCHEMES[url.scheme.lower()](url)
