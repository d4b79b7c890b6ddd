"""Real worker processes against each store: draining, crashes, signals, timeouts, retries, bad jobs, the CLI,
and a graph whose driver is killed and rerun.

Each worker is ``python -m taskgraph worker tests.durable_app:queue`` started in the repository root with
``TASKGRAPH_APP_URL`` naming the test's store, its output in a file of ``tmp_path`` (printed when a test fails),
and killed at teardown if it is still there. Jobs write lines to files with ``tests.jobs.record`` (one atomic
``O_APPEND`` write each), so executions are counted independently of the store. Nothing sleeps to synchronise:
tests wait for those lines, for the store to show a status, for log lines or for a process to exit, each with a
deadline that only stops a broken run from hanging.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from taskgraph.durable.jobs import JobOptions
from taskgraph.stores.records import NewJob, label
from tests import durable_app, jobs
from tests.procs import (
    APP,
    ROOT,
    alive,
    enqueue_many,
    job,
    lines,
    logs_of,
    statuses,
    wait_for,
    wait_lines,
    worker_pool,
)

# ------------------------------------------------------------------ fixtures


@pytest.fixture
def q(store_url):
    """The test's own queue on the store, with every job of durable_app registered."""
    queue = durable_app.make_queue(store_url)
    yield queue
    queue.close()


@pytest.fixture
def spawn(store_url, tmp_path):
    """``spawn(*args, name=...)`` starts a worker on the test's store; all are killed at teardown and their
    output printed (shown by pytest when the test fails)."""
    with worker_pool(tmp_path) as start:
        yield lambda *args, name=None: start(store_url, *args, name=name)


@pytest.fixture
def files(tmp_path):
    """Paths for record, started and release files; the release file is created at teardown, so that a job
    still waiting for it anywhere ends."""
    paths = {name: tmp_path / name for name in ("record", "started", "release")}
    yield paths
    paths["release"].touch()


# ------------------------------------------------------------------ 1, 2: draining


def test_two_burst_workers_drain_200_jobs_each_once(q, spawn, files):
    record = files["record"]
    names = [f"job{i:03d}" for i in range(200)]
    ids = enqueue_many(q, jobs.count, [(str(record), n) for n in names])
    a, b = spawn("--burst", name="a"), spawn("--burst", name="b")
    assert a.wait(25) == 0, a.log()
    assert b.wait(25) == 0, b.log()
    assert sorted(lines(record)) == names  # each executed exactly once
    records = q.store.get(ids)
    assert [r.status for r in records] == ["DONE"] * 200
    assert [q.decode(r, r.result) for r in records] == names
    assert {r.attempts for r in records} == {1}
    assert q.stats() == {"default": {"DONE": 200}}


@pytest.mark.slow
def test_four_burst_workers_drain_2000_jobs_each_once(q, spawn, files):
    record = files["record"]
    names = [f"job{i:04d}" for i in range(2000)]
    ids = enqueue_many(q, jobs.count, [(str(record), n) for n in names])
    workers = [spawn("--burst", name=f"w{i}") for i in range(4)]
    for worker in workers:
        assert worker.wait(25) == 0, worker.log()
    assert sorted(lines(record)) == names  # counted by the jobs themselves, not by the store
    assert q.stats() == {"default": {"DONE": 2000}}
    records = q.store.get(ids)
    assert len(records) == 2000
    assert all(r.status == "DONE" and r.attempts == 1 for r in records)


# ------------------------------------------------------------------ 3: a worker killed mid-job


def test_sigkilled_worker_job_is_taken_back_after_its_lease(q, spawn, files):
    record, started, release = files["record"], files["started"], files["release"]
    others = [job(q, jobs.count).delay(str(record), f"c{i}") for i in range(5)]
    h = job(q, jobs.wait_for_file).delay(str(release), str(started))
    a = spawn("--lease", "3", name="a")
    wait_lines(started, 1, logs=a.log)
    wait_for(lambda: statuses(q, [o.id for o in others]) == ["DONE"] * 5, 10, "the other jobs DONE", a.log)
    running = h.record()
    assert running.status == "RUNNING" and running.attempts == 1
    worker_a = running.worker
    assert worker_a and f":{a.pid}:" in worker_a
    a.signal(signal.SIGKILL)
    assert a.wait(5) == -signal.SIGKILL

    b = spawn("--lease", "3", name="b")
    wait_lines(started, 2, timeout=15, logs=logs_of(a, b))
    release.touch()
    assert h.join(15) == "released"

    pids = [line.split()[1] for line in lines(started)]
    assert pids == [str(a.pid), str(b.pid)]  # run by A, then again by B
    done = h.record()
    assert done.status == "DONE"
    assert done.attempts == 2
    requeues = [e for e in h.history() if e.event == "requeue"]
    assert len(requeues) == 1, h.history()
    assert requeues[0].source == "RUNNING" and requeues[0].dest == "QUEUED"
    assert "expired" in (requeues[0].detail or "")
    assert worker_a in (requeues[0].detail or "") or requeues[0].worker == worker_a
    # at least once, and the only repeat is the job that was running when its worker died
    assert sorted(lines(record)) == [f"c{i}" for i in range(5)]
    assert all(o.record().attempts == 1 for o in others)


