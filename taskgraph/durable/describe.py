"""What a worker says about itself: the snapshot its dashboard draws (:class:`~.snapshot.WorkerSnapshot`, built in
the worker's loop), and the info it registers in a store that keeps live workers (:func:`worker_info`)."""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING, Any

from .snapshot import RunningJob, WorkerSnapshot

if TYPE_CHECKING:
    from .worker import Worker

__all__ = ["build_snapshot", "worker_info", "register", "deregister"]


def build_snapshot(worker: Worker) -> WorkerSnapshot:
    """``worker``'s snapshot; called in its loop's thread (or once the loop ended)."""
    running = tuple(
        RunningJob(run.id, run.record.name, run.options.mode, run.record.attempts, run.began,
                   *(run.progress or (run.record.progress, run.record.progress_message)))
        for run in sorted(worker.running.values(), key=lambda r: r.began)
    )
    now, tally = time.monotonic(), worker.tally
    return WorkerSnapshot(
        id=worker.id, url=worker.queue.url, app=worker.app, queues=tuple(worker.queues), taken=now,
        since=tally.since, slots=worker.runners.slots(), held=len(worker.held), running=running,
        done=tally.finished["DONE"], failed=tally.finished["FAILED"], retried=tally.finished["retried"],
        rate=tally.rate(now), failures=tuple(tally.failures), stopping=worker._stopping,
        stopped=worker._finished.is_set() and worker._snapshots.loop is None, store_error=worker._store_error)


def worker_info(worker: Worker) -> dict[str, Any]:
    """What ``worker`` registers in its store: a JSON object with its ``id``, ``host``, ``pid``, ``queues``,
    ``concurrency`` (slots per mode: ``thread``, ``process`` when it has an app, ``async``), ``started`` and
    ``last_heartbeat`` (epoch seconds), ``running`` (the ids of the jobs it runs), ``done`` and ``failed`` (runs
    that ended so, ``failed`` counting retried ones). Safe to call from any thread: it copies what the loop changes
    in single steps."""
    runners, finished = worker.runners, dict(worker.tally.finished)
    concurrency = {"thread": runners.threads.size, "async": runners.concurrency}
    if runners.processes is not None:
        concurrency["process"] = runners.processes.size
    return {
        "id": worker.id, "host": socket.gethostname(), "pid": os.getpid(), "queues": list(worker.queues),
        "concurrency": concurrency, "started": worker.started, "last_heartbeat": time.time(),
        "running": sorted(worker.running.copy()), "done": finished["DONE"],
        "failed": finished["FAILED"] + finished["retried"],
    }


def register(worker: Worker, store: Any) -> None:
    """Register (or refresh) ``worker`` in ``store``, for its lease, if the store keeps live workers."""
    method = getattr(store, "register_worker", None)
    if method is not None:
        method(worker_info(worker), worker.lease)


def deregister(worker: Worker, store: Any) -> None:
    """Remove ``worker`` from ``store``'s live workers, if it keeps them."""
    method = getattr(store, "deregister_worker", None)
    if method is not None:
        method(worker.id)
