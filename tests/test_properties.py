"""Property tests: random DAGs of tasks, made on every local queue.

A DAG of 1..25 tasks ``t0, t1, ...`` has edges only from a lower to a higher index, so it is acyclic. Every task
calls :func:`jobs.trace`, which appends ``start tN`` and ``end tN`` to a log file shared by the example's
tasks (see that module for why its order is sound across threads and processes), and every task has a ``track``
callback that appends each transition, in the parent process, to an in-memory list. The tests then compare what
happened with an oracle computed from the graph alone:

* a task none of whose ancestors fails or is cancelled is DONE and ran exactly once, after all its prerequisites
  ended (log) and were DONE (transitions);
* a task chosen to fail, with no failing or cancelled ancestor, is FAILED with its own exception and ran once;
* a task below failing tasks only is FAILED with a :class:`~taskgraph.BlockedError` whose cause is its failed
  prerequisite's exception, and never ran; below cancelled tasks only it is CANCELLED and never ran; below both it
  is one of the two and never ran.

The properties: (1) order and exactly-once; (2, 3) failures and cancels reach exactly the descendants, making all
tasks or only the sinks; (4) ``fail_fast`` leaves no task QUEUED or RUNNING and none run twice; (5) ``make`` yields
each given task once, even given twice, and making again runs nothing again; two makes at once run each task once;
(6) ``closure`` orders the graph, and a back edge is refused as a ``CycleError`` before anything runs. Each runs on
every local queue, given to make as a URL (make opens and closes it) or as a queue opened here (checked before it
is closed, so a task make failed to wait for shows). ``test_fail_fast_does_not_cancel_a_task_that_starts_as_it_stops``
pins down, deterministically, a race that property (4) can only meet by chance.

The number of examples per queue is modest so that the file runs in well under two minutes. Set
``TASKGRAPH_PROPERTIES=thorough`` for ten times as many.
"""

from __future__ import annotations

import functools
import os
import random
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from taskgraph import (
    BlockedError,
    CancelledError,
    CycleError,
    Task,
    ThreadQueue,
    closure,
    make,
    make_later,
    make_now,
    open_queue,
)
from taskgraph.queues.base import Call
from taskgraph.states import CANCELLED, DONE, FAILED, FINAL_STATES, PENDING, QUEUED, RUNNING

from . import jobs

MAX_TASKS = 25

# ---------------------------------------------------------------------------------------------- settings

settings.register_profile(
    "taskgraph-properties",
    deadline=None,  # a queue's first task starts threads or processes: timings vary too much for a deadline
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "taskgraph-properties-thorough",
    settings.get_profile("taskgraph-properties"),
    max_examples=1000,
)
_BASE = settings.get_profile(
    "taskgraph-properties-thorough"
    if os.environ.get("TASKGRAPH_PROPERTIES", "").lower() == "thorough"
    else "taskgraph-properties"
)

#: Examples per queue, as a share of the profile's max_examples: a process pool is slow to start.
_SHARE = {"inline:": 1.0, "threads://4": 0.8, "asyncio:": 0.6, "processes://2": 0.25}


def _settings(url: str | None, share: float = 1.0) -> settings:
    """The settings for one property on one queue (``None``: no queue involved)."""
    examples = _BASE.max_examples * share * (1.0 if url is None else _SHARE[url])
    return settings(_BASE, max_examples=max(5, round(examples)))


def run_property(
    url: str | None, strategy: st.SearchStrategy[Any], body: Callable[[Any], None], share: float = 1.0
) -> None:
    """Run ``body`` on examples of ``strategy`` with the settings for ``url``.

    Each pytest parametrisation gets its own Hypothesis test, so that the number of examples can depend on the
    queue.
    """

    def prop(case: Any) -> None:
        body(case)

    # Hypothesis keys its example database by the test function's source, the same for every ``prop``: add the
    # pytest test id, as Hypothesis's own pytest plugin does for parametrised tests.
    test_id = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    prop._hypothesis_internal_add_digest = test_id.encode()  # type: ignore[attr-defined]
    _settings(url, share)(given(strategy)(prop))()


