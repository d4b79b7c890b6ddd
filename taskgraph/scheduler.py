"""The scheduler behind ``make`` and ``TaskQueue``: the only code that decides what runs next.

One :class:`Run` holds the state of one ``make`` (or one ``TaskQueue.run()``), and all of it is touched by one
thread, the one iterating the generator; queues and other threads only ever hand it a task through ``reports``,
a thread-safe queue fed by the tasks' done-callbacks.

The state of a run:

* ``counts``: every task the run knows, mapped to the number of its prerequisites it still waits for. A
  positive count means PENDING and waiting; 0 means ready, submitted, or run by someone else; -1 means settled,
  its end seen and passed on to its dependents.
* ``ready``: PENDING tasks whose prerequisites are all DONE, in the order they became ready.
* ``inflight``: tasks submitted to the queue and not yet seen to end; ``watched``: tasks some other run or
  thread is running, whose end this run waits for.
* ``wanted``: the tasks to yield, each once, when it is final; ``finished``: those final and not yet yielded.

The rules, cs.taskqueue's ``make`` rules applied as facts arrive rather than by polling:

1. A PENDING task whose prerequisite has FAILED fails without running (``BlockedError``, the prerequisite's
   exception chained); one whose prerequisite was CANCELLED is cancelled. Failure wins over cancellation when a
   task sees both at once.
2. Pending prerequisites are made first (``make``); a ``TaskQueue`` runs only its own tasks, and fails a task
   that waits on a PENDING task outside it when nothing else can move.
3. A task already QUEUED or RUNNING elsewhere is waited for, not run again; a DONE one is not run again.
4. A cycle among the tasks to make is refused before anything runs (``CycleError``).
5. A task is dispatched when its count reaches 0 and a check of its prerequisites finds them all DONE (the check
   catches edges added while the run goes on). Claiming it is a transition, PENDING->QUEUED (PENDING->RUNNING on
   an inline queue), which only one run can win.
6. Once every wanted task has been yielded nothing new starts, and the run ends when the tasks it submitted
   have ended. ``fail_fast`` ends it at the first yielded task that is not DONE; tasks it submitted that have
   not started are cancelled, those running are waited for.
7. Ctrl-C cancels every task of the run that has not started, waits for the running ones and re-raises; a
   second Ctrl-C cancels the running ones too and re-raises at once.
"""

from __future__ import annotations

import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from queue import Empty, SimpleQueue
from typing import Any

from .errors import BlockedError, CancelledError, CycleError, TaskError
from .graph import walk
from .queues.base import Queue
from .states import CANCELLED, DONE, FAILED, FINAL_STATES, PENDING, QUEUED
from .task import Task

__all__ = ["Run", "close_queue"]

_WAKE = object()  # put into ``reports`` to wake a run that waits for one
_SIGNAL_CHECK = 0.25  # seconds between chances for a Ctrl-C handler to run while the main thread waits


def _nothing() -> None:
    return None


def _interrupted(task: Task) -> CancelledError:
    return CancelledError(f"task {task.name!r} was cancelled: interrupted")


def _all_done(task: Task) -> bool:
    for p in task._prereqs:  # noqa: SIM110 - a plain loop is twice as fast as all() on the dispatch path
        if p.state is not DONE:
            return False
    return True


def close_queue(queue: Queue, abandoned: bool) -> None:
    """Close a queue ``make`` opened; after a second Ctrl-C, without waiting for what still runs."""
    if abandoned:
        queue.close(wait=False)
    else:
        queue.close()


