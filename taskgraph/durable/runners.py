"""Where a worker runs jobs: a thread pool, worker processes it can kill, and an event loop.

Each runner takes a :class:`JobRun` and reports back through the worker's ``events`` queue, from its own threads:
``("done", run, ok, data)`` when the job's function ends (``data`` the encoded result, or an error dict),
``("progress", run, value, message)`` when it reports progress, and (processes only) ``("started", run)`` when a
worker process has the job in hand, so that its timeout does not count the process's start. A runner never
touches the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

from ..errors import CancelledError, SerializationError, TaskError
from ..stores.records import JobRecord, encode_error
from .jobs import JobFunction, JobOptions, _reporter
from .refusals import check_record

if TYPE_CHECKING:
    from .queue import DurableQueue

log = logging.getLogger("taskgraph.worker")

__all__ = ["JobRun", "Runners", "ThreadRunner", "ProcessRunner", "AsyncRunner", "load_queue", "prepare", "run_job",
           "importing_app"]


@dataclass(eq=False)
class JobRun:
    """A job this worker claimed, from its claim until its end is reported: one attempt at it."""

    record: JobRecord
    options: JobOptions
    func: Callable[..., Any] | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    deadline: float | None = None  # monotonic time by which it must end
    began: float = 0.0  # monotonic time it was handed to its runner
    stale: bool = False  # timed out, cancelled or lost: whatever it reports is dropped
    handle: Any = None  # the runner's grip on it: a slot, a future
    progress: tuple[float, str | None] | None = None  # what it last reported: (value, message)

    @property
    def id(self) -> str:
        return self.record.id


def find_job(queue: DurableQueue, app: str | None, name: str) -> JobFunction:
    """The job called ``name``. A job defined in another module of the app's own package (``myapp.tasks`` for
    ``myapp.app:queue``) is found by importing that module; the name comes from the store, so no module outside
    that package is ever imported for it.

    Raises:
        LookupError: no such job, saying how to make one.
    """
    module = name.partition(":")[0]
    package = (app or "").partition(":")[0].split(".")[0]
    if (queue.job(name) is None and package and module.split(".")[0] == package and module not in sys.modules
            and all(part.isidentifier() for part in module.split("."))):
        try:
            importlib.import_module(module)
        except Exception as exc:
            log.debug("importing %s for job %s failed: %s", module, name, exc)
    job = queue.job(name)
    if job is None:
        raise LookupError(f"no job named {name!r} is known to this worker ({app or queue.url}): decorate the "
                          "function with @queue.task in a module the worker imports")
    return job


def prepare(queue: DurableQueue, app: str | None, record: JobRecord, processes: bool) -> JobRun:
    """The run of a claimed job; ``processes`` says whether this worker runs ``process`` jobs.

    Raises:
        Exception: the job cannot run here (a stored field it cannot use, see :mod:`.refusals`; no such job; a
            payload it cannot read; a ``process`` job on a worker without processes); the message says why.
    """
    check_record(record, None)  # the fields first: a name must be text before it is looked up
    try:
        job = find_job(queue, app, record.name)
        options = check_record(record, job)
        queue.decode(record, None)  # refuses a payload written by another serializer
        if options.mode == "process":
            if not processes:
                raise RuntimeError("process jobs need a worker that knows its app, for its worker processes to "
                                   "import: `taskgraph worker MODULE:QUEUE`, or Worker(queue, app='MODULE:QUEUE')")
            return JobRun(record, options)
        args, kwargs = queue.serializer.decode_call(record.payload)
    except (LookupError, SerializationError) as exc:  # its type kept, for callers that catch it
        why = f"job {record.id}: {exc}; the job was refused: it was not run and will not be retried"
        raise type(exc)(why) from None
    return JobRun(record, options, job.func, args, kwargs)


def run_job(queue: DurableQueue, name: str, func: Callable[..., Any], args: tuple[Any, ...],
            kwargs: dict[str, Any], report: Callable[[float, str | None], None]) -> tuple[bool, Any]:
    """Call a job's function here with progress reporting; return ``(True, encoded result)`` or
    ``(False, error dict)``."""
    token = _reporter.set(report)
    try:
        return True, queue.serializer.encode_result(name, func(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - a job's SystemExit must not take the worker down
        return False, encode_error(exc)
    finally:
        _reporter.reset(token)


class _Runner:
    """What every runner has: how many jobs it runs at once (``size``), how many it runs now (``busy``), and the
    worker's ``events`` queue."""

    def __init__(self, size: int, events: SimpleQueue[Any]) -> None:
        self.size = size
        self.busy = 0
        self.events = events

    def _reporter(self, run: JobRun) -> Callable[[float, str | None], None]:
        return lambda value, message: self.events.put(("progress", run, value, message))

    def ended(self, run: JobRun) -> None:
        self.busy -= 1


