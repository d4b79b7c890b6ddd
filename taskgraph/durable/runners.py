"""Where a worker runs jobs: a thread pool and an event loop (worker processes are in :mod:`.processes`).

Each runner takes a :class:`JobRun` and reports back through the worker's ``events`` queue, from its own threads:
``("done", run, ok, data)`` when the job's function ends (``data`` the encoded result, or an error dict),
``("progress", run, value, message)`` when it reports progress, and (processes only) ``("started", run)`` when a
worker process has the job in hand, so that its timeout does not count the process's start. A runner never
touches the store itself; what it runs may: a cached job's function is wrapped to store its result, and a cached
``process`` job's ``run.after`` stores it (see :mod:`.cache`).

Around each run, in the thread, coroutine or worker process that runs it, :func:`taskgraph.current_job` returns
the job's :class:`~.context.JobContext`, and the queue's ``before_run(ctx)`` and ``after_run(ctx, outcome)`` hooks
are called (only when the queue has hooks: a queue without any pays nothing for them). In an ``async`` job they
run on the runner's event loop, which they hold while they run: keep them short.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

from ..errors import CancelledError, SerializationError
from ..stores.records import JobRecord, encode_error
from .cache import prepare_cached
from .context import JobContext, _current
from .jobs import JobFunction, JobOptions
from .refusals import check_record

if TYPE_CHECKING:
    from .queue import DurableQueue

log = logging.getLogger("taskgraph.worker")

__all__ = ["JobRun", "ThreadRunner", "AsyncRunner", "load_queue", "prepare", "run_job", "context_of"]


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
    claimed: float = 0.0  # monotonic time its claim came back from the store
    stale: bool = False  # timed out, cancelled or lost: whatever it reports is dropped
    handle: Any = None  # the runner's grip on it: a slot, a future
    progress: tuple[float, str | None] | None = None  # what it last reported: (value, message)
    # a process job's: called with (ok, data) by its runner's ended(), in the worker's thread, as the worker takes
    # in its end (a cached job's result is stored so, before the job is reported DONE; see .cache)
    after: Callable[[bool, Any], None] | None = None

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
            run = JobRun(record, options)  # its worker process finds the function and decodes the arguments
        else:
            args, kwargs = queue.serializer.decode_call(record.payload)
            run = JobRun(record, options, job.func, args, kwargs)
    except (LookupError, SerializationError) as exc:  # its type kept, for callers that catch it
        why = f"job {record.id}: {exc}; the job was refused: it was not run and will not be retried"
        raise type(exc)(why) from None
    if "cache" in record.options:
        prepare_cached(queue, run)
    return run


def context_of(record: JobRecord, worker_id: str, report: Callable[[float, str | None], None]) -> JobContext:
    """The context a run of ``record`` sees as :func:`taskgraph.current_job`."""
    return JobContext(record.id, record.name, record.attempts, record.queue, record.metadata, worker_id, report)


def run_job(queue: DurableQueue, ctx: JobContext, func: Callable[..., Any], args: tuple[Any, ...],
            kwargs: dict[str, Any]) -> tuple[bool, Any]:
    """Call a job's function here, as the job ``ctx``, between the queue's ``before_run`` and ``after_run`` hooks;
    return ``(True, encoded result)`` or ``(False, error dict)``."""
    token = _current.set(ctx)
    hooks = queue.hooks
    try:
        if hooks:
            hooks.call("before_run", ctx)
        try:
            value = func(*args, **kwargs)
            data = queue.serializer.encode_result(ctx.name, value)
        except BaseException as exc:  # noqa: BLE001 - a job's SystemExit must not take the worker down
            if hooks:
                hooks.call("after_run", ctx, ("FAILED", exc))
            return False, encode_error(exc)
        if hooks:
            hooks.call("after_run", ctx, ("DONE", value))
        return True, data
    finally:
        _current.reset(token)


class _Runner:
    """What every runner has: how many jobs it runs at once (``size``), how many it runs now (``busy``), and the
    worker's ``events`` queue."""

    def __init__(self, size: int, events: SimpleQueue[Any], worker_id: str) -> None:
        self.size = size
        self.busy = 0
        self.events = events
        self.worker_id = worker_id

    def _context(self, run: JobRun) -> JobContext:
        events = self.events
        return context_of(run.record, self.worker_id, lambda value, message: events.put(("progress", run, value,
                                                                                          message)))

    def ended(self, run: JobRun) -> None:
        self.busy -= 1


class ThreadRunner(_Runner):
    """Runs ``thread`` jobs on a pool. A thread cannot be stopped: a job that times out or is cancelled is
    reported as such at once, and its thread runs on, holding its slot, until the function returns."""

    def __init__(self, queue: DurableQueue, threads: int, events: SimpleQueue[Any], worker_id: str) -> None:
        super().__init__(threads, events, worker_id)
        self.queue = queue
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="taskgraph-job")

    def start(self, run: JobRun) -> None:
        self.busy += 1
        self._pool.submit(self._call, run)

    def _call(self, run: JobRun) -> None:
        assert run.func is not None
        ok, data = run_job(self.queue, self._context(run), run.func, run.args, run.kwargs)
        self.events.put(("done", run, ok, data))

    def stop(self, run: JobRun) -> None:
        """Threads cannot be stopped; the run is already marked stale by the worker."""

    def close(self) -> None:
        """Stop the pool; idle threads are joined (quick), a thread still running a job is left behind."""
        self._pool.shutdown(wait=self.busy == 0, cancel_futures=True)


class AsyncRunner(_Runner):
    """Runs ``async`` jobs as coroutines on one event loop in a thread; timeouts and cancels cancel them."""

    def __init__(self, queue: DurableQueue, limit: int, events: SimpleQueue[Any], worker_id: str) -> None:
        super().__init__(limit, events, worker_id)
        self.queue = queue
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="taskgraph-async", daemon=True)
        self._thread.start()

    def start(self, run: JobRun) -> None:
        self.busy += 1
        run.handle = asyncio.run_coroutine_threadsafe(self._call(run), self._loop)

    async def _call(self, run: JobRun) -> None:
        ctx = self._context(run)
        token = _current.set(ctx)
        hooks = self.queue.hooks
        data: Any
        try:
            if hooks:
                hooks.call("before_run", ctx)
            assert run.func is not None
            value = await run.func(*run.args, **run.kwargs)
            ok, data = True, self.queue.serializer.encode_result(run.record.name, value)
            outcome: tuple[str, Any] = ("DONE", value)
        except asyncio.CancelledError as exc:
            ok, data, outcome = False, encode_error(CancelledError("stopped"), ""), ("FAILED", exc)
        except BaseException as exc:  # noqa: BLE001
            ok, data, outcome = False, encode_error(exc), ("FAILED", exc)
        finally:
            _current.reset(token)
        if hooks:
            token = _current.set(ctx)
            try:
                hooks.call("after_run", ctx, outcome)
            finally:
                _current.reset(token)
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
