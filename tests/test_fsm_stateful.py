"""A Hypothesis state machine that drives tasks' state machines with random events from several threads at once.

Each step either creates a task, fires one event from the test's thread (where the outcome is known exactly, so it
is compared with :data:`taskgraph.states.TRANSITIONS`), or lets several threads race: they wait at a barrier, then
each runs its own random list of actions (``_fire`` with and without ``strict`` and ``only_from``, ``cancel``,
``reset``, ``run``, ``join``, ``require``) on a few shared tasks, or all of them try to claim one task at once.
After every step, with every thread stopped, the checks:

* every task is in one of the :class:`~taskgraph.State` members, and its history is a path through the table from
  PENDING that ends where the task is; a final state is left only by ``retry``;
* the history grew by exactly the transitions the callers were told they made (``True`` from ``_fire``/``cancel``,
  no error from a strict ``_fire`` or ``reset``; a ``run`` makes one or two);
* the outcome fits the state: nothing before an end, DONE has a result given for it and no exception, FAILED an
  exception given for it, CANCELLED a ``CancelledError`` or what the function raised or returned;
* of threads that claim one task at once (``only_from``), exactly one wins when it could be claimed, none otherwise;
* a done-callback added between steps is called exactly once if the task became final since, never otherwise;
* prerequisite and dependent edges mirror each other, without repeats, and a task never requires itself;
* ``join`` raises only what the task's outcome or its API allows.

Two races too narrow for the machine to meet by chance are forced at the end of the file, with a task subclass
that runs "another thread's" move between two reads of the code under test: ``join`` while the task is reset, and
``run`` while a queue claims the task.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from taskgraph import BlockedError, CancelledError, CycleError, State, Task, TaskError
from taskgraph._fsm import NEXT
from taskgraph.states import EVENTS, FINAL_STATES, TRANSITIONS
from taskgraph.task import _LOCK as _TASK_LOCK

THREADS = 4
MAX_TASKS = 6
ALLOWED = {(source, event, dest) for event, sources, dest in TRANSITIONS for source in sources}
KINDS = ("returns", "raises", "cancel_on_result", "cancel_on_exception", "no_function")


class Token:
    """A result no one else could produce: identity tells which event or call gave it."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return f"Token({self.label})"


class Raised(Exception):  # noqa: N818 - what a task's function raised, identified by its object
    """An exception given to a task (by its function or by a ``fail`` event)."""


@dataclass
class Given:
    """What was handed to one task: outcomes it may hold, and how its function behaves."""

    kind: str
    results: set[int] = field(default_factory=set)  # ids of Tokens given with 'done' or returned by the function
    exceptions: set[int] = field(default_factory=set)  # ids of exceptions given with 'fail' or raised
    cancels: set[int] = field(default_factory=set)  # ids of CancelledErrors given with 'cancel'
    keep: list[Any] = field(default_factory=list)  # keeps them alive, so that ids stay unique


@dataclass
class Probe:
    """A done-callback added between two steps, and what it saw."""

    start: int  # history length when it was added
    calls: int = 0

    def __call__(self, task: Task) -> None:
        self.calls += 1  # not task.state: another thread may have moved it on already


def _up_to_date(task: Task) -> bool:
    """DONE by the ``uptodate`` event, which carries no result (its files were up to date: it did not run)."""
    history = task.history
    return bool(history) and history[-1].event == "uptodate"


# ---------------------------------------------------------------------------------------------- actions

# An action: (what, task index, event or other task index, strict, only_from)
ACTION = st.tuples(
    st.sampled_from(["fire", "fire", "fire", "cancel", "reset", "run", "finish", "join", "require"]),
    st.integers(0, MAX_TASKS - 1),
    st.sampled_from(EVENTS),
    st.booleans(),
    st.one_of(st.none(), st.sampled_from(list(State))),
    st.integers(0, MAX_TASKS - 1),
)
PLANS = st.lists(st.lists(ACTION, min_size=1, max_size=6), min_size=THREADS, max_size=THREADS)