# ------------------------------------------------------------------ 4: SIGTERM


def test_sigterm_finishes_the_running_job_and_hands_back_the_rest(q, spawn, files):
    record, started, release = files["record"], files["started"], files["release"]
    h = job(q, jobs.wait_for_file).delay(str(release), str(started))
    held = [job(q, jobs.count).delay(str(record), f"held{i}") for i in range(3)]
    w = spawn("--threads", "1", "--grace", "20")
    wait_lines(started, 1, logs=w.log)
    # one thread: the blocking job runs, the others are claimed (RUNNING in the store) but wait for a slot
    assert statuses(q, [x.id for x in held]) == ["RUNNING"] * 3
    assert lines(record) == []

    w.signal(signal.SIGTERM)
    w.wait_log("signal 15")
    wait_for(lambda: statuses(q, [x.id for x in held]) == ["QUEUED"] * 3, 10, "the unstarted jobs handed back",
             w.log)
    late = job(q, jobs.count).delay(str(record), "late")  # after the signal: must not be claimed
    assert w.proc.poll() is None  # still waiting for the running job, within its grace
    assert h.status() == "RUNNING"

    release.touch()
    assert w.wait(15) == 0
    assert h.join(5) == "released"
    assert h.record().attempts == 1
    for x in held:
        r = x.record()
        assert r.status == "QUEUED" and r.attempts == 0, r  # handed back: the attempt is not counted
        assert r.worker is None
        assert [e.event for e in x.history()][-1] == "requeue"
    late_record = late.record()
    assert late_record.status == "QUEUED" and late_record.attempts == 0
    assert "dispatch" not in [e.event for e in late.history()]
    assert lines(record) == []  # none of them ran


def test_sigterm_grace_runs_out_job_handed_back_and_worker_exits_promptly(q, spawn, files):
    record, started, release = files["record"], files["started"], files["release"]
    h = job(q, jobs.wait_for_file).delay(str(release), str(started))
    w = spawn("--grace", "0.5")
    wait_lines(started, 1, logs=w.log)
    w.signal(signal.SIGTERM)
    signalled = time.monotonic()
    w.wait_log("signal 15")
    late = job(q, jobs.count).delay(str(record), "late")  # after the signal: must not be claimed
    assert w.wait(4) == 0  # grace 0.5 s, then out: not at the next heartbeat (lease / 3 = 10 s) or later
    assert time.monotonic() - signalled < 4
    r = h.record()
    assert r.status == "QUEUED", r
    assert r.attempts == 0  # release(): "RUNNING -> QUEUED, the attempt not counted"
    assert r.worker is None
    assert h.history()[-1].event == "requeue"
    assert late.record().status == "QUEUED"
    assert lines(record) == []


def test_sigterm_waits_for_a_daemon_thread_job_which_ends_once_and_is_not_run_again(q, spawn, files):
    """A thread cannot be stopped: a daemon thread job handed back at once would run on here while another worker
    ran it again. So a graceful stop waits for it, like any thread job, and it ends DONE, run once."""
    started, release = files["started"], files["release"]
    daemon = q.task(jobs.wait_for_file, daemon=True)
    h = daemon.delay(str(release), str(started))
    w = spawn("--grace", "20")
    wait_lines(started, 1, logs=w.log)
    w.signal(signal.SIGTERM)
    w.wait_log("signal 15")
    assert h.record().status == "RUNNING"  # not handed back while its thread runs
    release.touch()
    assert w.wait(10) == 0
    r = h.record()
    assert r.status == "DONE" and r.attempts == 1, r
    assert h.join(1) == "released"
    assert "requeue" not in [e.event for e in h.history()]
    assert len(lines(started)) == 1