# ---------------------------------------------------------------------------------------------- graphs


@dataclass(frozen=True)
class Dag:
    """A DAG on tasks 0..n-1: ``prereqs[j]`` are the (lower) indices task j requires."""

    prereqs: tuple[tuple[int, ...], ...]

    @property
    def n(self) -> int:
        return len(self.prereqs)

    @functools.cached_property
    def ancestors(self) -> list[frozenset[int]]:
        """Strict ancestors of each task: everything it requires, transitively."""
        anc: list[frozenset[int]] = []
        for ps in self.prereqs:
            s: set[int] = set(ps)
            for p in ps:
                s |= anc[p]
            anc.append(frozenset(s))
        return anc

    @functools.cached_property
    def descendants(self) -> list[frozenset[int]]:
        """Strict descendants of each task: everything that requires it, transitively."""
        desc: list[set[int]] = [set() for _ in range(self.n)]
        for j, anc in enumerate(self.ancestors):
            for a in anc:
                desc[a].add(j)
        return [frozenset(d) for d in desc]

    @functools.cached_property
    def dependents(self) -> list[tuple[int, ...]]:
        deps: list[list[int]] = [[] for _ in range(self.n)]
        for j, ps in enumerate(self.prereqs):
            for p in ps:
                deps[p].append(j)
        return [tuple(d) for d in deps]

    @property
    def sinks(self) -> list[int]:
        return [i for i in range(self.n) if not self.dependents[i]]


@st.composite
def dags(draw: st.DrawFn, min_tasks: int = 1, max_tasks: int = MAX_TASKS) -> Dag:
    """DAGs of ``min_tasks..max_tasks`` tasks, each requiring a random set of lower-numbered tasks."""
    n = draw(st.integers(min_tasks, max_tasks))
    prereqs: list[tuple[int, ...]] = [()]
    for j in range(1, n):
        prereqs.append(tuple(sorted(draw(st.sets(st.integers(0, j - 1), max_size=min(j, 10))))))
    return Dag(tuple(prereqs))


OK, FAIL, CANCEL = "ok", "fail", "cancel"


def modes(n: int, kinds: Sequence[str]) -> st.SearchStrategy[tuple[str, ...]]:
    """What each of ``n`` tasks does: mostly run fine (shrinks to that), else one of ``kinds``."""
    choices = (OK, OK, OK, *kinds) if kinds else (OK,)
    return st.lists(st.sampled_from(choices), min_size=n, max_size=n).map(tuple)


@dataclass
class Case:
    dag: Dag
    modes: tuple[str, ...]
    rnd: random.Random
    url: str | None = None  #: the queue to make the tasks on
    shared: bool = False  #: open the queue here and pass it to make, which then neither opens nor closes it
    use_async: bool = False
    on_sinks: bool = False
    extra: Any = None


def _use_async(url: str | None) -> st.SearchStrategy[bool]:
    """On the asyncio queue, tasks may be coroutines run on its loop rather than functions run in its pool."""
    return st.booleans() if url is not None and url.startswith("asyncio") else st.just(False)


@st.composite
def cases(draw: st.DrawFn, url: str | None, kinds: Sequence[str] = (), sinks: bool | None = False) -> Case:
    """A DAG, what each task does, a source of randomness for orders; ``sinks=None`` draws whether to make
    only the sinks."""
    dag = draw(dags())
    ms = draw(modes(dag.n, kinds))
    rnd = draw(st.randoms(use_true_random=False))
    shared = draw(st.booleans()) if url is not None else False
    use_async = draw(_use_async(url))
    on_sinks = draw(st.booleans()) if sinks is None else sinks
    return Case(dag, ms, rnd, url, shared, use_async, on_sinks)


# ---------------------------------------------------------------------------------------------- running


