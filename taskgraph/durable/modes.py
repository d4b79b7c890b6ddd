"""A worker's runners, one per mode (``thread``, ``process``, ``async``), and how many jobs each may run."""

from __future__ import annotations

from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

from .processes import ProcessRunner
from .runners import AsyncRunner, JobRun, ThreadRunner

if TYPE_CHECKING:
    from .queue import DurableQueue

__all__ = ["Runners"]


class Runners:
    """A worker's runners, one per mode: threads always, processes when it has an app to import, an event loop
    from the first ``async`` job on."""

    def __init__(self, queue: DurableQueue, app: str | None, threads: int, processes: int, concurrency: int,
                 events: SimpleQueue[Any], worker_id: str) -> None:
        self.queue = queue
        self.concurrency = concurrency
        self.worker_id = worker_id
        self.threads = ThreadRunner(queue, threads, events, worker_id)
        self.processes = ProcessRunner(app, processes, events, worker_id) if app else None
        self.coroutines: AsyncRunner | None = None

    def of(self, run: JobRun) -> ThreadRunner | ProcessRunner | AsyncRunner:
        """The runner of ``run``'s mode."""
        if run.options.mode == "process":
            assert self.processes is not None, "prepare() refuses process jobs without processes"
            return self.processes
        if run.options.mode == "async":
            if self.coroutines is None:
                self.coroutines = AsyncRunner(self.queue, self.concurrency, self.threads.events, self.worker_id)
            return self.coroutines
        return self.threads

    def slots(self) -> dict[str, tuple[int, int]]:
        """``mode -> (busy, size)`` of the runners started so far (``async`` once an async job came)."""
        runners = {"threads": self.threads, "processes": self.processes, "async": self.coroutines}
        return {mode: (r.busy, r.size) for mode, r in runners.items() if r is not None}

    def size(self) -> int:
        """Jobs they can run at once, counting the coroutines once async jobs come."""
        return sum(size for _, size in self.slots().values())

    def close(self) -> None:
        """Stop them all without waiting for running jobs."""
        for runner in (self.threads, self.processes, self.coroutines):
            if runner is not None:
                runner.close()