class Run:
    """The state of one scheduling run. Used by one thread only, except :attr:`reports`."""

    def __init__(self, queue: Queue, make_prerequisites: bool, run_dependents: bool, fail_fast: bool) -> None:
        self.queue = queue
        self.make_prerequisites = make_prerequisites
        self.run_dependents = run_dependents
        self.fail_fast = fail_fast
        self.counts: dict[Task, int] = {}
        self.ready: deque[Task] = deque()
        self.inflight: set[Task] = set()
        self.watched: set[Task] = set()
        self.wanted: dict[Task, None] = {}
        self.finished: deque[Task] = deque()
        self.reports: SimpleQueue[Any] = SimpleQueue()
        self.additions: deque[tuple[Task, ...]] = deque()
        self.abandoned = False  # a second Ctrl-C left running tasks behind
        self.interrupts = 0  # Ctrl-Cs caught by catch_sigint, not yet acted on
        self.in_loop = True  # False while the caller's code runs between two yields
        self.inline_running = False  # True while an inline queue runs a task's function
        self.catching = False  # catch_sigint's handler is installed: block on reports only briefly

    # ------------------------------------------------------------ taking tasks in

    def admit(self, tasks: Iterable[Task], wanted: bool) -> None:
        """Take ``tasks`` into the run (and, for ``make``, their pending prerequisites)."""
        tasks = list(tasks)
        for t in tasks:
            if not isinstance(t, Task):
                raise TypeError(f"make() and TaskQueue take tasks, not {type(t).__name__}")
        counts = self.counts
        if wanted:
            for t in tasks:
                if counts.get(t) != -1:
                    self.wanted[t] = None
        if self.make_prerequisites:
            order = walk(tasks, lambda t: t.state is PENDING and t not in counts)
        else:
            given = set(tasks)
            order = walk(tasks, lambda t: t in given and t.state is PENDING and t not in counts)
        for t in order:
            counts[t] = 0
        for t in order:
            self.evaluate(t)
        for t in tasks:
            if t not in counts:
                self.observe(t)

    def observe(self, task: Task) -> None:
        """Note a task some other party moves: settle it if final, else wait for its end."""
        if task.state in FINAL_STATES:
            self.settle(task)
        elif task.state is not PENDING and task not in self.watched:
            self.watched.add(task)
            task.add_done_callback(self.reports.put)

    def evaluate(self, task: Task) -> None:
        """Apply the rules to a PENDING task of this run: fail it, cancel it, make it wait, or make it ready."""
        if task.state is not PENDING:
            self.counts[task] = 0
            self.observe(task)
            return
        counts = self.counts
        waiting = 0
        failed = cancelled = None
        pull: list[Task] = []
        for p in task._prereqs:
            state = p.state
            if state is DONE:
                continue
            if state is FAILED:
                failed = p
                break
            if state is CANCELLED:
                cancelled = cancelled or p
                continue
            waiting += 1
            if p not in counts:
                if state is not PENDING:
                    self.observe(p)
                elif self.make_prerequisites:
                    pull.append(p)
        if failed is not None:
            error = BlockedError(task.name, [(failed.name, FAILED.value)])
            error.__cause__ = failed.exception
            self.end(task, "fail", error)
        elif cancelled is not None:
            self.end(task, "cancel", CancelledError(f"task {task.name!r} was cancelled: prerequisite "
                                                    f"{cancelled.name!r} was cancelled"))
        elif pull:  # edges added since the task was admitted
            counts[task] = waiting
            self.admit(pull, wanted=False)
        elif waiting:
            counts[task] = waiting
        else:
            counts[task] = 0
            self.ready.append(task)

    def end(self, task: Task, event: str, error: BaseException) -> None:
        """Fail or cancel a task without running it, and pass that on."""
        task._fire(event, False, None, error, only_from=PENDING)
        self.counts[task] = 0
        self.observe(task)

    # ------------------------------------------------------------ passing ends on

    def settle(self, task: Task) -> None:
        """A task of interest is final: yield it if wanted, and apply the rules to the tasks waiting on it."""
        counts = self.counts
        stack = [task]
        while stack:
            t = stack.pop()
            if counts.get(t) == -1:
                continue
            counts[t] = -1
            if t in self.wanted:
                del self.wanted[t]
                self.finished.append(t)
            state = t.state
            for d in t._dependents:
                c = counts.get(d)
                if c is None:
                    if self.run_dependents and d.state is PENDING:
                        self.admit((d,), wanted=True)
                    continue
                if c <= 0 or d.state is not PENDING:
                    continue
                if state is DONE:
                    if c == 1:
                        self.evaluate(d)
                    else:
                        counts[d] = c - 1
                    continue
                if state is FAILED:
                    error: BaseException = BlockedError(d.name, [(t.name, FAILED.value)])
                    error.__cause__ = t.exception
                    d._fire("fail", False, None, error, only_from=PENDING)
                else:
                    cancelled = CancelledError(f"task {d.name!r} was cancelled: prerequisite {t.name!r} was cancelled")
                    d._fire("cancel", False, None, cancelled, only_from=PENDING)
                counts[d] = 0
                if d.state in FINAL_STATES:
                    stack.append(d)
                else:
                    self.observe(d)

    def report(self, item: Any) -> None:
        """Handle one item from ``reports``: a task that ended, or a wake-up."""
        if item is _WAKE:
            return
        task: Task = item
        if task in self.inflight:
            self.inflight.discard(task)
        else:
            self.watched.discard(task)
        self.settle(task)

    # ------------------------------------------------------------ running

    def dispatch(self) -> None:
        """Hand ready tasks to the queue while it has room."""
        queue, ready, inflight = self.queue, self.ready, self.inflight
        capacity = queue.capacity
        inline = queue.runs_inline
        event = "dispatch" if inline else "queue"
        while ready and (capacity is None or len(inflight) < capacity):
            task = ready.popleft()
            if not _all_done(task):  # an edge was added while it waited for room
                self.evaluate(task)
                continue
            if not task._fire(event, False, only_from=PENDING):  # another run or thread took it, or it was cancelled
                self.observe(task)
                continue
            inflight.add(task)
            if not inline:
                task.add_done_callback(self.reports.put)
            try:
                if inline:
                    self.inline_running = True
                    try:
                        queue.submit(task)
                    finally:
                        self.inline_running = False
                else:
                    queue.submit(task)
            except Exception as exc:
                error = TaskError(f"task {task.name!r}: queue {queue!r} failed to take it: {exc}")
                error.__cause__ = exc
                task._fire("fail", False, None, error)
            if inline:  # it has ended (or, if a cancel from elsewhere raced it, will end in this thread)
                inflight.discard(task)
                self.observe(task)
                if self.finished or self.interrupts:
                    return

    def add(self, tasks: tuple[Task, ...]) -> None:
        """Add tasks from any thread, while the run goes on (``TaskQueue.add``)."""
        self.additions.append(tasks)
        self.reports.put(_WAKE)

    def run(self) -> Iterator[Task]:
        """Run to the end, yielding each wanted task once, when it is final."""
        reports = self.reports
        restore = self.catch_sigint()
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
                elif self.ready and (self.queue.capacity is None or len(self.inflight) < self.queue.capacity):
                    continue
                elif not self.inflight and not self.watched:
                    self.unstick()
                    continue
                self.report(self.next_report())
                while not reports.empty():
                    self.report(reports.get())
        except KeyboardInterrupt:
            self.stop(cancel_pending=True)
            raise
        except BaseException:
            self.stop(cancel_pending=False)
            raise
        finally:
            restore()

    def catch_sigint(self) -> Callable[[], None]:
        """While the run's loop runs in the main thread, make Ctrl-C a flag the loop checks at safe points.

        A KeyboardInterrupt raised at an arbitrary instruction could land between claiming a task and recording
        it; the flag is acted on only where the run's state is whole. Ctrl-C still raises at once while a task
        runs inline (to stop its function) and while the caller's code runs between two yields.

        Returns:
            the function that puts the previous handler back.
        """
        if (
            threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        ):
            return _nothing

        def on_sigint(signum: int, frame: Any) -> None:
            if not self.in_loop or self.inline_running:
                raise KeyboardInterrupt
            self.interrupts += 1
            self.reports.put(_WAKE)

        signal.signal(signal.SIGINT, on_sigint)
        self.catching = True

        def restore() -> None:
            self.catching = False
            if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is on_sigint:
                signal.signal(signal.SIGINT, signal.default_int_handler)

        return restore

    def next_report(self) -> Any:
        """The next report, waiting for it. While our SIGINT handler is installed, the wait wakes every quarter of
        a second: the kernel may deliver Ctrl-C to a worker thread, and Python runs the handler only when the main
        thread next runs bytecode, which a wait without a timeout would put off until a task finished."""
        if not self.catching:
            return self.reports.get()
        while True:
            try:
                return self.reports.get(timeout=_SIGNAL_CHECK)
            except Empty:
                pass  # back in the interpreter: a pending handler runs here, and puts _WAKE

    def stop(self, cancel_pending: bool) -> None:
        """Stop early: cancel what the queue has not started (and, on Ctrl-C, every PENDING task of the run),
        then wait for the running tasks; another Ctrl-C while waiting cancels those too and raises."""
        self.in_loop = True
        seen = self.interrupts
        if cancel_pending:
            for task in self.counts:
                if task.state is PENDING:
                    task._fire("cancel", False, None, _interrupted(task), only_from=PENDING)
        for task in list(self.inflight):
            if task.state is QUEUED:  # not started: cancel it, unless a worker starts it this very moment
                why = _interrupted(task) if cancel_pending else CancelledError(
                    f"task {task.name!r} was cancelled: the run stopped before it started")
                task._fire("cancel", False, None, why, only_from=QUEUED)
        try:
            while True:
                for task in list(self.inflight):
                    if task.state in FINAL_STATES:
                        self.inflight.discard(task)
                    elif self.queue.runs_inline:  # interrupted between its function and its transition
                        task._fire("cancel", False, None, _interrupted(task))
                        self.inflight.discard(task)
                if not self.inflight:
                    return
                if self.interrupts > seen:
                    raise KeyboardInterrupt
                self.next_report()
        except KeyboardInterrupt:
            self.abandoned = True
            for task in list(self.inflight):
                task._fire("cancel", False, None, _interrupted(task))
            raise

    def unstick(self) -> None:
        """Nothing runs or can start, yet tasks wait: their prerequisites changed, lie outside a TaskQueue, or
        form a cycle made after the run began. Re-check them, then fail what can never run."""
        waiting = [t for t, c in self.counts.items() if c > 0]
        if not waiting:
            raise RuntimeError("taskgraph scheduler: no task can move but tasks are wanted; please report this")
        for t in waiting:
            self.evaluate(t)
        if self.ready or self.inflight or self.watched or any(self.counts[t] <= 0 for t in waiting):
            return
        stuck = False
        for t in waiting:
            outside = [(p.name, p.state.value) for p in t._prereqs if p not in self.counts and p.state is PENDING]
            if outside:
                stuck = True
                self.end(t, "fail", BlockedError(t.name, outside, " and not in this TaskQueue; add it, or use make()"))
        if stuck:
            return
        still = set(t for t in waiting if self.counts[t] > 0)
        try:
            walk(still, still.__contains__)
        except CycleError as cycle:
            for t in cycle.tasks:  # fail them all before passing any on, so each one carries the cycle
                t._fire("fail", False, None, cycle, only_from=PENDING)
            for t in cycle.tasks:
                self.counts[t] = 0
                self.observe(t)
            return
        raise RuntimeError("taskgraph scheduler: tasks wait for nothing; please report this")