@dataclass
class Tally:
    """What one thread was told it did to each task."""

    moves: dict[int, int] = field(default_factory=dict)  # task index -> transitions it was told it made
    runs: dict[int, int] = field(default_factory=dict)  # task index -> runs that dispatched (1 or 2 moves each)
    problems: list[str] = field(default_factory=list)

    def moved(self, index: int, n: int = 1) -> None:
        self.moves[index] = self.moves.get(index, 0) + n


class TaskMachine(RuleBasedStateMachine):
    """Tasks, the outcomes given to them, and the callbacks watching them."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = ThreadPoolExecutor(THREADS, thread_name_prefix="fsm-race")
        self.tasks: list[Task] = []
        self.given: list[Given] = []
        self.probes: list[list[Probe]] = []
        self.lengths: list[int] = []  # history length of each task after the last step
        self.serial = 0
        self.lock = threading.Lock()

    def teardown(self) -> None:
        self.pool.shutdown(wait=True)

    # ------------------------------------------------------------ outcomes handed out

    def _label(self, index: int, what: str) -> str:
        with self.lock:
            self.serial += 1
            return f"{self.tasks[index].name}/{what}/{self.serial}"

    def _remember(self, index: int, bucket: str, value: Any) -> Any:
        given = self.given[index]
        with self.lock:
            getattr(given, bucket).add(id(value))
            given.keep.append(value)
        return value

    def outcome(self, index: int, event: str) -> tuple[Any, BaseException | None]:
        """The result and exception the code gives with ``event``: only an end carries one."""
        if event == "done":
            return self._remember(index, "results", Token(self._label(index, "done"))), None
        if event == "fail":
            return None, self._remember(index, "exceptions", Raised(self._label(index, "fail")))
        if event == "cancel":
            return None, self._remember(index, "cancels", CancelledError(self._label(index, "cancel")))
        return None, None

    def function(self, index: int, kind: str) -> Callable[[], Any] | None:
        if kind == "no_function":
            return None

        def returns() -> Token:
            return self._remember(index, "results", Token(self._label(index, "returned")))

        def raises() -> None:
            raise self._remember(index, "exceptions", Raised(self._label(index, "raised")))

        return raises if kind in ("raises", "cancel_on_exception") else returns

    # ------------------------------------------------------------ rules

    @initialize(kind=st.sampled_from(KINDS))
    def first_task(self, kind: str) -> None:
        self.new_task(kind)

    @precondition(lambda self: len(self.tasks) < MAX_TASKS)
    @rule(kind=st.sampled_from(KINDS))
    def new_task(self, kind: str) -> None:
        index = len(self.tasks)
        self.given.append(Given(kind))
        task = Task(
            f"t{index}",
            None,
            cancel_on_exception=kind == "cancel_on_exception",
            cancel_on_result=(lambda result: True) if kind == "cancel_on_result" else None,
        )
        self.tasks.append(task)
        task.func = self.function(index, kind)
        self.probes.append([])
        self.lengths.append(0)
        self.watch(index)

    @rule(index=st.integers(0, MAX_TASKS - 1), event=st.sampled_from(EVENTS), strict=st.booleans())
    def fire_one(self, index: int, event: str, strict: bool) -> None:
        """One event from this thread: the table says exactly what must happen."""
        index %= len(self.tasks)
        task = self.tasks[index]
        source = task.state
        expected = NEXT[event].get(source)
        result, exception = self.outcome(index, event)
        if expected is None and strict:
            try:
                task._fire(event, True, result, exception)
            except TaskError as exc:
                assert f"task {task.name!r}: cannot {event!r} while {source}" in str(exc)
            else:
                raise AssertionError(f"{event} from {source} was allowed")
        else:
            moved = task._fire(event, strict, result, exception)
            assert moved is (expected is not None)
        assert task.state is (expected or source)
        if expected is not None:
            assert (task.result, task.exception) == (result, exception)
            assert task.history[-1][1:] == (source, event, expected)
        self.settle({index: 1 if expected is not None else 0}, {})

    @rule(index=st.integers(0, MAX_TASKS - 1), events=st.lists(st.sampled_from(["queue", "dispatch"]),
                                                               min_size=THREADS, max_size=THREADS))
    def race_to_claim(self, index: int, events: list[str]) -> None:
        """Every thread claims the same task at once; only a PENDING task can be claimed, by exactly one."""
        index %= len(self.tasks)
        task = self.tasks[index]
        before = task.state
        wins = self.race([lambda e=e: task._fire(e, False, only_from=State.PENDING) for e in events])
        winners = [e for e, won in zip(events, wins, strict=True) if won]
        if before is State.PENDING:
            assert len(winners) == 1, winners
            assert task.state is NEXT[winners[0]][State.PENDING]
        else:
            assert winners == [] and task.state is before
        self.settle({index: len(winners)}, {})

    @rule(index=st.integers(0, MAX_TASKS - 1))
    def race_to_cancel(self, index: int) -> None:
        """Every thread cancels the same task at once: one wins unless it was final."""
        index %= len(self.tasks)
        task = self.tasks[index]
        before = task.state
        wins = self.race([task.cancel] * THREADS)
        assert sum(wins) == (0 if before.final else 1), (before, wins)
        assert task.state is (before if before.final else State.CANCELLED)
        self.settle({index: sum(wins)}, {})

    @rule(plans=PLANS)
    def storm(self, plans: list[list[tuple[Any, ...]]]) -> None:
        """Each thread runs its own actions on the shared tasks, all starting together."""
        tallies = [Tally() for _ in plans]
        self.race([lambda plan=plan, tally=tally: self.act(plan, tally) for plan, tally in zip(plans, tallies,
                                                                                               strict=True)])
        moves: dict[int, int] = {}
        runs: dict[int, int] = {}
        for tally in tallies:
            assert not tally.problems, tally.problems
            for index, n in tally.moves.items():
                moves[index] = moves.get(index, 0) + n
            for index, n in tally.runs.items():
                runs[index] = runs.get(index, 0) + n
        self.settle(moves, runs)

    # ------------------------------------------------------------ running actions in threads

    def race(self, calls: list[Callable[[], Any]]) -> list[Any]:
        """Run ``calls`` in the pool's threads, all released at once by a barrier; their results."""
        barrier = threading.Barrier(len(calls), timeout=30)

        def start(call: Callable[[], Any]) -> Any:
            barrier.wait()
            return call()

        futures = [self.pool.submit(start, call) for call in calls]
        return [f.result(timeout=60) for f in futures]

    def act(self, plan: list[tuple[Any, ...]], tally: Tally) -> None:
        count = len(self.tasks)
        for what, index, event, strict, only_from, other in plan:
            index %= count
            task = self.tasks[index]
            if what == "fire":
                result, exception = self.outcome(index, event)
                try:
                    moved = task._fire(event, strict, result, exception, only_from=only_from)
                except TaskError as exc:
                    if not strict or f"cannot {event!r} while" not in str(exc):
                        tally.problems.append(f"{task.name}: _fire({event!r}, strict) raised {exc!r}")
                    moved = False
                if moved:
                    tally.moved(index)
            elif what == "cancel":
                if task.cancel():
                    tally.moved(index)
            elif what == "reset":
                try:
                    task.reset()
                except TaskError as exc:
                    if "cannot 'retry' while" not in str(exc):
                        tally.problems.append(f"{task.name}: reset() raised {exc!r}")
                else:
                    tally.moved(index)
            elif what == "run":
                self.run(index, tally)
            elif what == "finish":  # what a queue does when the function ends: respects the cancel options
                if event in ("done", "queue", "dispatch"):
                    result, exception = self._remember(index, "results", Token(self._label(index, "finish"))), None
                else:
                    result, exception = None, self._remember(index, "exceptions", Raised(self._label(index, "finish")))
                if task._finish(result, exception):
                    tally.moved(index)
            elif what == "join":
                self.join(index, tally)
            else:
                self.require(index, other % count, tally)

    def run(self, index: int, tally: Tally) -> None:
        task = self.tasks[index]
        try:
            value = task.run()
        except BlockedError:
            return  # a prerequisite is not DONE: nothing moved
        except TaskError as exc:
            if "cannot run it while QUEUED" in str(exc) or "cannot 'dispatch' while" in str(exc):
                return  # it was not PENDING: nothing moved
            if isinstance(exc, CancelledError) or ("not finished" in str(exc)):
                tally.runs[index] = tally.runs.get(index, 0) + 1  # cancelled or reset while it ran
                return
            tally.problems.append(f"{task.name}: run() raised {exc!r}")
            return
        except Raised as exc:
            if id(exc) not in self.given[index].exceptions:
                tally.problems.append(f"{task.name}: run() raised {exc!r}, which it was never given")
        else:
            if value is not None and id(value) not in self.given[index].results:
                tally.problems.append(f"{task.name}: run() returned {value!r}, which it was never given")
        tally.runs[index] = tally.runs.get(index, 0) + 1

    def join(self, index: int, tally: Tally) -> None:
        task, given = self.tasks[index], self.given[index]
        try:
            value = task.join(0)
        except (TimeoutError, CancelledError):
            return
        except Raised as exc:
            if id(exc) not in given.exceptions:
                tally.problems.append(f"{task.name}: join() raised {exc!r}, which it was never given")
        except TaskError as exc:
            if "not finished" not in str(exc):
                tally.problems.append(f"{task.name}: join() raised {exc!r}")
        except BaseException as exc:  # noqa: BLE001 - anything else is what the check is for
            tally.problems.append(f"{task.name}: join() raised {type(exc).__name__}: {exc}")
        else:
            if value is None and given.kind != "no_function" and not _up_to_date(task):
                tally.problems.append(f"{task.name}: join() returned None, a result it was never given")
            elif value is not None and id(value) not in given.results:
                tally.problems.append(f"{task.name}: join() returned {value!r}, which it was never given")

    def require(self, index: int, other: int, tally: Tally) -> None:
        task, prerequisite = self.tasks[index], self.tasks[other]
        try:
            task.require(prerequisite)
        except CycleError as exc:
            if task is not prerequisite or exc.cycle != [task.name, task.name]:
                tally.problems.append(f"{task.name}.require({prerequisite.name}) raised {exc!r}")
        else:
            if task is prerequisite:
                tally.problems.append(f"{task.name}.require(itself) was allowed")

    # ------------------------------------------------------------ after each step

    def watch(self, index: int) -> None:
        """Add a done-callback; one added to a final task is called at once, in this thread."""
        task = self.tasks[index]
        probe = Probe(len(task.history))
        final = task.state.final
        task.add_done_callback(probe)
        if final:
            assert probe.calls == 1, probe.calls
        else:
            self.probes[index].append(probe)

    def settle(self, moves: dict[int, int], runs: dict[int, int]) -> None:
        """With every thread stopped: the history grew by what the callers were told; callbacks fired once."""
        for index, task in enumerate(self.tasks):
            grown = len(task.history) - self.lengths[index]
            told, ran = moves.get(index, 0), runs.get(index, 0)
            assert told + ran <= grown <= told + 2 * ran, (task.name, told, ran, grown, task.history)
            self.lengths[index] = len(task.history)
            history = task.history
            for probe in list(self.probes[index]):
                ended = [move.dest for move in history[probe.start:] if move.dest in FINAL_STATES]
                if ended:
                    assert probe.calls == 1, (task.name, probe.calls, ended)
                    self.probes[index].remove(probe)
                else:
                    assert probe.calls == 0, (task.name, probe.calls)
            if not self.probes[index]:
                self.watch(index)

    @invariant()
    def states_and_histories_follow_the_table(self) -> None:
        for task in self.tasks:
            assert isinstance(task.state, State) and task.state in set(State)
            where = State.PENDING
            for move in task.history:
                assert move.source is where, (task.name, task.history)
                assert (move.source, move.event, move.dest) in ALLOWED, (task.name, move)
                if move.source in FINAL_STATES:
                    assert move.event == "retry", (task.name, move)
                where = move.dest
            assert where is task.state, (task.name, where, task.state)

    @invariant()
    def outcomes_fit_the_state(self) -> None:
        for task, given in zip(self.tasks, self.given, strict=True):
            state, result, exception = task.state, task.result, task.exception
            where = f"{task.name} ({given.kind}) {state}: result {result!r}, exception {exception!r}"
            if not state.final:
                assert result is None and exception is None, where
            elif state is State.DONE:
                assert exception is None, where
                assert (result is None and (given.kind == "no_function" or _up_to_date(task))
                        or id(result) in given.results), where
            elif state is State.FAILED:
                assert exception is not None and id(exception) in given.exceptions, where
            elif isinstance(exception, CancelledError):
                assert result is None, where
            elif exception is not None:
                assert given.kind == "cancel_on_exception" and id(exception) in given.exceptions, where
            else:
                assert given.kind == "cancel_on_result" and id(result) in given.results, where

    @invariant()
    def edges_mirror_each_other(self) -> None:
        for task in self.tasks:
            prerequisites = task.prerequisites
            assert len(set(prerequisites)) == len(prerequisites), (task.name, prerequisites)
            assert task not in prerequisites, task.name
            for p in prerequisites:
                assert p.dependents.count(task) == 1, (p.name, task.name, p.dependents)
            dependents = task.dependents
            assert len(set(dependents)) == len(dependents), (task.name, dependents)
            for d in dependents:
                assert task in d.prerequisites, (task.name, d.name)