class Run:
    """The tasks of one example, their shared log file and their transitions."""

    def __init__(self, case: Case, path: str, queue: Any) -> None:
        self.case = case
        self.dag = case.dag
        self.path = path
        #: what to pass to make as ``queue=``: the case's URL, or a queue opened from it
        self.queue = queue
        self.events: list[tuple[str, str, Any]] = []  # (task name, event, destination state), in firing order
        func = jobs.atrace if case.use_async else jobs.trace
        self.tasks: list[Task] = []
        for i in range(self.dag.n):
            name = f"t{i}"
            task = Task(name, func, args=(path, name, case.modes[i] == FAIL), track=self._track)
            self.tasks.append(task)
        for i, ps in enumerate(self.dag.prereqs):
            ps = list(ps)
            case.rnd.shuffle(ps)  # the order of prerequisites decides which failure a task sees first
            self.tasks[i].require(*(self.tasks[p] for p in ps))
        self.index = {t.name: i for i, t in enumerate(self.tasks)}
        note(f"dag={self.dag.prereqs} modes={case.modes} queue={queue!r} async={case.use_async}")

    def _track(self, task: Task, move: Any) -> None:
        self.events.append((task.name, move.event, move.dest))  # list.append is atomic

    def cancel_chosen(self) -> None:
        for t, mode in zip(self.tasks, self.case.modes, strict=True):
            if mode == CANCEL:
                assert t.state is PENDING
                assert t.cancel()

    def shuffled(self, indices: Sequence[int]) -> list[Task]:
        chosen = [self.tasks[i] for i in indices]
        self.case.rnd.shuffle(chosen)
        return chosen

    def log(self) -> list[tuple[str, str]]:
        with open(self.path) as f:
            lines = f.read().splitlines()
        out = []
        for line in lines:
            what, _, name = line.partition(" ")
            assert what in ("start", "end") and name in self.index, f"garbled log line {line!r}"
            out.append((what, name))
        return out

    # ------------------------------------------------------------------------------ checks

    def check_runs(self) -> set[int]:
        """Check the log and the transitions: each task ran at most once, completely, and only after each of its
        prerequisites had ended and was DONE. Returns the tasks that ran."""
        log = self.log()
        note(f"log={log}")
        starts: dict[int, int] = {}
        ends: dict[int, int] = {}
        for pos, (what, name) in enumerate(log):
            i = self.index[name]
            seen = starts if what == "start" else ends
            assert i not in seen, f"{name} ran twice: {what} at lines {seen[i]} and {pos}"
            seen[i] = pos
        assert set(starts) == set(ends), f"started but not ended, or the reverse: {set(starts) ^ set(ends)}"
        for i, pos in starts.items():
            assert pos < ends[i]
            for p in self.dag.prereqs[i]:
                assert p in ends and ends[p] < pos, f"t{i} started before its prerequisite t{p} ended"

        # the transitions, fired in the parent process
        done_at: dict[str, int] = {}
        left_pending_at: dict[str, int] = {}
        running: Counter[str] = Counter()
        for pos, (name, event, dest) in enumerate(self.events):
            if event == "done":
                done_at.setdefault(name, pos)
            if event in ("queue", "dispatch") and name not in left_pending_at:
                left_pending_at[name] = pos
            if dest is RUNNING:
                running[name] += 1
        for name, count in running.items():
            assert count == 1, f"{name} was made RUNNING {count} times"
        for i in starts:
            assert running[f"t{i}"] == 1, f"t{i} ran without being made RUNNING"
        for name, pos in left_pending_at.items():
            for p in self.dag.prereqs[self.index[name]]:
                assert f"t{p}" in done_at and done_at[f"t{p}"] < pos, (
                    f"{name} was queued or dispatched before its prerequisite t{p} was DONE"
                )
        return set(starts)

    def expected(self) -> list[str]:
        """The oracle: how each task ends if everything given to make is made.

        ``DONE``; ``RAISES`` (FAILED with its own exception); ``CANCELLED`` (cancelled before make);
        ``BLOCKED`` (FAILED with a BlockedError); ``SKIPPED`` (CANCELLED by a cancelled ancestor);
        ``EITHER`` (BLOCKED or SKIPPED: it lies below both failing and cancelled tasks).
        """
        dag, ms = self.dag, self.case.modes
        bad = {i for i, m in enumerate(ms) if m != OK}
        # failing tasks that run, and tasks cancelled before make: where failures and cancels come from
        fail_roots = {i for i, m in enumerate(ms) if m == FAIL and not (dag.ancestors[i] & bad)}
        cancel_roots = {i for i, m in enumerate(ms) if m == CANCEL}
        out = []
        for i in range(dag.n):
            if i in cancel_roots:
                out.append("CANCELLED")
            elif i in fail_roots:
                out.append("RAISES")
            else:
                f = bool(dag.ancestors[i] & fail_roots)
                c = bool(dag.ancestors[i] & cancel_roots)
                out.append(
                    {
                        (False, False): "DONE",
                        (True, False): "BLOCKED",
                        (False, True): "SKIPPED",
                        (True, True): "EITHER",
                    }[f, c]
                )
        return out

    def check_outcomes(self, ran: set[int], *, may_be_pending: bool = False, may_be_stopped: bool = False) -> None:
        """Check each task's state and outcome against the oracle.

        Args:
            may_be_pending: a task may be left PENDING (the run ended before it was needed), never having run.
            may_be_stopped: a task submitted to the queue may be CANCELLED before it started (``fail_fast`` stopped
                the run).
        """
        expected = self.expected()
        note(f"expected={expected}")
        for i, (t, want) in enumerate(zip(self.tasks, expected, strict=True)):
            state = t.state
            where = f"{t.name} (expected {want}) is {state}, exception {t.exception!r}"
            assert state not in (QUEUED, RUNNING), where
            if state is PENDING:
                assert may_be_pending or (may_be_stopped and want != "CANCELLED"), where
                assert i not in ran, f"{where} but ran"
                continue
            if state is DONE:
                assert want == "DONE", where
                assert i in ran, f"{where} but never ran"
                assert t.result == t.name and t.exception is None, where
            elif state is FAILED:
                assert i not in ran or want == "RAISES", f"{where} and ran"
                if want == "RAISES":
                    assert i in ran, f"{where} but never ran"
                    assert type(t.exception) is jobs.Boom and t.exception.args == (t.name,), where
                else:
                    assert want in ("BLOCKED", "EITHER"), where
                    self.check_blocked(t)
            elif state is CANCELLED:
                assert i not in ran, f"{where} but ran"
                assert isinstance(t.exception, CancelledError), where
                if want not in ("CANCELLED", "SKIPPED", "EITHER"):
                    # only fail_fast may cancel such a task: one it had submitted and that had not started yet
                    history = [move.event for move in t.history]
                    assert may_be_stopped and history == ["queue", "cancel"], f"{where}, history {history}"
            else:  # pragma: no cover
                raise AssertionError(where)

    def check_blocked(self, t: Task) -> None:
        """``t`` failed because a prerequisite failed: its exception names that prerequisite and chains its
        exception."""
        exc = t.exception
        assert isinstance(exc, BlockedError), f"{t.name} FAILED without running, with {exc!r}"
        assert exc.task == t.name
        assert len(exc.prerequisites) == 1, exc.prerequisites
        ((pname, pstate),) = exc.prerequisites
        assert pstate == "FAILED"
        p = self.tasks[self.index[pname]]
        assert p in t.prerequisites, f"{t.name} blocked by {pname}, which it does not require"
        assert p.state is FAILED
        assert exc.__cause__ is p.exception

    def check_returned(self, returned: list[Task], given: Sequence[Task]) -> None:
        """``make_now`` returned each distinct given task once, each final."""
        assert len(returned) == len(set(returned)), f"a task was yielded twice: {[t.name for t in returned]}"
        assert set(returned) == set(given)
        for t in returned:
            assert t.state in FINAL_STATES, f"{t.name} returned while {t.state}"

    def taken_in(self, given: Sequence[Task]) -> set[Task]:
        """The tasks a ``make`` of ``given`` takes in, called just before it: the given tasks and, through
        PENDING tasks only, their prerequisites (a final task needs nothing made)."""
        seen: set[Task] = set()
        stack = [t for t in given if t.state is PENDING]
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            stack.extend(p for p in t.prerequisites if p.state is PENDING)
        return seen

    def check_spread(self, taken_in: set[Task]) -> None:
        """Every task a run took in that has a FAILED or CANCELLED prerequisite is final once the run is over: a
        failure or cancel reaches every descendant the run knows of, whether or not it still needed it. (A task
        taken in by an earlier run whose prerequisite fails in a later one that does not take it in stays
        PENDING.)"""
        for t in taken_in:
            if any(p.state in (FAILED, CANCELLED) for p in t.prerequisites):
                assert t.state in (FAILED, CANCELLED), f"{t.name} is {t.state} below a failed or cancelled task"


