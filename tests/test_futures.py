"""The cheaper future the built-in queues settle (taskgraph.queues.futures.LightFuture) behaves as the standard one,
for every way a caller waits on it: result() and exception() with and without a timeout, add_done_callback,
cancel, concurrent.futures.wait and as_completed, from other threads."""

from __future__ import annotations

import concurrent.futures as cf
import threading

import pytest

from taskgraph.queues.base import Call
from taskgraph.queues.futures import LightFuture, begin, settle


def later(action) -> threading.Thread:
    """Run ``action`` in another thread once the caller blocks; the caller joins the thread."""
    thread = threading.Thread(target=action)
    thread.start()
    return thread


@pytest.mark.parametrize("kind", [LightFuture, lambda: Call("c", "c", None, (), {})])
def test_result_waits_for_a_result_set_by_another_thread(kind):
    future = kind()
    gate = threading.Event()

    def finish():
        gate.wait(10)
        assert future.set_running_or_notify_cancel()
        future.set_result(42)

    thread = later(finish)
    gate.set()
    assert future.result(timeout=10) == 42
    thread.join()
    assert future.done() and not future.cancelled() and future.exception() is None


def test_exception_comes_back_and_result_raises_it():
    future = LightFuture()
    thread = later(lambda: future.set_exception(ValueError("no")))
    with pytest.raises(ValueError, match="no"):
        future.result(timeout=10)
    thread.join()
    assert isinstance(future.exception(), ValueError)


def test_a_timeout_raises_timeout_error():
    with pytest.raises(cf.TimeoutError):
        LightFuture().result(timeout=0.01)


def test_callbacks_run_once_when_done_and_at_once_when_added_later():
    future = LightFuture()
    seen: list[object] = []
    future.add_done_callback(seen.append)
    future.set_result(1)
    future.add_done_callback(seen.append)
    assert seen == [future, future]


def test_cancel_before_start_stops_the_call_and_wakes_waiters():
    future = LightFuture()
    thread = later(lambda: future.cancel())
    with pytest.raises(cf.CancelledError):
        future.result(timeout=10)
    thread.join()
    assert not future.set_running_or_notify_cancel() and not begin(future)


def test_cancel_fails_once_running_and_settle_refuses_a_second_outcome():
    future = LightFuture()
    assert begin(future) and not future.cancel() and future.running()
    assert settle(future, 1) and not settle(future, 2)
    assert future.result() == 1 and not begin(future)
    with pytest.raises(cf.InvalidStateError):
        future.set_result(3)


def test_wait_and_as_completed_see_futures_finish_in_other_threads():
    futures = [LightFuture() for _ in range(5)]

    def finish_all():
        for i, future in enumerate(futures):
            future.set_result(i)

    thread = later(finish_all)
    done, not_done = cf.wait(futures, timeout=10)
    thread.join()
    assert len(done) == 5 and not not_done
    assert sorted(f.result() for f in cf.as_completed(futures, timeout=10)) == [0, 1, 2, 3, 4]


def test_wait_first_completed_returns_when_one_finishes():
    first, second = LightFuture(), LightFuture()
    thread = later(lambda: first.set_result("first"))
    done, not_done = cf.wait([first, second], timeout=10, return_when=cf.FIRST_COMPLETED)
    thread.join()
    assert done == {first} and not_done == {second}
