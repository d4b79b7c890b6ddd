"""What reaches a worker's loop from outside it: the store's word that there may be work (:func:`watch_store`, in a
thread on a connection of its own), and SIGTERM or SIGINT (:func:`catch_stop_signals`)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from queue import Empty, SimpleQueue
from typing import Any

from ..stores.base import close_quietly

__all__ = ["watch_store", "catch_stop_signals", "pause_for_store"]

log = logging.getLogger("taskgraph.worker")


def watch_store(connect: Callable[[], Any], queues: Sequence[str], wake: Callable[[], None],
                stopping: Callable[[], bool], finished: threading.Event) -> None:
    """Call ``wake()`` each time the store says there may be work in ``queues``, until ``stopping()`` or
    ``finished``; on a connection of its own, made again a second after the store fails."""
    store = None
    while not stopping() and not finished.is_set():
        try:
            store = store or connect()
            store.wait_for_work(queues, 1.0)
        except Exception:  # the store is away
            close_quietly(store)
            store = None
            finished.wait(1.0)
            continue
        wake()
    close_quietly(store)


def catch_stop_signals(first: Callable[[int], None], last: Callable[[], None]) -> Callable[[], None]:
    """Call ``first(signum)`` on a first SIGTERM or SIGINT; on the next, call ``last()`` (keep it short and free of
    locks) and end the process at once. Only the main thread can catch signals: elsewhere this does nothing.

    Returns:
        a function that puts back the handlers there were before.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    caught = 0

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal caught
        caught += 1
        if caught == 1:
            return first(signum)
        log.warning("second signal: exiting at once; leases will recover the running jobs")
        with contextlib.suppress(Exception):  # exiting regardless
            last()
        os._exit(128 + signum)

    def restore() -> None:
        for s, handler in previous.items():
            signal.signal(s, handler)

    for s in previous:
        signal.signal(s, on_signal)
    return restore


def pause_for_store(events: SimpleQueue[Any], seconds: float, stopping: Callable[[], bool],
                    answer: Callable[[Any], None]) -> None:
    """Pause a worker's loop (the back-off after a store failure), but wake for a signal (``stopping()``), and
    answer snapshot requests meanwhile. Ends of runs and progress that arrive meanwhile are kept in ``events`` for
    the next pass, which reports them: they must not cut the pause short, or a store outage becomes a busy loop of
    failing passes."""
    deadline = time.monotonic() + seconds
    kept: list[Any] = []
    try:
        while not stopping():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                message = events.get(timeout=left)
            except Empty:
                return
            if message[0] == "snapshot":
                answer(message[1])
            elif message[0] != "wake":
                kept.append(message)
    finally:
        for message in kept:
            events.put(message)