@contextmanager
def example(case: Case) -> Iterator[Run]:
    """The tasks of ``case`` with a fresh log file, and the queue to make them on.

    A shared queue is closed only after the body has made its checks, so the checks see the tasks as make left
    them: a task make did not wait for would still be QUEUED or RUNNING, or its log not ended. (A queue that make
    opens from a URL it also closes, which lets the queue's backlog run to its end first.)
    """
    fd, path = tempfile.mkstemp(prefix="taskgraph-properties-", suffix=".log")
    os.close(fd)
    queue = open_queue(case.url) if case.shared and case.url is not None else case.url
    try:
        yield Run(case, path, queue)
    finally:
        try:
            if not isinstance(queue, (str, type(None))):
                queue.close()
        finally:
            os.unlink(path)


# ---------------------------------------------------------------------------------------------- 1. order


def test_each_task_runs_once_after_its_prerequisites(queue_url: str) -> None:
    """With nothing failing, every task ends DONE, having run exactly once and after all its prerequisites."""

    def body(case: Case) -> None:
        with example(case) as run:
            on_sinks = case.on_sinks
            given = run.shuffled(run.dag.sinks if on_sinks else range(run.dag.n))
            returned = make_now(*given, queue=run.queue)
            run.check_returned(returned, given)
            ran = run.check_runs()
            assert ran == set(range(run.dag.n))
            assert all(t.state is DONE for t in run.tasks)
            run.check_outcomes(ran)

    run_property(queue_url, cases(queue_url, sinks=None), body)


