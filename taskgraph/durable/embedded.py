"""A worker run inside an application: its loop in a thread of its own, started and stopped from any thread or
from an event loop (``async with Worker(queue):``, ``worker.start()`` ... ``await worker.stop()``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Generator
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["Embeddable", "Embedded", "Stopping"]

_W = TypeVar("_W", bound="Embeddable")


class Embedded:
    """The thread running a worker's loop (``run(burst)``), and the future of its exit status."""

    def __init__(self, run: Callable[[bool], int], burst: bool) -> None:
        self.future: Future[int] = Future()
        self.thread = threading.Thread(target=self._main, args=(run, burst), daemon=True, name="taskgraph-worker")
        self.thread.start()

    def _main(self, run: Callable[[bool], int], burst: bool) -> None:
        try:
            self.future.set_result(run(burst))
        except BaseException as exc:  # noqa: BLE001 - whoever waits for the worker sees it
            self.future.set_exception(exc)


class Stopping:
    """What :meth:`~.Worker.stop` returns: await it (in an event loop) or call :meth:`wait` (elsewhere) to wait
    until the worker has stopped and reported what it ran. For a worker not started with
    :meth:`~.Worker.start` (its ``run()`` called by someone else) there is nothing to wait for here: both return
    None at once."""

    def __init__(self, embedded: Embedded | None) -> None:
        self._embedded = embedded

    def __await__(self) -> Generator[Any, None, int | None]:
        if self._embedded is None:
            return None
        return (yield from asyncio.wrap_future(self._embedded.future).__await__())

    def wait(self, timeout: float | None = None) -> int | None:
        """The worker's exit status, once it has stopped (see :meth:`.Worker.run`).

        Raises:
            TimeoutError: it has not stopped within ``timeout`` seconds.
        """
        return None if self._embedded is None else self._embedded.future.result(timeout)


class Embeddable:
    """What lets a :class:`~.Worker` run inside an application: :meth:`start`, and ``async with``."""

    _embedded: Embedded | None = None  # the thread running the loop, after start()
    id: str

    def run(self, burst: bool = False) -> int:
        raise NotImplementedError

    def stop(self) -> Stopping:
        raise NotImplementedError

    def start(self: _W, burst: bool = False) -> _W:
        """Run the worker's loop in a thread of its own (signals are left to the application) and return the
        worker at once; stop it with ``stop()``. ``async with Worker(queue, ...) as worker:`` does both around its
        block, from an event loop: the block's end waits for the running jobs (up to the grace) without blocking
        the loop.

        Raises:
            RuntimeError: it was started already.
        """
        if self._embedded is not None:
            raise RuntimeError(f"worker {self.id} was started already: a worker runs once")
        self._embedded = Embedded(self.run, burst)
        return self

    async def __aenter__(self: _W) -> _W:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
