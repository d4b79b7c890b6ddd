"""Awaiting jobs from asyncio code: one thread per queue watches the store for every waiting coroutine.

``await handle.resolve()`` must not hold a thread per waiter (an ``asyncio.to_thread(join)`` each would starve the
application's default executor, and an abandoned wait would keep its thread). Instead the waiters register here;
one daemon thread, started while anyone waits, asks the store for all their records in one call, settles the
futures of the finished ones in their event loops, and sleeps on the store's own wake-ups (``Store.wait``:
LISTEN/NOTIFY, pub/sub, or SQLite's polling) until something may have changed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from operator import methodcaller
from typing import TYPE_CHECKING, Any

from ..stores.base import StoreUnavailable
from ..stores.records import JobRecord

if TYPE_CHECKING:
    from .queue import DurableQueue

__all__ = ["Resolver"]

log = logging.getLogger("taskgraph")
# the longest the thread sleeps on the store between two looks: what a new waiter of a job that has already ended
# may wait for, since nothing in the store changes to wake the thread for it
_PAUSE = 0.2


class Resolver:
    """The waiters of one queue, and the thread that settles them."""

    def __init__(self, queue: DurableQueue) -> None:
        self.queue = queue
        self._lock = threading.Lock()
        self._waiters: dict[str, list[asyncio.Future[JobRecord]]] = {}
        self._thread: threading.Thread | None = None
        self._store: Any = None  # the thread's connection, while it runs
        self._closed = False

    @contextmanager
    def watch(self, job_id: str) -> Iterator[asyncio.Future[JobRecord]]:
        """A future of the job's final record, in the running loop; forgotten when the block ends, however."""
        future: asyncio.Future[JobRecord] = asyncio.get_running_loop().create_future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.queue!r} is closed")
            self._waiters.setdefault(job_id, []).append(future)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="taskgraph-resolver", daemon=True)
                self._thread.start()
        try:
            yield future
        finally:
            with self._lock:
                futures = self._waiters.get(job_id, [])
                if future in futures:
                    futures.remove(future)
                    if not futures:
                        del self._waiters[job_id]

    def close(self, timeout: float = 2.0) -> Any:
        """Stop the thread, waiting up to ``timeout`` seconds for it; the futures still waiting fail.

        Returns:
            the thread's store connection if the thread is still using it (then no other thread may close it:
            closing a SQLite connection another thread is using crashes the process), else None.
        """
        with self._lock:
            self._closed = True
            waiting = [f for futures in self._waiters.values() for f in futures]
            self._waiters.clear()
            thread = self._thread
        for future in waiting:
            _settle(future, exception=RuntimeError(f"{self.queue!r} was closed while a job was awaited"))
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                return self._store
        return None

    def _run(self) -> None:
        queue = self.queue
        try:
            self._store = queue.store
            while True:
                with self._lock:
                    ids = list(self._waiters)
                    if not ids or self._closed:
                        self._thread = None  # the next waiter starts another
                        return
                try:
                    records = queue.patiently(methodcaller("get", ids))
                except StoreUnavailable as exc:  # out of patience: every waiter learns it, as join() would
                    self._fail(ids, exc)
                    continue
                found = {record.id: record for record in records}
                for job_id in ids:
                    record = found.get(job_id)
                    if record is None:
                        gone = KeyError(f"job {job_id} is not in {queue.url} (never enqueued, or purged)")
                        self._fail([job_id], gone)
                    elif record.final:
                        self._finish(job_id, record)
                queue.patiently(methodcaller("wait", _PAUSE))
        except BaseException as exc:  # never leave a waiter hanging on a dead thread
            log.exception("taskgraph: the thread awaiting jobs of %r stopped", queue)
            with self._lock:
                self._thread = None
                ids = list(self._waiters)
            self._fail(ids, exc)
        finally:
            queue.reconnect()  # this thread's connection goes with it

    def _finish(self, job_id: str, record: JobRecord) -> None:
        with self._lock:
            futures = self._waiters.pop(job_id, [])
        for future in futures:
            _settle(future, result=record)

    def _fail(self, ids: list[str], exc: BaseException) -> None:
        with self._lock:
            futures = [f for job_id in ids for f in self._waiters.pop(job_id, [])]
        for future in futures:
            _settle(future, exception=exc)


def _settle(future: asyncio.Future[Any], result: Any = None, exception: BaseException | None = None) -> None:
    """Settle ``future`` in its own loop, unless it was cancelled or its loop has closed meanwhile."""

    def settle() -> None:
        if not future.done():
            future.set_result(result) if exception is None else future.set_exception(exception)

    try:
        future.get_loop().call_soon_threadsafe(settle)
    except RuntimeError:  # the loop is closed: no one awaits it any more
        pass
