"""A pool of threads: calls run concurrently in this process (I/O-bound work, or code that releases the GIL)."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from queue import SimpleQueue
from typing import Any

from .base import BaseQueue, Call, nothing
from .futures import FUTURES_LOCK, PENDING, RUNNING

__all__ = ["ThreadQueue"]


class ThreadQueue(BaseQueue):
    """Run calls on ``workers`` threads.

    A task stays QUEUED until a thread takes its call, so it shows RUNNING only while it really runs, and a call
    cancelled while it waits is skipped. The threads are daemons, started as calls arrive, that :meth:`close` stops.

    Args:
        workers: the number of threads, at least 1.
    """

    def __init__(self, workers: int) -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"a thread queue needs a positive whole number of workers, not {workers!r}")
        self.workers = workers
        self.capacity = 2 * workers
        self._jobs: SimpleQueue[Call | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"ThreadQueue({self.workers})"

    def submit_call(self, call: Call) -> Future[Any]:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        if len(self._threads) < self.workers:
            self._grow()
        self._jobs.put(call)
        return call

    def _grow(self) -> None:
        with self._lock:
            if len(self._threads) < self.workers and not self._closed:
                thread = threading.Thread(
                    target=self._work, name=f"taskgraph-thread-{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        # A call's future methods, inlined: this loop runs once for every call, and the calls are ours
        # (set_running_or_notify_cancel, started, then set_result or set_exception).
        jobs = self._jobs
        while True:
            call = jobs.get()
            if call is None:
                return
            with FUTURES_LOCK:
                if call._state is not PENDING:  # cancelled while it waited
                    call.set_running_or_notify_cancel()
                    continue
                call._state = RUNNING
            call._began = True
            if call._report is not None:
                call._report(call)
            try:
                func, kwargs = call.func or nothing, call.kwargs  # ** copies a mapping that is not a dict: skip it
                call._result = func(*call.args, **kwargs) if kwargs else func(*call.args)
            except BaseException as exc:  # SystemExit from a call too: it is the call's outcome; keep serving
                call._exception = exc
            call._complete()
            call = None

    def close(self, wait: bool = True) -> None:
        """Let the submitted calls finish, then stop the threads; ``wait=False`` leaves running ones behind."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)
        for thread in threads if wait else ():
            if thread is not threading.current_thread():
                thread.join()