def test_sigterm_kills_a_daemon_process_job_and_hands_it_back(q, spawn, files):
    started, release = files["started"], files["release"]
    daemon = q.task(jobs.wait_for_file, daemon=True, mode="process")
    h = daemon.delay(str(release), str(started))
    w = spawn("--grace", "20", "--processes", "1")
    [line] = wait_lines(started, 1, logs=w.log)
    child = int(line.split()[1])
    assert child != w.pid and alive(child)
    w.signal(signal.SIGTERM)
    assert w.wait(5) == 0
    r = h.record()
    assert r.status == "QUEUED" and r.attempts == 0, r
    wait_for(lambda: not alive(child), 5, f"the job's process {child} to be killed", w.log)


# ------------------------------------------------------------------ 5: a second signal


def test_second_sigterm_exits_at_once_and_the_lease_recovers_the_job(q, spawn, files):
    started, release = files["started"], files["release"]
    h = job(q, jobs.wait_for_file).delay(str(release), str(started))
    a = spawn("--lease", "3", "--grace", "20", name="a")
    wait_lines(started, 1, logs=a.log)
    worker_a = h.record().worker
    a.signal(signal.SIGTERM)
    a.wait_log("signal 15")  # the first one is handled: the worker is waiting for its job
    assert a.proc.poll() is None
    a.signal(signal.SIGTERM)
    assert a.wait(5) == 128 + signal.SIGTERM
    assert h.status() == "RUNNING"  # nobody has taken it back yet

    b = spawn("--lease", "3", name="b")
    wait_lines(started, 2, timeout=15, logs=logs_of(a, b))
    release.touch()
    assert h.join(15) == "released"
    assert [line.split()[1] for line in lines(started)] == [str(a.pid), str(b.pid)]
    r = h.record()
    assert r.status == "DONE" and r.attempts == 2
    requeues = [e for e in h.history() if e.event == "requeue"]
    assert len(requeues) == 1 and "expired" in (requeues[0].detail or "")
    assert worker_a in (requeues[0].detail or "") or requeues[0].worker == worker_a
    b.signal(signal.SIGTERM)
    assert b.wait(10) == 0


# ------------------------------------------------------------------ 6: timeouts kill processes


def test_process_job_past_its_timeout_is_killed_and_the_worker_goes_on(q, spawn, files, tmp_path):
    record = files["record"]
    w = spawn("--processes", "1")
    # a first process job starts the worker process, so that the timed job below starts in it at once
    assert job(q, jobs.cpu).delay(100).join(30) == sum(i * i for i in range(100))

    sleeper = q.task(jobs.sleep, mode="process", timeout=0.5)
    h = sleeper.delay(60, str(record))
    [line] = wait_lines(record, 1, logs=w.log)
    child = int(line.split()[1])
    assert line == f"start {child}" and child != w.pid
    r = wait_for(lambda: (r := h.record()).final and r, 10, "the timed-out job to end", w.log)
    assert r.status == "FAILED", r
    assert r.error["type"] == "builtins.TimeoutError"
    assert "timeout of 0.5" in r.error["message"]
    assert r.attempts == 1
    assert r.finished - r.started < 5, r  # killed at its timeout, not after its 60 s
    wait_for(lambda: not alive(child), 5, f"process {child} to be killed", w.log)
    with pytest.raises(TimeoutError, match="timeout of 0.5"):
        h.join(5)

    # the same worker runs further jobs, in a new process and in a thread
    assert q.task(jobs.pid, mode="process").delay().join(30) not in (child, w.pid)
    assert job(q, jobs.add).delay(2, 3).join(10) == 5
    assert lines(record) == [line]  # the killed job never reached its end
    assert w.proc.poll() is None

    # retried once, it is killed twice, then FAILED
    retried_record = tmp_path / "retried"
    retried = q.task(jobs.sleep, mode="process", timeout=0.5, retries=1, backoff=0.05)
    h2 = retried.delay(60, str(retried_record))
    r2 = wait_for(lambda: (r := h2.record()).final and r, 15, "the retried job to end", w.log)
    assert r2.status == "FAILED" and r2.attempts == 2
    assert r2.error["type"] == "builtins.TimeoutError"
    starts = lines(retried_record)
    # the second attempt starts in a new process, whose start-up counts against the timeout (see the next test):
    # under load it can be killed before the function starts
    assert 1 <= len(starts) <= 2 and all(s.startswith("start ") for s in starts)
    for pid in {int(s.split()[1]) for s in starts}:
        wait_for(lambda pid=pid: not alive(pid), 5, f"process {pid} to be killed", w.log)
    assert [e.event for e in h2.history()].count("retry") == 1
    w.signal(signal.SIGTERM)
    assert w.wait(10) == 0


