"""The scheduler behind ``make`` and ``TaskQueue``: what runs next, and the one writer of task state.

One :class:`Scheduler` holds the state of one ``make`` (or one ``TaskQueue.run()``), and one thread touches it,
the one iterating the generator. It alone moves the tasks of its run: queues run calls and settle futures, and
the scheduler turns what they report into transitions (as ``dask/local.py`` keeps every state change in its one
loop). Reports arrive on ``reports``, a thread-safe queue, as values:

* a :class:`~concurrent.futures.Future` that is done: the call's outcome (DONE, FAILED, or CANCELLED);
* a :class:`~taskgraph.queues.base.Call` whose function has begun (QUEUED -> RUNNING);
* a task that became final elsewhere: one run by another party that this run waits for, or one of its own
  cancelled by a user (its future is then cancelled: the queue stops the call if it can).

The state of a run:

* ``counts``: every task the run knows, mapped to the number of its prerequisites it still waits for. A
  positive count means PENDING and waiting; 0 means ready, submitted, or run by someone else; -1 means settled,
  its end seen and passed on to its dependents.
* ``ready``: PENDING tasks whose prerequisites are all DONE, in the order they became ready.
* ``inflight``: tasks handed to the queue and not yet settled, each with its future (None while an inline queue's
  function runs in this thread); ``futures`` maps each future back to its task. ``watched``: tasks some other run
  or thread is running, whose end this run waits for.
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
   an inline queue), which only one run can win. A queue with ``submit_graph`` is handed, at once, every task
   whose prerequisites are DONE or handed over with it, and releases them itself (:meth:`Scheduler.hand_over`).
6. Once every wanted task has been yielded nothing new starts, and the run ends when the tasks it submitted
   have ended. ``fail_fast`` ends it at the first yielded task that is not DONE; tasks it submitted that have
   not started are cancelled, those running are waited for.
7. Ctrl-C cancels every task of the run that has not started, waits for the running ones and re-raises; a
   second Ctrl-C cancels the running ones too and re-raises at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from functools import partial
from queue import SimpleQueue
from typing import Any

from ._interrupts import Interruptible
from .errors import BlockedError, CancelledError, CycleError, TaskError, describe
from .graph import walk
from .queues.base import Call, nothing
from .states import CANCELLED, DONE, FAILED, FINAL_STATES, PENDING, QUEUED, RUNNING
from .task import Task

__all__ = ["Scheduler", "close_queue"]

_WAKE = object()  # put into ``reports`` to wake a run that waits for one
_ABSENT = object()
_NUMBERS = itertools.count(1)
_CANCELS = (asyncio.CancelledError, concurrent.futures.CancelledError)


def _interrupted(task: Task) -> CancelledError:
    return CancelledError(f"task {task.name!r} was cancelled: interrupted")


def _all_done(task: Task) -> bool:
    for p in task._prereqs:  # noqa: SIM110 - a plain loop is twice as fast as all() on the dispatch path
        if p.state is not DONE:
            return False
    return True


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


class Scheduler(Interruptible):
    """The state of one scheduling run. Used by one thread at a time, except :attr:`reports`."""

    def __init__(self, queue: Any, make_prerequisites: bool, run_dependents: bool, fail_fast: bool) -> None:
        super().__init__()
        self.queue = queue
        self.make_prerequisites = make_prerequisites
        self.run_dependents = run_dependents
        self.fail_fast = fail_fast
        self.inline = bool(getattr(queue, "runs_inline", False))
        self.submit_call = getattr(queue, "submit_call", None)
        self.fallback_capacity = default_capacity(queue)
        self.counts: dict[Task, int] = {}
        self.ready: deque[Task] = deque()
        self.inflight: dict[Task, Future[Any] | None] = {}
        self.futures: dict[Future[Any], Task] = {}
        self.watched: set[Task] = set()
        self.wanted: dict[Task, None] = {}
        self.finished: deque[Task] = deque()
        self.reports: SimpleQueue[Any] = SimpleQueue()
        self.put = self.reports.put
        self.additions: deque[tuple[Task, ...]] = deque()
        self.recording: Task | None = None  # the task whose outcome this run is recording now
        self.number = next(_NUMBERS)  # names the run in the calls it hands out

    @property
    def capacity(self) -> int | None:
        return getattr(self.queue, "capacity", self.fallback_capacity)

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
            task.add_done_callback(self.put)

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
            self.end(task, *_blocked(task, failed))
        elif cancelled is not None:
            self.end(task, *_blocked(task, cancelled))
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
                event, error = _blocked(d, t)
                d._fire(event, False, None, error, only_from=PENDING)
                counts[d] = 0
                if d.state in FINAL_STATES:
                    stack.append(d)
                else:
                    self.observe(d)

    def report(self, item: Any) -> None:
        """Handle one item from ``reports``: a call's future, a call that started, a task that ended, a wake-up."""
        task = self.futures.pop(item, None)
        if task is not None:
            if self.inflight.pop(task, _ABSENT) is not _ABSENT:
                self.record(task, item)
                self.observe(task)
        elif type(item) is Call:
            task = item.token
            if task in self.inflight:
                task._fire("dispatch", False, only_from=QUEUED)
        elif item is not _WAKE:
            task = item
            future = self.inflight.pop(task, _ABSENT)
            if future is _ABSENT:
                self.watched.discard(task)
            elif future is not None:  # a user cancelled it: have the queue drop or stop its call
                future.cancel()  # type: ignore[attr-defined]
            self.settle(task)

    def record(self, task: Task, future: Future[Any]) -> None:
        """Move a task of this run to the outcome of its call."""
        if task.state is QUEUED:  # the queue did not say when it started
            task._fire("dispatch", False, only_from=QUEUED)
        if task.state is not RUNNING:  # cancelled meanwhile: the outcome is dropped
            return
        self.recording = task
        try:
            if future.cancelled():
                task._fire("cancel", False, None, CancelledError(f"task {task.name!r} was cancelled"))
                return
            exc = future.exception()
            if exc is None:
                task._finish(future.result())
            elif isinstance(exc, Exception) and not isinstance(exc, (CancelledError, *_CANCELS)):
                task._finish(None, exc)
            else:  # KeyboardInterrupt, SystemExit, a cancelled coroutine or job
                if isinstance(exc, _CANCELS):
                    exc = CancelledError(f"task {task.name!r} was cancelled")
                task._fire("cancel", False, None, exc)
        finally:
            self.recording = None

    def ended(self, task: Task) -> None:
        """A done-callback of submitted tasks: report the end of one this run did not record itself."""
        if task is not self.recording:
            self.put(task)

    # ------------------------------------------------------------ running

    def dispatch(self) -> None:
        """Hand ready tasks to the queue while it has room."""
        ready, inflight, inline = self.ready, self.inflight, self.inline
        capacity = self.capacity
        while ready and (capacity is None or len(inflight) < capacity):
            task = ready.popleft()
            if not _all_done(task):  # an edge was added while it waited for room
                self.evaluate(task)
                continue
            if not task._fire("dispatch" if inline else "queue", False, only_from=PENDING):
                self.observe(task)  # another run or thread took it, or it was cancelled
                continue
            if not inline:
                self.send(task)
                continue
            inflight[task] = None
            self.inline_running = True
            try:
                task._call()
            finally:
                self.inline_running = False
            del inflight[task]
            self.observe(task)
            if self.finished or self.interrupts:
                return

    def send(self, task: Task) -> None:
        """Hand a QUEUED task's call to the queue, and follow its future."""
        queue = self.queue
        try:
            if self.submit_call is not None:
                call = Call(task.name, task.key or task.name, task.func, task.args, task.kwargs, task, self.number,
                            self.put)
                future = self.submit_call(call)
            else:
                func = task.func or nothing
                # keywords go in a partial, so that none can meet a parameter of the queue's own submit
                future = queue.submit(partial(func, **task.kwargs) if task.kwargs else func, *task.args)
                call = None
            if not isinstance(future, Future):
                raise TypeError(f"its submit returned {describe(future)}, not a concurrent.futures.Future; a queue's "
                                "submit(fn, *args, **kwargs) returns the future of the call (see docs/queues.md)")
        except Exception as exc:
            error = TaskError(f"task {task.name!r}: queue {queue!r} failed to take it: {exc}")
            error.__cause__ = exc
            task._fire("fail", False, None, error)
            self.observe(task)
            return
        if call is None or call._began:  # the queue cannot say when it starts, or said so already
            task._fire("dispatch", False, only_from=QUEUED)
        self.follow(task, future)

    def follow(self, task: Task, future: Future[Any]) -> None:
        self.inflight[task] = future
        self.futures[future] = task
        task.add_done_callback(self.ended)
        future.add_done_callback(self.put)

    def hand_over(self) -> None:
        """Give the queue's ``submit_graph``, at once, every PENDING task of the run whose prerequisites are DONE or
        handed over with it; the queue releases each as its prerequisites end.

        Raises:
            Exception: what ``submit_graph`` raised; then nothing was handed over and every task is still PENDING.
        """
        batch: dict[Task, Call] = {}
        for task, count in self.counts.items():
            if count < 0 or task.state is not PENDING:
                continue
            after = [batch.get(p) for p in task._prereqs if p.state is not DONE]
            if None not in after:
                batch[task] = Call(task.name, task.key or task.name, task.func, task.args, task.kwargs, task,
                                   self.number, self.put, after=after)  # type: ignore[arg-type]
        if not batch:
            return
        futures = self.queue.submit_graph(list(batch.values()))
        for task, future in zip(batch, futures, strict=True):
            if task._fire("queue", False, only_from=PENDING):
                self.counts[task] = 0
                self.follow(task, future)
            else:  # claimed meanwhile by another run
                future.cancel()
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
                capacity = self.capacity
                if not self.wanted:
                    if not self.inflight:
                        return
                elif self.ready and (capacity is None or len(self.inflight) < capacity):
                    continue
                elif not self.inflight and not self.watched:
                    self.unstick()
                    continue
                self.report(self.next_report(self.reports))
                while not self.reports.empty():
                    self.report(self.reports.get())
        except KeyboardInterrupt:
            self.stop(cancel_pending=True)
            raise
        except BaseException:
            self.stop(cancel_pending=False)
            raise
        finally:
            restore()

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
            if task.state is QUEUED and future is not None and future.cancel():
                why = _interrupted(task) if cancel_pending else CancelledError(
                    f"task {task.name!r} was cancelled: the run stopped before it started")
                task._fire("cancel", False, None, why, only_from=QUEUED)
                del inflight[task]
        try:
            while True:
                for task in list(inflight):
                    if task.state in FINAL_STATES:
                        del inflight[task]
                    elif self.inline:  # interrupted between its function and its transition
                        task._fire("cancel", False, None, _interrupted(task))
                        del inflight[task]
                if not inflight:
                    return
                if self.interrupts > seen:
                    raise KeyboardInterrupt
                item = self.next_report(self.reports)
                done = self.futures.pop(item, None)
                if done is not None and inflight.pop(done, _ABSENT) is not _ABSENT:
                    self.record(done, item)  # recorded, not passed on: what waits for it stays as it is
                elif type(item) is Call and item.token in inflight:
                    item.token._fire("dispatch", False, only_from=QUEUED)
        except KeyboardInterrupt:
            self.abandoned = True
            for task, future in list(inflight.items()):
                task._fire("cancel", False, None, _interrupted(task))
                if future is not None:
                    future.cancel()
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


def _blocked(task: Task, prerequisite: Task) -> tuple[str, BaseException]:
    """The event and error for a task whose prerequisite FAILED (it fails) or was CANCELLED (it is cancelled)."""
    if prerequisite.state is FAILED:
        error = BlockedError(task.name, [(prerequisite.name, FAILED.value)])
        error.__cause__ = prerequisite.exception
        return "fail", error
    return "cancel", CancelledError(
        f"task {task.name!r} was cancelled: prerequisite {prerequisite.name!r} was cancelled")
