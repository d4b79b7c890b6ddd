"""The worker: claims jobs from a store, runs them, and reports how each ended.

One loop in the main thread owns everything the worker knows (the runs in hand, the connection to the store);
runners and a notifier thread only post messages to its ``events`` queue. Each pass of the loop:

1. claims up to as many jobs as it has free slots (in batches), when the store said there may be work, when its
   last claim came back full, and at least four times a second (claiming also takes back expired leases, and
   finds delayed jobs that have come due);
2. starts what it holds as slots of each mode free up;
3. reports ends in batches: all successes in one ``complete`` call, each failure with its retry decision;
4. extends its leases every third of a lease, and stops runs whose job was cancelled or lost;
5. fails runs past their timeout (killing a process, cancelling a coroutine).

On SIGTERM or SIGINT it stops claiming, hands back what it has not started, stops daemon jobs, waits up to the
grace period for the others, hands back what is left, and exits 0. A second signal exits at once; the leases of
whatever was running run out, and other workers take those jobs again.

Other threads (the dashboard of ``taskgraph worker``) see what the loop does through :meth:`Worker.snapshot`:
they post a request to ``events``, and the loop answers with a :class:`WorkerSnapshot` built in its own thread,
so nothing the loop owns is ever read while it changes.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from queue import Empty, SimpleQueue
from typing import Any

from ..errors import first_line
from ..stores.base import StoreError, close_quietly
from ..stores.records import JobRecord, encode_error
from .jobs import JobOptions
from .queue import DurableQueue
from .runners import AsyncRunner, ProcessRunner, Run, ThreadRunner

__all__ = ["Worker", "WorkerSnapshot", "RunningJob", "RecentFailure"]

log = logging.getLogger("taskgraph.worker")
_WAKE = ("wake",)
_SNAPSHOT = ("snapshot",)
_RATE_WINDOW = 10  # seconds over which a snapshot's throughput is measured
_RECENT_FAILURES = 5  # failures a snapshot keeps
_PROCESS_START = 60.0  # seconds a new worker process may take to import the app before its job's clock starts
_POLL = 0.25  # claim at least this often (seconds) while there is room: delayed jobs come due, leases expire
_BURST_PATIENCE = 30  # seconds a burst worker keeps trying a failing store before it gives up
_REPORT_BATCH = 16  # results reported to the store at once, at most
_REPORT_WAIT = 0.002  # seconds a result may wait for others to be reported with it


@dataclass(frozen=True)
class RunningJob:
    """A job this worker is running, as a snapshot saw it."""

    id: str
    name: str
    mode: str  # thread, process or async
    attempt: int
    began: float  # time.monotonic() when it was handed to its runner, in this process
    progress: float | None = None  # what it last reported through taskgraph.progress(), 0..1
    message: str | None = None


@dataclass(frozen=True)
class RecentFailure:
    """A run that failed here (for good, or to be retried)."""

    at: float  # epoch seconds, by this machine's clock
    id: str
    name: str
    error: str  # the exception type's qualified name
    message: str
    retry_in: float | None = None  # seconds until it runs again, if it will


@dataclass(frozen=True)
class WorkerSnapshot:
    """A copy of what a worker is doing, for a dashboard; nothing in it changes after it is taken.

    Monotonic times (``taken``, ``since``, each running job's ``began``) are ``time.monotonic()`` of the worker's
    process, so that a viewer in that process can tell how long ago they were.
    """

    id: str
    url: str
    app: str | None
    queues: tuple[str, ...]
    taken: float  # time.monotonic() when it was taken
    since: float  # time.monotonic() when the worker started serving
    slots: dict[str, tuple[int, int]]  # mode -> (busy, size); "async" only once an async job came
    held: int  # claimed jobs waiting for a slot
    running: tuple[RunningJob, ...]
    done: int
    failed: int
    retried: int
    rate: float  # jobs finished (DONE or FAILED) per second over the last 10 s
    failures: tuple[RecentFailure, ...] = field(default_factory=tuple)  # oldest first
    stopping: bool = False  # asked to stop (a signal, stop()): finishing the running jobs
    stopped: bool = False  # run() has returned
    store_error: str | None = None  # why the last call to the store failed, while it keeps failing


class Worker:
    """Runs the jobs of a durable queue.

    Args:
        queue: the queue whose store to serve.
        app: ``module:attribute`` naming ``queue``, for worker processes to import; needed for ``process`` jobs.
        threads: threads for ``thread`` jobs.
        processes: processes for ``process`` jobs, started when the first one arrives.
        concurrency: coroutines at once for ``async`` jobs.
        queues: the named queues to serve.
        lease: seconds a claim lasts without a heartbeat.
        grace: seconds to wait for running jobs when asked to stop.
        batch: the most jobs claimed at once.
    """

    def __init__(
        self,
        queue: DurableQueue,
        *,
        app: str | None = None,
        threads: int | None = None,
        processes: int | None = None,
        concurrency: int = 100,
        queues: Sequence[str] = ("default",),
        lease: float = 30.0,
        grace: float = 30.0,
        batch: int = 32,
    ) -> None:
        cpus = os.cpu_count() or 1
        self.queue = queue
        self.app = app
        self.queues = list(queues)
        self.lease = lease
        self.grace = grace
        self.batch = batch
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.events: SimpleQueue[Any] = SimpleQueue()
        self.threads = ThreadRunner(queue, threads or 2 * cpus, self.events)
        self.processes = ProcessRunner(app, processes or cpus, self.events) if app else None
        self.coroutines: AsyncRunner | None = None
        self.concurrency = concurrency
        self.running: dict[str, Run] = {}
        self.held: deque[Run] = deque()  # claimed, waiting for a slot
        self.finished = {"DONE": 0, "FAILED": 0, "retried": 0}
        self._successes: list[tuple[Run, bytes]] = []
        self._progress: dict[str, tuple[Run, float, str | None]] = {}
        self._signals = 0
        self._stopping = False
        self._finished = threading.Event()  # run() has returned: the notifier thread ends too
        self._stop_at = float("inf")
        self._work_hint = True
        self._last_claim = 0.0
        self._mean_run = 0.0  # seconds a run takes, a moving average
        self._store: Any = None  # the loop's own connection, tuned for_worker(); see the store property
        self._first_success = 0.0  # when the oldest result not yet reported came in
        self._next_beat = 0.0
        # what snapshots show, kept by the loop: the last progress of each run, recent failures, ends per second
        self._shown: dict[str, tuple[float, str | None]] = {}
        self._failures: deque[RecentFailure] = deque(maxlen=_RECENT_FAILURES)
        self._ends: deque[list[int]] = deque()  # [second, jobs finished in it], the last _RATE_WINDOW + 1 seconds
        self._since = time.monotonic()
        self._store_error: str | None = None
        # snapshots: asked for through events, published by the loop under this condition
        self._snap_cond = threading.Condition()
        self._snap: WorkerSnapshot | None = None
        self._snap_seq = 0
        self._snap_asked = False
        self._looping = False
        self._loop_thread = 0  # the thread running run()
        #: Called (in the signal handler) before a second signal ends the process at once: a dashboard restores
        #: the terminal there. Keep it short and free of locks.
        self.on_exit_now: Callable[[], None] | None = None

    # ------------------------------------------------------------ the loop

    def run(self, burst: bool = False) -> int:
        """Serve until stopped (or, with ``burst``, until the served queues hold no unfinished job).

        Returns:
            the exit status: 0, or 1 when a burst worker gave up on a store that kept failing.
        """
        restore = self._catch_signals()
        self._since = time.monotonic()
        with self._snap_cond:
            self._snap = self._build_snapshot()
            self._looping = True
            self._loop_thread = threading.get_ident()
        notifier = threading.Thread(target=self._notify, daemon=True, name="taskgraph-notifier")
        notifier.start()
        log.info("worker %s serving %s on %s (threads %d, processes %s)", self.id, ",".join(self.queues),
                 self.queue.url, self.threads.size, self.processes.size if self.processes else "off")
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
                    self._store_error = f"{type(exc).__name__}: {first_line(exc)}"
                    if burst and time.monotonic() - failing_since > _BURST_PATIENCE:
                        log.error("store %s kept failing for %d s: %s; giving up", self.queue.url,
                                  _BURST_PATIENCE, exc)
                        status = 1
                        break
                    pause = min(max(pause * 2, 0.5), 10.0)
                    if isinstance(exc, StoreError):  # its message names the store and the reason
                        log.warning("%s; trying again in %.3g s", first_line(exc), pause,
                                    exc_info=log.isEnabledFor(logging.DEBUG))
                    else:
                        log.warning("store %s: %s: %s; trying again in %.3g s", self.queue.url, type(exc).__name__,
                                    first_line(exc), pause, exc_info=log.isEnabledFor(logging.DEBUG))
                    self._reconnect()
                    self._sleep(pause)
        finally:
            self._finished.set()
            try:
                self._close()
            finally:
                restore()  # the notifier sees _finished and ends by itself within a second
                with self._snap_cond:
                    self._looping = False  # from now on snapshot() reads the worker itself: nothing changes it
                    self._snap_cond.notify_all()
        log.info("worker %s stopped: %d done, %d failed, %d retried", self.id, self.finished["DONE"],
                 self.finished["FAILED"], self.finished["retried"])
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
        now = time.monotonic()
        if now >= self._next_beat:
            self._beat(store, now)
        self._expire(now)
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

    def _sleep(self, seconds: float) -> None:
        """Pause (the back-off after a store failure), but wake for a signal. Ends of runs and progress that
        arrive meanwhile are kept for the next pass, which reports them: they must not cut the pause short, or a
        store outage becomes a busy loop of failing passes."""
        deadline = time.monotonic() + seconds
        kept: list[Any] = []
        try:
            while not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                try:
                    message = self.events.get(timeout=left)
                except Empty:
                    return
                if message is _SNAPSHOT:
                    self._publish()
                elif message is not _WAKE:
                    kept.append(message)
        finally:
            for message in kept:
                self.events.put(message)

    def _slots(self) -> int:
        """Jobs this worker can run at once: threads and processes, and coroutines once async jobs come."""
        slots = self.threads.size + (self.processes.size if self.processes is not None else 0)
        return slots + (self.concurrency if self.coroutines is not None else 0)

    def _free(self) -> int:
        """How many jobs to claim now. Claims wait until fewer jobs are held than there are slots; then, for
        short jobs (under 5 ms on average) a whole batch is taken, so the store is asked once per batch; for
        longer ones only enough to fill the slots, so other workers are not kept waiting for held jobs."""
        slots = self._slots()
        if len(self.held) >= slots:
            return 0
        target = max(slots, self.batch) if self._mean_run < 0.005 else slots
        return max(min(target, self.batch + slots) - len(self.held) - len(self.running), 0)

    def _claim(self, store: Any, now: float) -> None:
        want = self._free()
        if want <= 0:
            return
        claimed = store.claim(self.id, self.queues, want, self.lease)
        self._last_claim = now
        self._work_hint = len(claimed) == want  # a full batch: there may be more
        for record in claimed:
            run = self._prepare(record)
            if run is not None:
                self.held.append(run)

    def _prepare(self, record: JobRecord) -> Run | None:
        """A run for a claimed job, or None if it cannot run here (it is failed for good, saying why)."""
        try:
            options = JobOptions.from_stored(record.options)
            job = self.queue.job(record.name)
            if job is None:
                job = self._import_job(record.name)
            self.queue.decode(record, None)  # refuses a payload written by another serializer
            if options.mode == "process":
                if self.processes is None:
                    raise RuntimeError("process jobs need the worker started as `taskgraph worker MODULE:QUEUE`")
                return Run(record, options)
            args, kwargs = self.queue.serializer.decode_call(record.payload)
            return Run(record, options, job.func, args, kwargs)
        except Exception as exc:
            log.error("job %s (%s) cannot run: %s", record.id, record.name, exc)
            error = encode_error(exc, "")
            self.store.fail(self.id, record.id, error, None)
            self._count("FAILED")
            self._note_failure(record, error, None)
            return None

    def _import_job(self, name: str) -> Any:
        """The job called ``name``. A job defined in another module of the app's own package (``myapp.tasks`` for
        ``myapp.app:queue``) is found by importing that module; the name comes from the store, so no module outside
        that package is ever imported for it."""
        module = name.partition(":")[0]
        package = (self.app or "").partition(":")[0].split(".")[0]
        if (
            package and module.split(".")[0] == package and module not in sys.modules
            and all(part.isidentifier() for part in module.split("."))
        ):
            try:
                __import__(module)
            except Exception as exc:
                log.debug("importing %s for job %s failed: %s", module, name, exc)
        job = self.queue.job(name)
        if job is None:
            raise LookupError(
                f"no job named {name!r} is known to this worker ({self.app or self.queue.url}): decorate the "
                "function with @queue.task in a module the worker imports"
            )
        return job

    def _runner(self, run: Run) -> Any:
        mode = run.options.mode
        if mode == "process":
            return self.processes
        if mode == "async":
            if self.coroutines is None:
                self.coroutines = AsyncRunner(self.queue, self.concurrency, self.events)
            return self.coroutines
        return self.threads

    def _start_held(self) -> None:
        waiting: deque[Run] = deque()
        while self.held:
            run = self.held.popleft()
            runner = self._runner(run)
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
            runner.start(run)
        self.held = waiting

    def _wait(self, burst: bool) -> Any:
        """Block until something happens (an end, a wake-up from the store) and return it; or None at the next
        deadline."""
        if not self.events.empty():
            return None
        if not self._stopping and self._free() > 0 and self._work_hint:
            return None
        deadlines = [self._next_beat] + [r.deadline for r in self.running.values() if r.deadline is not None]
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
                self._publish()
            elif kind == "progress":
                _, run, value, text = message
                if not run.stale:
                    self._progress[run.id] = (run, value, text)
                    self._shown[run.id] = (value, text)
            elif kind == "started":
                run = message[1]
                if not run.stale and run.options.timeout is not None:
                    run.deadline = time.monotonic() + run.options.timeout
            elif kind == "done":
                self._ended(message[1], message[2], message[3])

    def _ended(self, run: Run, ok: bool, data: Any) -> None:
        self._runner(run).ended(run)
        if run.stale or self.running.get(run.id) is not run:
            return
        del self.running[run.id]
        self._shown.pop(run.id, None)
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

    def _failed(self, run: Run, error: dict[str, str], final: bool = False) -> None:
        retry_in = None if final else run.options.retry_in(run.record.attempts)
        if self.store.fail(self.id, run.id, error, retry_in):
            self._count("FAILED" if retry_in is None else "retried")
            self._note_failure(run.record, error, retry_in)
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
            self._count("DONE", len(accepted))
            self._successes.clear()  # only now: if the store failed, the results are sent again

    def _beat(self, store: Any, now: float) -> None:
        self._next_beat = now + self.lease / 3
        mine = list(self.running) + [r.id for r in self.held]
        if not mine:
            return
        held = store.heartbeat(self.id, mine, self.lease)
        for job_id in set(mine) - held:
            run = self.running.pop(job_id, None)
            self._shown.pop(job_id, None)
            if run is not None:
                log.info("job %s (%s) was cancelled or its lease lost: stopping it", job_id, run.record.name)
                run.stale = True
                self._runner(run).stop(run)
        self.held = deque(r for r in self.held if r.id in held)

    def _expire(self, now: float) -> None:
        for run in [r for r in self.running.values() if r.deadline is not None and r.deadline <= now]:
            del self.running[run.id]
            self._shown.pop(run.id, None)
            run.stale = True
            self._runner(run).stop(run)
            timeout = run.options.timeout
            error = {"type": "builtins.TimeoutError", "message": f"it ran longer than its timeout of {timeout} s",
                     "traceback": ""}
            self._failed(run, error)

    def _idle(self, store: Any) -> bool:
        if self.running or self.held or not self.events.empty():
            return False
        if self._successes:
            self._flush(store, force=True)
        counts = store.stats()
        return not any(
            counts.get(q, {}).get(status) for q in self.queues for status in ("PENDING", "QUEUED", "RUNNING")
        )

    # ------------------------------------------------------------ snapshots

    def snapshot(self, timeout: float = 0.5) -> WorkerSnapshot:
        """What the worker is doing now, safe to call from any thread.

        While the loop runs, the request goes to the loop, which builds the snapshot between two steps; if it does
        not answer within ``timeout`` seconds (a slow call to the store), the last snapshot it made is returned.
        Before and after :meth:`run`, the snapshot is built here.
        """
        with self._snap_cond:
            if self._looping and threading.get_ident() != self._loop_thread:
                seen = self._snap_seq
                if not self._snap_asked:
                    self._snap_asked = True
                    self.events.put(_SNAPSHOT)
                self._snap_cond.wait_for(lambda: self._snap_seq != seen or not self._looping, timeout)
            if not self._looping or self._snap is None or threading.get_ident() == self._loop_thread:
                self._snap = self._build_snapshot()
            return self._snap

    def _publish(self) -> None:
        """Answer the snapshot requests posted so far (the loop's thread)."""
        snap = self._build_snapshot()
        with self._snap_cond:
            self._snap = snap
            self._snap_seq += 1
            self._snap_asked = False
            self._snap_cond.notify_all()

    def _build_snapshot(self) -> WorkerSnapshot:
        now = time.monotonic()
        slots = {"threads": (self.threads.busy, self.threads.size)}
        if self.processes is not None:
            slots["processes"] = (self.processes.busy, self.processes.size)
        if self.coroutines is not None:
            slots["async"] = (self.coroutines.busy, self.coroutines.size)
        for job_id in [i for i in self._shown if i not in self.running]:
            del self._shown[job_id]
        running = []
        for run in sorted(self.running.values(), key=lambda r: r.began):
            value, text = self._shown.get(run.id, (run.record.progress, run.record.progress_message))
            running.append(RunningJob(run.id, run.record.name, run.options.mode, run.record.attempts, run.began,
                                      value, text))
        return WorkerSnapshot(
            id=self.id, url=self.queue.url, app=self.app, queues=tuple(self.queues), taken=now, since=self._since,
            slots=slots, held=len(self.held), running=tuple(running), done=self.finished["DONE"],
            failed=self.finished["FAILED"], retried=self.finished["retried"], rate=self._rate(now),
            failures=tuple(self._failures), stopping=self._stopping,
            stopped=self._finished.is_set() and not self._looping, store_error=self._store_error,
        )

    def _count(self, kind: str, n: int = 1) -> None:
        """Count ``n`` runs that ended as ``kind`` (DONE, FAILED or retried); jobs finished feed the rate."""
        self.finished[kind] += n
        if kind == "retried" or n <= 0:
            return
        second = int(time.monotonic())
        if self._ends and self._ends[-1][0] == second:
            self._ends[-1][1] += n
        else:
            self._ends.append([second, n])
        while self._ends[0][0] < second - _RATE_WINDOW:
            self._ends.popleft()

    def _rate(self, now: float) -> float:
        """Jobs finished per second over the last _RATE_WINDOW seconds (whole seconds, the current one in part),
        or since the worker started if that is sooner, but at least over one second."""
        first = int(now) - _RATE_WINDOW + 1
        total = sum(n for second, n in self._ends if second >= first)
        span = max(min(now - first, now - self._since), 1.0)  # a first burst is not a rate of thousands a second
        return total / span

    def _note_failure(self, record: JobRecord, error: dict[str, Any], retry_in: float | None) -> None:
        self._failures.append(RecentFailure(
            time.time(), record.id, record.name, str(error.get("type") or "Exception"),
            str(error.get("message") or ""), retry_in,
        ))

    # ------------------------------------------------------------ stopping

    def _notify(self) -> None:
        """Wait on the store for new work and wake the loop; its own connection."""
        store = None
        while not self._stopping and not self._finished.is_set():
            try:
                store = store or self.queue._connect()
                store.wait_for_work(self.queues, 1.0)
            except Exception:  # the store is away: the loop's own calls say so; connect again in a while
                close_quietly(store)
                store = None
                self._finished.wait(1.0)
                continue
            self.events.put(_WAKE)
        if store is not None:
            store.close()

    def _catch_signals(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

        def on_signal(signum: int, frame: Any) -> None:
            self._signals += 1
            if self._signals > 1:
                log.warning("second signal: exiting at once; leases will recover the running jobs")
                if self.on_exit_now is not None:
                    try:
                        self.on_exit_now()
                    except Exception:  # exiting regardless
                        pass
                os._exit(128 + signum)
            log.info("signal %d: finishing running jobs (up to %s s), then stopping", signum, self.grace)
            self._stopping = True
            self._stop_at = time.monotonic() + self.grace
            self.events.put(_WAKE)

        for s in previous:
            signal.signal(s, on_signal)

        def restore() -> None:
            for s, handler in previous.items():
                signal.signal(s, handler)

        return restore

    def stop(self) -> None:
        """Ask the worker to stop, as SIGTERM does."""
        self._stopping = True
        self._stop_at = time.monotonic() + self.grace
        self.events.put(_WAKE)

    def _drain(self, now: float) -> bool:
        """Shut down step by step; True once nothing is left."""
        store = self.store
        if self.held:
            store.release(self.id, [r.id for r in self.held])
            self.held.clear()
        give_back = [r for r in self.running.values() if r.options.daemon or now >= self._stop_at]
        for run in give_back:
            del self.running[run.id]
            self._shown.pop(run.id, None)
            run.stale = True
            self._runner(run).stop(run)
        if give_back:
            store.release(self.id, [r.id for r in give_back])
            log.info("handed back %d job(s) that will not finish here", len(give_back))
        return not self.running

    def _close(self) -> None:
        try:
            store = self.store
            self._handle_events()
            self._flush(store, force=True)
            if self.running:
                store.release(self.id, list(self.running))
        except Exception as exc:  # the leases will run out and other workers take the jobs
            log.warning("could not report to %s while stopping: %s", self.queue.url, exc)
        self.threads.close(wait=False)
        if self.processes is not None:
            self.processes.close(wait=False)
        if self.coroutines is not None:
            self.coroutines.close(wait=False)
        self._reconnect()  # closes the loop's connection

