"""The durable-queue API, against each store: jobs, handles, workers, and graphs through the store.

Every test gets an empty store of each kind, ``memory://`` included (the ``store_url`` fixture), and a queue on
it with the jobs of :mod:`tests.durable_app` registered. Jobs are run by a
:class:`~taskgraph.durable.worker.Worker` in a thread of this process: ``burst`` runs one until the served queues
hold no unfinished job; ``serving`` runs one in the background for the length of a ``with`` block (graphs:
``make_now`` blocks while the worker runs).
Process-mode jobs need ``app="tests.durable_app:queue"`` and ``TASKGRAPH_APP_URL``: see ``process_worker``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

import taskgraph
from taskgraph import (
    BlockedError,
    CancelledError,
    Progress,
    RemoteTaskError,
    SerializationError,
    StoreError,
    Task,
    make_now,
    open_queue,
    progress,
)
from taskgraph.durable.worker import Worker
from taskgraph.stores.records import NewJob, rebuild_error
from tests import jobs
from tests.durable_app import make_queue
from tests.jobs import lines
from tests.procs import job, wait_for

APP = "tests.durable_app:queue"

# ------------------------------------------------------------------ helpers


def with_query(url: str, query: str) -> str:
    """``url`` with ``query`` added to its query string."""
    return f"{url}{'&' if '?' in url else '?'}{query}"


@pytest.fixture
def store_url(in_process_store_url):
    """Every store, memory:// too: these tests run their workers in this process."""
    return in_process_store_url


@pytest.fixture
def q(store_url):
    queue = make_queue(store_url)
    yield queue
    queue.close()


def _start(worker: Worker, burst_mode: bool) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            worker.run(burst=burst_mode)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True, name="test-worker")
    thread.start()
    return thread, errors


def burst(queue, timeout: float = 30.0, **options: Any) -> Worker:
    """Run a worker in a thread until the queues it serves hold no unfinished job; fail after ``timeout``."""
    options.setdefault("threads", 2)
    worker = Worker(queue, **options)
    thread, errors = _start(worker, True)
    thread.join(timeout)
    assert not thread.is_alive() and not errors, f"the burst worker did not finish within {timeout} s: {errors}"
    return worker


@contextlib.contextmanager
def serving(queue, **options: Any):
    """A non-burst worker in a thread for the length of the block."""
    options.setdefault("threads", 2)
    worker = Worker(queue, **options)
    thread, errors = _start(worker, False)
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(15)
    assert not thread.is_alive() and not errors, f"the worker did not stop cleanly: {errors}"


@pytest.fixture
def process_worker(store_url, monkeypatch):
    """Options for a Worker that runs process-mode jobs: its children open the test's store."""
    monkeypatch.setenv("TASKGRAPH_APP_URL", store_url)
    return {"app": APP, "processes": 1, "threads": 1}


def events(handle) -> list[str]:
    return [e.event for e in handle.history()]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def raw_job(queue, name: str, payload: bytes) -> str:
    """Put a job straight into the store, bypassing every check of the queue; return its id."""
    [record] = queue.store.enqueue([NewJob(id=uuid.uuid4().hex, name=name, payload=payload)])
    return record.id


async def _top_level_async() -> None:
    pass


def _top_level_plain() -> None:
    pass


# ------------------------------------------------------------------ @q.task


def test_task_refuses_functions_a_worker_cannot_run(q):
    with pytest.raises(TypeError, match="lambda.*import path"):
        q.task(lambda x: x)

    def nested() -> None:
        pass

    with pytest.raises(TypeError, match="defined inside another function"):
        q.task(mode="thread")(nested)
    for mode in ("thread", "process"):
        with pytest.raises(TypeError, match="_top_level_async is an async def function: declare it with mode='async'"):
            q.task(_top_level_async, mode=mode)
    with pytest.raises(TypeError, match="_top_level_plain has mode='async' but is not an async def"):
        q.task(_top_level_plain, mode="async")
    assert q.job("tests.test_durable:_top_level_plain") is None


@pytest.mark.parametrize(
    "options, named",
    [
        ({"mode": "fork"}, "mode"),
        ({"retries": -1}, "retries"),
        ({"retries": 1.5}, "retries"),
        ({"backoff": -1}, "backoff"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -3}, "timeout"),
        ({"queue": ""}, "queue"),
    ],
)
def test_task_refuses_bad_options(q, options, named):
    with pytest.raises(ValueError, match=f"^{named} must be"):
        q.task(jobs.add, **options)
    with pytest.raises(ValueError, match=f"^{named} must be"):
        q.task(**options)(jobs.add)


