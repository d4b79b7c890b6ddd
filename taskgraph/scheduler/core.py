"""The scheduler's loop: it hands ready tasks to the queue and turns what the queue reports into transitions; and
how Ctrl-C reaches it (:class:`Interruptible`)."""

from __future__ import annotations

import concurrent.futures
import itertools
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from functools import partial
from queue import Empty, SimpleQueue
from typing import Any

from .. import task as _task
from ..errors import CancelledError, describe
from ..queues.base import Call, chain, nothing
from ..queues.futures import FINISHED, FUTURE_OVER
from ..states import DONE, FINAL_STATES, PENDING, QUEUED, RUNNING
from ..task import Task
from .builds import BuildCall, Builds
from .linked import Linking
from .rules import Rules, all_done, refused

__all__ = ["Scheduler", "close_queue"]

_WAKE = object()  # put into ``reports`` to wake a run that waits for one
_ABSENT = object()
_NUMBERS = itertools.count(1)
_SIGNAL_CHECK = 0.25  # seconds between chances for a Ctrl-C handler to run while the main thread waits


def _interrupted(task: Task) -> CancelledError:
    return CancelledError(f"task {task.name!r} was cancelled: interrupted")


def close_queue(queue: Any, abandoned: bool) -> None:
    """Close a queue ``make`` opened; after a second Ctrl-C, without waiting for what still runs."""
    close = getattr(queue, "close", None)
    if close is None:
        queue.shutdown(wait=not abandoned, cancel_futures=abandoned)
    else:
        close(wait=not abandoned)


def default_capacity(queue: Any) -> int | None:
    """A queue's capacity when it states none: twice an executor's worker count, or no limit."""
    workers = getattr(queue, "_max_workers", None)
    return 2 * workers if isinstance(workers, int) and not isinstance(workers, bool) else None


class Interruptible:
    """The Ctrl-C state of a scheduling run, and how it waits for reports."""

    def __init__(self) -> None:
        self.abandoned = False  # a second Ctrl-C left running tasks behind
        self.interrupts = 0  # Ctrl-Cs caught by catch_sigint, not yet acted on
        self.in_loop = True  # False while the caller's code runs between two yields
        self.inline_running: Any = None  # the task whose function an inline queue runs in this thread now
        self.catching = False  # catch_sigint's handler is installed: block on reports only briefly

    def catch_sigint(self, wake: Callable[[Any], Any], token: Any) -> Callable[[], None]:
        """While the run's loop runs in the main thread, make Ctrl-C a flag the loop checks at safe points.

        A KeyboardInterrupt raised at an arbitrary instruction could land between claiming a task and recording
        it; the flag is acted on only where the run's state is whole, and ``wake(token)`` wakes the loop to see it.
        Ctrl-C still raises at once while a task runs inline (to stop its function) and while the caller's code
        runs between two yields.

        Returns:
            the function that puts the previous handler back.
        """
        if (
            threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        ):
            return nothing

        def on_sigint(signum: int, frame: Any) -> None:
            if not self.in_loop or self.inline_running is not None:
                raise KeyboardInterrupt
            self.interrupts += 1
            wake(token)

        signal.signal(signal.SIGINT, on_sigint)
        self.catching = True

        def restore() -> None:
            self.catching = False
            if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is on_sigint:
                signal.signal(signal.SIGINT, signal.default_int_handler)

        return restore

    def next_report(self, reports: SimpleQueue[Any]) -> Any:
        """The next report, waiting for it. While our SIGINT handler is installed, the wait wakes every quarter of
        a second: the kernel may deliver Ctrl-C to a worker thread, and Python runs the handler only when the main
        thread next runs bytecode, which a wait without a timeout would put off until a task finished."""
        if not self.catching:
            return reports.get()
        while True:
            try:
                return reports.get(timeout=_SIGNAL_CHECK)
            except Empty:
                pass  # back in the interpreter: a pending handler runs here, and wakes the loop


