"""taskgraph: run dependency graphs of tasks, each a finite-state machine, on pluggable queues.

The public API is what this module exports; everything else is internal.
"""

from typing import Any

from .build import BuildError, CommandError, shell
from .durable import DurableQueue, JobFunction, JobHandle, JobOptions, Progress, progress
from .durable.admin import WorkerInfo
from .durable.cache_admin import CacheEntry, CacheStats
from .durable.context import JobContext, current_job
from .durable.recurring import RecurringInfo
from .errors import (
    BlockedError,
    CancelledError,
    CycleError,
    RemoteTaskError,
    RenderError,
    SerializationError,
    TaskError,
)
from .gcpause import gc_paused
from .graph import closure, to_networkx
from .make import TaskQueue, make, make_later, make_now
from .pipeline import params
from .queues import BaseQueue, Queue, open_queue, register_scheme
from .render import tasks_as_dot, tasks_as_png, tasks_as_svg
from .states import State
from .stores import StoreError, StoreUnavailable
from .task import Task, Transition

__version__ = "0.1.0"

_LAZY = {"InlineQueue", "ThreadQueue", "ProcessQueue", "AsyncioQueue", "ExecutorQueue", "DaskQueue"}


def __getattr__(name: str) -> Any:
    """The queue classes load on first use (asyncio, multiprocessing and Dask are slow to import)."""
    if name in _LAZY:
        from . import queues

        value = getattr(queues, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "Task",
    "Transition",
    "shell",
    "State",
    "make",
    "make_now",
    "make_later",
    "TaskQueue",
    "params",
    "open_queue",
    "register_scheme",
    "Queue",
    "BaseQueue",
    "InlineQueue",
    "ThreadQueue",
    "ProcessQueue",
    "AsyncioQueue",
    "ExecutorQueue",
    "DaskQueue",
    "DurableQueue",
    "JobFunction",
    "JobOptions",
    "JobHandle",
    "Progress",
    "progress",
    "current_job",
    "JobContext",
    "WorkerInfo",
    "CacheEntry",
    "CacheStats",
    "RecurringInfo",
    "StoreError",
    "StoreUnavailable",
    "gc_paused",
    "closure",
    "to_networkx",
    "tasks_as_dot",
    "tasks_as_svg",
    "tasks_as_png",
    "TaskError",
    "BlockedError",
    "CycleError",
    "CancelledError",
    "RemoteTaskError",
    "SerializationError",
    "RenderError",
    "BuildError",
    "CommandError",
]
