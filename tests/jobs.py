"""The job functions of the whole test suite, importable by every process that may run one.

Process pools pickle these functions by reference, Dask workers import them, and durable workers find them by
their stored names (``tests.jobs:NAME``): the app modules (``tests.durable_app``, ``tests.hostile_app``,
``tests.scale_app``, ``tests.faults.fault_app``) register them on their queues. So this module imports nothing of
the test suite.

Jobs count their runs outside any queue or store: :func:`record` appends one line to a file with a single
``os.write`` on a descriptor opened with ``O_APPEND``. On a local file system such a write lands whole at the end
of the file, whatever thread or process makes it, so the order of the lines is the order of the writes, and a
test counts what really ran whatever a store or a cluster reports.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from taskgraph import progress

MB = 1 << 20

# ------------------------------------------------------------------ recording runs


def record(path: str, line: str) -> None:
    """Append ``line`` and a newline to ``path`` (created if missing) with one ``O_APPEND`` write."""
    data = (line + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, data)
    finally:
        os.close(fd)
    if written != len(data):  # pragma: no cover - a short write to a regular file means the disk is full
        raise OSError(f"short write to {path}: {written} of {len(data)} bytes")


def lines(path: str | Path) -> list[str]:
    """The lines of a record file (none if it does not exist yet)."""
    try:
        return Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []


def await_file(path: str, limit: float = 60.0) -> None:
    """Block until ``path`` exists (a test creates it to let a job go on).

    Raises:
        TimeoutError: it did not appear within ``limit`` seconds (a safety net for a broken run).
    """
    deadline = time.monotonic() + limit
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.005)


# ------------------------------------------------------------------ plain values


def noop() -> None:
    return None


def square(x: int) -> int:
    return x * x


def add(a: int, b: int) -> int:
    return a + b


def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """The arguments as they arrived (keyword names may be those of a queue's own options)."""
    return {"args": list(args), "kwargs": kwargs}


def pid() -> int:
    return os.getpid()


def cpu(n: int) -> int:
    return sum(i * i for i in range(n))


def sleep(seconds: float, path: str | None = None) -> float:
    """Sleep ``seconds``; with ``path``, record ``start PID`` before and ``end`` after."""
    if path:
        record(path, f"start {os.getpid()}")
    time.sleep(seconds)
    if path:
        record(path, "end")
    return seconds


async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


async def async_sleep(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


# ------------------------------------------------------------------ failures


def fail(message: str = "boom") -> None:
    raise ValueError(message)


async def async_fail(message: str = "async boom") -> None:
    await asyncio.sleep(0)
    raise ValueError(message)


def fail_with(kind: str, message: str) -> None:
    """Raise the built-in exception named ``kind`` with ``message``."""
    raise {"KeyError": KeyError, "ZeroDivisionError": ZeroDivisionError, "OSError": OSError}[kind](message)


class Custom(Exception):
    """An exception type only the worker side defines the meaning of."""

    def __init__(self, code: int, where: str) -> None:
        super().__init__(f"code {code} at {where}")
        self.code = code


def fail_custom() -> None:
    raise Custom(7, "the worker")


def fail_when(go: str, limit: float = 60.0) -> None:
    """Block until ``go`` exists (the test creates it), then fail."""
    await_file(go, limit)
    raise ValueError("failing as told")


def flaky(path: str, failures: int) -> int:
    """Fail the first ``failures`` calls (counted in ``path``), then return the number of calls."""
    record(path, "call")
    calls = len(lines(path))
    if calls <= failures:
        raise RuntimeError(f"failure {calls} of {failures}")
    return calls


# ------------------------------------------------------------------ recorded runs


def count(path: str, name: str) -> str:
    """Record ``name``; return it."""
    record(path, name)
    return name


def note(path: str, name: str, pause: float = 0.0) -> str:
    """Record ``"NAME PID TIME"`` as it starts, take ``pause`` seconds, and return the name."""
    record(path, f"{name} {os.getpid()} {time.time():.6f}")
    if pause:
        time.sleep(pause)
    return name


def wait_for_file(release: str, started: str | None = None, name: str = "started", limit: float = 60.0) -> str:
    """Record ``"NAME PID"`` in ``started`` (if given), then block until ``release`` exists; return "released"."""
    if started:
        record(started, f"{name} {os.getpid()}")
    await_file(release, limit)
    return "released"


def work(path: str, job_id: str, seconds: float, freeze: str = "", thaw: str = "") -> str:
    """Record ``"start JOB_ID PID"``, sleep ``seconds``, record ``"end JOB_ID PID"``: a job seen to be running
    between its two lines.

    While the file ``freeze`` exists, a job that starts records ``"held JOB_ID PID"`` after its start line and
    waits for the file ``thaw`` before it sleeps: a test can hold every worker in the middle of a job, and know
    which jobs each is running.
    """
    record(path, f"start {job_id} {os.getpid()}")
    if freeze and os.path.exists(freeze):
        record(path, f"held {job_id} {os.getpid()}")
        await_file(thaw)
    time.sleep(seconds)
    record(path, f"end {job_id} {os.getpid()}")
    return job_id


def node(path: str, index: int, inputs: tuple[int, ...], fail: bool = False) -> int:
    """A graph node: record ``t<index>``, then fail if told, else return :func:`expected` of the inputs."""
    record(path, f"t{index}")
    if fail:
        raise ValueError(f"task t{index} fails on purpose")
    return expected(index, inputs)


def expected(index: int, inputs: tuple[int, ...]) -> int:
    """What :func:`node` returns for these inputs."""
    return index * 7 + sum(i * i for i in inputs)


class Boom(Exception):
    """What :func:`trace` raises when told to fail; its only argument is the task's name."""


def trace(path: str, name: str, fail: bool = False) -> str:
    """Record ``start NAME`` and then ``end NAME``; then raise :class:`Boom` if ``fail``, else return ``name``.

    A prerequisite's ``end`` line is written before its function returns, hence before the task can become DONE,
    hence before any dependent can start; so in a correct run it always comes before the dependent's ``start``.
    """
    record(path, f"start {name}")
    record(path, f"end {name}")
    if fail:
        raise Boom(name)
    return name


async def atrace(path: str, name: str, fail: bool = False) -> str:
    """:func:`trace` as a coroutine, to run on the asyncio queue's event loop itself."""
    record(path, f"start {name}")
    await asyncio.sleep(0)  # let other coroutines interleave; not a wait for anything
    record(path, f"end {name}")
    if fail:
        raise Boom(name)
    return name


# ------------------------------------------------------------------ progress


def say(message: str) -> str:
    """Report progress with ``message``, then return it."""
    progress(0.5, message)
    return message


def report(steps: int) -> str:
    for i in range(steps):
        progress((i + 1) / steps, f"step {i + 1} of {steps}")
    return "reported"


def progress_then_wait(release: str, value: float, message: str, started: str | None = None) -> str:
    """Report ``value`` and ``message`` through progress(), then block like :func:`wait_for_file`."""
    progress(value, message)
    return wait_for_file(release, started)


# ------------------------------------------------------------------ what breaks the machinery


def crash() -> None:
    os._exit(13)


class Unpicklable(Exception):
    """An exception that cannot be pickled: it holds a lock."""

    def __init__(self, lock: object) -> None:
        super().__init__("cannot travel")
        self.lock = lock


def raise_unpicklable() -> None:
    raise Unpicklable(threading.Lock())


def returns_unpicklable() -> object:
    return threading.Lock()


def unencodable_result() -> Any:
    return {1, 2, 3}


def leak(path: str, mb_per_second: float = 50.0, cap_mb: int = 600) -> None:
    """Record ``"leak PID TIME"``, then allocate and keep ``mb_per_second`` MB a second (pages written, so they are
    really resident) up to ``cap_mb``, then wait: never returns; only a kill ends it."""
    record(path, f"leak {os.getpid()} {time.time():.6f}")
    kept = []
    step = 5
    while True:
        if len(kept) * step < cap_mb:
            kept.append(b"\x01" * (step * MB))
        time.sleep(step / mb_per_second)


def hang(path: str) -> None:
    """Record ``"hang PID TIME"``, ignore SIGTERM and SIGINT, and spin forever: only SIGKILL ends it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    record(path, f"hang {os.getpid()} {time.time():.6f}")
    n = 0
    while True:
        n += 1


def die_alone(started: str, others: int, addresses: str) -> None:
    """Kill this Dask worker process once ``others`` lines are in ``started`` and the worker holds nothing else.

    The scheduler charges a worker's death to every task the worker was running, and runs again the tasks whose
    results were in its memory, so this waits, asking the scheduler, until it is alone there: then the death
    concerns this task only. The worker's address is noted in ``addresses``.
    """
    from distributed import get_client, get_worker

    address = get_worker().address
    client = get_client()
    deadline = time.monotonic() + 60
    while (len(lines(started)) < others or len(client.processing(workers=[address]).get(address, ())) > 1
           or client.has_what(workers=[address]).get(address)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not alone on {address} after 60 s: {len(lines(started))} of {others} others ran; "
                               f"processing {client.processing(workers=[address])}, "
                               f"in memory {client.has_what(workers=[address])}")
        time.sleep(0.01)
    record(addresses, address)
    os.kill(os.getpid(), signal.SIGKILL)