def test_process_job_timeout_does_not_count_its_process_starting(q, spawn, files):
    """A process job's timeout limits how long it runs, not how long the worker takes to start a process for it
    (spawn, import the app, open the store: longer than 0.1 s)."""
    record = files["record"]
    quick = q.task(jobs.sleep, mode="process", timeout=0.1)
    h = quick.delay(0, str(record))  # returns at once
    w = spawn("--processes", "1")  # no process yet: the job is the first
    r = wait_for(lambda: (r := h.record()).final and r, 20, "the job to end", w.log)
    assert [line.split()[0] for line in lines(record)] == ["start", "end"], (r, w.log())
    assert r.status == "DONE", (r, w.log())


# ------------------------------------------------------------------ 7: retries


def test_retries_across_a_real_worker(q, spawn, tmp_path):
    flaky = job(q, jobs.flaky)  # retries=3, backoff=0.05
    calls_ok, calls_bad = tmp_path / "calls-ok", tmp_path / "calls-bad"
    ok = flaky.delay(str(calls_ok), 2)
    bad = flaky.delay(str(calls_bad), 10)
    w = spawn()
    assert ok.join(20) == 3
    assert ok.record().attempts == 3
    assert [e.event for e in ok.history()].count("retry") == 2
    with pytest.raises(RuntimeError, match="failure 4 of 10") as caught:
        bad.join(20)
    r = bad.record()
    assert r.status == "FAILED" and r.attempts == 4
    assert len(lines(calls_bad)) == 4
    assert r.error["type"] == "builtins.RuntimeError"
    assert "Traceback (most recent call last)" in r.error["traceback"]
    assert "in flaky" in r.error["traceback"] and "RuntimeError: failure 4 of 10" in r.error["traceback"]
    assert "in flaky" in str(caught.value.__cause__)  # the worker's traceback chained to the rebuilt exception
    events = [e.event for e in bad.history()]
    assert events.count("retry") == 3 and events[-1] == "fail"
    assert w.proc.poll() is None


# ------------------------------------------------------------------ 8: jobs a worker cannot run


def test_undecodable_and_unknown_jobs_fail_clearly_and_the_worker_goes_on(q, spawn):
    json_options = JobOptions().stored("json")
    call = q.serializer.encode_call("x", (1, 2), {})
    unknown = NewJob(id=uuid.uuid4().hex, name="tests.durable_app:nope", payload=call, options=json_options)
    garbage = NewJob(id=uuid.uuid4().hex, name="tests.jobs:add", payload=b"\x00garbage", options=json_options)
    pickled = NewJob(id=uuid.uuid4().hex, name="tests.jobs:add",
                     payload=pickle.dumps({"v": 1, "args": [1, 2], "kwargs": {}}),
                     options=JobOptions().stored("pickle"))
    q.store.enqueue([unknown, garbage, pickled])
    good = job(q, jobs.add).delay(2, 3)
    w = spawn()
    assert good.join(15) == 5
    ids = [unknown.id, garbage.id, pickled.id]
    wait_for(lambda: all(r.final for r in q.store.get(ids)), 10, "the bad jobs to end", w.log)
    by_id = {r.id: r for r in q.store.get(ids)}

    r = by_id[unknown.id]
    assert r.status == "FAILED" and r.error["type"] == "builtins.LookupError", r
    assert "tests.durable_app:nope" in r.error["message"] and "no job named" in r.error["message"]

    r = by_id[pickled.id]
    assert r.status == "FAILED" and r.error["type"] == "taskgraph.errors.SerializationError", r
    assert "pickle" in r.error["message"]

    log = w.output.read_text()
    for job_id in ids:
        assert f"job {job_id}" in log and "cannot run" in log, w.log()
    assert w.proc.poll() is None
    w.signal(signal.SIGTERM)
    assert w.wait(10) == 0

    # a payload that is not even JSON: FAILED, with a message that says what is wrong with it
    r = by_id[garbage.id]
    assert r.status == "FAILED", r
    assert "payload" in r.error["message"].lower(), r.error


# ------------------------------------------------------------------ 9: the CLI's user errors