# ---------------------------------------------------------------------------------------------- 2, 3. failures, cancels


@pytest.mark.parametrize("kinds", [(FAIL,), (CANCEL,), (FAIL, CANCEL)], ids=["failures", "cancels", "failures+cancels"])
@pytest.mark.parametrize("on_sinks", [False, True], ids=["all", "sinks"])
def test_failures_and_cancels_reach_exactly_the_descendants(
    queue_url: str, kinds: tuple[str, ...], on_sinks: bool
) -> None:
    """Tasks chosen to fail raise; tasks chosen to be cancelled are cancelled before make. Each descendant of one
    ends FAILED (BlockedError) or CANCELLED without running; every other task ends DONE, having run once.

    Made on the sinks only, the run may end before the tasks no sink still needs have run: those may stay
    PENDING, never having run; every task that ends is as the oracle says.
    """

    def body(case: Case) -> None:
        with example(case) as run:
            run.cancel_chosen()
            given = run.shuffled(run.dag.sinks if on_sinks else range(run.dag.n))
            taken_in = run.taken_in(given)
            returned = make_now(*given, queue=run.queue)
            run.check_returned(returned, given)
            ran = run.check_runs()
            run.check_outcomes(ran, may_be_pending=on_sinks)
            run.check_spread(taken_in)
            if not on_sinks:
                assert all(t.state in FINAL_STATES for t in run.tasks)

    run_property(queue_url, cases(queue_url, kinds), body, share=0.5)


# ---------------------------------------------------------------------------------------------- 4. fail_fast


