"""An app for the tests of the job context, the worker-side hooks and hostile worker conditions: jobs that report
what :func:`taskgraph.current_job` says, and a hook added as the app is imported that writes each call to a file
(``TASKGRAPH_HOOK_LOG``), so that worker processes, which import this module, call it too.

``taskgraph worker tests.context_app:queue`` (or ``Worker(queue, app="tests.context_app:queue")``) reads the store's
URL from ``TASKGRAPH_APP_URL``; a test builds its own queue on the same store with :func:`make_queue`.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from taskgraph import DurableQueue, current_job, open_queue
from taskgraph.durable.jobs import JobFunction, import_path
from tests.jobs import await_file, record

APP = "tests.context_app:queue"


def _about() -> dict[str, Any]:
    ctx = current_job()
    assert ctx is not None, "current_job() is None inside a job"
    ctx.progress(0.5, "half way")
    return {"id": ctx.id, "name": ctx.name, "attempt": ctx.attempt, "queue": ctx.queue, "metadata": ctx.metadata,
            "worker_id": ctx.worker_id, "pid": os.getpid()}


def whoami() -> dict[str, Any]:
    return _about()


async def awhoami() -> dict[str, Any]:
    await asyncio.sleep(0)
    return _about()


def whoami_in_process() -> dict[str, Any]:
    return _about()


def boom() -> None:
    raise ValueError("boom in the job")


def burn(seconds: float, path: str, name: str) -> str:
    """Hold the GIL in pure Python for ``seconds``, then record ``name``."""
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        for i in range(2000):
            n += i * i
    record(path, name)
    return name


def nap(seconds: float, started: str) -> str:
    """Record that it started, then sleep ``seconds`` (a thread job a graceful stop waits for)."""
    record(started, "started")
    time.sleep(seconds)
    return "rested"


def plain_int(x: int) -> int:
    """A plain function; a record that says ``async`` for it must not have its int awaited."""
    return x + 1


def child_then_wait(started: str, release: str) -> str:
    """Record this process's pid in ``started``, then wait for ``release`` (a process job)."""
    record(started, f"pid {os.getpid()}")
    await_file(release, 60.0)
    return "released"


async def await_release(started: str, release: str) -> str:
    """Record that it started, then wait for ``release`` (an async job that a cancel must stop)."""
    record(started, "started")
    try:
        while not os.path.exists(release):
            await asyncio.sleep(0.01)
    except asyncio.CancelledError:
        record(started, "cancelled")
        raise
    return "released"


class FileHook:
    """Writes each call of a worker-side hook as a line ``event name detail`` to ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def before_run(self, ctx: Any) -> None:
        record(self.path, f"before_run {ctx.name} {os.getpid()}")

    def after_run(self, ctx: Any, outcome: Any) -> None:
        record(self.path, f"after_run {ctx.name} {outcome[0]} {os.getpid()}")


def make_queue(url: str) -> DurableQueue:
    queue = open_queue(url)
    assert isinstance(queue, DurableQueue)
    for func in (whoami, boom, burn, plain_int, nap):
        queue.task(func)
    queue.task(awhoami, mode="async")
    queue.task(await_release, mode="async")
    queue.task(whoami_in_process, mode="process")
    queue.task(child_then_wait, mode="process")
    if os.environ.get("TASKGRAPH_HOOK_LOG"):
        queue.add_hook(FileHook(os.environ["TASKGRAPH_HOOK_LOG"]))
    return queue


queue = make_queue(os.environ["TASKGRAPH_APP_URL"]) if os.environ.get("TASKGRAPH_APP_URL") else None


def named(queue: DurableQueue, func: Any) -> JobFunction:
    """The job of ``queue`` that runs ``func`` (registered by :func:`make_queue`)."""
    found = queue.job(import_path(func))
    assert found is not None, f"{import_path(func)} is not a job of {queue!r}"
    return found