def test_task_defaults_and_local_call(q):
    assert q.task(jobs.async_add).options.mode == "async"
    added = q.task(jobs.add)
    assert added.options.mode == "thread"
    assert added.name == "tests.jobs:add"
    assert q.job("tests.jobs:add") is added
    assert added(2, 3) == 5  # runs here, enqueues nothing
    assert asyncio.run(job(q, jobs.async_add)(1, 2)) == 3
    assert q.stats() == {}
    assert q.list() == []


# ------------------------------------------------------------------ delay, join, resolve


def test_delay_join_round_trip(q):
    add = job(q, jobs.add)
    h = add.delay([1, {"k": None, "é": True}], [2.5, "x"])
    hk = add.delay(a=4, b=5)
    ha = job(q, jobs.async_add).delay(1, b=2)
    assert h.status() == "QUEUED"
    assert not h
    assert h.progress is None
    assert q.get(h.id) == h
    with pytest.raises(TimeoutError, match=h.id):
        h.join(timeout=0.01)
    with pytest.raises(TimeoutError, match=h.id):
        asyncio.run(h.resolve(0.01))
    burst(q)
    assert h.status() == "DONE"
    assert h
    assert h.join() == [1, {"k": None, "é": True}, 2.5, "x"]
    assert hk.join(timeout=5) == 9
    assert ha.join(timeout=5) == 3
    assert asyncio.run(h.resolve(5)) == [1, {"k": None, "é": True}, 2.5, "x"]
    assert events(h) == ["queue", "dispatch", "done"]
    assert h.cancel() is False
    assert h.status() == "DONE"


def test_unencodable_argument_refused_at_delay(q):
    add = job(q, jobs.add)
    add.delay(0, 0)
    before = q.stats()
    with pytest.raises(SerializationError, match=r"argument 1 \(set") as info:
        add.delay(1, {1, 2})
    assert "tests.jobs:add" in str(info.value)
    assert "serializer=pickle" in str(info.value)
    with pytest.raises(SerializationError, match=r"keyword argument 'b' \(object"):
        add.delay(a=1, b=object())
    with pytest.raises(SerializationError, match="argument 0"):
        job(q, jobs.sleep).schedule(1.0, float("nan"))
    assert q.stats() == before
    assert len(q.list()) == 1


def test_pickle_queue_end_to_end_and_json_side_refuses_it(store_url):
    pq = make_queue(with_query(store_url, "serializer=pickle"))
    jq = make_queue(store_url)
    try:
        start = datetime(2024, 2, 28, 12, 0)
        ran = job(pq, jobs.add).delay(start, timedelta(days=1))
        # a json worker refuses a job written with pickle, and fails it saying so
        refused = job(pq, jobs.add).delay({1}, {2})
        burst(jq)
        assert refused.status() == "FAILED"
        assert ran.status() == "FAILED"
        with pytest.raises(SerializationError, match="written with pickle.*serializer=pickle"):
            refused.join(timeout=5)
        # a pickle worker runs it
        again = job(pq, jobs.add).delay(start, timedelta(days=1))
        burst(pq)
        assert again.join(timeout=5) == datetime(2024, 2, 29, 12, 0)
        # a json client will not load its pickled result
        with pytest.raises(SerializationError, match="written with pickle"):
            jq.get(again.id).join(timeout=5)
    finally:
        pq.close()
        jq.close()


def test_json_process_worker_refuses_pickled_process_job(q, store_url, process_worker):
    pq = make_queue(with_query(store_url, "serializer=pickle"))
    try:
        h = job(pq, jobs.cpu).delay(10)  # a process-mode job
        burst(q, timeout=20, **process_worker)
        assert h.status() == "FAILED"
        with pytest.raises(SerializationError, match="written with pickle.*serializer=pickle"):
            h.join(timeout=5)
    finally:
        pq.close()


# ------------------------------------------------------------------ failures


