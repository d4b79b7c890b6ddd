"""What the Dask clients' event loops tell the queue: calls that started on a worker, and futures that finished.

Process-wide, because Dask delivers a topic's events to a client's handler, not to a queue: every Dask queue of
the process shares :data:`WAITING`.
"""

from __future__ import annotations

import asyncio
import threading
from functools import partial
from typing import Any

from ..base import Call
from ..futures import begin

__all__ = ["STARTED_TOPIC", "WAITING", "subscribe", "watch"]

#: The scheduler event topic on which workers announce that a call started (``track_start``).
STARTED_TOPIC = "taskgraph-started"

#: The calls handed to Dask that have not started yet, by Dask key.
WAITING: dict[str, Call] = {}
_SUBSCRIBED: set[str] = set()  # ids of the clients subscribed to STARTED_TOPIC
_SUBSCRIBE_LOCK = threading.Lock()
_WATCHERS: set[asyncio.Future[None]] = set()  # the coroutines waiting for futures to finish (see watch)


def subscribe(client: Any) -> None:
    """Have ``client`` pass the start events of its workers' calls to :func:`_on_started`, once per client."""
    with _SUBSCRIBE_LOCK:
        if client.id in _SUBSCRIBED:
            return
        client.subscribe_topic(STARTED_TOPIC, _on_started)
        _SUBSCRIBED.add(client.id)


def watch(client: Any, futures: list[Any], put: Any) -> None:
    """Call ``put(future)`` as each Dask future finishes, errs or is cancelled, in the client's event loop thread.

    One coroutine per future, started from one callback for them all: a third of what ``add_done_callback``
    costs (a callback and a thread-pool hand-off per future). Falls back to it if Dask's futures change.
    """
    if not all(hasattr(f, "_state") and hasattr(f._state, "wait") for f in futures[:1]):
        for future in futures:
            future.add_done_callback(put)
        return

    async def when_done(future: Any) -> None:
        while future.status == "pending":
            await future._state.wait()
        put(future)

    def start_watching() -> None:
        for future in futures:
            watcher = asyncio.ensure_future(when_done(future))
            _WATCHERS.add(watcher)  # asyncio keeps only weak references to its tasks
            watcher.add_done_callback(_WATCHERS.discard)

    client.loop.add_callback(start_watching)


def _on_started(event: tuple[float, Any]) -> None:
    """On a client's event loop: a worker started the call of a key; say so, unless it was cancelled meanwhile."""
    call = WAITING.pop(event[1], None)
    if call is not None and begin(call):
        _say_started(call)


def _say_started(call: Call, *_: Any) -> None:
    """Report a call's start once the calls it was linked to are settled, so that the end of each is reported first:
    Dask may start a call before the ends of those it waited for have come back here."""
    for after in call.after:
        if not after.done():
            after.add_done_callback(partial(_say_started, call))
            return
    call.started()
