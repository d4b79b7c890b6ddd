"""cs.taskqueue's documented examples as our tests, and a test for each of its defects we must not repeat."""

from __future__ import annotations

import doctest
import re
import threading

import pytest

import taskgraph
from taskgraph import CancelledError, CycleError, State, Task, TaskQueue, make, make_now, tasks_as_dot

MAKE_EXAMPLE = """
>>> t1 = Task('t1', lambda: print('doing t1'), track=True)
>>> t2 = t1.then('t2', lambda: print('doing t2'), track=True)
>>> list(make(t2))    # doctest: +ELLIPSIS
t1 PENDING->dispatch->RUNNING
doing t1
t1 RUNNING->done->DONE
t2 PENDING->dispatch->RUNNING
doing t2
t2 RUNNING->done->DONE
[Task('t2',<function <lambda> at ...>,state='DONE')]
"""

TASKQUEUE_EXAMPLES = """
Example 1, put 2 dependent tasks in a queue and run:

>>> t1 = Task("t1", lambda: print("t1"))
>>> t2 = t1.then("t2", lambda: print("t2"))
>>> q = TaskQueue(t1, t2)
>>> for _ in q.run(): pass
...
t1
t2

Example 2, put 1 task in a queue and run. The queue only runs the specified tasks:

>>> t1 = Task("t1", lambda: print("t1"))
>>> t2 = t1.then("t2", lambda: print("t2"))
>>> q = TaskQueue(t1)
>>> for _ in q.run(): pass
...
t1

Example 3, put 1 task in a queue with run_dependent_tasks=True and run. The queue pulls in the dependencies of
completed tasks and also runs those:

>>> t1 = Task("t1", lambda: print("t1"))
>>> t2 = t1.then("t2", lambda: print("t2"))
>>> q = TaskQueue(t1, run_dependent_tasks=True)
>>> for _ in q.run(): pass
...
t1
t2
"""


@pytest.mark.parametrize("text", [MAKE_EXAMPLE, TASKQUEUE_EXAMPLES], ids=["make", "TaskQueue"])
def test_documented_examples(text):
    globs = {"Task": Task, "make": make, "TaskQueue": TaskQueue}
    test = doctest.DocTestParser().get_doctest(text, globs, "cs.taskqueue", None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0 and result.attempted > 0


def test_the_task_in_example_2_left_pending():
    t1 = Task("t1")
    t2 = t1.then("t2")
    assert list(TaskQueue(t1).run()) == [t1]
    assert t2.state is State.PENDING


# ------------------------------------------------------------------ the defects of cs.taskqueue 20250120


def test_a_func_that_raises_does_not_leave_its_task_running():
    t = Task("t", lambda: 1 / 0)
    assert make_now(t) == [t]
    assert t.state is State.FAILED and isinstance(t.exception, ZeroDivisionError)


def test_cancel_on_a_pending_task_works():
    t = Task("t")
    assert t.cancel() is True
    assert t.state is State.CANCELLED


def test_cancelling_a_running_task_does_not_block():
    started, release = threading.Event(), threading.Event()
    t = Task("t", lambda: (started.set(), release.wait(10)))
    runner = threading.Thread(target=lambda: pytest.raises(CancelledError, t.run))
    runner.start()
    assert started.wait(10)
    done_cancelling = threading.Event()
    canceller = threading.Thread(target=lambda: (t.cancel(), done_cancelling.set()))
    canceller.start()
    assert done_cancelling.wait(10)  # the function is still blocked on release
    assert not release.is_set() and t.state is State.CANCELLED
    release.set()
    runner.join(10)
    canceller.join(10)


def test_waiting_on_a_cancelled_task_does_not_hang():
    t = Task("t")
    t.cancel()
    with pytest.raises(CancelledError):
        t.join(timeout=5)
    waiter_result: list[BaseException] = []
    u = Task("u")
    waiter = threading.Thread(target=lambda: waiter_result.append(pytest.raises(CancelledError, u.join, 10).value))
    waiter.start()
    u.cancel()
    waiter.join(10)
    assert not waiter.is_alive() and isinstance(waiter_result[0], CancelledError)


def test_make_with_a_parallel_queue_waits_for_prerequisites_in_flight():
    release = threading.Event()
    a = Task("a", release.wait, args=(10,))
    b = Task("b", lambda: "b ran").require(a)
    threading.Timer(0.05, release.set).start()
    assert make_now(b, queue="threads://4") == [b]
    assert b.state is State.DONE and b.result == "b ran"


def test_a_failed_prerequisite_blocks_its_dependents_in_a_task_queue():
    ran: list[str] = []
    t1 = Task("t1", lambda: 1 / 0)
    t2 = t1.then("t2", lambda: ran.append("t2"))
    out = list(TaskQueue(t1, t2).run())
    assert {t.name: t.state for t in out} == {"t1": "FAILED", "t2": "FAILED"}
    assert ran == []
    assert "prerequisite 't1' is FAILED" in str(t2.exception)


def test_a_cycle_does_not_make_make_loop_for_ever():
    a = Task("a")
    b = a.then("b")
    a.require(b)
    with pytest.raises(CycleError, match=r"tasks form a cycle: (a -> b -> a|b -> a -> b)"):
        list(make(b))


def test_dot_of_a_subset_names_every_node():
    a = Task("compile")
    b = a.then("link")
    dot = tasks_as_dot([b])
    labels = re.findall(r"label=(\w+)", dot)
    assert sorted(labels) == ["compile", "link"]
    ids = set(re.findall(r"^\s*(t\d+) \[", dot, re.M))
    for left, right in re.findall(r"(t\d+) -> (t\d+)", dot):
        assert {left, right} <= ids  # no edge to an anonymous node


def test_public_names_are_exported_in_one_place():
    for name in taskgraph.__all__:
        assert hasattr(taskgraph, name), name
