"""The result cache on every store: equal arguments run once, different ones each; TTL expiry, invalidation and the
LRU bound make a call run again; failures are never cached; entries outlive a worker; hits show in the history,
the stats and the listing. Runs are counted by the jobs' O_APPEND files, not by the store."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from taskgraph import CacheStats, DurableQueue
from taskgraph.durable.worker import Worker
from tests import jobs
from tests.cache_app import cache_queue
from tests.jobs import lines
from tests.procs import WorkerProcess

APP = "tests.cache_app:queue"


@pytest.fixture
def served(in_process_store_url, tmp_path, monkeypatch) -> Iterator[tuple[DurableQueue, Callable[[], None]]]:
    """A queue on a store of each kind, served by one worker (a process; a thread for memory://, whose worker
    processes import the app on a memory store of their own, never used), and a function that stops that worker
    and starts another."""
    url = in_process_store_url
    queue = cache_queue(url)
    stops: list[Callable[[], None]] = []
    monkeypatch.setenv("TASKGRAPH_APP_URL", url)

    def start() -> None:
        if url.startswith("memory://"):
            worker = Worker(queue, threads=2, processes=1, lease=3, app=APP)
            thread = threading.Thread(target=worker.run, daemon=True)
            thread.start()

            def stop_thread() -> None:
                worker.stop()
                thread.join(20)

            stops.append(stop_thread)
            return
        proc = WorkerProcess(url, tmp_path, f"w{len(stops) + 1}", ["--lease", "3", "-q"], app=APP)

        def stop_process() -> None:
            proc.kill()
            print(proc.log())

        stops.append(stop_process)

    def restart() -> None:
        stops[-1]()
        start()

    start()
    yield queue, restart
    stops[-1]()
    queue.close()


def test_equal_arguments_run_once_and_hits_show(served, tmp_path):
    queue, _ = served
    count, path = queue.job("tests.jobs:count"), str(tmp_path / "runs")
    assert count is not None
    release = tmp_path / "go"
    slow = queue.job("tests.jobs:wait_for_file")
    assert slow is not None
    first, again = slow.delay(str(release)), slow.delay(str(release))
    assert again == first  # submitted while the first waits: the same job
    release.touch()
    assert first.join(timeout=30) == "released"
    one = count.delay(path, "a")
    assert one.join(timeout=30) == "a"
    hit = count.delay(path, "a")
    assert hit != one and hit.join(timeout=30) == "a"
    other = count.delay(path, "b")
    assert other.join(timeout=30) == "b"
    assert lines(path) == ["a", "b"]  # a ran once, b once
    cached = [e for e in hit.history() if e.event == "cached"]
    assert [e.detail for e in cached] == [f"result of job {one.id}"]
    assert [e.event for e in hit.history()][-1] == "done" and hit.status() == "DONE"
    assert queue.stats().cache["tests.jobs:count"] == CacheStats(hits=1, misses=2)
    entries = queue.cache_entries(count)
    assert {e.source for e in entries} == {one.id, other.id} and {e.state for e in entries} == {"done"}
    uncached = count.enqueue((path, "a"), cache=False)
    assert uncached.join(timeout=30) == "a" and lines(path) == ["a", "b", "a"]


def test_ttl_expiry_and_invalidate_run_again(served, tmp_path):
    queue, _ = served
    count, path = queue.job("tests.jobs:count"), str(tmp_path / "runs")
    assert count is not None
    short = count.enqueue((path, "t"), cache=1)
    assert short.join(timeout=30) == "t"
    assert count.enqueue((path, "t"), cache=1).join(timeout=30) == "t" and lines(path) == ["t"]
    [entry] = queue.cache_entries(count)
    assert entry.expires is not None and entry.stored is not None and entry.expires - entry.stored == 1
    deadline = time.time() + 10
    while time.time() <= entry.expires:  # the time to pass is what is tested
        assert time.time() < deadline
        time.sleep(0.05)
    assert count.enqueue((path, "t"), cache=1).join(timeout=30) == "t" and lines(path) == ["t", "t"]
    assert count.invalidate(path, "t") and not count.invalidate(path, "t")
    assert count.delay(path, "t").join(timeout=30) == "t" and lines(path) == ["t", "t", "t"]
    assert queue.clear_cache(count) == 1 and queue.cache_entries() == []
    assert count.delay(path, "t").join(timeout=30) == "t" and len(lines(path)) == 4


def test_lru_bound_keeps_the_recently_used(served, tmp_path):
    queue, _ = served
    count, path = queue.job("tests.jobs:count"), str(tmp_path / "runs")
    assert count is not None
    for name in ("a", "b", "a", "c"):  # a is used again after b: b is the least recently used when c comes
        assert count.delay(path, name).join(timeout=30) == name
    assert lines(path) == ["a", "b", "c"]
    assert len(queue.cache_entries(count)) == 2
    assert count.delay(path, "a").join(timeout=30) == "a" and lines(path) == ["a", "b", "c"]  # kept
    assert count.delay(path, "b").join(timeout=30) == "b" and lines(path) == ["a", "b", "c", "b"]  # evicted


def test_failures_are_not_cached_and_entries_outlive_the_worker(served, tmp_path):
    queue, restart = served
    flaky, path = queue.job("tests.jobs:flaky"), str(tmp_path / "calls")
    assert flaky is not None
    with pytest.raises(RuntimeError, match="failure 1 of 1"):
        flaky.delay(path, 1).join(timeout=30)
    assert queue.cache_entries(flaky) == []
    assert flaky.delay(path, 1).join(timeout=30) == 2  # ran again, and succeeded
    restart()
    assert flaky.delay(path, 1).join(timeout=30) == 2  # the new worker returns the stored result
    assert lines(path) == ["call", "call"]


def test_async_jobs_are_cached_too(served):
    queue, _ = served
    add = queue.job("tests.jobs:async_add")
    assert add is not None
    first = add.delay(2, 3)
    assert first.join(timeout=30) == 5
    again = add.delay(2, 3)
    assert again.join(timeout=30) == 5
    assert [e.event for e in again.history()] == ["queue", "dispatch", "cached", "done"]
    assert queue.cache_stats()["tests.jobs:async_add"] == CacheStats(hits=1, misses=1)


def test_process_jobs_are_cached_by_the_worker(served, tmp_path):
    queue, _ = served
    note, path = queue.job("tests.jobs:note"), str(tmp_path / "runs")
    assert note is not None
    first = note.delay(path, "p")
    assert first.join(timeout=60) == "p"
    [line] = lines(path)
    assert line.split()[0] == "p" and int(line.split()[1]) != os.getpid()  # run by a worker process
    again = note.delay(path, "p")
    assert again != first and again.join(timeout=30) == "p"
    assert lines(path) == [line]  # no worker process ran it again
    assert [e.event for e in again.history()] == ["queue", "dispatch", "cached", "done"]
    assert [e.detail for e in again.history() if e.event == "cached"] == [f"result of job {first.id}"]
    with pytest.raises(Exception, match="'str' object cannot be interpreted"):
        note.delay(path, "f", "no number").join(timeout=60)  # fails in its process, after its line
    with pytest.raises(Exception, match="'str' object cannot be interpreted"):
        note.delay(path, "f", "no number").join(timeout=60)  # not cached: it ran again
    assert [text.split()[0] for text in lines(path)] == ["p", "f", "f"]
    assert queue.cache_stats()["tests.jobs:note"] == CacheStats(hits=1, misses=3)


@pytest.mark.parametrize(("options", "message"), [
    (dict(cache=-1), "cache must be True, False or a finite number of seconds > 0, not -1 (job tests.jobs:square)"),
    (dict(cache=float("nan")), "cache must be True, False or a finite number of seconds > 0, not nan (job "
                               "tests.jobs:square)"),
    (dict(cache=5, cache_max=0), "cache_max must be a whole number >= 1, or None for no bound, not 0 (job "
                                 "tests.jobs:square)"),
])
def test_bad_cache_options_are_refused(in_process_store_url, options, message):
    queue = cache_queue(in_process_store_url)
    with pytest.raises(ValueError) as caught:
        queue.task(jobs.square, **options)
    assert str(caught.value) == message
    count = queue.job("tests.jobs:count")
    assert count is not None
    with pytest.raises(ValueError, match=r"cache must be True, False or a finite number of seconds > 0, not -3"):
        count.enqueue(("p", "x"), cache=-3)
    assert queue.list() == [] and queue.cache_entries() == []
    queue.close()


def test_concurrent_identical_submissions_share_one_run(in_process_store_url, tmp_path):
    queue = cache_queue(in_process_store_url)
    slow = queue.job("tests.jobs:wait_for_file")
    assert slow is not None
    release, started = tmp_path / "go", tmp_path / "started"
    handles = [slow.delay(str(release), str(started)) for _ in range(5)]
    assert len({h.id for h in handles}) == 1
    with contextlib.suppress(Exception):
        handles[0].cancel()
    queue.close()
