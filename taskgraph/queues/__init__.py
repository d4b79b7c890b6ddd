"""Where tasks run: the queue contract, the local queues, and the URL registry.

The queue classes load on first use, so that ``import taskgraph`` does not pay for asyncio, multiprocessing or Dask.
"""

from __future__ import annotations

import importlib
from typing import Any

from .base import BaseQueue, Call, Queue
from .registry import as_queue, known_schemes, open_queue, redact, register_scheme

__all__ = [
    "Queue",
    "BaseQueue",
    "Call",
    "InlineQueue",
    "ThreadQueue",
    "ProcessQueue",
    "AsyncioQueue",
    "ExecutorQueue",
    "DaskQueue",
    "open_queue",
    "register_scheme",
    "known_schemes",
    "as_queue",
    "redact",
]

_LAZY = {
    "InlineQueue": "inline",
    "ThreadQueue": "threads",
    "ProcessQueue": "processes",
    "AsyncioQueue": "aio",
    "ExecutorQueue": "executor",
    "DaskQueue": "dask",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
