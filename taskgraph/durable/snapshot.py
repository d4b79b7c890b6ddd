"""What a worker shows of itself to a dashboard: :class:`WorkerSnapshot` and its parts, the :class:`Tally` its loop
keeps of how runs ended, and the :class:`SnapshotDesk` through which other threads get snapshots.

The worker's loop owns everything a snapshot is built from, so only the loop builds one while it runs: another
thread asks at the desk, the loop answers between two of its steps, and the asker gets a copy in which nothing
changes after it is taken.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

from ..stores.records import JobRecord

__all__ = ["WorkerSnapshot", "RunningJob", "RecentFailure", "Tally", "SnapshotDesk"]

_RATE_WINDOW = 10  # seconds over which a snapshot's throughput is measured
_RECENT_FAILURES = 5  # failures a snapshot keeps


@dataclass(frozen=True)
class RunningJob:
    """A job a worker is running, as a snapshot saw it."""

    id: str
    name: str
    mode: str  # thread, process or async
    attempt: int
    began: float  # time.monotonic() when it was handed to its runner, in the worker's process
    progress: float | None = None  # what it last reported through taskgraph.progress(), 0..1
    message: str | None = None


@dataclass(frozen=True)
class RecentFailure:
    """A run that failed on a worker (for good, or to be retried)."""

    at: float  # epoch seconds, by this machine's clock
    id: str
    name: str
    error: str  # the exception type's qualified name
    message: str
    retry_in: float | None = None  # seconds until it runs again, if it will


@dataclass(frozen=True)
class WorkerSnapshot:
    """A copy of what a worker is doing, for a dashboard; nothing in it changes after it is taken.

    Monotonic times (``taken``, ``since``, each running job's ``began``) are ``time.monotonic()`` of the worker's
    process, so that a viewer in that process can tell how long ago they were.
    """

    id: str
    url: str
    app: str | None
    queues: tuple[str, ...]
    taken: float  # time.monotonic() when it was taken
    since: float  # time.monotonic() when the worker started serving
    slots: dict[str, tuple[int, int]]  # mode -> (busy, size); "async" only once an async job came
    held: int  # claimed jobs waiting for a slot
    running: tuple[RunningJob, ...]
    done: int
    failed: int
    retried: int
    rate: float  # jobs finished (DONE or FAILED) per second over the last 10 s
    failures: tuple[RecentFailure, ...] = field(default_factory=tuple)  # oldest first
    stopping: bool = False  # asked to stop (a signal, stop()): finishing the running jobs
    stopped: bool = False  # run() has returned
    store_error: str | None = None  # why the last call to the store failed, while it keeps failing


class Tally:
    """How a worker's runs ended, kept by its loop: counts by kind, jobs finished per second, the latest
    failures."""

    def __init__(self) -> None:
        self.finished = {"DONE": 0, "FAILED": 0, "retried": 0}  # runs ended as each, in this order
        self.failures: deque[RecentFailure] = deque(maxlen=_RECENT_FAILURES)  # oldest first
        self.since = time.monotonic()  # when the worker started serving
        self._ends: Counter[int] = Counter()  # jobs finished in each of the last _RATE_WINDOW + 1 seconds

    def count(self, kind: str, n: int = 1) -> None:
        """Count ``n`` runs that ended as ``kind`` (DONE, FAILED or retried); jobs finished feed the rate."""
        self.finished[kind] += n
        if kind != "retried" and n > 0:
            second = int(time.monotonic())
            self._ends[second] += n
            for old in [s for s in self._ends if s < second - _RATE_WINDOW]:
                del self._ends[old]

    def failed(self, record: JobRecord, error: dict[str, Any], retry_in: float | None) -> None:
        """Count a failed run (FAILED, or retried in ``retry_in`` seconds) and keep it among the latest."""
        self.count("FAILED" if retry_in is None else "retried")
        self.failures.append(RecentFailure(time.time(), record.id, record.name, str(error.get("type") or "Exception"),
                                           str(error.get("message") or ""), retry_in))

    def rate(self, now: float) -> float:
        """Jobs finished per second over the last _RATE_WINDOW seconds (whole seconds, the current one in part),
        or since the worker started if that is sooner, but at least over one second."""
        first = int(now) - _RATE_WINDOW + 1
        total = sum(n for second, n in self._ends.items() if second >= first)
        span = max(min(now - first, now - self.since), 1.0)  # a first burst is not a rate of thousands a second
        return total / span


class SnapshotDesk:
    """Hands the snapshots a loop builds in its own thread to the threads that ask for them.

    Args:
        build: makes a snapshot: in the loop's thread while the loop runs, in the asking thread before and after.
        post: sends a request to the loop, which answers it with :meth:`answer` between two of its steps.
    """

    def __init__(self, build: Callable[[], WorkerSnapshot],
                 post: Callable[[futures.Future[WorkerSnapshot]], None]) -> None:
        self._build = build
        self._post = post
        self._latest: WorkerSnapshot | None = None
        self.loop: int | None = None  # the thread of the loop, while it runs

    def start(self) -> None:
        """The loop starts, in the calling thread (it sets :attr:`loop` back to None when it ends)."""
        self._latest, self.loop = self._build(), threading.get_ident()

    def get(self, timeout: float) -> WorkerSnapshot:
        """A snapshot, safe to ask for from any thread. While the loop runs, the request goes to the loop; if it
        does not answer within ``timeout`` seconds (a slow call to the store), the last one it made is returned."""
        if self.loop not in (None, threading.get_ident()):
            request: futures.Future[WorkerSnapshot] = futures.Future()
            self._post(request)
            try:
                return request.result(timeout)
            except futures.TimeoutError:
                if self.loop is not None and self._latest is not None:
                    return self._latest
        return self._build()

    def answer(self, request: futures.Future[WorkerSnapshot]) -> None:
        """Answer a request (in the loop's thread)."""
        self._latest = self._build()
        request.set_result(self._latest)
