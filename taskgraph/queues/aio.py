"""An asyncio event loop: ``async def`` functions run as coroutines; plain functions run in its thread pool."""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from .base import BaseQueue, Call
from .futures import settle

__all__ = ["AsyncioQueue"]


def is_async(func: Callable[..., Any] | None) -> bool:
    """Whether calling ``func`` gives a coroutine: an ``async def`` function, or an object whose ``__call__`` is."""
    if func is None:
        return False
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(type(func).__call__)


class AsyncioQueue(BaseQueue):
    """Run calls on an event loop of the queue's own, in a background thread.

    An ``async def`` function is awaited on the loop, so thousands can wait on I/O at once; a plain function runs
    in the loop's default thread pool, so it cannot block the loop. Cancelling a RUNNING coroutine task cancels its
    coroutine (it sees ``asyncio.CancelledError`` at its next ``await``).

    Args:
        limit: the most calls running at once; None for no limit.
    """

    def __init__(self, limit: int | None = None) -> None:
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise ValueError(f"an asyncio queue's limit must be a positive whole number or None, not {limit!r}")
        self.limit = limit
        self.capacity = limit
        self._loop = asyncio.new_event_loop()
        self._running: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="taskgraph-asyncio", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"AsyncioQueue(limit={self.limit})"

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def submit_call(self, call: Call) -> Future[Any]:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        self._loop.call_soon_threadsafe(self._begin, call)
        return call

    def _begin(self, call: Call) -> None:
        # a coroutine can be stopped while it runs, so its future stays cancellable: it is not set running
        if (call.cancelled() if is_async(call.func) else not call.set_running_or_notify_cancel()):
            return
        call.started()
        running = self._loop.create_task(self._run(call), name=f"taskgraph:{call.name}")
        self._running.add(running)
        running.add_done_callback(functools.partial(self._settle, call))
        if is_async(call.func):
            call.add_done_callback(functools.partial(self._stop_if_cancelled, running))

    def _settle(self, future: Future[Any], running: asyncio.Task[Any]) -> None:
        self._running.discard(running)
        if running.cancelled():
            settle(future, exception=asyncio.CancelledError())
        elif running.exception() is None:
            settle(future, running.result())
        else:
            settle(future, exception=running.exception())

    def _stop_if_cancelled(self, running: asyncio.Task[Any], future: Future[Any]) -> None:
        if future.cancelled() and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(running.cancel)

    async def _run(self, call: Call) -> Any:
        func = call.func
        if is_async(func):
            return await func(*call.args, **call.kwargs)  # type: ignore[misc]
        if func is None:
            return None
        return await self._loop.run_in_executor(None, functools.partial(func, *call.args, **call.kwargs))

    def _cancel_all(self) -> None:
        for running in self._running:
            running.cancel()

    async def _drain(self) -> None:
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    def close(self, wait: bool = True) -> None:
        """Wait for running calls, then stop the loop and its thread; ``wait=False`` cancels the coroutines
        and abandons plain functions still running in the loop's thread pool."""
        if self._closed:
            return
        self._closed = True
        if not wait:
            self._loop.call_soon_threadsafe(self._cancel_all)
            self._loop.call_soon_threadsafe(self._loop.stop)
            return
        # submissions still on their way to the loop are started before _drain looks, as the loop runs
        # callbacks in order
        asyncio.run_coroutine_threadsafe(self._drain(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.run_until_complete(self._loop.shutdown_default_executor())
        self._loop.close()
