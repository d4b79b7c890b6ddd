"""An asyncio event loop: ``async def`` functions run as coroutines; plain functions run in its thread pool."""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import CancelledError
from .base import BaseQueue, finish, start

if TYPE_CHECKING:
    from ..task import Task

__all__ = ["AsyncioQueue"]


def _is_async(func: Callable[..., Any] | None) -> bool:
    if func is None:
        return False
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(type(func).__call__)


class AsyncioQueue(BaseQueue):
    """Run tasks on an event loop of the queue's own, in a background thread.

    An ``async def`` function is awaited on the loop, so thousands can wait on I/O at once; a plain function runs
    in the loop's default thread pool, so it cannot block the loop. Cancelling a RUNNING coroutine task
    cancels its coroutine (it sees ``asyncio.CancelledError`` at its next ``await``).

    Args:
        limit: the most tasks running at once; None for no limit.
    """

    def __init__(self, limit: int | None = None) -> None:
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise ValueError(f"an asyncio queue's limit must be a positive whole number or None, not {limit!r}")
        self.limit = limit
        self.capacity = limit
        self._loop = asyncio.new_event_loop()
        self._running: set[asyncio.Task[None]] = set()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="taskgraph-asyncio", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"AsyncioQueue(limit={self.limit})"

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def submit(self, task: Task) -> None:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        self._loop.call_soon_threadsafe(self._begin, task)

    def _begin(self, task: Task) -> None:
        if not start(task):
            return
        running = self._loop.create_task(self._run(task), name=f"taskgraph:{task.name}")
        self._running.add(running)
        running.add_done_callback(self._running.discard)
        if _is_async(task.func):
            task.add_done_callback(functools.partial(self._stop_if_cancelled, running))

    def _stop_if_cancelled(self, running: asyncio.Task[None], task: Task) -> None:
        if task.state == "CANCELLED" and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(running.cancel)

    async def _run(self, task: Task) -> None:
        func = task.func
        try:
            if _is_async(func):
                result = await func(*task.args, **task.kwargs)  # type: ignore[misc]
            elif func is None:
                result = None
            else:
                call = functools.partial(func, *task.args, **task.kwargs)
                result = await self._loop.run_in_executor(None, call)
        except asyncio.CancelledError:
            task._fire("cancel", False, None, CancelledError(f"task {task.name!r} was cancelled"))
        except Exception as exc:
            finish(task, exception=exc)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt from the function
            task._fire("cancel", False, None, exc)
        else:
            finish(task, result)

    def _cancel_all(self) -> None:
        for running in self._running:
            running.cancel()

    async def _drain(self) -> None:
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    def close(self, wait: bool = True) -> None:
        """Wait for running tasks, then stop the loop and its thread; ``wait=False`` cancels the coroutines
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
