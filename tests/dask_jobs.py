"""Task functions for the Dask queue tests, importable by Dask worker processes.

Each execution that matters appends one line to a file with one ``os.write`` on an ``O_APPEND`` descriptor, so
executions are counted independently of Dask and of taskgraph.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from tests.counts import lines, record


def node(path: str, index: int, inputs: tuple[int, ...]) -> int:
    """A graph node: note the run, and return a value computed from the task's inputs."""
    record(path, f"t{index}")
    return expected(index, inputs)


def expected(index: int, inputs: tuple[int, ...]) -> int:
    """What :func:`node` returns for these inputs."""
    return index * 7 + sum(i * i for i in inputs)


def fail(path: str, index: int) -> None:
    record(path, f"t{index}")
    raise ValueError(f"task t{index} fails on purpose")


def fail_when(go: str, limit: float = 60.0) -> None:
    """Block until ``go`` exists (the test creates it), then fail."""
    deadline = time.monotonic() + limit
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{go} never appeared")
        time.sleep(0.005)
    raise ValueError("failing as told")


def echo(**kwargs: object) -> dict[str, object]:
    """Return the keyword arguments (some named like ``Client.submit``'s own)."""
    return dict(kwargs)


def wait_for_file(release: str, started: str, name: str, limit: float = 60.0) -> str:
    """Note the start, then block until ``release`` exists (the test creates it to let the task end)."""
    record(started, name)
    deadline = time.monotonic() + limit
    while not os.path.exists(release):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{release} never appeared")
        time.sleep(0.005)
    return name


def pid() -> int:
    return os.getpid()


def die_alone(started: str, others: int, addresses: str) -> None:
    """Kill this worker process once ``others`` lines are in ``started`` and the worker holds nothing else.

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


def raise_unpicklable() -> None:
    """Raise an exception that cannot be pickled (it holds a lock)."""
    raise LockedError(threading.Lock())


class LockedError(Exception):
    def __init__(self, lock: object) -> None:
        super().__init__("cannot take the lock")
        self.lock = lock


def return_unpicklable() -> object:
    return threading.Lock()


async def async_double(x: int) -> int:
    return 2 * x
