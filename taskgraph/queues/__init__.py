"""Where tasks run: the queue protocol, the local queues, and the URL registry."""

from .aio import AsyncioQueue
from .base import BaseQueue, Queue, execute, finish, start
from .executor import ExecutorQueue
from .inline import InlineQueue
from .processes import ProcessQueue
from .registry import as_queue, known_schemes, open_queue, redact, register_scheme
from .threads import ThreadQueue

__all__ = [
    "Queue",
    "BaseQueue",
    "start",
    "finish",
    "execute",
    "InlineQueue",
    "ThreadQueue",
    "ProcessQueue",
    "AsyncioQueue",
    "ExecutorQueue",
    "open_queue",
    "register_scheme",
    "known_schemes",
    "as_queue",
    "redact",
]