def run_cli(*args: str, url: str | None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TASKGRAPH_APP_URL"}
    if url is not None:
        env["TASKGRAPH_APP_URL"] = url
    return subprocess.run([sys.executable, "-m", "taskgraph", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def error_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error")]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("nosuchmodule:queue", "cannot import module 'nosuchmodule'"),
        ("tests.jobs:add", "not a durable queue"),
        ("tests.durable_app", "MODULE:ATTRIBUTE"),
        ("tests.durable_app:nothing", "has no attribute 'nothing'"),
    ],
)
def test_cli_worker_refuses_a_bad_app(spec, expected, tmp_path):
    done = run_cli("worker", spec, "--burst", url=f"sqlite:///{tmp_path / 'jobs.db'}")
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output
    [line] = error_lines(done)
    assert expected in line and spec in line, output


def test_cli_worker_help():
    done = run_cli("worker", "--help", url=None)
    assert done.returncode == 0, done.stderr
    for option in ("--threads", "--processes", "--queues", "--lease", "--grace", "--batch", "--burst"):
        assert option in done.stdout


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param("sqlite:////nonexistent-taskgraph-folder/sub/jobs.db", "/nonexistent-taskgraph-folder/sub",
                     id="sqlite"),
        pytest.param("redis://127.0.0.1:1/0", "redis://127.0.0.1:1/0", id="redis"),
        pytest.param("redis://:secret@127.0.0.1:1/0", "127.0.0.1:1", id="redis-password"),
        pytest.param("postgresql://user:secret@127.0.0.1:1/x", "127.0.0.1:1", id="postgresql"),
    ],
)
def test_cli_worker_unreachable_store(url, shown):
    started = time.monotonic()
    done = run_cli("worker", APP, "--burst", url=url)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output
    [line] = error_lines(done)
    assert shown in line, output
    assert "secret" not in output
    assert time.monotonic() - started < 25


# ------------------------------------------------------------------ 10: a graph whose driver is killed


DRIVER = """
import sys

from taskgraph import Task, make_now
from tests import durable_app, jobs

url, record, release, started = sys.argv[1:5]
queue = durable_app.make_queue(url)
a = Task("a", jobs.count, args=(record, "a"))
b = Task("b", jobs.count, args=(record, "b")).require(a)
c = Task("c", jobs.count, args=(record, "c")).require(b)
d = Task("d", jobs.count, args=(record, "d")).require(b)
block = Task("block", jobs.wait_for_file, args=(release, started)).require(c, d)
e = Task("e", jobs.count, args=(record, "e")).require(block)
f = Task("f", jobs.count, args=(record, "f")).require(e, c)
tasks = [a, b, c, d, block, e, f]
make_now(*tasks, queue=queue)
print(" ".join(f"{t.name}={t.state.value}:{t.result}" for t in tasks), flush=True)
queue.close()
sys.exit(0 if all(t.state == "DONE" for t in tasks) else 1)
"""


def test_killed_graph_driver_reruns_without_running_done_tasks_again(q, spawn, files, tmp_path, store_url):
    record, started, release = files["record"], files["started"], files["release"]
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(DRIVER))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TASKGRAPH_APP_URL": store_url}
    command = [sys.executable, str(script), store_url, str(record), str(release), str(started)]
    w = spawn()
    first_out = tmp_path / "driver-1.log"
    with open(first_out, "wb") as out:
        driver = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_lines(started, 1, logs=lambda: w.log() + "\n" + first_out.read_text())
        assert sorted(lines(record)) == ["a", "b", "c", "d"]
        by_key = {label(r.key): r for r in q.list(limit=1000) if r.key}
        assert {k: r.status for k, r in by_key.items()} == {
            "a": "DONE", "b": "DONE", "c": "DONE", "d": "DONE", "block": "RUNNING"}
        driver.kill()
        assert driver.wait(10) == -signal.SIGKILL
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait(10)
    release.touch()

    second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=25)
    assert second.returncode == 0, second.stdout + second.stderr + "\n" + w.log()
    assert second.stdout.split() == ["a=DONE:a", "b=DONE:b", "c=DONE:c", "d=DONE:d", "block=DONE:released",
                                     "e=DONE:e", "f=DONE:f"]
    assert sorted(lines(record)) == ["a", "b", "c", "d", "e", "f"]  # each once, in total
    assert len(lines(started)) == 1  # the blocking task ran once too
    by_key = {label(r.key): r for r in q.list(limit=1000) if r.key}
    assert {k: (r.status, r.attempts) for k, r in by_key.items()} == {
        k: ("DONE", 1) for k in ("a", "b", "c", "d", "block", "e", "f")}
    w.signal(signal.SIGTERM)
    assert w.wait(10) == 0
