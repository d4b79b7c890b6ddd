"""Task: construction, edges, running, waiting, cancelling, resetting, history, thread safety."""

from __future__ import annotations

import threading
import time

import pytest

from taskgraph import BlockedError, CancelledError, CycleError, State, Task, TaskError, Transition, make_now


def test_a_new_task_is_pending_with_nothing_recorded():
    t = Task("t", print, args=(1, 2), kwargs={"sep": "-"})
    assert t.state is State.PENDING and t.state == "PENDING"
    assert (t.result, t.exception, t.history, t.duration) == (None, None, [], None)
    assert t.args == (1, 2) and dict(t.kwargs) == {"sep": "-"}
    assert t.prerequisites == () and t.dependents == ()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "a task's name must be a non-empty string"),
        ({"name": 3}, "a task's name must be a non-empty string, not int 3"),
        ({"name": "t", "func": 3}, "task 't': func must be callable or None"),
        ({"name": "t", "func": print, "args": "abc"}, "task 't': args must be a sequence"),
        ({"name": "t", "func": print, "kwargs": [1]}, "task 't': kwargs must be a mapping"),
        ({"name": "t", "cancel_on_result": 1}, "task 't': cancel_on_result must be callable"),
    ],
)
def test_bad_construction_says_what_is_wrong(kwargs, message):
    with pytest.raises(TypeError, match=message):
        Task(**kwargs)


def test_repr_matches_cs_taskqueue():
    def f():
        pass

    assert repr(Task("t2", f)) == f"Task('t2',{f!r},state='PENDING')"


def test_require_links_both_ways_once_and_chains():
    a, b, c = Task("a"), Task("b"), Task("c")
    assert c.require(a, b) is c
    c.require(a)
    assert c.prerequisites == (a, b)
    assert a.dependents == (c,) and b.dependents == (c,)


def test_require_many_stays_unique_and_ordered():
    sink = Task("sink")
    parts = [Task(f"p{i}") for i in range(50)]
    for p in parts:
        sink.require(p)
    sink.require(*parts)
    assert sink.prerequisites == tuple(parts)
    assert all(p.dependents == (sink,) for p in parts)


def test_require_refuses_self_and_non_tasks():
    t = Task("t")
    with pytest.raises(CycleError) as info:
        t.require(t)
    assert info.value.cycle == ["t", "t"] and "t -> t" in str(info.value)
    with pytest.raises(TypeError, match=r"task 't': require\(\) takes tasks, not str 'x'"):
        t.require("x")  # type: ignore[arg-type]
    assert t.prerequisites == ()


def test_then_makes_or_links_a_dependent():
    a = Task("a")
    b = a.then("b", print, args=(1,))
    assert b.name == "b" and b.prerequisites == (a,) and b.args == (1,)
    c = Task("c")
    assert a.then(c) is c and c.prerequisites == (a,)
    with pytest.raises(TypeError, match="pass func and options only when naming a new task"):
        a.then(c, print)


def test_run_runs_here_and_records_history():
    t = Task("t", lambda x: x + 1, args=(1,))
    before = time.time()
    assert t.run() == 2
    assert t.state is State.DONE and t.result == 2
    moves = t.history
    assert [(m.source, m.event, m.dest) for m in moves] == [
        ("PENDING", "dispatch", "RUNNING"),
        ("RUNNING", "done", "DONE"),
    ]
    assert all(isinstance(m, Transition) and before <= m.when <= time.time() for m in moves)
    assert t.duration is not None and t.duration >= 0


def test_run_refuses_when_blocked_naming_each_prerequisite():
    a, b = Task("a"), Task("b", lambda: None)
    b.run()
    c = Task("c").require(a, b)
    with pytest.raises(BlockedError) as info:
        c.run()
    assert info.value.prerequisites == [("a", "PENDING")]
    assert str(info.value) == "task 'c' is blocked: prerequisite 'a' is PENDING"
    assert c.state is State.PENDING


def test_a_raising_func_fails_the_task_and_run_reraises_it():
    err = ValueError("bad")

    def f():
        raise err

    t = Task("t", f)
    with pytest.raises(ValueError) as info:
        t.run()
    assert info.value is err
    assert t.state is State.FAILED and t.exception is err
    with pytest.raises(ValueError):
        t.join()


