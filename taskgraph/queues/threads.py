"""A pool of threads: tasks run concurrently in this process (I/O-bound work, or code that releases the GIL)."""

from __future__ import annotations

import logging
import threading
from queue import SimpleQueue
from typing import TYPE_CHECKING

from .base import BaseQueue, execute

if TYPE_CHECKING:
    from ..task import Task

__all__ = ["ThreadQueue"]

log = logging.getLogger("taskgraph")
_STOP = None


class ThreadQueue(BaseQueue):
    """Run tasks on ``workers`` threads.

    A task stays QUEUED until a thread takes it, so it shows RUNNING only while it really runs, and a task
    cancelled while it waits is skipped. The threads are daemons that :meth:`close` stops; ``make`` waits for
    the tasks it started before it returns.

    Args:
        workers: the number of threads, at least 1.
    """

    def __init__(self, workers: int) -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"a thread queue needs a positive whole number of workers, not {workers!r}")
        self.workers = workers
        self.capacity = 2 * workers
        self._jobs: SimpleQueue[Task | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"ThreadQueue({self.workers})"

    def submit(self, task: Task) -> None:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        if len(self._threads) < self.workers:
            self._grow()
        self._jobs.put(task)

    def _grow(self) -> None:
        with self._lock:
            if len(self._threads) < self.workers and not self._closed:
                thread = threading.Thread(
                    target=self._work, name=f"taskgraph-thread-{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            task = jobs.get()
            if task is _STOP:
                return
            try:
                execute(task)
            except BaseException:  # SystemExit from a task: it is CANCELLED already; keep serving
                log.debug("task %r stopped its thread's call", task.name, exc_info=True)

    def close(self, wait: bool = True) -> None:
        """Let the submitted tasks finish, then stop the threads; ``wait=False`` leaves running ones behind."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(_STOP)
        for thread in threads if wait else ():
            if thread is not threading.current_thread():
                thread.join()
