"""A worker's heartbeat: a thread of its own, on a connection of its own, that keeps the worker's leases and finds
the running jobs that were cancelled.

Keeping leases in the worker's loop let jobs starve it: CPU-bound ``thread`` jobs hold the GIL, the loop waits for
it at every step, and with a short lease healthy workers lost their jobs. This thread does one thing, so it needs
the GIL only for a few moments per beat:

- every third of the lease it extends the leases of every job the worker holds (``Store.heartbeat``); the jobs it
  no longer holds (cancelled, or their lease lost) are posted to the loop as ``("lost", ids, since)``;
- between beats, about twice a second while ``async`` or ``process`` jobs run (the runs a worker can stop), it
  reads their records (``Store.get``, a read, no write) and posts the ones no longer RUNNING under this worker the
  same way, so that cancelling such a job stops it within about a second whatever the lease.

``since`` is the monotonic time the thread took the list of jobs it asked about: a job claimed again after it (a
retry that came back to this worker) is not the job that was lost, and the loop keeps it.

Even so a lease must exceed the longest pause of the whole process (a stop-the-world swap, a suspended VM) plus a
store round trip: :data:`MIN_LEASE` seconds at least.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

from ..stores.base import close_quietly

__all__ = ["Heartbeat", "MIN_LEASE", "CHECK_EVERY", "checked_lease"]

log = logging.getLogger("taskgraph.worker")

#: The shortest lease a worker accepts (seconds). Measured on a 2-core machine shared with other work, three
#: workers of 8 threads each running pure-Python jobs (tests/test_worker_hostile.py): a lease of 1 s still lost a
#: few jobs there (the heartbeat thread waits its turn for the GIL at each step of a beat), 3 s lost none.
MIN_LEASE = 3.0
#: Seconds between two looks for cancelled ``async`` and ``process`` runs.
CHECK_EVERY = 0.5


def checked_lease(lease: float) -> float:
    """``lease``, or :data:`MIN_LEASE` if it is shorter (saying so in a warning)."""
    if lease < MIN_LEASE:
        log.warning("a lease of %.3g s is shorter than heartbeats can keep on a loaded machine: using %g s", lease,
                    MIN_LEASE)
    return max(lease, MIN_LEASE)


class Heartbeat:
    """The heartbeat thread of one worker.

    Args:
        connect: opens a store connection (the thread's own).
        worker_id: the worker's id.
        lease: seconds a lease lasts.
        held: returns the ids of the jobs the worker holds (running or waiting for a slot).
        stoppable: returns the ids of the runs the worker can stop (``async`` and ``process``).
        events: the worker's events queue, where lost jobs are posted.
        beat_hook: called (in this thread) after each beat that reached the store, for the worker to say it is
            alive elsewhere too (see :meth:`.Worker.worker_info`).
        tick: called (in this thread, with its connection) at every turn, at least twice a second: the queue's
            recurring jobs (:meth:`.RecurringAdmin.recurring_ticker`), which limits itself to one store call a
            second and never raises.
    """

    def __init__(self, connect: Callable[[], Any], worker_id: str, lease: float, held: Callable[[], list[str]],
                 stoppable: Callable[[], list[str]], events: SimpleQueue[Any],
                 beat_hook: Callable[[Any], None] | None = None, tick: Callable[[Any], None] | None = None) -> None:
        self.connect = connect
        self.worker_id = worker_id
        self.lease = lease
        self.held = held
        self.stoppable = stoppable
        self.events = events
        self.beat_hook = beat_hook
        self.tick = tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="taskgraph-heartbeat")

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait: float = 2.0) -> None:
        """End the thread (it closes its own connection); wait up to ``wait`` seconds for it."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(wait)

    def _run(self) -> None:
        store = None
        next_beat = 0.0
        check = min(CHECK_EVERY, self.lease / 3)
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                store = store or self.connect()
                if now >= next_beat:
                    next_beat = now + self.lease / 3
                    self._beat(store, now)
                else:
                    self._check(store, now)
                if self.tick is not None:
                    self.tick(store)
            except Exception as exc:  # the store is away: the loop says so; try again at the next tick
                log.debug("heartbeat of %s failed: %s", self.worker_id, exc)
                close_quietly(store)
                store = None
            self._stop.wait(max(0.0, min(next_beat, time.monotonic() + check) - time.monotonic()))
        close_quietly(store)

    def _beat(self, store: Any, since: float) -> None:
        ids = self.held()
        if ids:
            lost = set(ids) - store.heartbeat(self.worker_id, ids, self.lease)
            if lost:
                self.events.put(("lost", lost, since))
        if self.beat_hook is not None:
            self.beat_hook(store)

    def _check(self, store: Any, since: float) -> None:
        ids = self.stoppable()
        if not ids:
            return
        lost = set(ids) - {r.id for r in store.get(ids) if r.status == "RUNNING" and r.worker == self.worker_id}
        if lost:
            self.events.put(("lost", lost, since))