def test_join_reraises_worker_exceptions_with_traceback(q):
    handles = {
        ValueError: (job(q, jobs.fail).delay("bad value"), "bad value", "raise ValueError(message)"),
        KeyError: (job(q, jobs.fail_with).delay("KeyError", "k"), "'k'", "fail_with"),
        ZeroDivisionError: (job(q, jobs.fail_with).delay("ZeroDivisionError", "zero"), "zero", "fail_with"),
        OSError: (job(q, jobs.fail_with).delay("OSError", "disk"), "disk", "fail_with"),
    }
    burst(q)
    for kind, (h, message, line) in handles.items():
        assert h.status() == "FAILED"
        with pytest.raises(Exception) as info:  # noqa: B017,PT011 - the exact type is checked next
            h.join(timeout=5)
        assert type(info.value) is kind
        assert str(info.value) == message
        cause = str(info.value.__cause__)
        assert "jobs.py" in cause and line in cause, cause
        assert h.record().error["type"] == f"builtins.{kind.__name__}"
        assert h.record().attempts == 1


def test_exception_the_client_cannot_rebuild_is_a_remote_task_error(q):
    h = job(q, jobs.fail_custom).delay()
    burst(q)
    error = h.record().error
    assert error["attrs"] == {"code": 7} and error["args"] == ["code 7 at the worker"]
    error["type"] = "tests.not_imported.Custom"  # as if the module that defines it were not imported here
    with pytest.raises(RemoteTaskError) as info:
        raise rebuild_error(error)
    err = info.value
    assert err.type_name == "tests.not_imported.Custom"
    assert err.message == "code 7 at the worker"
    assert "jobs.py" in err.traceback and "raise Custom(7" in err.traceback


def test_unencodable_result_fails_the_job(q):
    h = job(q, jobs.unencodable_result).delay()
    burst(q)
    assert h.status() == "FAILED"
    assert h.record().error["type"] == "taskgraph.errors.SerializationError"
    with pytest.raises(SerializationError, match=r"'tests.jobs:unencodable_result'.*result \(set"):
        h.join(timeout=5)


# ------------------------------------------------------------------ retries


def test_retries_until_success(q, tmp_path):
    path = tmp_path / "calls"
    h = job(q, jobs.flaky).delay(str(path), 2)
    burst(q)
    assert h.join(timeout=5) == 3
    assert lines(path) == ["call"] * 3
    assert h.record().attempts == 3
    history = h.history()
    assert [e.event for e in history] == ["queue", "dispatch", "retry", "dispatch", "retry", "dispatch", "done"]
    retries = [e for e in history if e.event == "retry"]
    assert "failure 1 of 2" in retries[0].detail and "failure 2 of 2" in retries[1].detail
    assert all(e.source == "RUNNING" and e.dest == "QUEUED" for e in retries)
    # the backoff was waited: 0.05 s, then 0.1 s
    dispatches = [e.at for e in history if e.event == "dispatch"]
    assert dispatches[1] - retries[0].at >= 0.05 - 1e-3
    assert dispatches[2] - retries[1].at >= 0.1 - 1e-3


def test_retries_spent_leave_the_last_error(q, tmp_path):
    path = tmp_path / "calls"
    h = job(q, jobs.flaky).delay(str(path), 10)
    burst(q)
    assert h.status() == "FAILED"
    assert lines(path) == ["call"] * 4  # one run and three retries
    assert h.record().attempts == 4
    assert events(h).count("retry") == 3 and events(h)[-1] == "fail"
    with pytest.raises(RuntimeError, match="^failure 4 of 10$") as info:
        h.join(timeout=5)
    assert "in flaky" in str(info.value.__cause__)
    assert "failure 4 of 10" in h.record().error["traceback"]


# ------------------------------------------------------------------ timeouts


def test_thread_job_timeout(q):
    sleep = q.task(jobs.sleep, timeout=0.2)
    h = sleep.delay(1.0)
    begun = time.monotonic()
    burst(q)
    assert time.monotonic() - begun < 0.9  # failed at its timeout, not when the thread ended
    assert h.status() == "FAILED"
    with pytest.raises(TimeoutError, match="timeout of 0.2 s"):
        h.join(timeout=5)
    assert h.record().error["type"] == "builtins.TimeoutError"