def test_fail_fast_leaves_nothing_half_done(queue_url: str) -> None:
    """``fail_fast=True`` stops at the first yielded task that is not DONE; then no task is QUEUED or RUNNING and
    none ran twice."""

    def body(case: Case) -> None:
        with example(case) as run:
            run.cancel_chosen()
            on_sinks = case.on_sinks
            given = run.shuffled(run.dag.sinks if on_sinks else range(run.dag.n))
            returned = make_now(*given, queue=run.queue, fail_fast=True)
            names = [t.name for t in returned]
            note(f"returned={names}")
            assert len(returned) == len(set(returned)), f"a task was yielded twice: {names}"
            assert set(returned) <= set(given)
            assert all(t.state is DONE for t in returned[:-1]), f"did not stop at the first task not DONE: {names}"
            if len(returned) < len(given):
                assert returned and returned[-1].state is not DONE, f"stopped early with all DONE: {names}"
            for t in run.tasks:
                assert t.state is PENDING or t.state in FINAL_STATES, f"{t.name} left {t.state}"
            ran = run.check_runs()
            run.check_outcomes(ran, may_be_pending=True, may_be_stopped=True)
            if all(m == OK for m in case.modes):
                assert all(t.state is DONE for t in run.tasks)
            elif not on_sinks and any(e != "DONE" for e in run.expected()):
                assert returned[-1].state is not DONE

    run_property(queue_url, cases(queue_url, (FAIL, CANCEL), sinks=None), body)


class _LateCall(Call):
    """The call of ``g`` below: its ``cancel()`` first lets the held worker start it, the thread switch that can
    come between ``fail_fast``'s check that a task is still QUEUED and its cancel of the task's call, made to
    come every time."""

    __slots__ = ()
    events: dict[str, threading.Event] = {}

    def cancel(self) -> bool:
        events = _LateCall.events
        events["let_worker_go"].set()
        events["started"].wait(10)  # a safety timeout only: the worker is free and starts the call at once
        try:
            return super().cancel()
        finally:
            events["cancel_tried"].set()


class _HoldAfterF(ThreadQueue):
    """One thread, held after it has reported the end of ``f`` (a done-callback after the scheduler's) until
    ``g``'s call is cancelled."""

    def submit_call(self, call: Call) -> Any:
        if call.name == "f":
            call.add_done_callback(lambda _: _LateCall.events["let_worker_go"].wait(10))
        elif call.name == "g":
            call.__class__ = _LateCall
        return super().submit_call(call)


def test_fail_fast_does_not_cancel_a_task_that_starts_as_it_stops() -> None:
    """What the fail_fast property above finds by chance (a CANCELLED task that ran), made certain.

    ``fail_fast`` cancels the submitted tasks that have not started and waits for the running ones (rule 6 of
    :mod:`taskgraph.make`), so a task that started must end with its own outcome, not CANCELLED with its result
    dropped while it runs on, and ``make_now`` must not return before it ends.

    One worker: ``f`` fails and ``g`` waits QUEUED behind it, the worker held after it has reported ``f``'s end.
    make then stops: it sees ``g`` QUEUED and cancels its call; here the worker is let go and starts ``g`` just
    before that cancel lands, as a thread switch may do.
    """
    events = _LateCall.events = {name: threading.Event() for name in ("let_worker_go", "started", "cancel_tried")}

    def g_work() -> str:
        events["started"].set()  # its call is RUNNING: the scheduler hears of it only once its thread is free
        events["cancel_tried"].wait(10)  # still running when make's cancel lands
        return "g"

    f = Task("f", jobs.trace, args=(os.devnull, "f", True))
    g = Task("g", g_work)
    queue = _HoldAfterF(1)
    try:
        returned = make_now(f, g, queue=queue, fail_fast=True)
        history = [move.event for move in g.history]
        assert returned == [f] and f.state is FAILED
        assert events["cancel_tried"].is_set(), "make stopped without cancelling g's call: the race was not made"
        assert "dispatch" in history, f"g did not start before its cancel landed: history {history}"
        # g started: it must have been waited for, and end DONE with its result
        assert g.state is DONE and g.result == "g", (
            f"g started as fail_fast stopped, and was then cancelled while it ran: history {history}, "
            f"state {g.state}"
        )
    finally:
        for event in events.values():
            event.set()
        queue.close()


# ---------------------------------------------------------------------------------------------- 5. duplicates


