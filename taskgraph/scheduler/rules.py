"""The graph rules of a scheduling run: which tasks wait, which are ready, and how an end passes on.

:class:`Rules` keeps the counts of a run (see :mod:`taskgraph.scheduler`) and applies rules 1 to 5 to them as
facts arrive; :class:`~taskgraph.scheduler.core.Scheduler` adds the queue and the loop.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from itertools import filterfalse, repeat
from operator import attrgetter
from typing import Any

from ..errors import BlockedError, CancelledError, CycleError, TaskError
from ..graph import walk
from ..states import CANCELLED, DONE, FAILED, FINAL_STATES, PENDING
from ..task import Task

__all__ = ["Rules", "all_done"]

_OUTSIDE = -2  # the count of a task outside the run (-1: settled, 0: ready, running or observed, >0: waiting)
_EDGES = attrgetter("_prereqs")  # a task's prerequisites as it keeps them, for walk()
_FILES = attrgetter("files")


def all_done(task: Task) -> bool:
    for p in task._prereqs:  # noqa: SIM110 - a plain loop is twice as fast as all() on the dispatch path
        if p.state is not DONE:
            return False
    return True



class Rules:
    """The state of one run's graph. Used by one thread at a time."""

    inflight: dict[Task, Any]  # the tasks handed to the queue (kept by the scheduler)
    linking = False  # tasks are handed over linked to their prerequisites (see .linked)

    def __init__(self, make_prerequisites: bool, run_dependents: bool, put: Callable[[Any], Any],
                 keep_going: bool = False) -> None:
        self.make_prerequisites = make_prerequisites
        self.run_dependents = run_dependents
        self.keep_going = keep_going
        self.put = put  # reports a task that ends elsewhere
        self.counts: dict[Task, int] = {}
        self.ready: deque[Task] = deque()
        self.watched: set[Task] = set()
        self.wanted: dict[Task, bool | None] = {}  # None: to yield; False: to run only (keep going)
        self.finished: deque[Task] = deque()

    def admit(self, tasks: Iterable[Task], wanted: bool) -> None:
        """Take ``tasks`` into the run (and, for ``make``, their pending prerequisites)."""
        tasks = list(tasks)
        if not all(map(isinstance, tasks, repeat(Task))):  # the loops over every task run in C, where they can
            bad = next(t for t in tasks if not isinstance(t, Task))
            raise TypeError(f"make() and TaskQueue take tasks, not {type(bad).__name__}")
        counts = self.counts
        if wanted:  # not a task this run has settled already
            self.wanted.update(dict.fromkeys([t for t in tasks if counts.get(t) != -1] if counts else tasks))
        if self.make_prerequisites:
            order, later, stop = self.admit_in_order(tasks)
            walked = walk(tasks[stop:], lambda t: t.state is PENDING and t not in counts, _EDGES) \
                if stop < len(tasks) else []
        else:
            order, later = [], []
            given = set(tasks)
            walked = walk(tasks, lambda t: t in given and t.state is PENDING and t not in counts, _EDGES)
        counts.update(zip(walked, repeat(0)))
        if order:
            order += walked
        else:
            order = walked
        if any(map(_FILES, order)):  # checked before anything runs: two tasks that write one file, ...
            self.admit_files(order)
        if self.keep_going:  # every task admitted runs if it can, whether or not what needs it can still run
            for t in order:
                self.wanted.setdefault(t, False)
        for t in later:
            self.evaluate(t)
        for t in walked:
            self.evaluate(t)
        for t in filterfalse(counts.__contains__, tasks):  # given, but not PENDING (or a task settled already)
            if t.state in FINAL_STATES and t not in self.watched:  # ended before the run: no task of it counts it
                counts[t] = -1
                if self.wanted.pop(t, 0) is None:
                    self.finished.append(t)
            else:
                self.observe(t)

    def admit_in_order(self, tasks: list[Task]) -> tuple[list[Task], list[Task], int]:
        """Admit the longest start of ``tasks`` in which every PENDING prerequisite of a task is admitted already
        (by this run, or earlier in ``tasks``): most graphs are given in such an order, and then no walk is needed
        to order them or to look for a cycle, since every edge among them points back to an earlier task.

        Only counts and the ready queue change here: a task with a prerequisite that is neither DONE nor PENDING
        (failed, cancelled, another run's) is left to :meth:`evaluate`, after the checks of ``admit``.

        Returns:
            the tasks admitted, those of them left to evaluate, and where in ``tasks`` it stopped.
        """
        counts, ready = self.counts, self.ready
        admitted: list[Task] = []
        later: list[Task] = []
        stop = 0
        for t in tasks:
            if t.state is PENDING and t not in counts:
                waiting = 0
                odd = False  # a prerequisite failed, cancelled or another run's: for evaluate()
                for p in t._prereqs:
                    state = p.state
                    if state is DONE:
                        continue
                    if state is not PENDING:
                        odd = True
                    elif p not in counts:
                        return admitted, later, stop
                    waiting += 1
                if odd:
                    counts[t] = 0
                    later.append(t)
                elif waiting:
                    counts[t] = waiting
                else:
                    counts[t] = 0
                    ready.append(t)
                admitted.append(t)
            stop += 1
        return admitted, later, stop

    def admit_files(self, tasks: list[Task]) -> None:
        """Take in admitted tasks, some of which declare files (:class:`~.builds.Builds` does)."""
        raise NotImplementedError

    def unlink(self, task: Task, prerequisite: Task) -> bool:
        """End a task handed over linked to ``prerequisite``, which did not end DONE (see :mod:`.linked`)."""
        raise NotImplementedError

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
            if state is PENDING and p in counts:  # the common case: a prerequisite of this run, to wait for
                waiting += 1
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

    def settle(self, task: Task) -> None:
        """A task of interest is final: yield it if wanted, and apply the rules to the tasks waiting on it."""
        counts = self.counts
        stack: list[Task] | None = None  # tasks this settle failed or cancelled in turn
        t = task
        while True:
            if counts.get(t) != -1:
                counts[t] = -1
                if self.wanted.pop(t, 0) is None:
                    self.finished.append(t)
                if t.state is DONE:  # the common case: one less to wait for
                    ready = self.ready
                    for d in t._dependents:  # (one that is no longer PENDING is seen by the claim that fails)
                        c = counts.get(d, _OUTSIDE)
                        if c > 1:
                            counts[d] = c - 1
                        elif c == 1:  # ready: dispatch checks again that every prerequisite is DONE
                            counts[d] = 0
                            ready.append(d)
                        elif c == _OUTSIDE and self.run_dependents and d.state is PENDING:
                            self.admit((d,), wanted=True)
                    if not stack:
                        return
                    t = stack.pop()
                    continue
                for d in t._dependents:
                    c = counts.get(d, _OUTSIDE)
                    if c <= 0:
                        if c == 0 and self.linking and self.unlink(d, t):  # handed over with t (see .linked)
                            stack = stack or []
                            stack.append(d)
                        elif c == _OUTSIDE and self.run_dependents and d.state is PENDING:
                            self.admit((d,), wanted=True)
                        continue
                    event, error = _blocked(d, t)
                    d._fire(event, False, None, error, only_from=PENDING)
                    counts[d] = 0
                    if d.state not in FINAL_STATES:
                        self.observe(d)
                    elif stack is None:
                        stack = [d]
                    else:
                        stack.append(d)
            if not stack:
                return
            t = stack.pop()

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
            walk(still, still.__contains__, _EDGES)
        except CycleError as cycle:
            for t in cycle.tasks:  # fail them all before passing any on, so each one carries the cycle
                t._fire("fail", False, None, cycle, only_from=PENDING)
            for t in cycle.tasks:
                self.counts[t] = 0
                self.observe(t)
            return
        raise RuntimeError("taskgraph scheduler: tasks wait for nothing; please report this")


def refused(task: Task, queue: Any, exc: Exception) -> TaskError:
    """Why ``task`` FAILED when ``queue`` would not take its call (its submit raised ``exc``)."""
    error = TaskError(f"task {task.name!r}: queue {queue!r} failed to take it: {exc}")
    error.__cause__ = exc
    return error


def _blocked(task: Task, prerequisite: Task) -> tuple[str, BaseException]:
    """The event and error for a task whose prerequisite FAILED (it fails) or was CANCELLED (it is cancelled)."""
    if prerequisite.state is FAILED:
        error = BlockedError(task.name, [(prerequisite.name, FAILED.value)])
        error.__cause__ = prerequisite.exception
        return "fail", error
    cancel = CancelledError(f"task {task.name!r} was cancelled: prerequisite {prerequisite.name!r} was cancelled")
    cancel.__cause__ = prerequisite.exception  # as for a failure: Task.reset() follows it to what it blocked
    return "cancel", cancel