def test_process_job_is_killed_at_its_timeout(q, tmp_path, process_worker):
    path = tmp_path / "sleep"
    cpu = job(q, jobs.cpu)
    warm = cpu.delay(10)  # starts the worker process, so the sleeping job runs from its first moment
    sleeper = q.task(jobs.sleep, mode="process", timeout=0.3).delay(30, str(path))
    after = cpu.delay(100)
    begun = time.monotonic()
    burst(q, timeout=20, **process_worker)
    assert time.monotonic() - begun < 10
    assert warm.join(timeout=5) == sum(i * i for i in range(10))
    assert sleeper.status() == "FAILED"
    with pytest.raises(TimeoutError, match="timeout of 0.3 s"):
        sleeper.join(timeout=5)
    assert after.join(timeout=5) == sum(i * i for i in range(100))  # the worker served the next job
    [started] = lines(path)  # it started, and never ended
    assert not pid_alive(int(started.split()[1]))


def test_async_job_timeout_cancels_the_coroutine(q):
    slow = q.task(jobs.async_sleep, timeout=0.2).delay(30)
    quick = job(q, jobs.async_add).delay(1, 2)
    # one coroutine at a time: the second job can only start once the first coroutine has ended
    burst(q, timeout=10, concurrency=1)
    assert slow.status() == "FAILED"
    with pytest.raises(TimeoutError, match="timeout of 0.2 s"):
        slow.join(timeout=5)
    assert quick.join(timeout=5) == 3


# ------------------------------------------------------------------ cancel


def test_cancel_queued_job(q, tmp_path):
    path = tmp_path / "count"
    h = job(q, jobs.count).delay(str(path), "never")
    other = job(q, jobs.count).delay(str(path), "ran")
    assert h.cancel() is True
    assert h.cancel() is False
    assert h.status() == "CANCELLED"
    assert h
    burst(q)
    assert lines(path) == ["ran"]
    assert other.join(timeout=5) == "ran"
    with pytest.raises(CancelledError, match=h.id):
        h.join(timeout=5)
    assert events(h) == ["queue", "cancel"]


def test_cancel_running_process_job_kills_it(q, tmp_path, process_worker):
    release, started = tmp_path / "release", tmp_path / "started"
    h = q.task(jobs.wait_for_file, mode="process").delay(str(release), str(started))
    worker = Worker(q, lease=0.6, **process_worker)
    thread, errors = _start(worker, True)
    wait_for(lambda: lines(started), 15, "the job's start")
    assert h.status() == "RUNNING"
    assert h.cancel() is True
    thread.join(10)
    assert not thread.is_alive() and not errors
    assert h.status() == "CANCELLED"
    with pytest.raises(CancelledError):
        h.join(timeout=5)
    [line] = lines(started)
    assert not pid_alive(int(line.split()[1]))
    assert events(h)[-1] == "cancel"


# ------------------------------------------------------------------ progress


def test_progress_reported_by_a_job(q):
    h = job(q, jobs.report).delay(4)
    assert h.progress is None
    burst(q)
    assert h.join(timeout=5) == "reported"
    assert h.progress == Progress(1.0, "step 4 of 4")
    [listed] = q.list(name="tests.jobs:report")
    assert (listed.progress, listed.progress_message) == (1.0, "step 4 of 4")
    assert progress(0.5, "here") is False
    with pytest.raises(ValueError, match="from 0 to 1"):
        progress(1.5)


# ------------------------------------------------------------------ schedule


def test_schedule_delays_and_datetimes(q):
    add = job(q, jobs.add)
    later = add.schedule(0.5, 1, 2)
    soon = add.schedule(timedelta(seconds=0.3), 3, 4)
    past = add.schedule(datetime.now() - timedelta(minutes=5), 5, 6)
    # only the job whose time has come can be claimed now
    claimed = q.store.claim("probe", ["default"], 10, 30.0)
    assert [r.id for r in claimed] == [past.id]
    assert q.store.release("probe", [past.id]) == [past.id]
    assert past.status() == "QUEUED"  # the others are SCHEDULED for a moment: see tests/test_queue_admin.py
    burst(q)
    assert (later.join(timeout=5), soon.join(timeout=5), past.join(timeout=5)) == (3, 7, 11)
    for h, delay in ((later, 0.5), (soon, 0.3)):
        record = h.record()
        [dispatch] = [e.at for e in h.history() if e.event == "dispatch"]
        assert dispatch >= record.created + delay - 1e-3, (h, dispatch - record.created)
        assert record.started >= record.created + delay - 1e-3


