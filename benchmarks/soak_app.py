"""The jobs of ``benchmarks/soak.py`` and the durable queue its worker processes serve.

Workers run as ``taskgraph worker benchmarks.soak_app:queue``. The store is the one ``SOAK_STORE_URL`` names;
every job appends one line, ``"N PID"``, to the file ``SOAK_RECORD_FILE`` names, with one ``write`` on an
``O_APPEND`` descriptor, so executions are counted outside the store: a job run twice, or never, shows there
whatever the store says. The soak sets both variables for itself (before importing this module) and for every
worker.
"""

from __future__ import annotations

import os

from taskgraph import DurableQueue, open_queue

STORE_VAR = "SOAK_STORE_URL"
RECORD_VAR = "SOAK_RECORD_FILE"

queue: DurableQueue = open_queue(os.environ[STORE_VAR])  # type: ignore[assignment]

_fd: tuple[int, int] | None = None  # (pid, descriptor): a child process opens its own


def record(n: int) -> None:
    """Note one execution of job ``n`` by this process: one atomic append of ``"n pid\\n"``."""
    global _fd
    pid = os.getpid()
    if _fd is None or _fd[0] != pid:
        _fd = (pid, os.open(os.environ[RECORD_VAR], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    os.write(_fd[1], f"{n} {pid}\n".encode())


@queue.task
def tick(n: int) -> None:
    """A small job on the worker's threads."""
    record(n)


@queue.task(mode="process")
def tick_process(n: int) -> None:
    """The same job in one of the worker's job processes."""
    record(n)


@queue.task
async def tick_async(n: int) -> None:
    """The same job as a coroutine on the worker's event loop."""
    record(n)


#: The job each ``--mode`` of the soak enqueues.
JOBS = {"thread": tick, "process": tick_process, "async": tick_async}
