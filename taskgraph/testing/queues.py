"""The queue conformance suite: run it against any queue to prove ``make`` can use it.

A queue is anything whose ``submit(fn, /, *args, **kwargs)`` returns a :class:`concurrent.futures.Future` (see
``docs/queues.md``). Subclass :class:`QueueContract` in a pytest module and give it a ``queue`` fixture that yields
a fresh queue and closes it afterwards::

    class TestMyQueue(QueueContract):
        @pytest.fixture
        def queue(self):
            queue = MyQueue()
            yield queue
            queue.close()

The functions the suite runs are builtins and functions of this module, so a queue that runs calls in other
processes or on other machines only needs taskgraph installed there.
"""

from __future__ import annotations

import operator
from concurrent.futures import Future
from typing import Any

import pytest

from ..errors import BlockedError
from ..make import make_now
from ..states import State
from ..task import Task

__all__ = ["QueueContract", "diamond"]

_WAIT = 120.0  # seconds a call may take on a loaded machine


def total(*numbers: int) -> int:
    """The sum of ``numbers``: a picklable function for the suite's graphs."""
    return sum(numbers)


def diamond(width: int = 49) -> tuple[Task, list[Task]]:
    """A diamond: one root, ``width`` tasks that require it, two layers deep, and one sink that requires them all;
    ``2 * width + 2`` tasks in all (100 by default). Returns the sink and every task."""
    root = Task("root", total, args=(1,))
    upper = [Task(f"upper{i}", total, args=(i, 1)).require(root) for i in range(width)]
    lower = [Task(f"lower{i}", total, args=(i, 2)).require(upper[i], upper[(i + 1) % width]) for i in range(width)]
    sink = Task("sink", total, args=(0,)).require(*lower)
    return sink, [root, *upper, *lower, sink]


def _moves(task: Task) -> list[tuple[str, str]]:
    return [(move.event, str(move.dest)) for move in task.history]


class QueueContract:
    """The behaviour ``make`` relies on. Needs a ``queue`` fixture (see the module docstring)."""

    @pytest.fixture
    def queue(self) -> Any:  # pragma: no cover - every subclass gives its own
        raise NotImplementedError("give the QueueContract subclass a `queue` fixture")

    def test_submit_returns_the_future_of_the_call(self, queue: Any) -> None:
        future = queue.submit(pow, 2, 10)
        assert isinstance(future, Future)
        assert future.result(_WAIT) == 1024

    def test_keyword_arguments_reach_the_function(self, queue: Any) -> None:
        assert queue.submit(dict, a=1, b=2).result(_WAIT) == {"a": 1, "b": 2}

    def test_an_exception_comes_back_on_the_future_with_its_type_and_message(self, queue: Any) -> None:
        future = queue.submit(int, "not a number")
        with pytest.raises(ValueError, match="invalid literal for int"):
            future.result(_WAIT)

    def test_capacity_when_given_is_a_positive_whole_number_or_none(self, queue: Any) -> None:
        capacity = getattr(queue, "capacity", None)
        assert capacity is None or (isinstance(capacity, int) and not isinstance(capacity, bool) and capacity > 0)

    def test_make_now_runs_a_diamond_graph_each_task_after_its_prerequisites(self, queue: Any) -> None:
        sink, tasks = diamond()
        assert make_now(sink, queue=queue) == [sink]
        assert all(t.state is State.DONE for t in tasks)
        assert sink.result == 0 and tasks[0].result == 1 and tasks[-2].result == 48 + 2
        for task in tasks:
            began = next(move.when for move in task.history if move.dest is State.RUNNING)
            for prerequisite in task.prerequisites:
                assert prerequisite.history[-1].when <= began, f"{task.name} began before {prerequisite.name} ended"

    def test_each_task_moves_through_the_states_once(self, queue: Any) -> None:
        sink, tasks = diamond(4)
        make_now(sink, queue=queue)
        for task in tasks:
            moves = _moves(task)
            assert moves[-2:] == [("dispatch", "RUNNING"), ("done", "DONE")], (task.name, moves)
            assert moves[:1] in ([("queue", "QUEUED")], [("dispatch", "RUNNING")]), (task.name, moves)
            assert len(moves) in (2, 3), (task.name, moves)

    def test_a_failing_call_fails_its_task_and_its_dependents_only(self, queue: Any) -> None:
        bad = Task("bad", int, args=("x",))
        below = Task("below", total, args=(1,)).require(bad)
        fine = Task("fine", operator.add, args=(2, 3))
        make_now(below, fine, queue=queue)
        assert bad.state is State.FAILED and isinstance(bad.exception, ValueError)
        assert below.state is State.FAILED and isinstance(below.exception, BlockedError)
        assert below.exception.__cause__ is bad.exception
        assert fine.state is State.DONE and fine.result == 5

    def test_a_task_s_keyword_arguments_reach_its_function_whatever_their_names(self, queue: Any) -> None:
        kwargs = {"fn": 1, "key": 2, "pure": 3, "workers": 4, "timeout": 5, "self": 6}
        task = Task("kw", dict, kwargs=kwargs)
        make_now(task, queue=queue)
        assert task.state is State.DONE and task.result == kwargs

    def test_a_task_without_a_function_is_done_with_none(self, queue: Any) -> None:
        group = Task("group").require(Task("part", operator.mul, args=(6, 7)))
        make_now(group, queue=queue)
        assert group.state is State.DONE and group.result is None and group.prerequisites[0].result == 42

    def test_fail_fast_stops_after_the_first_failure(self, queue: Any) -> None:
        bad = Task("bad", int, args=("x",))
        after = [Task(f"after{i}", total, args=(i,)).require(bad) for i in range(5)]
        out = make_now(*after, fail_fast=True, queue=queue)
        assert out[0].state is State.FAILED and len(out) == 1
        assert all(t.state in (State.FAILED, State.PENDING) for t in after)