def test_schedule_rejects_bad_when(q):
    add = job(q, jobs.add)
    for when in ("soon", True, [1]):
        with pytest.raises(TypeError, match=f"seconds, a timedelta or a datetime, not {type(when).__name__}"):
            add.schedule(when, 1, 2)
    assert q.stats() == {}


# ------------------------------------------------------------------ priorities and named queues


def test_priorities_order_the_claims(q, tmp_path):
    path = tmp_path / "order"
    for priority in (5, 0, 9):
        q.task(jobs.count, priority=priority).delay(str(path), f"p{priority}")
    burst(q, threads=1, batch=1)
    assert lines(path) == ["p9", "p5", "p0"]


def test_worker_serves_only_its_named_queues(q, tmp_path):
    path = tmp_path / "count"
    mail = q.task(jobs.count, queue="mail").delay(str(path), "mail")
    default = job(q, jobs.add).delay(1, 1)
    burst(q, queues=["mail"])
    assert mail.join(timeout=5) == "mail"
    assert default.status() == "QUEUED"
    assert q.stats() == {"mail": {"DONE": 1}, "default": {"QUEUED": 1}}
    assert [r.id for r in q.list(queue="mail")] == [mail.id]


# ------------------------------------------------------------------ get, list, stats, purge


def test_get_list_stats_purge(q):
    add = job(q, jobs.add)
    assert q.get("no-such-job") is None
    first, second = add.delay(1, 1), add.delay(2, 2)
    failed = job(q, jobs.fail).delay()
    burst(q)
    waiting = add.delay(3, 3)
    done_ids = [second.id, first.id]  # newest first
    assert [r.id for r in q.list(status="DONE")] == done_ids
    assert [r.id for r in q.list(status="done")] == done_ids
    assert [r.id for r in q.list(name="tests.jobs:add")] == [waiting.id, *done_ids]
    assert [r.id for r in q.list(name="tests.jobs:add", limit=1)] == [waiting.id]
    assert [r.id for r in q.list(status="FAILED")] == [failed.id]
    assert [r.id for r in q.list()] == [waiting.id, failed.id, second.id, first.id]
    assert q.list(status="RUNNING") == []
    assert q.stats() == {"default": {"DONE": 2, "FAILED": 1, "QUEUED": 1}}
    assert q.purge(timedelta(days=7)) == 0
    assert q.purge(older_than=0) == 3
    assert q.purge(older_than=0) == 0
    assert q.stats() == {"default": {"QUEUED": 1}}
    assert q.get(first.id) is None and q.get(failed.id) is None
    assert q.get(waiting.id) == waiting
    with pytest.raises(KeyError, match="purged"):
        first.status()


# ------------------------------------------------------------------ what a worker cannot run


def test_worker_fails_unknown_and_corrupt_jobs_and_keeps_serving(q):
    good_payload = q.serializer.encode_call("x", (1, 2), {})
    unknown = raw_job(q, "tests.durable_app:nope", good_payload)
    no_module = raw_job(q, "no_such_module_for_taskgraph_tests:f", good_payload)
    not_json = raw_job(q, "tests.jobs:add", b"\xff not json")
    not_record = raw_job(q, "tests.jobs:add", b"[1, 2]")
    good = job(q, jobs.add).delay(20, 22)
    burst(q)
    assert good.join(timeout=5) == 42
    errors = {job_id: q.get(job_id).record() for job_id in (unknown, no_module, not_json, not_record)}
    assert all(r.status == "FAILED" for r in errors.values())
    for job_id, name in ((unknown, "tests.durable_app:nope"), (no_module, "no_such_module_for_taskgraph_tests:f")):
        error = errors[job_id].error
        assert f"no job named {name!r}" in error["message"] and "@queue.task" in error["message"]
        with pytest.raises(LookupError, match="no job named"):
            q.get(job_id).join(timeout=5)
    assert "not a taskgraph call record" in errors[not_record].error["message"]
    # a payload that is not even JSON: a SerializationError that says the payload cannot be decoded
    error = errors[not_json].error
    assert error["type"] == "taskgraph.errors.SerializationError", error
    assert "payload" in error["message"], error


# ------------------------------------------------------------------ graphs: make_now