class Scheduler(Builds, Linking, Interruptible):
    """The state of one scheduling run. Used by one thread at a time, except :attr:`reports`.

    ``force`` and ``state`` go to the run's builder, if tasks declare files: run them even if up to date; where
    their state is kept (see :mod:`taskgraph.build`).
    """

    def __init__(self, queue: Any, make_prerequisites: bool, run_dependents: bool, fail_fast: bool,
                 keep_going: bool = False, force: bool = False, state: Any = None, eager: bool = False,
                 link: bool = False) -> None:
        self.reports: SimpleQueue[Any] = SimpleQueue()
        Rules.__init__(self, make_prerequisites, run_dependents, self.reports.put, keep_going)
        Interruptible.__init__(self)
        self.init_builds(force, state)
        self.queue = queue
        self.fail_fast = fail_fast
        self.inline = bool(getattr(queue, "runs_inline", False))
        self.submit_call = getattr(queue, "submit_call", None)
        self.fallback_capacity = default_capacity(queue)
        self.inflight: dict[Task, Any] = {}  # a task handed to the queue -> its call
        self.additions: deque[tuple[Task, ...]] = deque()
        self.recording: Task | None = None  # the task whose outcome this run is recording now
        self.number = next(_NUMBERS)  # names the run in the calls it hands out
        self.edges_seen = _task.edges_added  # tasks' edges as counted; changed: check a ready task at dispatch
        self.eager = eager  # no caller's code waits for each end (make_now): run inline tasks on without yielding
        self.init_linking(link)  # hand the queue tasks linked to their prerequisites, if it takes them (.linked)

    @property
    def capacity(self) -> int | None:
        return getattr(self.queue, "capacity", self.fallback_capacity)

    def report(self, item: Any) -> bool:
        """Handle one item from ``reports``: a call that started or ended, a future, a task that ended, a wake-up.

        Returns:
            False if it was only a call that started (nothing can follow from that), else True.
        """
        if type(item) is Call:
            task = item.token
            call: Any = item
            if self.inflight.get(task, _ABSENT) is not call:
                return False  # a late report of a call already followed to its end
            if call._state is not FINISHED and call._state not in FUTURE_OVER:
                task._fire("dispatch", False, None, None, QUEUED)
                return False
            del self.inflight[task]
            if call._exception is None and call._state is FINISHED and task.cancel_on_result is None:
                # the common case of record(), for every task: its call returned
                if task.state is QUEUED:  # and ended before its start was seen
                    task._fire("dispatch", False, only_from=QUEUED)
                task._fire("done", False, call._result)
            else:
                self.record(task, call)
            self.settle(task)
            return True
        if item is _WAKE:
            return True
        if type(item) is BuildCall:
            return self.report_built(item)
        task = item  # a task that ended elsewhere
        future = self.inflight.pop(task, _ABSENT)
        if future is _ABSENT:
            self.watched.discard(task)
        else:  # a user cancelled it: have the queue drop or stop its call
            future.cancel()
        self.settle(task)
        return True

    def record(self, task: Task, future: Any) -> None:
        """Move a task of this run to the outcome of its call."""
        if task.state is QUEUED:  # the queue did not say when it started
            task._fire("dispatch", False, only_from=QUEUED)
        if task.state is not RUNNING:  # cancelled meanwhile: the outcome is dropped
            return
        self.recording = task
        try:
            result = future.result()
        except BaseException as exc:
            # asyncio's CancelledError can only exist once asyncio is imported, which this module leaves to
            # those who use it (it costs a third of the import of taskgraph)
            aio = sys.modules.get("asyncio")
            cancels = (concurrent.futures.CancelledError, aio.CancelledError if aio else CancelledError)
            if isinstance(exc, Exception) and not isinstance(exc, (CancelledError, *cancels)):
                task._finish(None, exc)
            else:  # a cancelled call, coroutine or job; KeyboardInterrupt, SystemExit
                if isinstance(exc, cancels):
                    exc = CancelledError(f"task {task.name!r} was cancelled")
                task._fire("cancel", False, None, exc)
        else:
            if task.cancel_on_result is None:
                task._fire("done", False, result)
            else:
                task._finish(result)
        self.recording = None

    def ended(self, task: Task) -> None:
        """A done-callback of submitted tasks: report the end of one this run did not record itself.

        It runs in the thread that ended the task (a user's ``cancel()``), and cancels the task's call there and
        then, so that a call still waiting in the queue can no longer start once ``cancel()`` has returned.
        """
        if task is not self.recording:
            future = self.inflight.get(task)
            if future is not None:
                future.cancel()
            self.put(task)

    def dispatch(self) -> None:
        """Hand ready tasks to the queue while it has room."""
        if self.linking:
            self.hand_on()
            return
        ready, inflight, inline, edges_seen = self.ready, self.inflight, self.inline, self.edges_seen
        capacity = None if inline else self.capacity  # an inline queue runs one at a time in this thread anyway
        while ready and (capacity is None or len(inflight) < capacity):
            task = ready.popleft()
            if edges_seen != _task.edges_added and not all_done(task):  # an edge was added since the run began
                self.evaluate(task)
                continue
            if task.files is not None:  # it may be up to date (see .builds)
                self.build(task)
                if inline and (self.interrupts or self.finished and not (self.eager and self.wanted)):
                    return  # as below
                continue
            if not inline:
                # claimed, and owned: told if a user's cancel() ends it while its call is in the queue
                if task._fire("queue", False, None, None, PENDING, self.ended):  # only_from, owner
                    self.send(task)
                else:
                    self.observe(task)  # another run or thread took it, or it was cancelled
                continue
            self.inline_running = task  # left set if the call raises: stop() then sees what was running
            if not task._run_here():  # claimed from PENDING, called, its outcome recorded
                self.inline_running = None
                self.observe(task)
                continue
            self.inline_running = None
            self.settle(task)  # final: _run_here() records every outcome, or raises
            # back to the loop for Ctrl-C, or to yield what ended, unless no caller's code waits for each end
            # (eager: make_now) and something is still wanted
            if self.interrupts or self.finished and not (self.eager and self.wanted):
                return

    def send(self, task: Task, kind: type[Call] = Call) -> None:
        """Hand a QUEUED task's call to the queue, and follow it through its :class:`Call`, which the queue settles
        (or which follows the future a queue returned instead, or a queue without ``submit_call``)."""
        call = kind(task.name, task.key or task.name, task.func, task.args, task.kwargs, task, self.number, self.put)
        try:
            if self.submit_call is not None:
                future = self.submit_call(call)
            else:
                func = task.func or nothing
                # keywords go in a partial, so that none can meet a parameter of the queue's own submit
                future = self.queue.submit(partial(func, **task.kwargs) if task.kwargs else func, *task.args)
                call._began = True  # such a queue cannot say when a call starts
            if future is not call:
                if not isinstance(future, Future):
                    raise TypeError(f"its submit returned {describe(future)}, not a concurrent.futures.Future; a "
                                    "queue's submit(fn, *args, **kwargs) returns the future of the call (see "
                                    "docs/queues.md)")
                chain(future, call, _outcome)
        except Exception as exc:
            task._fire("fail", False, None, refused(task, self.queue, exc))
            self.observe(task)
            return
        if call._began:  # the queue said so already, or cannot say
            task._fire("dispatch", False, only_from=QUEUED)
        self.inflight[task] = call

    def hand_over(self) -> None:
        """Give the queue's ``submit_graph``, at once, every PENDING task of the run whose prerequisites are DONE or
        handed over with it; the queue releases each as its prerequisites end.

        Raises:
            Exception: what ``submit_graph`` raised; then nothing was handed over and every task is still PENDING.
        """
        batch: dict[Task, Call] = {}
        for task, count in self.counts.items():
            if count < 0 or task.state is not PENDING or task.files is not None:
                continue  # (a task that declares files is checked here first; what needs it follows it)
            after = [batch.get(p) for p in task._prereqs if p.state is not DONE]
            if None not in after:
                batch[task] = self.call(task, after)  # type: ignore[arg-type]
        if not batch:
            return
        futures = self.queue.submit_graph(list(batch.values()))
        for (task, call), future in zip(batch.items(), futures, strict=True):
            if future is not call:
                chain(future, call, _outcome)
            if task._fire("queue", False, only_from=PENDING, owner=self.ended):
                self.counts[task] = 0
                self.inflight[task] = call
            else:  # claimed meanwhile by another run
                call.cancel()
        self.ready = deque(t for t in self.ready if t not in batch)

    def add(self, tasks: tuple[Task, ...]) -> None:
        """Add tasks from any thread, while the run goes on (``TaskQueue.add``)."""
        self.additions.append(tasks)
        self.put(_WAKE)

    def run(self) -> Iterator[Task]:
        """Run to the end, yielding each wanted task once, when it is final."""
        restore = self.catch_sigint(self.put, _WAKE)
        try:
            while True:
                if self.interrupts:
                    raise KeyboardInterrupt
                while self.additions:
                    self.admit(self.additions.popleft(), wanted=True)
                while self.finished:
                    task = self.finished.popleft()
                    self.in_loop = False
                    yield task
                    self.in_loop = True
                    if self.fail_fast and task.state is not DONE:
                        self.stop(cancel_pending=False)
                        return
                if self.additions:
                    continue
                if self.wanted:
                    self.dispatch()
                    if self.finished or self.interrupts:
                        continue
                if not self.wanted:
                    if not self.inflight:
                        return
                elif self.ready and (self.inline or self.capacity is None or len(self.inflight) < self.capacity):
                    continue
                elif not self.inflight and not self.watched:
                    self.unstick()
                    continue
                reports = self.reports
                while True:  # wait again at once while all that comes are calls that started
                    moved = self.report(self.next_report(reports))
                    while not reports.empty():
                        moved = self.report(reports.get()) or moved
                    if moved or self.interrupts:
                        break
        except KeyboardInterrupt:
            self.stop(cancel_pending=True)
            raise
        except BaseException:
            self.stop(cancel_pending=False)
            raise
        finally:
            restore()
            self.close_builds()

    def stop(self, cancel_pending: bool) -> None:
        """Stop early: cancel what the queue has not started (and, on Ctrl-C, every PENDING task of the run),
        then wait for the running tasks; another Ctrl-C while waiting cancels those too and raises."""
        self.in_loop = True
        seen = self.interrupts
        inflight = self.inflight
        if cancel_pending:
            for task in self.counts:
                if task.state is PENDING:
                    task._fire("cancel", False, None, _interrupted(task), only_from=PENDING)
        for task, future in list(inflight.items()):
            # not started: cancel it, unless the queue starts it this very moment
            if task.state is QUEUED and future.cancel():
                why = _interrupted(task) if cancel_pending else CancelledError(
                    f"task {task.name!r} was cancelled: the run stopped before it started")
                task._fire("cancel", False, None, why, only_from=QUEUED)
                del inflight[task]
        task, self.inline_running = self.inline_running, None
        if task is not None:  # interrupted between its function and its transition, if not final yet
            task._fire("cancel", False, None, _interrupted(task))
        try:
            while True:
                for task in list(inflight):
                    if task.state in FINAL_STATES:
                        del inflight[task]
                if not inflight:
                    return
                if self.interrupts > seen:
                    raise KeyboardInterrupt
                call: Any = self.next_report(self.reports)
                if not isinstance(call, Call) or inflight.get(call.token, _ABSENT) is not call:
                    continue
                if call._state in FUTURE_OVER:
                    del inflight[call.token]
                    # recorded, not passed on: what waits for it stays as it is
                    if type(call) is BuildCall:
                        self.record_built(call.token, call)
                    else:
                        self.record(call.token, call)
                else:
                    call.token._fire("dispatch", False, only_from=QUEUED)
        except KeyboardInterrupt:
            self.abandoned = True
            for task, future in list(inflight.items()):
                task._fire("cancel", False, None, _interrupted(task))
                future.cancel()
            raise


def _outcome(future: Future[Any]) -> tuple[Any, BaseException | None]:
    """A done future's result or exception, to settle a :class:`Call` with (a queue returned another future)."""
    exc = future.exception()
    return (future.result(), None) if exc is None else (None, exc)
