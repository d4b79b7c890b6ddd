"""The worker: claims jobs from a store, runs them, and reports how each ended.

One loop in the main thread owns everything the worker knows (the runs in hand, the connection to the store);
runners and the thread that watches the store (:mod:`.wakeups`) only post messages to its ``events`` queue. Each
pass of the loop:

1. claims up to as many jobs as it has free slots (in batches), when the store said there may be work, when its
   last claim came back full, and at least four times a second (claiming also takes back expired leases, and
   finds delayed jobs that have come due);
2. starts what it holds as slots of each mode free up;
3. reports ends in batches: all successes in one ``complete`` call, each failure with its retry decision;
4. stops runs whose job was cancelled or lost, as its heartbeat thread (:mod:`.heartbeat`, which keeps the
   leases on a connection of its own) tells it;
5. fails runs past their timeout (killing a process, cancelling a coroutine).

The loop calls the queue's ``on_state_change`` hooks as it changes a job's status (see :mod:`.hooks`).

On SIGTERM or SIGINT it stops claiming, hands back what it has not started, stops daemon jobs, waits up to the
grace period for the others, hands back what is left, and exits 0. A daemon ``thread`` job is waited for like the
others: a thread cannot be stopped, and one handed back at once would run on here while another worker runs it
again. A second signal exits at once; the leases of whatever was running run out, and other workers take those
jobs again.

Other threads (the dashboard of ``taskgraph worker``) see what the loop does through :meth:`Worker.snapshot`:
the request goes to ``events``, and the loop answers with a :class:`~.snapshot.WorkerSnapshot` built in its own
thread (:mod:`.snapshot`), so nothing the loop owns is ever read while it changes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from queue import Empty, SimpleQueue
from typing import Any

from ..errors import TaskError, first_line
from ..stores.base import StoreError, close_quietly
from ..stores.records import encode_error
from .describe import build_snapshot, deregister, register, worker_info
from .embedded import Embeddable, Stopping
from .heartbeat import Heartbeat, checked_lease
from .modes import Runners
from .processes import importing_app
from .queue import DurableQueue
from .runners import JobRun, prepare
from .snapshot import SnapshotDesk, Tally, WorkerSnapshot
from .wakeups import catch_stop_signals, pause_for_store, watch_store

__all__ = ["Worker"]

log = logging.getLogger("taskgraph.worker")
_WAKE = ("wake",)
_PROCESS_START = 60.0  # seconds a new worker process may take to import the app before its job's clock starts
_POLL = 0.25  # claim at least this often (seconds) while there is room: delayed jobs come due, leases expire
_BURST_PATIENCE = 30  # seconds a burst worker keeps trying a failing store before it gives up
_REPORT_BATCH = 16  # results reported to the store at once, at most
_REPORT_WAIT = 0.002  # seconds a result may wait for others to be reported with it


class Worker(Embeddable):
    """Runs the jobs of a durable queue.

    Args:
        queue: the queue whose store to serve.
        app: ``module:attribute`` naming ``queue``, for worker processes to import; needed for ``process`` jobs.
        threads: threads for ``thread`` jobs.
        processes: processes for ``process`` jobs, started when the first one arrives.
        concurrency: coroutines at once for ``async`` jobs.
        queues: the named queues to serve.
        lease: seconds a claim lasts without a heartbeat; at least :data:`~.heartbeat.MIN_LEASE` (a shorter one
            is raised to it, with a warning).
        grace: seconds to wait for running jobs when asked to stop.
        batch: the most jobs claimed at once.
    """

    def __init__(self, queue: DurableQueue, *, app: str | None = None, threads: int | None = None,
                 processes: int | None = None, concurrency: int = 100, queues: Sequence[str] = ("default",),
                 lease: float = 30.0, grace: float = 30.0, batch: int = 32) -> None:
        cpus = os.cpu_count() or 1
        self.queue = queue
        self.app = app
        self.queues = list(queues)
        self.lease = checked_lease(lease)
        self.grace = grace
        self.batch = batch
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.events: SimpleQueue[Any] = SimpleQueue()
        self.runners = Runners(queue, app, threads or 2 * cpus, processes or cpus, concurrency, self.events,
                               self.id)
        self.running: dict[str, JobRun] = {}
        self.held: deque[JobRun] = deque()  # claimed, waiting for a slot
        self.tally = Tally()  # how runs ended: tally.finished["DONE"], ["FAILED"], ["retried"]
        self._successes: list[tuple[JobRun, bytes]] = []
        self._progress: dict[str, tuple[JobRun, float, str | None]] = {}
        self._stopping = False
        self._finished = threading.Event()  # run() has returned: the thread watching the store ends too
        self._stop_at = float("inf")
        self._work_hint = True
        self._last_claim = 0.0
        self._mean_run = 0.0  # seconds a run takes, a moving average
        self._store: Any = None  # the loop's own connection, tuned for_worker(); see the store property
        self._first_success = 0.0  # when the oldest result not yet reported came in
        self._heartbeat: Heartbeat | None = None
        self.started = 0.0  # epoch seconds it started serving
        self._store_error: str | None = None  # why the store failed, while it keeps failing
        self._snapshots = SnapshotDesk(lambda: build_snapshot(self), lambda r: self.events.put(("snapshot", r)))
        #: Called (in the signal handler) before a second signal ends the process at once: a dashboard restores
        #: the terminal there. Keep it short and free of locks.
        self.on_exit_now: Callable[[], None] | None = None

    def run(self, burst: bool = False) -> int:
        """Serve until stopped (or, with ``burst``, until the served queues hold no unfinished job).

        Returns:
            the exit status: 0, or 1 when a burst worker gave up on a store that kept failing.

        Raises:
            RuntimeError: called in a worker process importing the app (a script that starts a worker without
                an ``if __name__ == "__main__":`` guard): the message says so.
        """
        if importing_app():
            raise RuntimeError(
                f"a worker was started in a worker process while it imported the app ({self.app}) or the script "
                "that started it: start the worker under `if __name__ == \"__main__\":`, since worker processes "
                "import that script again"
            )
        restore = catch_stop_signals(self._on_signal, lambda: self.on_exit_now() if self.on_exit_now else None)
        self.tally.since, self.started = time.monotonic(), time.time()
        self._snapshots.start()
        threading.Thread(target=watch_store, daemon=True, name="taskgraph-notifier", args=(
            self.queue._connect, self.queues, lambda: self.events.put(_WAKE), lambda: self._stopping, self._finished,
        )).start()
        self._heartbeat = Heartbeat(
            self.queue._connect, self.id, self.lease, lambda: [*self.running, *(r.id for r in tuple(self.held))],
            lambda: [r.id for r in tuple(self.running.values()) if r.options.mode != "thread"], self.events,
            lambda store: register(self, store), tick=self.queue.recurring_ticker())
        self._heartbeat.start()
        log.info("worker %s serving %s on %s (threads %d, processes %s)", self.id, ",".join(self.queues),
                 self.queue.url, self.runners.threads.size,
                 self.runners.processes.size if self.runners.processes else "off")
        pause = 0.0
        failing_since = None
        status = 0
        try:
            while True:
                try:
                    if self._pass(burst):
                        break
                    pause, failing_since, self._store_error = 0.0, None, None
                except Exception as exc:  # the store is unreachable, or answered with an error: back off
                    failing_since = failing_since or time.monotonic()
                    error = self._store_error = f"{type(exc).__name__}: {first_line(exc)}"
                    if burst and time.monotonic() - failing_since > _BURST_PATIENCE:
                        log.error("store %s kept failing for %d s: %s; giving up", self.queue.url,
                                  _BURST_PATIENCE, exc)
                        status = 1
                        break
                    pause = min(max(pause * 2, 0.5), 10.0)
                    # a StoreError's message names the store and the reason
                    what = first_line(exc) if isinstance(exc, StoreError) else f"store {self.queue.url}: {error}"
                    log.warning("%s; trying again in %.3g s", what, pause, exc_info=log.isEnabledFor(logging.DEBUG))
                    self._reconnect()
                    pause_for_store(self.events, pause, lambda: self._stopping, self._snapshots.answer)
        finally:
            self._finished.set()
            self._heartbeat.stop()
            try:
                self._close()
            finally:
                restore()  # the store's watcher sees _finished and ends by itself within a second
                self._snapshots.loop = None  # from now on, snapshots are built by whoever asks
        log.info("worker %s stopped: %d done, %d failed, %d retried", self.id, *self.tally.finished.values())
        return status

    def _pass(self, burst: bool) -> bool:
        """One pass of the loop; True when the worker should stop."""
        store = self.store
        now = time.monotonic()
        if self._stopping:
            if self._drain(now):
                return True
        elif self._free() > 0 and (self._work_hint or now - self._last_claim > _POLL):
            self._claim(store, now)
        self._start_held()
        self._handle_events(self._wait(burst))
        self._flush(store)
        self._expire(time.monotonic())
        return burst and not self._stopping and self._idle(store)

    @property
    def store(self) -> Any:
        """The loop's own connection to the store, opened on first use and tuned for a worker: never shared with
        code that enqueues."""
        if self._store is None:
            self._store = self.queue._connect()
            self._store.for_worker()
        return self._store

    def _reconnect(self) -> None:
        store, self._store = self._store, None
        close_quietly(store)

    def _free(self) -> int:
        """How many jobs to claim now. Claims wait until fewer jobs are held than there are slots; then, for
        short jobs (under 5 ms on average) a whole batch is taken, so the store is asked once per batch; for
        longer ones only enough to fill the slots, so other workers are not kept waiting for held jobs."""
        slots = self.runners.size()
        if len(self.held) >= slots:
            return 0
        target = max(slots, self.batch) if self._mean_run < 0.005 else slots
        return max(min(target, self.batch + slots) - len(self.held) - len(self.running), 0)

    def _claim(self, store: Any, now: float) -> None:
        want = self._free()  # more than 0: see _pass
        claimed = store.claim(self.id, self.queues, want, self.lease)
        self._last_claim = now
        self._work_hint = len(claimed) == want  # a full batch: there may be more
        hooks, when = self.queue.hooks, time.monotonic()
        for record in claimed:
            if hooks:
                hooks.call("on_state_change", record, "QUEUED", "RUNNING")
            try:
                run = prepare(self.queue, self.app, record, self.runners.processes is not None)
            except Exception as exc:  # it cannot run here: failed for good, saying why
                log.error("job %s (%s) cannot run: %s", record.id, record.name, exc)
                error = encode_error(exc, "")
                if self.store.fail(self.id, record.id, error, None) and hooks:
                    hooks.call("on_state_change", record, "RUNNING", "FAILED")
                self.tally.failed(record, error, None)
                continue
            run.claimed = when
            self.held.append(run)

    def _start_held(self) -> None:
        waiting: deque[JobRun] = deque()
        while self.held:
            run = self.held.popleft()
            runner = self.runners.of(run)
            if runner.busy >= runner.size:
                waiting.append(run)
                continue
            if run.options.timeout is not None:
                # a process job's clock starts when its process starts it (see "started"); until then it has
                # a minute to get a process going
                startup = _PROCESS_START if run.options.mode == "process" else 0.0
                run.deadline = time.monotonic() + run.options.timeout + startup
            self.running[run.id] = run
            run.began = time.monotonic()
            try:
                runner.start(run)
            except Exception as exc:  # a process that cannot be started: that job's failure, not the store's
                del self.running[run.id]
                log.error("job %s (%s): cannot start a worker process: %s: %s", run.id, run.record.name,
                          type(exc).__name__, exc)
                self._failed(run, encode_error(TaskError(f"could not start a worker process to run it: "
                                                         f"{type(exc).__name__}: {exc}"), ""))
        self.held = waiting

    def _wait(self, burst: bool) -> Any:
        """Block until something happens (an end, a wake-up from the store) and return it; or None at the next
        deadline."""
        if not self.events.empty():
            return None
        if not self._stopping and self._free() > 0 and self._work_hint:
            return None
        deadlines = [time.monotonic() + 1.0] + [r.deadline for r in self.running.values() if r.deadline is not None]
        if self._successes:
            deadlines.append(self._first_success + _REPORT_WAIT)
        if self._stopping:
            deadlines.append(self._stop_at)
        timeout = max(0.0, min(deadlines) - time.monotonic())
        if not self._stopping and self._free() > 0:
            timeout = min(timeout, max(0.0, self._last_claim + _POLL - time.monotonic()))
        if burst:
            timeout = min(timeout, 0.05)
        try:
            return self.events.get(timeout=max(timeout, 0.0005))
        except Empty:
            return None

    def _handle_events(self, first: Any = None) -> None:
        while True:
            if first is not None:
                message, first = first, None
            else:
                try:
                    message = self.events.get_nowait()
                except Empty:
                    return
            kind = message[0]
            if kind == "wake":
                self._work_hint = True
            elif kind == "snapshot":
                self._snapshots.answer(message[1])
            elif kind == "progress":
                _, run, value, text = message
                if not run.stale:
                    run.progress = (value, text)
                    self._progress[run.id] = (run, value, text)
            elif kind == "started":
                run = message[1]
                if not run.stale and run.options.timeout is not None:
                    run.deadline = time.monotonic() + run.options.timeout
            elif kind == "done":
                self._ended(message[1], message[2], message[3])
            elif kind == "lost":
                self._lost(message[1], message[2])

    def _ended(self, run: JobRun, ok: bool, data: Any) -> None:
        self.runners.of(run).ended(run)
        if run.stale or self.running.get(run.id) is not run:
            return
        del self.running[run.id]
        self._mean_run += (time.monotonic() - run.began - self._mean_run) * 0.1
        pending = self._progress.pop(run.id, None)
        if ok:
            if pending is not None:  # written before the end, so the last message stays
                self.store.set_progress(self.id, run.id, pending[1], pending[2])
            if not self._successes:
                self._first_success = time.monotonic()
            self._successes.append((run, data))
        else:
            self._failed(run, data)

    def _failed(self, run: JobRun, error: dict[str, str]) -> None:
        retry_in = run.options.retry_in(run.record.attempts)
        if self.store.fail(self.id, run.id, error, retry_in):
            if self.queue.hooks:
                self.queue.hooks.call("on_state_change", run.record, "RUNNING", "FAILED" if retry_in is None
                                      else "QUEUED")
            self.tally.failed(run.record, error, retry_in)
            log.log(logging.WARNING if retry_in is None else logging.INFO, "job %s (%s) %s: %s: %s", run.id,
                    run.record.name, "failed" if retry_in is None else f"will retry in {retry_in:.3g} s",
                    error.get("type"), error.get("message"))

    def _flush(self, store: Any, force: bool = False) -> None:
        """Report progress, and results in batches: at 16, once the oldest has waited 2 ms, or when forced."""
        for run, value, text in list(self._progress.values()):
            store.set_progress(self.id, run.id, value, text)
        self._progress.clear()
        due = (
            force
            or not (self.running or self.held)  # nothing else will end soon: no batch to wait for
            or len(self._successes) >= _REPORT_BATCH
            or time.monotonic() >= self._first_success + _REPORT_WAIT
        )
        if self._successes and due:
            accepted = store.complete(self.id, [(run.id, data) for run, data in self._successes])
            self.tally.count("DONE", len(accepted))
            if self.queue.hooks:
                self._changed([run for run, _ in self._successes], "DONE", accepted)
            self._successes.clear()  # only now: if the store failed, the results are sent again

    def _lost(self, ids: set[str], since: float) -> None:
        """Stop the runs of ``ids`` that the heartbeat found cancelled or lost (claimed before ``since``)."""
        for job_id in ids:
            run = self.running.get(job_id)
            if run is not None and run.claimed <= since:
                log.info("job %s (%s) was cancelled or its lease lost: stopping it", job_id, run.record.name)
                self._abandon(run)
        self.held = deque(r for r in self.held if r.id not in ids or r.claimed > since)

    def _changed(self, runs: list[JobRun], new: str, ids: Sequence[str]) -> None:
        """``on_state_change(record, "RUNNING", new)`` for each of ``runs`` whose id is in ``ids``."""
        done = set(ids)
        for run in runs:
            if run.id in done:
                self.queue.hooks.call("on_state_change", run.record, "RUNNING", new)

    def _expire(self, now: float) -> None:
        for run in [r for r in self.running.values() if r.deadline is not None and r.deadline <= now]:
            self._abandon(run)
            late = TimeoutError(f"it ran longer than its timeout of {run.options.timeout} s")
            self._failed(run, encode_error(late, ""))

    def _abandon(self, run: JobRun) -> None:
        """Stop ``run`` and forget it: whatever it reports from now on is dropped."""
        del self.running[run.id]
        run.stale = True
        self.runners.of(run).stop(run)

    def _idle(self, store: Any) -> bool:
        if self.running or self.held or not self.events.empty():
            return False
        if self._successes:
            self._flush(store, force=True)
        return not store.any_unfinished(self.queues)  # by an index: not a count of every finished job

    def snapshot(self, timeout: float = 0.5) -> WorkerSnapshot:
        """What the worker is doing now, safe to call from any thread; see :meth:`.SnapshotDesk.get`."""
        return self._snapshots.get(timeout)

    def worker_info(self) -> dict[str, Any]:
        """What the worker registers in a store that keeps live workers; see :func:`.describe.worker_info`."""
        return worker_info(self)

    def _on_signal(self, signum: int) -> None:
        log.info("signal %d: finishing running jobs (up to %s s), then stopping", signum, self.grace)
        self.stop()

    def stop(self) -> Stopping:
        """Ask the worker to stop, as SIGTERM does; ``await`` what it returns (or call its ``wait()``) to wait for
        the worker to finish what it runs, up to its grace, and stop."""
        self._stopping = True
        self._stop_at = time.monotonic() + self.grace
        self.events.put(_WAKE)
        return Stopping(self._embedded)

    def _drain(self, now: float) -> bool:
        """Shut down step by step; True once nothing is left. Daemon jobs are stopped and handed back at once,
        except ``thread`` ones (see the module docstring); at the end of the grace, whatever is left."""
        store = self.store
        if self.held:
            self._release(store, list(self.held))
            self.held.clear()
        give_back = [r for r in self.running.values()
                     if (r.options.daemon and r.options.mode != "thread") or now >= self._stop_at]
        for run in give_back:
            self._abandon(run)
        if give_back:
            self._release(store, give_back)
            log.info("handed back %d job(s) that will not finish here", len(give_back))
        return not self.running

    def _release(self, store: Any, runs: list[JobRun]) -> None:
        released = store.release(self.id, [r.id for r in runs])
        if self.queue.hooks:
            self._changed(runs, "QUEUED", released)

    def _close(self) -> None:
        try:
            store = self.store
            self._handle_events()
            self._flush(store, force=True)
            if self.running:
                self._release(store, list(self.running.values()))
            deregister(self, store)
        except Exception as exc:  # the leases will run out and other workers take the jobs
            log.warning("could not report to %s while stopping: %s", self.queue.url, exc)
        self.runners.close()
        self._reconnect()  # closes the loop's connection