@st.composite
def duplicate_cases(draw: st.DrawFn, url: str) -> Case:
    case = draw(cases(url, (FAIL, CANCEL)))
    n = case.dag.n
    index = st.integers(0, n - 1)
    given = draw(st.lists(index, min_size=1, max_size=2 * n))
    given.append(draw(st.sampled_from(given)))  # at least one task given twice
    case.rnd.shuffle(given)
    earlier = draw(st.lists(index, max_size=n))  # made first: DONE or final tasks must not run again
    case.extra = (given, earlier)
    return case


def test_make_yields_each_given_task_once(queue_url: str) -> None:
    """``make`` yields each distinct given task exactly once, final, even when a task is given twice; making tasks
    again runs nothing twice."""

    def body(case: Case) -> None:
        given_idx, earlier_idx = case.extra
        note(f"given={given_idx} earlier={earlier_idx}")
        with example(case) as run:
            run.cancel_chosen()
            if earlier_idx:
                earlier = [run.tasks[i] for i in earlier_idx]
                taken_in = run.taken_in(earlier)
                run.check_returned(make_now(*earlier, queue=run.queue), earlier)
                run.check_spread(taken_in)
            given = [run.tasks[i] for i in given_idx]
            taken_in = run.taken_in(given)
            yielded = []
            for t in make(*given, queue=run.queue):
                assert t.state in FINAL_STATES, f"{t.name} yielded while {t.state}"
                yielded.append(t)
            run.check_returned(yielded, given)
            ran = run.check_runs()
            run.check_outcomes(ran, may_be_pending=True)
            run.check_spread(taken_in)
            made = set(given_idx) | set(earlier_idx)
            for i in made:
                assert run.tasks[i].state in FINAL_STATES

    run_property(queue_url, duplicate_cases(queue_url), body, share=0.6)


def test_two_makes_at_once_run_each_task_once(queue_url: str) -> None:
    """Two runs over the same tasks at once, one of all of them in the background on each queue and one of the sinks
    on threads (on asyncio for coroutines): a task QUEUED or RUNNING in one run is waited for by the other, never
    run again (rules 3 and 5)."""

    def body(case: Case) -> None:
        with example(case) as run:
            run.cancel_chosen()
            everything = run.shuffled(range(run.dag.n))
            sinks = run.shuffled(run.dag.sinks)
            background = make_later(run.queue, *everything)
            returned = make_now(*sinks, queue="asyncio:" if case.use_async else "threads://4")
            run.check_returned(background.result(timeout=60), everything)
            run.check_returned(returned, sinks)
            ran = run.check_runs()
            run.check_outcomes(ran)

    run_property(queue_url, cases(queue_url, (FAIL, CANCEL)), body, share=0.5)


def test_an_inline_run_does_not_take_a_task_another_run_queued() -> None:
    """What the two-makes property above finds by chance (a task run twice), made certain.

    Run A (inline) has ``t`` ready and pauses, yielding ``p``; run B claims ``t`` (PENDING -> QUEUED) on a thread
    queue whose one worker is busy. Rules 3 and 5 of :mod:`taskgraph.make`: only one run can claim a task, and a
    task QUEUED elsewhere is waited for. A resumes and tries ``t`` first, then runs ``q``, which lets B's worker go;
    ``t`` must be called once, and its history must show B's claim only.
    """
    calls: list[str] = []
    w_running, t_queued, let_worker_go = threading.Event(), threading.Event(), threading.Event()

    def on_w(task: Task, move: Any) -> None:
        if move.event == "dispatch":
            w_running.set()

    def on_t(task: Task, move: Any) -> None:
        if move.event == "queue":
            t_queued.set()

    p = Task("p")
    assert make_now(p) == [p]  # DONE: given to A, it makes A yield before A dispatches t
    w = Task("w", let_worker_go.wait, args=(60,), track=on_w)  # keeps B's only worker busy: t stays QUEUED there
    t = Task("t", lambda: calls.append(threading.current_thread().name) or "t", track=on_t)
    q = Task("q", let_worker_go.set)  # ready after t in A, so A runs it once it has tried to take t
    queue = ThreadQueue(1)
    try:
        busy = make_later(queue, w)
        assert w_running.wait(10)
        run_a = make(p, t, q)
        assert next(run_a) is p  # A has t and q ready, not yet dispatched
        run_b = make_later(queue, t)
        assert t_queued.wait(10)  # B has claimed t
        assert list(run_a) == [q, t]
        assert run_b.result(timeout=10) == [t]
        busy.result(timeout=10)
    finally:
        let_worker_go.set()
        queue.close()  # every call handed to the queue has ended
    moves = [(move.source, move.event, move.dest) for move in t.history]
    assert moves == [(PENDING, "queue", QUEUED), (QUEUED, "dispatch", RUNNING), (RUNNING, "done", DONE)]
    assert len(calls) == 1 and t.result == "t"