def test_make_now_runs_a_graph_on_the_workers(q, tmp_path):
    path = tmp_path / "count"
    a = Task("a", jobs.add, args=(1, 2))
    b = Task("b", job(q, jobs.add), kwargs={"a": 10, "b": 20})
    c = Task("c", jobs.count, args=(str(path), "c")).require(a, b)
    group = Task("group").require(c)
    with serving(q):
        finished = make_now(group, queue=q)
    assert finished == [group]
    assert (a.result, b.result, c.result, group.result) == (3, 30, "c", None)
    for t in (a, b, c, group):
        assert [m.event for m in t.history] == ["queue", "dispatch", "done"], t
    assert lines(path) == ["c"]
    assert q.stats() == {"default": {"DONE": 4}}
    assert sorted(r.key.partition("@")[0] for r in q.list()) == ["a", "b", "c", "group"]


def test_make_now_failures(q):
    bad = Task("bad", jobs.fail, args=("broken",))
    dependent = Task("dependent", jobs.add, args=(1, 1)).require(bad)
    not_a_job = Task("not_a_job", jobs.record, args=("/nonexistent/x", "y"))
    lam = Task("lam", lambda: 1)
    with serving(q):
        make_now(dependent, not_a_job, lam, queue=q)
    assert bad.state == "FAILED"
    with pytest.raises(ValueError, match="^broken$"):
        bad.join(0)
    assert dependent.state == "FAILED"
    with pytest.raises(BlockedError, match="'bad' is FAILED"):
        dependent.join(0)
    assert not_a_job.state == "FAILED"
    with pytest.raises(TypeError, match="tests.jobs:record is not a job of .*decorate it with @queue.task"):
        not_a_job.join(0)
    with pytest.raises(TypeError, match="'lam'.*lambda"):
        lam.join(0)
    assert q.stats() == {"default": {"FAILED": 1}}  # only 'bad' reached the store


def test_make_now_refuses_two_tasks_with_one_key_in_flight(q, tmp_path):
    release = tmp_path / "release"
    q.task(jobs.wait_for_file)
    first = Task("same", jobs.wait_for_file, args=(str(release),))
    second = Task("same", jobs.wait_for_file, args=(str(release),))  # the same job: the same key
    second.add_done_callback(lambda _: release.touch())  # first ends only after second was refused
    with serving(q):
        make_now(first, second, queue=q)
    assert first.state == "DONE" and first.result == "released"
    assert second.state == "FAILED"
    with pytest.raises(TypeError, match="key 'same@[0-9a-f]{10}'.*distinct"):
        second.join(0)


def test_make_now_refuses_two_tasks_with_one_key_in_one_graph(q):
    first = Task("same", jobs.add, args=(1, 2))
    second = Task("same", jobs.add, args=(1, 2)).require(first)
    with serving(q):
        make_now(second, queue=q)
    assert first.result == 3
    # the second must not silently take the first's result as its own
    assert second.state == "FAILED" and second.result is None
    with pytest.raises(TypeError, match="same name, function and arguments.*distinct"):
        second.join(0)


def test_a_task_of_one_name_whose_function_or_arguments_changed_is_a_new_job(q):
    q.task(jobs.echo)
    with serving(q):
        first = Task("build", jobs.add, args=(1, 2))
        make_now(first, queue=q)
        again = Task("build", jobs.add, args=(1, 2))  # the same task: found again, not run again
        make_now(again, queue=q)
        other_args = Task("build", jobs.add, args=(100, 200))
        make_now(other_args, queue=q)
        other_func = Task("build", jobs.echo, args=(100, 200))
        make_now(other_func, queue=q)
    assert (first.result, again.result, other_args.result) == (3, 3, 300)
    assert other_func.result == {"args": [100, 200], "kwargs": {}}
    keys = sorted(r.key for r in q.list())
    assert len(keys) == 3 and {k.partition("@")[0] for k in keys} == {"build"}


def _rerun_graph(path, flaky_path):
    a = Task("a", jobs.count, args=(str(path), "a"))
    f = Task("f", jobs.flaky, args=(str(flaky_path), 1))
    d = Task("d", jobs.count, args=(str(path), "d")).require(a, f)
    return a, f, d