TaskMachine.TestCase.settings = settings(
    max_examples=80,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
TestTaskStateMachine = TaskMachine.TestCase


# ---------------------------------------------------------------------------------------------- two interleavings
# Races too narrow for the machine above to meet by chance, forced here: a subclass runs "another thread's" move at
# the exact point between two reads or two events of the code under test.


class Interleaved(Task):
    """A task that runs ``hook`` once, at the first attribute read that follows the ``nth`` read of ``after``.

    Only reads made outside the tasks' lock count: a read under the lock cannot be interleaved with another
    thread's transition (and a hook there would deadlock), so code that reads under the lock never runs the hook.
    """

    __slots__ = ("after", "nth", "hook")

    def arm(self, after: str, nth: int, hook: Callable[[], Any]) -> None:
        object.__setattr__(self, "after", after)
        object.__setattr__(self, "nth", nth)
        object.__setattr__(self, "hook", hook)

    def __getattribute__(self, name: str) -> Any:
        get = object.__getattribute__
        try:
            nth = get(self, "nth")
        except AttributeError:  # not armed yet: Task.__init__ runs
            nth = -1
        if nth >= 0 and not _TASK_LOCK.locked():
            if nth == 0:
                object.__setattr__(self, "nth", -1)
                get(self, "hook")()
            elif name == get(self, "after"):
                object.__setattr__(self, "nth", nth - 1)
        return get(self, name)


def _interleaved(name: str, func: Callable[[], Any] | None = None) -> Interleaved:
    task = Interleaved(name, func)
    task.arm("", -1, lambda: None)
    return task


def test_join_reads_the_outcome_whole_when_another_thread_resets_the_task() -> None:
    """join() of a FAILED task, while another thread resets it, reports one outcome: the failure it saw, or that
    the task is not finished; never half of each (a FAILED state with no exception)."""
    task = _interleaved("t")
    error = Raised("failed")
    task._fire("fail", True, None, error)
    # join() reads the state (is it final?), then its outcome; the reset lands right after the second read
    task.arm("state", 2, task.reset)
    try:
        task.join(0)
    except Raised as exc:
        assert exc is error
    except TaskError as exc:
        assert "not finished" in str(exc), exc
    except BaseException as exc:  # noqa: BLE001 - what the test is about
        raise AssertionError(f"join() raised {type(exc).__name__}: {exc}") from exc
    else:
        raise AssertionError("join() returned a value for a FAILED task")


def test_run_does_not_take_a_task_a_queue_claimed_meanwhile() -> None:
    """run() on a CANCELLED task refuses it; if another thread resets it and a queue claims it (QUEUED) while run()
    is refusing, run() still refuses: a QUEUED task belongs to its queue."""
    calls: list[str] = []
    task = _interleaved("t", lambda: calls.append("ran"))
    task.cancel()

    def repaired_and_claimed() -> None:
        task.reset()
        assert task._fire("queue", False, only_from=State.PENDING)

    task.arm("state", 1, repaired_and_claimed)  # run()'s claim failed, and it read the state to say why
    with pytest.raises(TaskError, match=r"task 't': cannot"):
        task.run()
    assert calls == []
    assert task.state is State.QUEUED  # still the queue's to dispatch