class ThreadRunner(_Runner):
    """Runs ``thread`` jobs on a pool. A thread cannot be stopped: a job that times out or is cancelled is
    reported as such at once, and its thread runs on, holding its slot, until the function returns."""

    def __init__(self, queue: DurableQueue, threads: int, events: SimpleQueue[Any]) -> None:
        super().__init__(threads, events)
        self.queue = queue
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="taskgraph-job")

    def start(self, run: JobRun) -> None:
        self.busy += 1
        self._pool.submit(self._call, run)

    def _call(self, run: JobRun) -> None:
        assert run.func is not None
        ok, data = run_job(self.queue, run.record.name, run.func, run.args, run.kwargs, self._reporter(run))
        self.events.put(("done", run, ok, data))

    def stop(self, run: JobRun) -> None:
        """Threads cannot be stopped; the run is already marked stale by the worker."""

    def close(self) -> None:
        """Stop the pool; idle threads are joined (quick), a thread still running a job is left behind."""
        self._pool.shutdown(wait=self.busy == 0, cancel_futures=True)


class AsyncRunner(_Runner):
    """Runs ``async`` jobs as coroutines on one event loop in a thread; timeouts and cancels cancel them."""

    def __init__(self, queue: DurableQueue, limit: int, events: SimpleQueue[Any]) -> None:
        super().__init__(limit, events)
        self.queue = queue
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="taskgraph-async", daemon=True)
        self._thread.start()

    def start(self, run: JobRun) -> None:
        self.busy += 1
        run.handle = asyncio.run_coroutine_threadsafe(self._call(run), self._loop)

    async def _call(self, run: JobRun) -> None:
        token = _reporter.set(self._reporter(run))
        data: Any
        try:
            assert run.func is not None
            value = await run.func(*run.args, **run.kwargs)
            ok, data = True, self.queue.serializer.encode_result(run.record.name, value)
        except asyncio.CancelledError:
            ok, data = False, encode_error(CancelledError("stopped"), "")
        except BaseException as exc:  # noqa: BLE001
            ok, data = False, encode_error(exc)
        finally:
            _reporter.reset(token)
        self.events.put(("done", run, ok, data))

    def stop(self, run: JobRun) -> None:
        if run.handle is not None:
            run.handle.cancel()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def load_queue(spec: str) -> DurableQueue:
    """Import ``module:attribute`` and return the durable queue it names.

    Raises:
        ValueError: the spec is malformed, the module cannot be imported, or the attribute is not a durable queue;
            the message says which.
    """
    from .queue import DurableQueue

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{spec!r}: name the queue as MODULE:ATTRIBUTE, like myapp.jobs:queue")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{spec!r}: cannot import module {module_name!r}: {exc}") from exc
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(f"{spec!r}: module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not isinstance(target, DurableQueue):
        raise ValueError(f"{spec!r} is a {type(target).__name__}, not a durable queue (one opened with "
                         "open_queue('sqlite:///jobs.db'), 'postgresql://...' or 'redis://...')")
    return target


_importing_app = False  # True in a worker process while it imports the app


def importing_app() -> bool:
    """Whether this process is a worker process still importing the app, or the main script of the process that
    started it (as ``spawn`` does): no worker may start here then, or each worker process would start another."""
    return _importing_app or bool(getattr(multiprocessing.current_process(), "_inheriting", False))


def _child(spec: str, conn: Any) -> None:
    """A worker process: import the app, then run the jobs sent down the pipe, one at a time, and send back what
    a runner posts to the worker's ``events`` (without the run, which the parent knows)."""
    global _importing_app
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what a Ctrl-C stops
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _importing_app = True
    try:
        queue = load_queue(spec)
    finally:
        _importing_app = False

    def report(value: float, text: str | None) -> None:
        conn.send(("progress", value, text))

    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        name, payload = message
        try:
            job = find_job(queue, spec, name)
            args, kwargs = queue.serializer.decode_call(payload)
        except Exception as exc:
            conn.send(("done", False, encode_error(exc)))
            continue
        conn.send(("started",))
        ok, data = run_job(queue, name, job.func, args, kwargs, report)
        conn.send(("done", ok, data))


class _Slot:
    def __init__(self, spec: str, events: SimpleQueue[Any]) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(target=_child, args=(spec, child_conn), daemon=True)
        self.process.start()
        child_conn.close()
        self.run: JobRun | None = None
        self.began = False  # its run has started: the process imported the app and has the job in hand
        self.spec = spec
        self.events = events
        threading.Thread(target=self._read, daemon=True, name=f"taskgraph-slot-{self.process.pid}").start()

    def _read(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                run = self.run
                if run is not None:
                    self.process.join(1)
                    code = self.process.exitcode
                    died = TaskError(f"its worker process died (exit code {code}) while it ran" if self.began else
                                     f"its worker process could not start (exit code {code}): it failed to import "
                                     f"the app {self.spec} (its error is above, on the worker's output); a script "
                                     "that starts a worker itself must do so under `if __name__ == \"__main__\":`, "
                                     "since worker processes import it again")
                    self.events.put(("done", run, False, encode_error(died, "")))
                return
            run = self.run
            if run is not None:
                self.began = self.began or message[0] == "started"
                self.events.put((message[0], run, *message[1:]))

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)


class ProcessRunner(_Runner):
    """Runs ``process`` jobs in worker processes, one job each at a time, started with ``spawn`` and importing
    the app. A job that times out or is cancelled has its process killed, and a new one takes its slot."""

    def __init__(self, spec: str, processes: int, events: SimpleQueue[Any]) -> None:
        super().__init__(processes, events)
        self.spec = spec
        self._idle: list[_Slot] = []

    def start(self, run: JobRun) -> None:
        slot = self._idle.pop() if self._idle else _Slot(self.spec, self.events)
        if not slot.process.is_alive():
            slot = _Slot(self.spec, self.events)
        self.busy += 1
        slot.run, slot.began = run, False
        run.handle = slot
        slot.conn.send((run.record.name, run.record.payload))

    def ended(self, run: JobRun) -> None:
        super().ended(run)
        slot: _Slot = run.handle
        slot.run = None
        if slot.process.is_alive():
            self._idle.append(slot)

    def stop(self, run: JobRun) -> None:
        """Kill the process running ``run``; its reader reports the death, which ends the run."""
        slot: _Slot = run.handle
        if slot is not None and slot.run is run:
            slot.kill()

    def close(self) -> None:
        """Stop the idle processes: each is asked to end, and killed if it has not at once."""
        for slot in self._idle:
            with contextlib.suppress(OSError):
                slot.conn.send(None)
        for slot in self._idle:
            slot.process.join(0)
            if slot.process.is_alive():
                slot.kill()
        self._idle.clear()


class Runners:
    """A worker's runners, one per mode: threads always, processes when it has an app to import, an event loop
    from the first ``async`` job on."""

    def __init__(self, queue: DurableQueue, app: str | None, threads: int, processes: int, concurrency: int,
                 events: SimpleQueue[Any]) -> None:
        self.queue = queue
        self.concurrency = concurrency
        self.threads = ThreadRunner(queue, threads, events)
        self.processes = ProcessRunner(app, processes, events) if app else None
        self.coroutines: AsyncRunner | None = None

    def of(self, run: JobRun) -> ThreadRunner | ProcessRunner | AsyncRunner:
        """The runner of ``run``'s mode."""
        if run.options.mode == "process":
            assert self.processes is not None, "prepare() refuses process jobs without processes"
            return self.processes
        if run.options.mode == "async":
            if self.coroutines is None:
                self.coroutines = AsyncRunner(self.queue, self.concurrency, self.threads.events)
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