def test_make_now_rerun_resumes_and_namespace_starts_afresh(q, store_url, tmp_path):
    path, flaky_path = tmp_path / "count", tmp_path / "flaky"
    q.task(jobs.flaky, retries=0)
    fresh = make_queue(with_query(store_url, "namespace=run2"))
    fresh.task(jobs.flaky, retries=0)
    try:
        with serving(q):
            a, f, d = _rerun_graph(path, flaky_path)
            make_now(d, queue=q)
            assert (a.state, f.state, d.state) == ("DONE", "FAILED", "FAILED")
            assert lines(path) == ["a"]

            a, f, d = _rerun_graph(path, flaky_path)  # the driver "crashed": new tasks, same names
            make_now(d, queue=q)
            assert (a.state, f.state, d.state) == ("DONE", "DONE", "DONE")
            assert (a.result, f.result, d.result) == ("a", 2, "d")
            assert lines(path) == ["a", "d"]  # 'a' was DONE in the store: not run again
            assert lines(flaky_path) == ["call", "call"]

            a, f, d = _rerun_graph(path, flaky_path)
            make_now(d, queue=fresh)
            assert (a.result, f.result, d.result) == ("a", 3, "d")
            assert lines(path) == ["a", "d", "a", "d"]
        keys = sorted(r.key.partition("@")[0] for r in q.list())
        assert keys == ["a", "d", "f", "run2/a", "run2/d", "run2/f"]
    finally:
        fresh.close()


# ------------------------------------------------------------------ graphs: make_later


def test_make_later_hands_the_graph_to_the_store(q, tmp_path):
    path = tmp_path / "count"
    a = Task("a", jobs.add, args=(1, 2))
    b = Task("b", jobs.add, args=(3, 4))
    c = Task("c", jobs.count, args=(str(path), "c")).require(a, b)
    d = Task("d", jobs.count, args=(str(path), "d")).require(c)
    future = taskgraph.make_later(q, d)
    assert not future.done()
    assert q.stats() == {"default": {"QUEUED": 2, "PENDING": 2}}
    assert lines(path) == []
    burst(q)
    assert future.result(timeout=15) == [d]
    assert (a.result, b.result, c.result, d.result) == (3, 7, "c", "d")
    assert all(t.state == "DONE" for t in (a, b, c, d))
    assert lines(path) == ["c", "d"]
    assert q.stats() == {"default": {"DONE": 4}}
    [record] = q.list(name="tests.jobs:count", limit=1)
    assert events(q.get(record.id)) == ["queue", "release", "dispatch", "done"]


def _later_graph(flaky_path):
    bad = Task("bad", jobs.flaky, args=(str(flaky_path), 1))  # fails on its first call only
    mid = Task("mid", jobs.add, args=(1, 1)).require(bad)
    return bad, mid, Task("top", jobs.add, args=(2, 2)).require(mid)


def test_make_later_failure_fails_down_the_graph_and_a_rerun_repairs_it(q, tmp_path):
    path = tmp_path / "flaky"
    q.task(jobs.flaky, retries=0)
    bad, mid, top = _later_graph(path)
    ok = Task("ok", jobs.add, args=(5, 5))
    future = taskgraph.make_later(q, top, ok)
    burst(q)
    assert sorted(future.result(timeout=15), key=lambda t: t.name) == [ok, top]  # in the order they ended
    assert ok.result == 10
    assert (bad.state, mid.state, top.state) == ("FAILED", "FAILED", "FAILED")
    assert isinstance(bad.exception, RuntimeError) and str(bad.exception) == "failure 1 of 1"
    assert isinstance(mid.exception, BlockedError) and "'bad' is FAILED" in str(mid.exception)
    assert isinstance(top.exception, BlockedError) and "'mid' is FAILED" in str(top.exception)
    assert q.stats() == {"default": {"FAILED": 3, "DONE": 1}}

    bad, mid, top = _later_graph(path)  # a rerun queues the FAILED jobs again, edges and all
    future = taskgraph.make_later(q, top)
    assert q.stats() == {"default": {"DONE": 1, "QUEUED": 1, "PENDING": 2}}
    burst(q)
    assert future.result(timeout=15) == [top]
    assert (bad.result, mid.result, top.result) == (2, 2, 4)
    assert lines(path) == ["call", "call"]


# ------------------------------------------------------------------ URLs


def test_sqlite_url_in_a_missing_folder():
    with pytest.raises(StoreError, match="no/such/dir.*create it"):
        open_queue("sqlite:///no/such/dir/x.db")


def test_unknown_serializer(tmp_path):
    with pytest.raises(ValueError, match="unknown serializer 'yaml'; known serializers: json, pickle"):
        open_queue(f"sqlite:///{tmp_path / 'jobs.db'}?serializer=yaml")
    assert not (tmp_path / "jobs.db").exists()