def test_cancel_on_exception_and_on_result():
    t = Task("t", lambda: 1 / 0, cancel_on_exception=True)
    with pytest.raises(CancelledError) as info:
        t.run()
    assert t.state is State.CANCELLED and isinstance(info.value.__cause__, ZeroDivisionError)
    u = Task("u", lambda: "empty", cancel_on_result=lambda r: r == "empty")
    with pytest.raises(CancelledError):
        u.run()
    assert u.state is State.CANCELLED and u.result == "empty"
    v = Task("v", lambda: "full", cancel_on_result=lambda r: r == "empty")
    assert v.run() == "full" and v.state is State.DONE


def test_cancel_on_result_that_raises_fails_the_task():
    t = Task("t", lambda: 1, cancel_on_result=lambda r: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        t.run()
    assert t.state is State.FAILED


def test_cancel_pending_then_reset_and_rerun():
    t = Task("t", lambda: "ok")
    assert t.cancel() is True
    assert t.state is State.CANCELLED
    assert t.cancel() is False
    with pytest.raises(CancelledError, match="task 't' was cancelled"):
        t.join()
    assert t.reset() is t and t.state is State.PENDING and t.exception is None
    assert t.run() == "ok"
    assert [m.event for m in t.history] == ["cancel", "retry", "dispatch", "done"]


def test_reset_of_a_task_that_is_not_failed_or_cancelled_is_refused():
    t = Task("t")
    with pytest.raises(TaskError, match=r"task 't': cannot 'retry' while PENDING"):
        t.reset()
    t.run()
    with pytest.raises(TaskError, match="cannot 'retry' while DONE"):
        t.reset()


def test_run_of_a_finished_task_is_refused():
    t = Task("t")
    t.run()
    with pytest.raises(TaskError, match="cannot 'dispatch' while DONE"):
        t.run()


def test_cancelling_a_running_task_does_not_wait_for_it_and_drops_its_result():
    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(10)
        return "late"

    t = Task("t", slow)
    runner = threading.Thread(target=lambda: pytest.raises(CancelledError, t.run))
    runner.start()
    assert started.wait(10)
    assert t.cancel() is True  # returns at once although slow() is still running
    assert t.state is State.CANCELLED
    with pytest.raises(CancelledError):
        t.join(timeout=0)
    release.set()
    runner.join(10)
    assert t.state is State.CANCELLED and t.result is None


def test_join_waits_times_out_and_returns_the_result():
    t = Task("t", lambda: 42)
    t._fire("queue")
    with pytest.raises(TimeoutError, match="task 't' is still QUEUED after 0.01 s"):
        t.join(timeout=0.01)
    assert t._callbacks in (None, [])  # the timed-out waiter was removed
    results = []
    waiters = [threading.Thread(target=lambda: results.append(t.join(10))) for _ in range(5)]
    for w in waiters:
        w.start()
    t._fire("dispatch")
    t._finish(t.func())  # as the scheduler records a call a queue ran
    for w in waiters:
        w.join(10)
    assert results == [42] * 5


def test_track_prints_each_transition(capsys):
    t = Task("t1", lambda: None, track=True)
    t.run()
    assert capsys.readouterr().out == "t1 PENDING->dispatch->RUNNING\nt1 RUNNING->done->DONE\n"


def test_track_callable_gets_task_and_transition():
    seen = []
    t = Task("t", track=lambda task, move: seen.append((task.name, move.source, move.event, move.dest)))
    t.cancel()
    assert seen == [("t", "PENDING", "cancel", "CANCELLED")]


def test_done_callbacks_run_once_when_final_and_at_once_if_already():
    calls = []
    t = Task("t", lambda: 1)
    t.add_done_callback(lambda task: calls.append(("first", task.state)))
    t.add_done_callback(lambda task: 1 / 0)  # logged, does not stop the others
    t.add_done_callback(lambda task: calls.append(("second", task.state)))
    t.run()
    assert calls == [("first", "DONE"), ("second", "DONE")]
    t.add_done_callback(lambda task: calls.append(("late", task.state)))
    assert calls[-1] == ("late", "DONE")


def test_a_failing_callback_is_logged(caplog):
    t = Task("t")
    t.add_done_callback(lambda task: 1 / 0)
    t.run()
    assert "a done-callback of task 't' raised" in caplog.text


def test_remove_done_callback():
    calls = []
    t = Task("t")

    def cb(task):
        calls.append(task)

    t.add_done_callback(cb)
    assert t.remove_done_callback(cb) is True
    assert t.remove_done_callback(cb) is False
    t.run()
    assert calls == []


def test_keyboard_interrupt_in_run_cancels_the_task_and_propagates():
    def interrupted():
        raise KeyboardInterrupt

    t = Task("t", interrupted)
    with pytest.raises(KeyboardInterrupt):
        t.run()
    assert t.state is State.CANCELLED


def test_racing_threads_claim_a_task_exactly_once():
    for _ in range(50):
        t = Task("t")
        barrier = threading.Barrier(8)
        wins: list[int] = []

        def claim(t=t, barrier=barrier, wins=wins):
            barrier.wait()
            if t._fire("queue", False):
                wins.append(threading.get_ident())

        threads = [threading.Thread(target=claim) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert len(wins) == 1 and t.state is State.QUEUED


def test_concurrent_transitions_never_tear_history():
    tasks = [Task(f"t{i}") for i in range(200)]
    barrier = threading.Barrier(4)

    def churn(offset):
        barrier.wait()
        for t in tasks[offset::2]:
            for event in ("queue", "dispatch", "fail", "retry", "dispatch", "done"):
                t._fire(event, False)
        for t in tasks:
            t.cancel()

    threads = [threading.Thread(target=churn, args=(i % 2,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for t in tasks:
        history = t.history  # replays from PENDING: raises if any entry were torn or lost
        state = State.PENDING
        for move in history:
            assert move.source == state
            state = move.dest
        assert state == t.state
        assert t.state in (State.DONE, State.CANCELLED)


def test_duration_measures_the_last_run():
    calls = []

    def sometimes():
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("first time")

    t = Task("t", sometimes)
    with pytest.raises(ValueError):
        t.run()
    first = t.duration
    assert first is not None
    t.reset()
    assert t.duration is None  # PENDING again: nothing measured yet
    t.run()
    assert t.duration is not None and t.history[-1].when - t.history[-2].when == t.duration


def test_reset_takes_back_the_dependents_it_blocked_and_theirs_but_not_others():
    calls = []

    def flaky():
        calls.append("a")
        if len(calls) == 1:
            raise OSError("disk full")

    def broken():
        raise ValueError("its own bug")

    a = Task("a", flaky)
    b = a.then("b")
    c = b.then("c")
    own = Task("own", broken)
    make_now(own)
    d = Task("d").require(a, own)  # blocked by own, which failed first: a's reset leaves it
    user = a.then("user")
    user.cancel()  # cancelled by the user, not by a
    make_now(c, d)
    assert (a.state, b.state, c.state, d.state) == ("FAILED", "FAILED", "FAILED", "FAILED")
    assert isinstance(b.exception, BlockedError) and b.exception.__cause__ is a.exception
    assert d.exception.__cause__ is own.exception
    a.reset()
    assert (a.state, b.state, c.state) == ("PENDING", "PENDING", "PENDING")
    assert (own.state, d.state, user.state) == ("FAILED", "FAILED", "CANCELLED")
    make_now(c)
    assert (a.state, b.state, c.state) == ("DONE", "DONE", "DONE") and calls == ["a", "a"]


def test_reset_takes_back_the_dependents_a_cancel_blocked():
    a = Task("a")
    b = a.then("b")
    c = b.then("c")
    a.cancel()
    make_now(c)
    assert (b.state, c.state) == ("CANCELLED", "CANCELLED")
    assert c.exception.__cause__ is b.exception and b.exception.__cause__ is a.exception
    a.reset()
    assert (a.state, b.state, c.state) == ("PENDING", "PENDING", "PENDING")
    make_now(c)
    assert c.state == "DONE"
