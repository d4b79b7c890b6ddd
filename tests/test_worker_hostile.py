"""A worker under conditions that used to hurt it: killed while a process job runs, a cancel of a running async
job under a long lease, CPU-bound thread jobs starving its heartbeats, and a stored record that names a mode its
function cannot run in. Real worker subprocesses (``taskgraph worker tests.context_app:queue``) on each store.
"""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest

from taskgraph.durable.worker import Worker
from taskgraph.errors import CancelledError, RefusedJob
from taskgraph.stores.records import NewJob
from tests import context_app
from tests.context_app import named
from tests.jobs import lines
from tests.procs import alive, wait_for, wait_lines, worker_pool


@pytest.fixture
def q(store_url, monkeypatch):
    monkeypatch.setenv("TASKGRAPH_APP_URL", store_url)
    queue = context_app.make_queue(store_url)
    yield queue
    queue.close()


@pytest.fixture
def spawn(store_url, tmp_path):
    with worker_pool(tmp_path, app=context_app.APP) as start:
        yield lambda *args, name=None: start(store_url, *args, name=name)


@pytest.fixture
def files(tmp_path):
    paths = {name: tmp_path / name for name in ("record", "started", "release")}
    yield paths
    paths["release"].touch()




def test_a_process_job_dies_with_its_worker_when_the_worker_alone_is_killed(q, spawn, files):
    started, release = files["started"], files["release"]
    named(q, context_app.child_then_wait).delay(str(started), str(release))
    w = spawn("--processes", "1", "--threads", "1")
    [line] = wait_lines(started, 1, logs=w.log)
    child = int(line.split()[1])
    assert child != w.pid and alive(child)
    os.kill(w.pid, signal.SIGKILL)  # the worker alone, not its process group
    killed = time.monotonic()
    w.wait(5)
    wait_for(lambda: not alive(child), 5, f"the job's process {child} to end", w.log)
    assert time.monotonic() - killed < 1.0, "the job's process outlived its worker by a second or more"


def test_cancelling_a_running_async_job_stops_it_within_a_second_under_a_long_lease(q, files):
    started, release = files["started"], files["release"]
    h = named(q, context_app.await_release).delay(str(started), str(release))
    worker = Worker(q, threads=1, lease=30.0).start()  # heartbeats every 10 s: not what stops it
    try:
        wait_lines(started, 1)
        assert h.cancel() is True
        cancelled = time.monotonic()
        wait_lines(started, 2, timeout=10)
        took = time.monotonic() - cancelled
        assert lines(started) == ["started", "cancelled"]
        assert took < 1.5, f"the coroutine was cancelled {took:.2f} s after the job"
        wait_for(lambda: not worker.snapshot().running, 5, "the worker to let the run go")
    finally:
        assert worker.stop().wait(15) == 0
    with pytest.raises(CancelledError):
        h.join(5)


@pytest.mark.slow
def test_cpu_bound_thread_jobs_do_not_starve_the_heartbeat_at_the_shortest_lease(q, spawn, files):
    """The shortest lease the command takes (``--lease 3``; 0.1 was once allowed), which the heartbeat thread keeps
    while eight threads per worker, in three workers on the machine, hold the GIL in pure Python: no lease is lost,
    every job runs once. (Before, these workers lost nearly every lease and ran jobs two and three times.)"""
    record = files["record"]
    names = [f"burn{i:02d}" for i in range(60)]
    handles = [named(q, context_app.burn).delay(1.0, str(record), n) for n in names]
    workers = [spawn("--lease", "3", "--threads", "8", "--burst") for _ in range(3)]
    for w in workers:
        assert w.wait(90) == 0, w.log()
    assert sorted(lines(record)) == names  # each ran once
    records = [h.record() for h in handles]
    assert [(r.status, r.attempts, r.lease_losses) for r in records] == [("DONE", 1, 0)] * len(names)


def test_a_lease_shorter_than_heartbeats_can_keep_is_refused_by_the_command(q, spawn):
    worker = spawn("--lease", "0.1", "--burst")
    assert worker.wait(30) == 2
    assert "Invalid value for '--lease': 0.1 is not in the range x>=3.0." in worker.log()


@pytest.mark.parametrize(("func", "stored", "registered"), [
    (context_app.burn, "async", "thread"), (context_app.awhoami, "thread", "async"),
])
def test_a_record_naming_another_mode_than_the_registration_is_refused_before_running(q, spawn, files, func,
                                                                                       stored, registered):
    record = files["record"]
    found = named(q, func)
    args = (0.0, str(record), "ran") if func is context_app.burn else ()
    job_id = uuid.uuid4().hex
    q.store.enqueue([NewJob(id=job_id, name=found.name, payload=q.serializer.encode_call(found.name, args, {}),
                            options={**found.options.stored(q.serializer.name), "mode": stored})])
    after = named(q, context_app.whoami).delay()  # the worker goes on serving
    w = spawn("--burst", "--threads", "1")
    assert w.wait(30) == 0, w.log()
    [bad] = q.store.get([job_id])
    assert bad.status == "FAILED" and bad.error is not None
    assert bad.error["type"] == f"{RefusedJob.__module__}.{RefusedJob.__qualname__}"
    assert f"its stored mode is {stored!r}, but {found.name} is registered with mode {registered!r}" in \
        bad.error["message"]
    assert lines(record) == []  # nothing ran
    assert after.join(5)["attempt"] == 1