# ---------------------------------------------------------------------------------------------- 6. the graph


@st.composite
def closure_cases(draw: st.DrawFn) -> tuple[Dag, list[int]]:
    dag = draw(dags())
    roots = draw(st.lists(st.integers(0, dag.n - 1), max_size=dag.n))
    return dag, roots


def _plain_tasks(dag: Dag) -> list[Task]:
    tasks = [Task(f"t{i}") for i in range(dag.n)]
    for i, ps in enumerate(dag.prereqs):
        tasks[i].require(*(tasks[p] for p in ps))
    return tasks


def test_closure_lists_each_task_once_after_its_prerequisites() -> None:
    def body(case: tuple[Dag, list[int]]) -> None:
        dag, roots = case
        tasks = _plain_tasks(dag)
        order = closure(tasks[i] for i in roots)
        assert len(order) == len(set(order)), "a task listed twice"
        wanted = set(roots)
        for i in roots:
            wanted |= dag.ancestors[i]
        assert {int(t.name[1:]) for t in order} == wanted
        position = {t: k for k, t in enumerate(order)}
        for t in order:
            for p in t.prerequisites:
                assert position[p] < position[t], f"{p.name} listed after {t.name}, which requires it"

    run_property(None, closure_cases(), body, share=4)


@st.composite
def cycle_cases(draw: st.DrawFn, url: str) -> Case:
    """A DAG with at least one edge, and a back edge from a descendant ``j`` of ``i`` to ``i``."""
    dag = draw(dags(min_tasks=2).filter(lambda d: any(d.prereqs)))
    i = draw(st.sampled_from([k for k in range(dag.n) if dag.descendants[k]]))
    j = draw(st.sampled_from(sorted(dag.descendants[i])))
    case = Case(
        dag, (OK,) * dag.n, draw(st.randoms(use_true_random=False)), url, draw(st.booleans()), draw(_use_async(url))
    )
    # give make a task on the cycle (i) or below it, and maybe others
    reaching = sorted({i, j} | dag.descendants[j])
    start = draw(st.sampled_from(reaching))
    others = draw(st.lists(st.integers(0, dag.n - 1), max_size=5))
    case.extra = (i, j, [start, *others])
    return case


def test_a_back_edge_is_refused_as_a_cycle_before_anything_runs(queue_url: str) -> None:
    def body(case: Case) -> None:
        i, j, given_idx = case.extra
        note(f"back edge t{j} -> t{i}; given={given_idx}")
        with example(case) as run:
            run.tasks[i].require(run.tasks[j])  # t{j} requires ... requires t{i}, and now t{i} requires t{j}
            given = [run.tasks[k] for k in given_idx]
            with pytest.raises(CycleError) as raised:
                make_now(*given, queue=run.queue)
            cycle = raised.value.cycle
            assert len(cycle) >= 3 and cycle[0] == cycle[-1], cycle
            assert len(set(cycle[:-1])) == len(cycle) - 1, f"a task repeats along the cycle {cycle}"
            for a, b in zip(cycle[:-1], cycle[1:], strict=True):
                ta, tb = run.tasks[run.index[a]], run.tasks[run.index[b]]
                assert ta in tb.prerequisites, f"{a} -> {b} along {cycle} is not an edge"
            if raised.value.tasks:
                assert [t.name for t in raised.value.tasks] == cycle[:-1]
            assert run.log() == [], "a task ran"
            assert run.events == [], "a task moved"
            assert all(t.state is PENDING for t in run.tasks)

    run_property(queue_url, cycle_cases(queue_url), body, share=0.6)
