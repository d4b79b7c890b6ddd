"""TaskQueue: a dispatch loop over its own tasks."""

from __future__ import annotations

import threading

import pytest

from taskgraph import BlockedError, State, Task, TaskQueue

from . import jobs


def test_run_yields_each_task_once_when_final(queue_url):
    tasks = [Task(f"t{i}", jobs.square, args=(i,)) for i in range(10)]
    for before, after in zip(tasks, tasks[1:], strict=False):
        after.require(before)
    out = list(TaskQueue(*reversed(tasks), queue=queue_url).run())
    assert out == tasks  # a chain finishes in order
    assert [t.result for t in tasks] == [i * i for i in range(10)]


def test_a_prerequisite_outside_the_queue_blocks_with_a_clear_error():
    outside = Task("outside")
    inside = Task("inside", jobs.noop).require(outside)
    free = Task("free", jobs.noop)
    out = list(TaskQueue(inside, free).run())
    assert {t.name: t.state for t in out} == {"inside": "FAILED", "free": "DONE"}
    assert isinstance(inside.exception, BlockedError)
    assert str(inside.exception) == (
        "task 'inside' is blocked: prerequisite 'outside' is PENDING and not in this TaskQueue; add it, or use make()"
    )
    assert outside.state is State.PENDING


def test_a_prerequisite_outside_the_queue_that_is_done_is_fine():
    outside = Task("outside")
    outside.run()
    inside = Task("inside", jobs.noop).require(outside)
    assert list(TaskQueue(inside).run()) == [inside] and inside.state is State.DONE


def test_add_while_running_from_the_loop():
    a, b = Task("a", jobs.noop), Task("b", jobs.noop)
    q = TaskQueue(a)
    seen = []
    for t in q.run():
        seen.append(t.name)
        if t is a:
            q.add(b)
    assert seen == ["a", "b"] and q.tasks == [a, b]


def test_add_from_another_thread_while_running():
    started, gate = threading.Event(), threading.Event()

    def slow():
        started.set()
        gate.wait(10)

    a = Task("a", slow)
    b = Task("b", jobs.noop)
    q = TaskQueue(a, queue="threads://2")

    def add_then_release():
        started.wait(10)
        q.add(b)  # a is still running, so the run is still going
        gate.set()

    adder = threading.Thread(target=add_then_release)
    adder.start()
    seen = sorted(t.name for t in q.run())
    adder.join(10)
    assert seen == ["a", "b"] and b.state is State.DONE


def test_run_dependent_tasks_pulls_in_dependents_and_their_failures():
    bad = Task("bad", jobs.fail)
    bad.then("after_bad", jobs.noop)
    good = Task("good", jobs.noop)
    good.then("after_good", jobs.noop)
    out = list(TaskQueue(bad, good, run_dependent_tasks=True, queue="threads://2").run())
    assert {t.name: t.state for t in out} == {
        "bad": "FAILED",
        "after_bad": "FAILED",
        "good": "DONE",
        "after_good": "DONE",
    }


def test_the_queue_argument_is_opened_and_closed_per_run():
    t = Task("t", jobs.pid)
    assert list(TaskQueue(t, queue="processes://1").run()) == [t]
    assert isinstance(t.result, int)


def test_add_refuses_non_tasks():
    with pytest.raises(TypeError, match="TaskQueue.add\\(\\) takes tasks, not int"):
        TaskQueue(1)  # type: ignore[arg-type]
