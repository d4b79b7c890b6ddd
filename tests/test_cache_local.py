"""The result cache of direct calls, on every store: a cached job called here (``count(path, "a")``, as a local
graph's task calls it) uses and fills the same entries as a worker's runs, so a result computed by either is a hit
for the other; ttl, failures and async jobs as on a worker; a graph's tasks use the cache, locally and on workers.
Runs are counted by the jobs' O_APPEND files, not by the store."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
import threading
import time

import pytest
from click.testing import CliRunner

from taskgraph import CacheStats, Task, make_now, open_queue
from taskgraph.cli import main
from taskgraph.durable.cache import cache_key, space_of
from tests.cache_app import cache_queue
from tests.jobs import Boom, lines
from tests.procs import wait_lines
from tests.test_cache import served  # noqa: F401 - the fixture: a queue served by a worker

HERE = f"{socket.gethostname()}:{os.getpid()}"


def test_direct_calls_miss_then_hit_and_say_where_they_ran(in_process_store_url, tmp_path):
    queue = cache_queue(in_process_store_url)
    count, path = queue.job("tests.jobs:count"), str(tmp_path / "runs")
    assert count is not None
    assert count(path, "a") == "a" and count(path, "a") == "a"
    assert lines(path) == ["a"]
    assert queue.cache_stats()["tests.jobs:count"] == CacheStats(hits=1, misses=1)
    [entry] = queue.cache_entries(count)
    assert (entry.source, entry.local, entry.origin, entry.state) == (None, HERE, f"a local call on {HERE}", "done")
    assert entry.expires is not None and entry.stored is not None and entry.expires - entry.stored == 60
    for name in ("b", "c", "a"):  # cache_max=2: a, used before b and c, was dropped for c, and runs again
        assert count(path, name) == name
    assert lines(path) == ["a", "b", "c", "a"] and len(queue.cache_entries(count)) == 2
    assert count.invalidate(path, "c") and count(path, "c") == "c" and lines(path)[-1] == "c"
    if not in_process_store_url.startswith("memory://"):  # the CLI opens the store in this process
        listed = CliRunner().invoke(main, ["cache", in_process_store_url, "list"], catch_exceptions=False).output
        assert f"done  from a local call on {HERE}  expires in " in listed
    with pytest.raises(TypeError, match="job tests.jobs:count: missing a required argument: 'name'"):
        count(path)
    queue.close()


def test_ttl_failures_and_async_jobs_of_direct_calls(in_process_store_url, tmp_path):
    queue = cache_queue(in_process_store_url)
    trace, atrace, path = queue.job("tests.jobs:trace"), queue.job("tests.jobs:atrace"), str(tmp_path / "runs")
    assert trace is not None and atrace is not None
    with pytest.raises(Boom):
        trace(path, "f", True)
    with pytest.raises(Boom):
        trace(path, "f", True)  # a failure is not stored: it ran again
    assert lines(path) == ["start f", "end f"] * 2 and queue.cache_entries(trace) == []
    assert trace(path, "t") == "t" and trace(path, "t") == "t" and len(lines(path)) == 6
    [entry] = queue.cache_entries(trace)
    assert entry.expires is not None
    deadline = time.time() + 10
    while time.time() <= entry.expires:  # the time to pass (ttl 1 s) is what is tested
        assert time.time() < deadline
        time.sleep(0.05)
    assert trace(path, "t") == "t" and len(lines(path)) == 8
    calls = [atrace(path, "x"), atrace(path, "x")]  # coroutines, run one after the other
    assert [asyncio.run(c) for c in calls] == ["x", "x"]
    assert lines(path)[8:] == ["start x", "end x"]
    assert queue.cache_stats()["tests.jobs:atrace"] == CacheStats(hits=1, misses=1)
    queue.close()


def test_a_workers_result_is_a_direct_calls_hit_and_back(served, tmp_path):  # noqa: F811
    queue, _ = served
    count, path = queue.job("tests.jobs:count"), str(tmp_path / "runs")
    assert count is not None
    assert count.delay(path, "w").join(timeout=30) == "w"
    assert count(path, "w") == "w" and lines(path) == ["w"]  # the worker's result
    assert count(path, "l") == "l" and lines(path) == ["w", "l"]  # run here
    hit = count.delay(path, "l")
    assert hit.join(timeout=30) == "l" and lines(path) == ["w", "l"]  # the worker returned this call's result
    assert [e.detail for e in hit.history() if e.event == "cached"] == [f"result of a local call on {HERE}"]
    assert queue.cache_stats()["tests.jobs:count"] == CacheStats(hits=2, misses=2)


@pytest.mark.parametrize("local", ["inline:", "threads://2", "asyncio:"])
def test_a_local_graph_runs_an_equal_call_once(in_process_store_url, tmp_path, local):
    queue = cache_queue(in_process_store_url)
    count, atrace, path = queue.job("tests.jobs:count"), queue.job("tests.jobs:atrace"), str(tmp_path / "runs")
    first, second = Task("first", count, args=(path, "g")), Task("second", count, args=(path, "g"))
    second.require(first)
    make_now(first, second, queue=local)
    assert (first.result, second.result) == ("g", "g") and lines(path) == ["g"]
    if local == "asyncio:":  # an async job's task is awaited on the loop, and cached as well
        one, two = Task("one", atrace, args=(path, "a")), Task("two", atrace, args=(path, "a"))
        two.require(one)
        make_now(one, two, queue=local)
        assert (one.result, two.result) == ("a", "a") and lines(path) == ["g", "start a", "end a"]
    queue.close()


def test_equal_tasks_at_once_both_run(in_process_store_url, tmp_path):
    """Documented: direct calls take no pending mark, so two equal tasks running at once both miss and run."""
    queue = cache_queue(in_process_store_url)
    wait = queue.job("tests.jobs:wait_for_file")
    release, started = tmp_path / "go", tmp_path / "started"
    tasks = [Task(name, wait, args=(str(release), str(started))) for name in ("a", "b")]
    threads = open_queue("threads://2")
    making = threading.Thread(target=make_now, args=tasks, kwargs={"queue": threads})
    making.start()
    wait_lines(started, 2)  # both are running: neither found a result
    release.touch()
    making.join(30)
    assert [t.result for t in tasks] == ["released", "released"]
    assert wait(str(release), str(started)) == "released" and len(lines(started)) == 2  # now a hit
    threads.close()
    queue.close()


def test_graph_tasks_on_workers_use_the_cache(served, tmp_path):  # noqa: F811
    queue, _ = served
    count, path = queue.job("tests.jobs:count"), str(tmp_path / "runs")
    assert count(path, "d") == "d"
    task = Task("d", count, args=(path, "d"))
    make_now(task, queue=queue)
    assert task.result == "d" and lines(path) == ["d"]  # the worker's job returned the stored result
    assert queue.cache_stats()["tests.jobs:count"] == CacheStats(hits=1, misses=1)


def test_a_direct_call_runs_uncached_when_its_entry_cannot_be_read(in_process_store_url, tmp_path, caplog):
    queue = cache_queue(in_process_store_url)
    count, path = queue.job("tests.jobs:count"), str(tmp_path / "runs")
    assert count is not None
    key = cache_key(queue, count.name, (path, "x"), {}, "")
    damaged = json.dumps({"state": "done", "serializer": "json", "result": "not base64!"}).encode()
    queue.store.entry_put(space_of(count.name), key, damaged, time.time())
    with caplog.at_level(logging.WARNING, logger="taskgraph.worker"):
        assert count(path, "x") == "x"
    assert lines(path) == ["x"]
    [message] = [r.getMessage() for r in caplog.records]
    assert re.fullmatch(r"a direct call of tests\.jobs:count: the result cache cannot be read \(Error: .+\); "
                        "running it", message)
    [entry] = queue.cache_entries(count)
    assert (entry.source, entry.local) == (None, None)  # left as found: an uncached run does not store
    queue.close()
