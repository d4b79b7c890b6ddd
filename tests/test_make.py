"""make, make_now, make_later: the rules, on every local queue where it matters."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from taskgraph import (
    BlockedError,
    CancelledError,
    CycleError,
    State,
    Task,
    TaskError,
    ThreadQueue,
    make,
    make_later,
    make_now,
)

from . import jobs


def counted(calls: list[str], name: str, value: object = None):
    def func():
        calls.append(name)
        return value

    return func


def test_make_is_lazy_and_yields_each_given_task_once():
    calls: list[str] = []
    a = Task("a", counted(calls, "a"))
    b = Task("b", counted(calls, "b")).require(a)
    gen = make(b, a, b)
    assert calls == []  # nothing happens before iteration
    out = list(gen)
    assert sorted(t.name for t in out) == ["a", "b"] and len(out) == 2
    assert calls == ["a", "b"]


def test_pending_prerequisites_are_made_first_and_done_ones_not_again():
    calls: list[str] = []
    a = Task("a", counted(calls, "a"))
    b = Task("b", counted(calls, "b")).require(a)
    c = Task("c", counted(calls, "c")).require(a, b)
    assert make_now(c) == [c]
    assert calls == ["a", "b", "c"]
    d = Task("d", counted(calls, "d")).require(c)
    make_now(d, c)
    assert calls == ["a", "b", "c", "d"]


def test_given_final_tasks_are_yielded_without_running():
    a = Task("a", lambda: 1)
    a.run()
    b = Task("b")
    b.cancel()
    assert make_now(a, b) == [a, b]
    assert [m.event for m in a.history] == ["dispatch", "done"]


def test_failed_prerequisite_fails_dependents_without_running_them(queue_url):
    a = Task("a", jobs.fail, args=("broken",))
    b = Task("b", jobs.square, args=(2,)).require(a)
    c = Task("c", jobs.square, args=(3,)).require(b)
    ok = Task("ok", jobs.square, args=(4,))
    out = make_now(c, ok, queue=queue_url)
    assert {t.name: t.state for t in out} == {"c": "FAILED", "ok": "DONE"}
    assert a.state is State.FAILED and str(a.exception) == "broken"
    assert b.state is State.FAILED and isinstance(b.exception, BlockedError)
    assert str(b.exception) == "task 'b' is blocked: prerequisite 'a' is FAILED"
    assert b.exception.__cause__ is a.exception
    assert str(c.exception) == "task 'c' is blocked: prerequisite 'b' is FAILED"
    assert [m.event for m in c.history] == ["fail"]  # never ran
    with pytest.raises(BlockedError):
        c.join()
    assert ok.result == 16


def test_cancelled_prerequisite_cancels_dependents(queue_url):
    a = Task("a", jobs.noop)
    b = Task("b", jobs.noop).require(a)
    a.cancel()
    out = make_now(b, queue=queue_url)
    assert out == [b] and b.state is State.CANCELLED
    with pytest.raises(CancelledError, match="task 'b' was cancelled: prerequisite 'a' was cancelled"):
        b.join()


def test_failure_wins_over_cancellation_when_both_are_seen():
    a, b = Task("a"), Task("b")
    a._fire("fail", exception=ValueError("x"))
    b.cancel()
    c = Task("c").require(b, a)
    make_now(c)
    assert c.state is State.FAILED


def test_fail_fast_stops_at_the_first_task_not_done():
    calls: list[str] = []
    bad = Task("bad", jobs.fail)
    later = Task("later", counted(calls, "later"))
    out = make_now(bad, later, fail_fast=True)
    assert out == [bad]
    assert calls == [] and later.state is State.PENDING  # left for a later make


def test_fail_fast_leaves_nothing_queued_or_running_on_threads():
    gate = threading.Event()

    def slow():
        gate.wait(10)

    tasks = [Task("bad", jobs.fail)] + [Task(f"t{i}", slow) for i in range(20)]
    threading.Timer(0.05, gate.set).start()
    out = make_now(*tasks, fail_fast=True, queue="threads://2")
    assert out[-1].state is State.FAILED
    assert all(t.state in (State.PENDING, State.DONE, State.FAILED, State.CANCELLED) for t in tasks)


def test_a_cycle_is_refused_before_anything_runs():
    calls: list[str] = []
    a = Task("a", counted(calls, "a"))
    b = Task("b", counted(calls, "b")).require(a)
    c = Task("c", counted(calls, "c")).require(b)
    free = Task("free", counted(calls, "free"))
    a.require(c)
    with pytest.raises(CycleError) as info:
        make_now(free, c)
    assert calls == []
    cycle = info.value.cycle
    assert cycle[0] == cycle[-1] and sorted(cycle[:-1]) == ["a", "b", "c"]
    assert " -> ".join(cycle) in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, TaskError)
    assert all(t.state is State.PENDING for t in (a, b, c, free))


def test_a_cycle_made_while_make_runs_fails_its_tasks_and_make_ends():
    a = Task("a")
    b = Task("b").require(a)
    c = Task("c").require(b)

    def close_the_loop():
        b.require(c)  # c waits for b; now b waits for c

    a.func = close_the_loop
    out = make_now(c)
    assert out == [c]
    assert b.state is State.FAILED and isinstance(b.exception, CycleError)
    assert c.state is State.FAILED


def test_edges_added_while_make_runs_are_honoured():
    calls: list[str] = []
    extra = Task("extra", counted(calls, "extra"))
    b = Task("b", counted(calls, "b"))

    def add_requirement():
        calls.append("a")
        b.require(extra)

    a = Task("a", add_requirement)
    b.require(a)
    make_now(b)
    assert calls == ["a", "extra", "b"]


def test_independent_tasks_run_at_the_same_time_on_threads():
    barrier = threading.Barrier(4, timeout=10)
    tasks = [Task(f"t{i}", barrier.wait) for i in range(4)]
    make_now(*tasks, queue=ThreadQueue(4))
    assert all(t.state is State.DONE for t in tasks)  # a broken barrier would have failed them


def test_dependents_wait_for_prerequisites_in_flight_on_a_parallel_queue(queue_url):
    """cs.taskqueue failed dependents whose prerequisite was still running."""
    a = Task("a", jobs.sleep, args=(0.05,))
    b = Task("b", jobs.square, args=(5,)).require(a)
    assert make_now(b, queue=queue_url) == [b]
    assert b.state is State.DONE and b.result == 25
    assert a.history[-1].when <= b.history[0].when


def test_a_task_running_elsewhere_is_waited_for_not_run_again():
    gate, started = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow():
        started.set()
        gate.wait(10)
        calls.append("a")

    a = Task("a", slow)
    b = Task("b", counted(calls, "b")).require(a)
    runner = threading.Thread(target=a.run)
    runner.start()
    assert started.wait(10)
    threading.Timer(0.05, gate.set).start()
    assert make_now(b) == [b]
    runner.join(10)
    assert calls == ["a", "b"]


def test_two_makes_sharing_prerequisites_run_each_once():
    calls: list[str] = []
    lock = threading.Lock()

    def record(name):
        def func():
            with lock:
                calls.append(name)

        return func

    shared = [Task(f"s{i}", record(f"s{i}")) for i in range(30)]
    left = Task("left", record("left")).require(*shared)
    right = Task("right", record("right")).require(*shared)
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(make_now, top, queue="threads://3") for top in (left, right)]
        results = [f.result(30) for f in futures]
    assert results == [[left], [right]]
    assert sorted(calls) == sorted([f"s{i}" for i in range(30)] + ["left", "right"])


def test_cancelling_a_running_task_during_make_cancels_its_dependents_at_once():
    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(10)

    a = Task("a", slow)
    b = Task("b", jobs.noop).require(a)
    q = ThreadQueue(1)
    gen = make(b, queue=q)
    result: list[Task] = []
    consumer = threading.Thread(target=lambda: result.extend(gen))
    consumer.start()
    assert started.wait(10)
    a.cancel()
    with pytest.raises(CancelledError):
        b.join(10)  # cancelled without waiting for slow() to return
    assert b.state is State.CANCELLED
    release.set()
    consumer.join(10)
    q.close()
    assert result == [b] and a.state is State.CANCELLED


def test_keyboard_interrupt_inline_cancels_the_rest_and_propagates():
    def interrupt():
        raise KeyboardInterrupt

    a = Task("a", jobs.noop)
    b = Task("b", interrupt).require(a)
    c = Task("c", jobs.noop).require(b)
    d = Task("d", jobs.noop)
    with pytest.raises(KeyboardInterrupt):
        make_now(c, d)
    assert (a.state, b.state, c.state) == ("DONE", "CANCELLED", "CANCELLED")
    assert d.state in ("DONE", "CANCELLED")


def test_closing_make_early_waits_for_running_tasks_and_cancels_queued_ones():
    release = threading.Event()
    tasks = [Task(f"t{i}", release.wait, args=(10,)) for i in range(6)]
    quick = Task("quick", jobs.noop)
    q = ThreadQueue(2)
    gen = make(quick, *tasks, queue=q)
    first = next(gen)
    assert first.state is State.DONE
    threading.Timer(0.05, release.set).start()
    gen.close()
    q.close()
    assert not any(t.state in ("QUEUED", "RUNNING") for t in tasks)


def test_make_later_returns_at_once_and_tasks_can_be_joined():
    gate = threading.Event()
    a = Task("a", gate.wait, args=(10,))
    b = Task("b", jobs.square, args=(7,)).require(a)
    future = make_later("threads://2", b)
    assert b.state is State.PENDING and not future.done()
    gate.set()
    assert b.join(10) == 49
    assert future.result(10) == [b]


def test_make_later_refuses_a_cycle_at_once():
    a = Task("a")
    b = Task("b").require(a)
    a.require(b)
    with pytest.raises(CycleError):
        make_later(None, b)


def test_queue_argument_is_checked():
    with pytest.raises(TypeError, match=r"queue= takes a queue \(any object whose submit\(fn, \*args, \*\*kwargs\) "
                                        r"returns a concurrent.futures.Future\), a queue URL"):
        make_now(Task("t"), queue=42)
    with pytest.raises(ValueError, match="unknown queue URL scheme 'nope'"):
        make_now(Task("t"), queue="nope://")
    with pytest.raises(TypeError, match="make\\(\\) and TaskQueue take tasks, not str"):
        make_now("t")  # type: ignore[arg-type]


def test_an_executor_works_as_a_queue():
    with ThreadPoolExecutor(2) as pool:
        tasks = [Task(f"t{i}", jobs.square, args=(i,)) for i in range(10)]
        total = Task("total", lambda: sum(t.result for t in tasks)).require(*tasks)
        assert make_now(total, queue=pool) == [total]
    assert total.result == sum(i * i for i in range(10))


def test_large_chain_does_not_recurse():
    tasks = [Task("t0")]
    for i in range(1, 5000):
        tasks.append(Task(f"t{i}").require(tasks[-1]))
    tasks[0]._fire("fail", exception=ValueError("root"))
    assert make_now(tasks[-1]) == [tasks[-1]]
    assert all(t.state is State.FAILED for t in tasks)


def test_keep_going_runs_every_task_not_downstream_of_a_failure(queue_url, tmp_path):
    path = str(tmp_path / "ran")  # a file: the processes queue runs the functions in other processes
    objects = [Task(n, jobs.fail, args=(f"{n} is broken",)) if n in "bd" else Task(n, jobs.count, args=(path, n))
               for n in "abcdef"]
    link = Task("link", jobs.count, args=(path, "link")).require(*objects)
    test = link.then("test", jobs.count, args=(path, "test"))
    docs = Task("docs", jobs.count, args=(path, "docs")).require(objects[0])
    finished = make_now(test, docs, keep_going=True, queue=queue_url)
    assert sorted(finished, key=lambda t: t.name) == [docs, test]
    assert sorted(jobs.lines(path)) == ["a", "c", "docs", "e", "f"]
    assert [t.name for t in objects if t.state == "FAILED"] == ["b", "d"]
    assert (link.state, test.state, docs.state) == ("FAILED", "FAILED", "DONE")


def test_without_keep_going_a_doomed_target_starts_nothing_more():
    ran = []

    def compile_(name):
        ran.append(name)
        if name == "a":
            raise ValueError("broken")

    objects = [Task(n, compile_, args=(n,)) for n in "abc"]
    link = Task("link").require(*objects)
    make_now(link)
    assert ran == ["a"] and [t.state for t in objects] == ["FAILED", "PENDING", "PENDING"]


def test_fail_fast_and_keep_going_are_refused_together():
    with pytest.raises(ValueError, match="fail_fast stops at the first failure and keep_going runs on past it"):
        make_now(Task("t"), fail_fast=True, keep_going=True)


def test_a_given_task_done_before_the_run_is_not_counted_off_its_dependents():
    """A DONE task given to make is not waited for by its dependents, so its being yielded must not count it off
    them: a failure later must still reach every dependent (found by the property tests)."""
    first = [Task(f"t{i}", None) for i in range(4)]
    broken = Task("broken", jobs.fail, args=("broken",))
    middle = Task("middle").require(*first, broken)
    top = Task("top").require(*first, broken, middle)
    make_now(first[0])
    finished = make_now(first[0], top)
    assert [t.name for t in finished] == ["t0", "top"]
    assert (broken.state, middle.state, top.state) == ("FAILED", "FAILED", "FAILED")
