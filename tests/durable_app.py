"""Jobs for the durable-queue tests, importable by worker subprocesses.

A worker is started as ``taskgraph worker tests.durable_app:queue`` with ``TASKGRAPH_APP_URL`` naming the store;
a test opens its own queue on the same store with :func:`make_queue`, which registers the same functions, so
both sides know the same jobs by the same import paths.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from taskgraph import DurableQueue, open_queue, progress
from tests.counts import record


def add(a: int, b: int) -> int:
    return a + b


def count(path: str, name: str) -> str:
    record(path, name)
    return name


def fail(message: str = "boom") -> None:
    raise ValueError(message)


def fail_with(kind: str, message: str) -> None:
    raise {"KeyError": KeyError, "ZeroDivisionError": ZeroDivisionError, "OSError": OSError}[kind](message)


class Custom(Exception):
    """An exception type only the worker side defines the meaning of."""

    def __init__(self, code: int, where: str) -> None:
        super().__init__(f"code {code} at {where}")
        self.code = code


def fail_custom() -> None:
    raise Custom(7, "the worker")


def flaky(path: str, failures: int) -> int:
    """Fail the first ``failures`` calls (counted in ``path``), then return the number of calls."""
    record(path, "call")
    with open(path) as f:
        calls = len(f.read().splitlines())
    if calls <= failures:
        raise RuntimeError(f"failure {calls} of {failures}")
    return calls


def sleep(seconds: float, path: str | None = None) -> float:
    if path:
        record(path, f"start {os.getpid()}")
    time.sleep(seconds)
    if path:
        record(path, "end")
    return seconds


def wait_for_file(path: str, started: str | None = None, limit: float = 60.0) -> str:
    """Block until ``path`` exists (written by the test to let the job finish); note the start in ``started``."""
    if started:
        record(started, f"started {os.getpid()}")
    deadline = time.monotonic() + limit
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.01)
    return "released"


def progress_then_wait(path: str, value: float, message: str, started: str | None = None) -> str:
    """Report ``value`` and ``message`` through progress(), then block like :func:`wait_for_file`."""
    progress(value, message)
    return wait_for_file(path, started)


def cpu(n: int) -> int:
    return sum(i * i for i in range(n))


def pid() -> int:
    return os.getpid()


def report(steps: int) -> str:
    for i in range(steps):
        progress((i + 1) / steps, f"step {i + 1} of {steps}")
    return "reported"


def unencodable_result() -> Any:
    return {1, 2, 3}


async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


async def async_sleep(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


def make_queue(url: str) -> DurableQueue:
    """A queue on ``url`` with every job of this module registered."""
    queue = open_queue(url)
    assert isinstance(queue, DurableQueue)
    for func in (add, count, fail, fail_with, fail_custom, sleep, wait_for_file, pid, report, unencodable_result,
                 progress_then_wait):
        queue.task(func)
    queue.task(flaky, retries=3, backoff=0.05)
    queue.task(cpu, mode="process")
    queue.task(async_add)
    queue.task(async_sleep)
    return queue


def job(queue: DurableQueue, func: Any) -> Any:
    """The job of ``queue`` that runs ``func`` (for options set per test, decorate again with queue.task)."""
    from taskgraph.durable.jobs import import_path

    found = queue.job(import_path(func))
    assert found is not None
    return found


queue = make_queue(os.environ["TASKGRAPH_APP_URL"]) if os.environ.get("TASKGRAPH_APP_URL") else None
