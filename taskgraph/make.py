"""``make``, ``make_now``, ``make_later`` and ``TaskQueue``: the ways to run a graph.

Each is a thin layer over one :class:`~taskgraph.scheduler.Scheduler`; the rules they follow are stated in
:mod:`taskgraph.scheduler` and in ``docs/make.md``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

from .queues.registry import as_queue
from .scheduler import Scheduler, close_queue
from .task import Task

__all__ = ["make", "make_now", "make_later", "TaskQueue"]


def make(*tasks: Task, fail_fast: bool = False, keep_going: bool = False, queue: Any = None, force: bool = False,
         state: str | os.PathLike[str] | None = None) -> Iterator[Task]:
    """Make tasks: run their pending prerequisites, then them, and yield each given task once, when final.

    A generator: nothing happens until it is iterated. The rules are in :mod:`taskgraph.scheduler` and
    ``docs/make.md``.

    Args:
        tasks: the tasks to make.
        fail_fast: stop at the first yielded task that is not DONE.
        keep_going: run every task of the graph that is not blocked, even once a failure has doomed what needs it
            (a build then reports every broken file, not the first); the given tasks are still yielded as they end.
        queue: where tasks run: None (the calling thread), a queue, a URL such as ``"threads://4"``, or a
            :class:`concurrent.futures.Executor`. A queue opened from a URL is closed at the end.
        force: run the tasks that declare files even when they are up to date.
        state: the state database of the tasks that declare files (``docs/builds.md``); by default
            ``.taskgraph/state.sqlite`` in the current directory.

    Yields:
        each of ``tasks``, once, when it is DONE, FAILED or CANCELLED.

    Raises:
        CycleError: the tasks to make form a cycle; nothing has run.
        ValueError: both ``fail_fast`` and ``keep_going``.
    """
    _exclusive(fail_fast, keep_going)
    yield from _made(tasks, fail_fast, keep_going, queue, force, state, eager=False)


def _made(tasks: tuple[Task, ...], fail_fast: bool, keep_going: bool, queue: Any, force: bool, state: Any,
          eager: bool) -> Iterator[Task]:
    run_queue, owned = as_queue(queue)
    # make_now without fail_fast (eager) hands a queue with submit_linked (Dask) the tasks that wait only for tasks
    # it holds, linked to them, and it releases them itself; a caller's code that runs between yields (make), or a
    # stop at the first failure that leaves the rest PENDING (fail_fast), keeps the dispatch of one ready task at a
    # time (see taskgraph.scheduler.linked)
    run = Scheduler(run_queue, make_prerequisites=True, run_dependents=False, fail_fast=fail_fast,
                    keep_going=keep_going, force=force, state=state, eager=eager, link=eager)
    try:
        run.admit(tasks, wanted=True)
        yield from run.run()
    finally:
        if owned:
            close_queue(run_queue, run.abandoned)


def make_now(*tasks: Task, fail_fast: bool = False, keep_going: bool = False, queue: Any = None, force: bool = False,
             state: str | os.PathLike[str] | None = None) -> list[Task]:
    """Make tasks and return them once final, in the order they finished.

    Takes the arguments of :func:`make`.
    """
    _exclusive(fail_fast, keep_going)
    # no caller's code runs between two tasks' ends here, so an inline queue runs on without yielding each one
    return list(_made(tasks, fail_fast, keep_going, queue, force, state, eager=not fail_fast))


def _exclusive(fail_fast: bool, keep_going: bool) -> None:
    if fail_fast and keep_going:
        raise ValueError("fail_fast stops at the first failure and keep_going runs on past it: choose one")


def make_later(queue: Any, *tasks: Task, fail_fast: bool = False, keep_going: bool = False, force: bool = False,
               state: str | os.PathLike[str] | None = None) -> Future[list[Task]]:
    """Make tasks in the background and return at once.

    A thread runs the graph as :func:`make_now` does; the process does not exit before it ends. Join any task to
    wait for it. A queue that offers ``submit_graph`` (a durable store) is handed the whole graph at once instead,
    edges included, before this returns: its workers finish it even if this process exits, and the thread only
    follows it.

    Args:
        queue: where tasks run, as for :func:`make`.
        tasks: the tasks to make.
        fail_fast, keep_going: as for :func:`make` (a durable queue's workers run every task that is not
            blocked anyway).
        force, state: as for :func:`make`.

    Returns:
        a future of the list :func:`make_now` returns.

    Raises:
        CycleError: the tasks to make form a cycle; nothing has run.
        ValueError: ``queue`` is a URL that cannot be opened; both ``fail_fast`` and ``keep_going``.
    """
    _exclusive(fail_fast, keep_going)
    run_queue, owned = as_queue(queue)
    future: Future[list[Task]] = Future()
    run = Scheduler(run_queue, make_prerequisites=True, run_dependents=False, fail_fast=fail_fast,
                    keep_going=keep_going, force=force, state=state)
    hand_over = callable(getattr(run_queue, "submit_graph", None))
    try:
        run.admit(tasks, wanted=True)  # refuses a cycle here, before anything runs
        if hand_over:  # a durable queue takes the whole graph, so it runs on without this process
            run.hand_over()
    except BaseException:
        if owned:
            close_queue(run_queue, False)
        raise

    def drive() -> None:
        try:
            try:
                result = list(run.run())
            finally:
                if owned:  # before the future is settled: its result means the queue is closed too
                    close_queue(run_queue, run.abandoned)
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)

    names = ", ".join(t.name for t in tasks[:3]) + (", ..." if len(tasks) > 3 else "")
    threading.Thread(target=drive, name=f"taskgraph-make_later({names})", daemon=hand_over).start()
    return future


class TaskQueue:
    """A set of tasks to dispatch as they become ready: a dispatch loop rather than a build.

    Unlike :func:`make`, it runs only the tasks put in it, not their prerequisites; with
    ``run_dependent_tasks=True`` it also takes in the tasks that require a task once it completes.

    Args:
        tasks: the first tasks.
        run_dependent_tasks: take in the dependents of completed tasks too.
        queue, force, state: as for :func:`make`.
    """

    def __init__(self, *tasks: Task, run_dependent_tasks: bool = False, queue: Any = None, force: bool = False,
                 state: str | os.PathLike[str] | None = None) -> None:
        self.run_dependent_tasks = run_dependent_tasks
        self.queue = queue
        self.force = force
        self.state = state
        self._tasks: dict[Task, None] = {}
        self._run: Scheduler | None = None
        self.add(*tasks)

    def add(self, *tasks: Task) -> None:
        """Add tasks; allowed while :meth:`run` is being iterated, from any thread."""
        for t in tasks:
            if not isinstance(t, Task):
                raise TypeError(f"TaskQueue.add() takes tasks, not {type(t).__name__}")
        self._tasks.update(dict.fromkeys(tasks))
        if self._run is not None:
            self._run.add(tasks)

    @property
    def tasks(self) -> list[Task]:
        """The tasks in the queue, in the order added."""
        return list(self._tasks)

    def run(self) -> Iterator[Task]:
        """Dispatch the tasks as they become ready; yield each one once, when it is final."""
        run_queue, owned = as_queue(self.queue)
        run = Scheduler(run_queue, make_prerequisites=False, run_dependents=self.run_dependent_tasks, fail_fast=False,
                        force=self.force, state=self.state)
        try:
            run.admit(list(self._tasks), wanted=True)
            self._run = run
            for task in run.run():
                self._tasks.setdefault(task)
                yield task
        finally:
            self._run = None
            if owned:
                close_queue(run_queue, run.abandoned)
