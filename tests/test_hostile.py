"""Hostile and bad input, end to end: each mistake or attack gets one clear error, or a FAILED task with a clear
reason, and the worker or driver keeps going.

The items, in order: cycles (refused before anything runs or is enqueued, or made while a make runs); two tasks
that map to one job key, and two functions registered under one job name; arguments the serializer cannot encode;
payloads, results, errors and options corrupted straight in each store (SQL ``UPDATE`` on the ``jobs`` table,
``HSET`` on the Redis job hash); job names no worker knows; malformed URLs and wrong credentials (the password never
shown); strings with quotes, statement separators, placeholders, NUL bytes and non-ASCII text through every store;
and two Redis key prefixes on one server that never see each other's jobs.

Durable tests run against each store (the ``store_url`` fixture: a SQLite file, a PostgreSQL schema, a Redis key
prefix) with real worker subprocesses serving :mod:`tests.hostile_app`. The one exception is the cycle a job's
function makes while a make runs: that function must reach the driver's tasks, so its worker is a
:class:`~taskgraph.durable.worker.Worker` in a thread of this process. Nothing sleeps to synchronise: tests wait
for a status, a log line or a process exit, each with a deadline that only stops a broken run from hanging.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest

from taskgraph import (
    BlockedError,
    CycleError,
    DurableQueue,
    Progress,
    SerializationError,
    StoreError,
    Task,
    TaskError,
    make_later,
    make_now,
    open_queue,
)
from taskgraph.durable.jobs import JobOptions
from taskgraph.durable.worker import Worker
from taskgraph.stores.records import NewJob
from taskgraph.stores.records import label as key_label
from tests import hostile_app as app
from tests import jobs
from tests.conftest import unique_name
from tests.procs import ROOT, WorkerProcess, job, lines, logs_of, statuses, wait_for, worker_pool

APP = "tests.hostile_app:queue"
DEADLINE = 15.0  # seconds: only a broken run waits this long

# ------------------------------------------------------------------ fixtures and helpers


@pytest.fixture
def q(store_url: str) -> Iterator[DurableQueue]:
    """The test's own queue on the store, with every job of hostile_app registered."""
    queue = app.make_queue(store_url)
    yield queue
    queue.close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Any]:
    """``spawn(url, *args, name=...)`` starts a worker serving hostile_app on ``url``; all are killed at teardown
    and their output printed (pytest shows it when the test fails)."""
    with worker_pool(tmp_path, APP) as start:
        yield start


def raw_enqueue(queue: DurableQueue, name: str, payload: bytes, **fields: Any) -> str:
    """Put a job straight into the store, past every check of the queue; return its id."""
    fields.setdefault("options", JobOptions().stored("json"))
    [record] = queue.store.enqueue([NewJob(id=uuid.uuid4().hex, name=name, payload=payload, **fields)])
    return record.id


def stop(worker: WorkerProcess) -> None:
    """SIGTERM a worker that must still be serving, and check it exits cleanly."""
    assert worker.proc.poll() is None, worker.log()
    worker.signal(signal.SIGTERM)
    assert worker.wait(DEADLINE) == 0, worker.log()


def _split_option(url: str, option: str) -> tuple[str, str]:
    """``(url without ?option=..., its value)``."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    value = dict(pairs)[option]
    rest = urlencode([(k, v) for k, v in pairs if k != option])
    return parts._replace(query=rest).geturl(), value


def corrupt(url: str, job_id: str, **fields: bytes | str) -> None:
    """Overwrite fields of a stored job behind the store's back: an SQL UPDATE of the ``jobs`` table, or HSET on
    the Redis job hash. ``payload`` and ``result`` are bytes, ``options`` and ``error`` text."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = urlsplit(url).path[1:]
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as db, db:
            for column, value in fields.items():
                db.execute(f"UPDATE jobs SET {column} = ? WHERE id = ?", (value, job_id))
    elif scheme.startswith("postgres"):
        import psycopg

        base, schema = _split_option(url, "schema")
        with psycopg.connect(base, autocommit=True) as conn:
            for column, value in fields.items():
                conn.execute(f'UPDATE "{schema}".jobs SET {column} = %s WHERE id = %s', (value, job_id))
    else:
        import redis

        base, prefix = _split_option(url, "prefix")
        client = redis.Redis.from_url(base)
        try:
            assert client.exists(f"{prefix}:job:{job_id}")
            client.hset(f"{prefix}:job:{job_id}", mapping=dict(fields))
        finally:
            client.close()


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m taskgraph ARGS`` in the repository root, its output captured."""
    full = {k: v for k, v in os.environ.items() if k != "TASKGRAPH_APP_URL"}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "taskgraph", *args], cwd=ROOT, env=full, capture_output=True,
                          text=True, timeout=timeout)


@contextlib.contextmanager
def worker_thread(queue: DurableQueue) -> Iterator[Worker]:
    """A Worker serving ``queue`` in a thread of this process, for the length of the block."""
    worker = Worker(queue, threads=2)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            worker.run()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True, name="hostile-worker")
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(DEADLINE)
    assert not thread.is_alive() and not errors, f"the worker did not stop cleanly: {errors}"


def keys_in(queue: DurableQueue) -> set[str | None]:
    """The keys of the jobs in the queue's store (None for a job without one)."""
    return {key_label(r.key) if r.key else None for r in queue.list(limit=10_000)}  # without a graph task's digest


# ------------------------------------------------------------------ cycles


def test_a_task_that_requires_itself_is_refused_at_once_and_stays_usable() -> None:
    t = Task("lonely", jobs.add, args=(1, 2))
    for attempt in (lambda: t.require(t), lambda: t.then(t)):
        with pytest.raises(CycleError) as info:
            attempt()
        assert info.value.cycle == ["lonely", "lonely"]
        assert re.fullmatch(r"tasks form a cycle: lonely -> lonely \(.*\); remove one of these requirements",
                            str(info.value)), str(info.value)
    assert t.prerequisites == () and t.dependents == ()
    assert make_now(t) == [t] and t.result == 3


@pytest.mark.parametrize("url", ["inline:", "threads://2"])
def test_a_cycle_is_refused_before_anything_runs_and_the_queue_goes_on(url: str) -> None:
    calls: list[str] = []

    def call(name: str) -> str:
        calls.append(name)
        return name

    a = Task("a", call, args=("a",))
    b = Task("b", call, args=("b",)).require(a)
    c = Task("c", call, args=("c",)).require(b)
    free = Task("free", call, args=("free",))
    a.require(c)
    queue = open_queue(url)
    try:
        for attempt in (lambda: make_now(free, c, queue=queue), lambda: make_later(queue, free, c)):
            with pytest.raises(CycleError, match=r"tasks form a cycle: (a|b|c) -> .* remove one") as info:
                attempt()
            assert sorted(info.value.cycle[:-1]) == ["a", "b", "c"]
        assert calls == []
        assert all(t.state == "PENDING" for t in (a, b, c, free))
        after = Task("after", call, args=("after",)).require(free)
        assert make_now(after, queue=queue) == [after]  # the same queue still works
        assert sorted(calls) == ["after", "free"]
    finally:
        queue.close()


def test_a_cycle_through_a_store_is_refused_before_anything_is_enqueued(q, store_url, spawn) -> None:
    a = Task("a", jobs.add, args=(1, 2))
    b = Task("b", jobs.add, args=(3, 4)).require(a)
    c = Task("c", jobs.add, args=(5, 6)).require(b)
    free = Task("free", jobs.add, args=(7, 8))
    a.require(c)
    for attempt in (lambda: make_now(free, c, queue=q), lambda: make_later(q, free, c)):
        with pytest.raises(CycleError, match=r"tasks form a cycle: .*; remove one of these requirements") as info:
            attempt()
        assert sorted(info.value.cycle[:-1]) == ["a", "b", "c"]
    assert q.stats() == {} and q.list() == []
    assert all(t.state == "PENDING" for t in (a, b, c, free))

    worker = spawn(store_url)
    x = Task("x", jobs.add, args=(1, 1))
    y = Task("y", jobs.add, args=(2, 2)).require(x)
    assert make_now(y, free, queue=q) and (x.result, y.result, free.result) == (2, 4, 15)
    stop(worker)


def test_a_cycle_made_while_a_make_runs_through_a_store_fails_its_tasks_and_make_ends(q) -> None:
    a = Task("a", app.close_cycle)  # its function makes b require c, which requires b
    b = Task("b", jobs.add, args=(1, 2)).require(a)
    c = Task("c", jobs.add, args=(3, 4)).require(b)
    free = Task("free", jobs.add, args=(5, 6))
    app.GRAPH.update(a=a, b=b, c=c)
    try:
        with worker_thread(q):
            started = time.monotonic()
            finished = make_now(c, free, queue=q)
            assert time.monotonic() - started < DEADLINE
            assert sorted(t.name for t in finished) == ["c", "free"]
            assert (a.state, a.result, free.state, free.result) == ("DONE", "closed", "DONE", 11)
            for t in (b, c):
                assert t.state == "FAILED"
                error = t.exception
                assert isinstance(error, CycleError), error
                assert sorted(error.cycle[:-1]) == ["b", "c"]
                assert re.search(r"tasks form a cycle: (b -> c -> b|c -> b -> c) .*remove one", str(error))
            assert keys_in(q) == {"a", "free"}  # b and c never reached the store
            again = Task("again", jobs.add, args=(20, 22))
            assert make_now(again, queue=q) == [again] and again.result == 42
    finally:
        app.GRAPH.clear()


# ------------------------------------------------------------------ one key, one name


def _graph_with_one_key_twice(how: str) -> tuple[Task, Task, Task]:
    """Two tasks of one job key: the same key (a name, or a key given) and the same function and arguments (a key
    holds a digest of those: tasks that differ in them are distinct jobs)."""
    first = Task("k", jobs.add, args=(1, 2))
    if how == "a key equal to a name":
        second = Task("other", jobs.add, args=(1, 2), key="k")
    else:
        second = Task("k", jobs.add, args=(1, 2))
    below = Task("below", jobs.add, args=(0, 0)).require(second.require(first))
    return first, second, below


@pytest.mark.parametrize("how", ["a key equal to a name", "two tasks of one name"])
def test_make_later_refuses_two_tasks_with_one_key_before_enqueueing(q, how) -> None:
    first, second, below = _graph_with_one_key_twice(how)
    with pytest.raises(TypeError) as info:
        make_later(q, below)
    message = str(info.value)
    said = rf"task '{second.name}': task 'k' of the same graph has the key 'k@[0-9a-f]{{10}}' too"
    assert re.search(said, message), message
    assert "give the tasks distinct names or keys" in message
    assert q.stats() == {}
    assert all(t.state == "PENDING" for t in (first, second, below))


@pytest.mark.parametrize("how", ["a key equal to a name", "two tasks of one name"])
def test_make_now_fails_only_the_task_whose_key_is_taken_and_goes_on(q, store_url, spawn, how) -> None:
    first, second, below = _graph_with_one_key_twice(how)
    free = Task("free", jobs.add, args=(5, 6))
    worker = spawn(store_url)
    make_now(below, free, queue=q)
    assert (first.state, first.result, free.state, free.result) == ("DONE", 3, "DONE", 11)
    assert second.state == "FAILED" and second.result is None  # not first's result, taken by key
    with pytest.raises(TypeError, match=r"has the key 'k@[0-9a-f]{10}' too.*distinct names or keys"):
        second.join(0)
    assert below.state == "FAILED"
    with pytest.raises(BlockedError, match=rf"'{second.name}' is FAILED"):
        below.join(0)
    assert keys_in(q) == {"k", "free"}
    assert q.stats() == {"default": {"DONE": 2}}
    stop(worker)


@pytest.mark.parametrize("why", ["duplicate key", "unencodable argument"])
def test_a_refused_graph_does_not_hold_on_to_its_keys(q, store_url, spawn, why) -> None:
    """After make_later refused a graph, the corrected graph (new tasks, same names) is accepted, while the refused
    tasks still exist."""
    a = Task("a", jobs.add, args=(1, 2))
    if why == "duplicate key":
        b = Task("b", jobs.add, args=(1, 2), key="a").require(a)  # the same job as a
    else:
        b = Task("b", jobs.echo, args=({1, 2},)).require(a)
    with pytest.raises((TypeError, SerializationError)):
        make_later(q, b)
    assert q.stats() == {}
    fixed_a = Task("a", jobs.add, args=(1, 2))
    fixed_b = Task("b", jobs.add, args=(3, 4)).require(fixed_a)
    future = make_later(q, fixed_b)
    worker = spawn(store_url, "--burst")
    assert fixed_b.join(DEADLINE) == 7 and fixed_a.result == 3
    assert future.result(DEADLINE) == [fixed_b]
    assert worker.wait(DEADLINE) == 0, worker.log()
    assert (a.state, b.state) == ("PENDING", "PENDING")  # the refused tasks are untouched


def test_a_refused_duplicate_does_not_let_a_third_task_take_the_job_of_the_first(q, store_url, spawn) -> None:
    first = Task("same", jobs.add, args=(1, 2))
    make_later(q, first)  # in flight: QUEUED in the store, no worker yet
    second = Task("same", jobs.add, args=(1, 2))  # the same job: same name, function and arguments
    make_now(second, queue=q)
    assert second.state == "FAILED" and isinstance(second.exception, TypeError)
    third = Task("same", jobs.add, args=(1, 2))
    with pytest.raises(TypeError, match=r"key 'same@[0-9a-f]{10}'"):
        make_later(q, third)  # first is still in flight under that key
    worker = spawn(store_url, "--burst")
    assert first.join(DEADLINE) == 3
    assert third.state == "PENDING"
    assert worker.wait(DEADLINE) == 0, worker.log()


def twin() -> str:
    return "first"


first_twin = twin


def twin() -> str:  # noqa: F811 - the mistake under test: a second function under the name of the first
    return "second"


def test_registering_two_functions_under_one_job_name_is_refused(tmp_path) -> None:
    queue = app.make_queue(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        registered = queue.task(first_twin)
        assert registered.name == "tests.test_hostile:twin"
        assert queue.task(first_twin, retries=2).options.retries == 2  # the same function again: new options
        with pytest.raises((TypeError, ValueError)) as info:
            queue.task(twin)
        message = str(info.value)
        assert "tests.test_hostile:twin" in message, message
        assert re.search(r"rename|another name|already", message), message
        assert queue.job("tests.test_hostile:twin").func is first_twin  # the first keeps its name
    finally:
        queue.close()


# ------------------------------------------------------------------ arguments the serializer cannot encode


def _generator() -> Iterator[int]:
    yield 1


UNENCODABLE = [
    pytest.param((({1, 2},), {}), r"argument 0 \(set \{1, 2\}\)", id="set"),
    pytest.param(((), {"b": object()}), r"keyword argument 'b' \(object <object object", id="object"),
    pytest.param(((1, _generator()), {}), r"argument 1 \(generator <generator object", id="generator"),
    pytest.param((([{"deep": {3}}],), {}), r"argument 0 \(list \[\{'deep': \{3\}\}\]\)", id="nested set"),
    pytest.param(((float("nan"),), {}), r"argument 0 \(float nan\)", id="nan"),
    pytest.param(((b"bytes",), {}), r"argument 0 \(bytes b'bytes'\)", id="bytes"),
    pytest.param(((Task("t"),), {}), r"argument 0 \(Task Task\('t'", id="task"),
]


@pytest.mark.parametrize(("call", "named"), UNENCODABLE)
def test_delay_refuses_an_unencodable_argument_naming_it(q, call, named) -> None:
    args, kwargs = call
    with pytest.raises(SerializationError) as info:
        job(q, jobs.echo).delay(*args, **kwargs)
    message = str(info.value)
    assert message.startswith("task 'tests.jobs:echo': "), message
    assert re.search(named + r".* cannot be encoded as json: ", message), message
    assert "Pass JSON values" in message and "?serializer=pickle" in message
    assert q.stats() == {}
    assert job(q, jobs.echo).delay(1).status() == "QUEUED"  # the queue goes on


def test_a_dict_with_keys_json_would_change_is_refused_not_changed(tmp_path) -> None:
    """JSON object keys are strings: ``{1: 'a'}`` would reach the job as ``{'1': 'a'}``."""
    queue = app.make_queue(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        for value in ({1: "a"}, {None: 1}, {True: 1}, {2.5: 1}, {(1, 2): 3}):
            with pytest.raises(SerializationError, match=r"argument 0 \(dict"):
                job(queue, jobs.echo).delay(value)
        assert queue.stats() == {}
    finally:
        queue.close()


def test_an_unencodable_argument_in_a_graph_fails_only_its_task(q, store_url, spawn) -> None:
    bad = Task("bad", jobs.echo, args=({1, 2},))
    below = Task("below", jobs.add, args=(1, 1)).require(bad)
    free = Task("free", jobs.add, args=(5, 6))
    worker = spawn(store_url)
    assert sorted(t.name for t in make_now(below, free, queue=q)) == ["below", "free"]
    assert bad.state == "FAILED"
    with pytest.raises(SerializationError, match=r"task 'bad': argument 0 \(set \{1, 2\}\) cannot be encoded as "
                                                 r"json.*Pass JSON values"):
        bad.join(0)
    assert below.state == "FAILED" and isinstance(below.exception, BlockedError)
    assert free.result == 11
    assert keys_in(q) == {"free"}  # neither bad nor below reached the store
    stop(worker)


def test_make_later_refuses_an_unencodable_argument_before_enqueueing(q) -> None:
    a = Task("a", jobs.add, args=(1, 2))
    b = Task("b", jobs.echo, kwargs={"when": object()}).require(a)
    with pytest.raises(SerializationError, match=r"task 'b': keyword argument 'when' \(object"):
        make_later(q, b)
    assert q.stats() == {}
    assert (a.state, b.state) == ("PENDING", "PENDING")


# ------------------------------------------------------------------ corrupted records


# payloads no JSON call record can be read from: each is refused as a payload that cannot be read
FOREIGN_PAYLOADS = {
    "garbage bytes": b"\xff\xfe\x00\x13garbage",
    "truncated json": b'{"v":1,"args":[1,',
    "empty": b"",
    "a pickle": pickle.dumps({"v": 1, "args": [1, 2], "kwargs": {}}),
    "a list": b"[1,2]",
    "null": b"null",
    "no version": b'{"args":[1,2],"kwargs":{}}',
    "a newer version": b'{"v":99,"args":[1,2],"kwargs":{}}',
}

# JSON call records whose parts have the wrong shape
MISSHAPEN_PAYLOADS = {
    "args a number": b'{"v":1,"args":5,"kwargs":{}}',
    "args a string": b'{"v":1,"args":"12","kwargs":{}}',
    "args an object": b'{"v":1,"args":{"a":1},"kwargs":{}}',
    "kwargs a list": b'{"v":1,"args":[],"kwargs":[1]}',
    "kwargs a string": b'{"v":1,"args":[],"kwargs":"ab"}',
}


def _worker_fails_each_payload(q, store_url, spawn, payloads: dict[str, bytes]) -> dict[str, Any]:
    """Enqueue a good add(1, 2) job per payload, overwrite its payload in the store, then a good job; run a burst
    worker. Returns the records of the corrupted jobs by label."""
    ids = {}
    for label, payload in payloads.items():
        ids[label] = job(q, jobs.add).delay(1, 2).id
        corrupt(store_url, ids[label], payload=payload)
    good = job(q, jobs.add).delay(20, 22)
    worker = spawn(store_url, "--burst")
    assert worker.wait(DEADLINE) == 0, worker.log()
    assert good.join(0) == 42  # enqueued after every bad one, so run after them
    log = worker.output.read_text()
    records = {label: q.get(job_id).record() for label, job_id in ids.items()}
    for label, record in records.items():
        assert record.status == "FAILED", (label, record)
        assert f"job {record.id} (tests.jobs:add) cannot run" in log, (label, worker.log())
    return records


def test_a_worker_fails_jobs_whose_payload_is_not_a_call_record_and_goes_on(q, store_url, spawn) -> None:
    records = _worker_fails_each_payload(q, store_url, spawn, FOREIGN_PAYLOADS)
    for label, record in records.items():
        assert record.error["type"] == "taskgraph.errors.SerializationError", (label, record.error)
        message = record.error["message"]
        assert re.search(r"the payload (cannot be read as json|is not a taskgraph call record|is version 99)",
                         message), (label, message)
        with pytest.raises(SerializationError, match="payload"):
            q.get(record.id).join(0)


def test_a_worker_fails_jobs_whose_payload_has_the_wrong_shape_and_goes_on(q, store_url, spawn) -> None:
    records = _worker_fails_each_payload(q, store_url, spawn, MISSHAPEN_PAYLOADS)
    for label, record in records.items():
        assert record.error["type"] == "taskgraph.errors.SerializationError", (label, record.error)
        assert "payload" in record.error["message"], (label, record.error)


RESULT_DAMAGE = {"truncated": b"{trunc", "garbage": b"\xff\xfe", "a pickle": pickle.dumps(3)}
ERROR_DAMAGE = {"not json": "{not json", "a string": '"a string"', "a list": "[1, 2]",
                "wrong types": '{"type": 5, "message": null}'}


def test_a_corrupted_result_is_a_clear_error_for_the_client(q, store_url, spawn) -> None:
    hit = {label: job(q, jobs.add).delay(1, 2) for label in RESULT_DAMAGE}
    spared = job(q, jobs.add).delay(3, 4)
    worker = spawn(store_url, "--burst")
    assert worker.wait(DEADLINE) == 0, worker.log()
    problems: list[str] = []
    for label, damage in RESULT_DAMAGE.items():
        handle = hit[label]
        corrupt(store_url, handle.id, result=damage)
        assert q.get(handle.id) == handle and handle.status() == "DONE"
        try:
            handle.join(0)
        except SerializationError as exc:
            if handle.id not in str(exc) or "result" not in str(exc):
                problems.append(f"{label}: the error does not name the job and its result: {exc}")
        except Exception as exc:  # noqa: BLE001 - which one is what is checked
            problems.append(f"{label}: join() raised {type(exc).__name__}: {exc}")
        else:
            problems.append(f"{label}: join() returned a value")
    assert not problems, "\n".join(problems)
    assert spared.join(0) == 7


def test_a_corrupted_error_is_a_clear_error_for_the_client(q, store_url, spawn) -> None:
    hit = {label: job(q, jobs.fail).delay(label) for label in ERROR_DAMAGE}
    spared = job(q, jobs.fail).delay("spared")
    worker = spawn(store_url, "--burst")
    assert worker.wait(DEADLINE) == 0, worker.log()
    for label, damage in ERROR_DAMAGE.items():
        corrupt(store_url, hit[label].id, error=damage)
    problems: list[str] = []
    for label, handle in hit.items():
        try:
            assert q.get(handle.id) == handle and handle.status() == "FAILED"
            handle.join(0)
        except TaskError as exc:
            if handle.id not in str(exc):
                problems.append(f"{label}: the error does not name the job: {exc}")
        except Exception as exc:  # noqa: BLE001 - which one is what is checked
            problems.append(f"{label}: {type(exc).__name__}: {exc}")
        else:
            problems.append(f"{label}: join() returned a value")
    try:
        assert {r.id for r in q.list(status="FAILED")} == {*(h.id for h in hit.values()), spared.id}
    except Exception as exc:  # noqa: BLE001
        problems.append(f"list(): {type(exc).__name__}: {exc}")
    shown = run_cli("status", store_url)
    if shown.returncode != 0 or "Traceback" in shown.stderr:
        problems.append(f"taskgraph status: exit {shown.returncode}: {shown.stderr[-300:]}")
    assert not problems, "\n".join(problems)
    with pytest.raises(ValueError, match="^spared$"):
        spared.join(0)


def test_a_job_whose_stored_options_are_corrupted_fails_alone(q, store_url, spawn) -> None:
    hit = job(q, jobs.add).delay(1, 2)
    corrupt(store_url, hit.id, options="{not json")
    good = job(q, jobs.add).delay(20, 22)
    worker = spawn(store_url)
    assert good.join(DEADLINE) == 42  # not held hostage by the damaged job before it
    wait_for(lambda: statuses(q, [hit.id]) == ["FAILED"], DEADLINE, "the damaged job FAILED", worker.log)
    with pytest.raises((TaskError, ValueError), match="options"):
        hit.join(0)
    stop(worker)


# ------------------------------------------------------------------ job names no worker knows


UNKNOWN_NAMES = [
    "tests.hostile_app:gone",  # the app has no such function
    "tests.hostile_app:make_queue",  # a function of the app that is not a job
    "tests.hostile_app:GRAPH",  # not even a function
    "no_such_module_for_taskgraph:f",
    "os:system",  # importable, callable, and never to be run from a stored name
    "x'); DROP TABLE jobs; --",
    "",
]


def test_jobs_no_worker_knows_fail_naming_the_job_and_the_worker_goes_on(q, store_url, spawn, tmp_path) -> None:
    marker = tmp_path / "ran"
    payload = q.serializer.encode_call("x", (f"touch {marker}",), {})
    ids = {name: raw_enqueue(q, name, payload) for name in UNKNOWN_NAMES}
    good = job(q, jobs.add).delay(20, 22)
    worker = spawn(store_url, "--burst")
    assert worker.wait(DEADLINE) == 0, worker.log()
    assert good.join(0) == 42
    assert not marker.exists()
    log = worker.output.read_text()
    for name, job_id in ids.items():
        record = q.get(job_id).record()
        assert record.status == "FAILED" and record.name == name, record
        assert record.error["type"] == "builtins.LookupError", record.error
        assert f"no job named {name!r} is known to this worker" in record.error["message"], record.error
        assert "decorate the function with @queue.task in a module the worker imports" in record.error["message"]
        assert f"job {job_id}" in log
        with pytest.raises(LookupError, match="no job named"):
            q.get(job_id).join(0)


def test_a_stored_job_name_never_makes_a_worker_import_a_module_outside_its_app(q, store_url, tmp_path) -> None:
    """The worker imports a module a job name names only inside the app's own package: a store writer cannot make
    it import (and so run the top level of) anything else on its path."""
    module = f"tg_side_effect_{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "imported"
    (tmp_path / f"{module}.py").write_text(f"open({str(marker)!r}, 'w').close()\ndef f():\n    return 1\n")
    job_id = raw_enqueue(q, f"{module}:f", q.serializer.encode_call(f"{module}:f", (), {}))
    good = job(q, jobs.add).delay(1, 2)
    worker = WorkerProcess(store_url, tmp_path, "w1", ["--burst"], app=APP,
                           env={"PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])})
    try:
        assert worker.wait(DEADLINE) == 0, worker.log()
    finally:
        worker.kill()
    assert good.join(0) == 3
    record = q.get(job_id).record()
    assert record.status == "FAILED" and record.error["type"] == "builtins.LookupError", record
    assert not marker.exists(), "the worker imported a module named only by a stored job"


# ------------------------------------------------------------------ malformed URLs and wrong credentials


MALFORMED_URLS = [
    pytest.param("sqlite:", r"give the path of a database file, like sqlite:///jobs\.db", id="sqlite-no-path"),
    pytest.param("sqlite:///", r"give the path of a database file", id="sqlite-empty-path"),
    pytest.param("sqlite://host/jobs.db", r"write sqlite:///relative\.db or sqlite:////absolute/path\.db",
                 id="sqlite-host"),
    pytest.param("sqlite:////nonexistent-taskgraph-dir/sub/jobs.db",
                 r"the folder '/nonexistent-taskgraph-dir/sub' does not exist; create it first", id="sqlite-folder"),
    pytest.param("sqlite:///{tmp}/jobs.db?busy_timeout=soon", r"busy_timeout.*(number|seconds)",
                 id="sqlite-bad-option-value"),
    pytest.param("sqlite:///{tmp}/jobs.db?bogus=1", r"unknown option 'bogus'", id="sqlite-unknown-option"),
    pytest.param("postgresql://127.0.0.1:99999/test", r"port", id="postgresql-port-range"),
    pytest.param("postgresql://127.0.0.1:notaport/test", r"not a valid PostgreSQL URL .*port.*; write postgresql://",
                 id="postgresql-port-text"),
    pytest.param("{pg}?bogus_option=1", r"not a valid PostgreSQL URL .*bogus_option", id="postgresql-option"),
    pytest.param("{pg}?schema=1bad", r"the schema name '1bad' is not valid", id="postgresql-schema"),
    pytest.param("{pg}?schema=x;DROP SCHEMA public", r"the schema name 'x;DROP SCHEMA public' is not valid",
                 id="postgresql-schema-injection"),
    pytest.param("{pg}?connect_timeout=soon", r"connect_timeout must be a positive number of seconds",
                 id="postgresql-timeout"),
    pytest.param("{pg_server}/no_such_database_for_taskgraph", r"the database does not exist .*createdb",
                 id="postgresql-database"),
    pytest.param("redis://127.0.0.1:6379/abc", r"the path must be a database number like /0, not 'abc'",
                 id="redis-db-text"),
    pytest.param("{redis_server}/9999", r"(?i)(database|db).*(9999|out of range)", id="redis-db-range"),
    pytest.param("redis://127.0.0.1:99999/0", r"the port must be a number from 1 to 65535", id="redis-port"),
    pytest.param("redis://127.0.0.1:6379/0?prefix=a:*", r"the prefix 'a:\*' is not valid", id="redis-prefix"),
    pytest.param("redis://127.0.0.1:6379/0?bogus=1", r"unknown option 'bogus'; accepted options: prefix",
                 id="redis-option"),
    pytest.param("nope://host/x", r"unknown queue URL scheme 'nope' in 'nope://host/x'; known schemes: .*sqlite:",
                 id="unknown-scheme"),
    pytest.param("jobs.db", r"no scheme in 'jobs\.db'; known schemes", id="no-scheme"),
    pytest.param("postgresql://u:pw@[::1/db", r"^'postgresql://u:\*\*\*@\[::1/db': not a valid URL: a '\[' or '\]'",
                 id="unclosed-ipv6-bracket"),
    pytest.param("redis://u:pw@[::1]:6379/0?prefix=a&prefix=b", r"the option 'prefix' is given twice",
                 id="redis-repeated-option"),
]


def _fill(url: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if "{pg" in url:
        base = request.getfixturevalue("postgres_url")
        parts = urlsplit(base)
        url = url.replace("{pg}", base.split("?")[0]).replace("{pg_server}", f"{parts.scheme}://{parts.netloc}")
    if "{redis_server}" in url:
        parts = urlsplit(request.getfixturevalue("redis_url"))
        url = url.replace("{redis_server}", f"{parts.scheme}://{parts.netloc}")
    return url.replace("{tmp}", str(tmp_path))


@pytest.mark.parametrize(("url", "says"), MALFORMED_URLS)
def test_a_malformed_url_is_one_clear_error(url, says, request, tmp_path) -> None:
    url = _fill(url, request, tmp_path)
    started = time.monotonic()
    with pytest.raises((ValueError, StoreError)) as info:
        open_queue(url).close()
    message = str(info.value)
    assert re.search(says, message), message
    assert "\n" not in message, message
    assert "did not answer as Redis does" not in message, message  # it did: the mistake is in the URL
    assert time.monotonic() - started < 15


CREDENTIALS = [pytest.param("S3cr3t-pw", id="plain"), pytest.param("p@ss:w/rd%21?#", id="needs-quoting")]


@pytest.mark.slow  # three commands each
@pytest.mark.parametrize("password", CREDENTIALS)
@pytest.mark.parametrize("kind", ["postgresql", "redis"])
def test_wrong_credentials_are_one_clear_error_and_the_password_is_never_shown(kind, password, request,
                                                                                caplog) -> None:
    parts = urlsplit(request.getfixturevalue({"postgresql": "postgres_url", "redis": "redis_url"}[kind]))
    user = "tg_no_such_user"
    url = parts._replace(netloc=f"{user}:{quote(password, safe='')}@{parts.hostname}:{parts.port}").geturl()
    secrets = {password, quote(password, safe=""), "r3t-pw" if password == "S3cr3t-pw" else "w/rd"}

    def clean(text: str) -> bool:
        return not any(secret in text for secret in secrets)

    caplog.set_level(logging.DEBUG)
    with pytest.raises(StoreError) as info:
        open_queue(url)
    message = str(info.value)
    assert re.search(r"refused the credentials .*check the user name and password", message), message
    assert f"{user}:***@" in message
    assert clean("".join(traceback.format_exception(info.value))) and clean(repr(info.value))
    assert clean(caplog.text)

    for args in (["status", url], ["-v", "status", url], ["worker", APP, "--burst", "-v"]):
        done = run_cli(*args, env={"TASKGRAPH_APP_URL": url})
        output = done.stdout + done.stderr
        assert done.returncode == 2, output
        assert "refused the credentials" in output, output
        assert clean(output), output


# ------------------------------------------------------------------ hostile strings through every store


def _check(problems: list[str], label: str, what: str, got: Any, expected: Any) -> None:
    if got != expected:
        problems.append(f"{label}: {what}: got {str(got)[:120]!r}, expected {str(expected)[:120]!r}")


def test_hostile_strings_survive_the_round_trip(q, store_url, spawn) -> None:
    strings = app.HOSTILE_STRINGS
    echo, fail, say, on_queue = (job(q, f) for f in (jobs.echo, jobs.fail, jobs.say, app.on_hostile_queue))
    handles = {
        label: (echo.delay(s, [s], {"k": s}, named=s, **{s[:50] or "k": "key"}), fail.delay(s), say.delay(s),
                on_queue.delay(s))
        for label, s in strings.items()
    }
    tasks = {label: Task(s, jobs.echo, args=(s,)) for label, s in strings.items()}  # a task's name is its job's key
    top = Task("top").require(*tasks.values())
    make_later(q, top)
    worker = spawn(store_url, "--queues", f"default,{app.HOSTILE_QUEUE}")

    problems: list[str] = []
    for label, s in strings.items():
        h_echo, h_fail, h_say, h_queue = handles[label]
        _check(problems, label, "args and kwargs",
               h_echo.join(DEADLINE), {"args": [s, [s], {"k": s}], "kwargs": {"named": s, s[:50] or "k": "key"}})
        with pytest.raises(ValueError) as info:
            h_fail.join(DEADLINE)
        _check(problems, label, "error message", info.value.args, (s,))
        _check(problems, label, "event detail", h_fail.history()[-1].detail, f"builtins.ValueError: {s}")
        _check(problems, label, "result of a progress job", h_say.join(DEADLINE), s)
        _check(problems, label, "progress message", h_say.progress, Progress(1.0, s))
        _check(problems, label, "named queue job", h_queue.join(DEADLINE), s)
        _check(problems, label, "stored queue name", h_queue.record().queue, app.HOSTILE_QUEUE)
        task = tasks[label]
        _check(problems, label, "graph task", task.join(DEADLINE), {"args": [s], "kwargs": {}})
    top.join(DEADLINE)
    assert keys_in(q) == {*strings.values(), "top", None}
    assert not problems, "\n".join(problems)
    assert {r.id for r in q.list(queue=app.HOSTILE_QUEUE)} == {h[3].id for h in handles.values()}
    assert q.stats()[app.HOSTILE_QUEUE] == {"DONE": len(strings)}
    stop(worker)


def test_store_filters_and_ids_are_parameters_not_statements(q) -> None:
    handles = [job(q, jobs.add).delay(i, i) for i in range(3)]
    before = q.stats()
    for s in (*app.HOSTILE_STRINGS.values(), "*", "%", "_", "' OR '1'='1"):
        assert q.list(name=s) == [] and q.list(queue=s) == [] and q.store.list_jobs(status=s) == [], s
        with pytest.raises(ValueError, match="unknown status"):
            q.list(status=s)
        assert q.get(s) is None
        assert q.cancel([s]) == [] and q.retry([s]) == []
    for s in app.NUL_STRINGS.values():  # no stored name holds one; a store that cannot take one may say so
        for ask in (lambda s=s: q.list(name=s), lambda s=s: q.list(queue=s), lambda s=s: q.get(s),
                    lambda s=s: q.cancel([s])):
            try:
                assert not ask(), s
            except StoreError as exc:
                assert re.search(r"NUL|0x00", str(exc)), str(exc)
    assert q.stats() == before
    assert [h.status() for h in handles] == ["QUEUED"] * 3


def test_nul_bytes_in_arguments_and_results_round_trip(q, store_url, spawn) -> None:
    handles = {label: job(q, jobs.echo).delay(s, [s], named=s) for label, s in app.NUL_STRINGS.items()}
    worker = spawn(store_url, "--burst")
    assert worker.wait(DEADLINE) == 0, worker.log()
    for label, s in app.NUL_STRINGS.items():
        assert handles[label].join(0) == {"args": [s, [s]], "kwargs": {"named": s}}, label


def test_a_nul_byte_in_an_error_or_progress_message_does_not_lose_the_job(q, store_url, spawn) -> None:
    failing = {label: job(q, jobs.fail).delay(s) for label, s in app.NUL_STRINGS.items()}
    saying = {label: job(q, jobs.say).delay(s) for label, s in app.NUL_STRINGS.items()}
    good = job(q, jobs.add).delay(20, 22)
    worker = spawn(store_url)
    assert good.join(DEADLINE) == 42
    ids = [h.id for h in (*failing.values(), *saying.values())]
    wait_for(lambda: all(r.final for r in q.store.get(ids)), DEADLINE, "every job to end", worker.log)
    problems: list[str] = []
    for label, s in app.NUL_STRINGS.items():
        record = failing[label].record()
        _check(problems, label, "failing job", (record.status, record.attempts), ("FAILED", 1))
        with pytest.raises(Exception) as info:  # noqa: PT011 - which one is part of what is checked
            failing[label].join(0)
        _check(problems, label, "its error", (type(info.value), info.value.args), (ValueError, (s,)))
        _check(problems, label, "progress job", (saying[label].status(), saying[label].join(0)), ("DONE", s))
        shown = saying[label].progress
        # a text column that cannot hold NUL may show it as U+FFFD or \x00; the message is otherwise whole
        kept = {s, s.replace("\x00", "\ufffd"), s.replace("\x00", "\\x00")}
        if shown is None or shown.value != 1.0 or shown.message not in kept:
            problems.append(f"{label}: its progress: got {shown!r}, expected the message {s!r}")
    assert not problems, "\n".join(problems)
    stop(worker)


def test_a_nul_byte_in_a_key_or_queue_name_round_trips_or_is_refused_clearly(q, store_url, spawn) -> None:
    s = app.NUL_STRINGS["nul inside"]
    keyed = Task(s, jobs.add, args=(1, 2))
    try:
        make_later(q, keyed)
    except StoreError as exc:
        assert re.search(r"NUL|0x00|\\x00", str(exc)), str(exc)
        assert q.stats() == {}
        assert keyed.state in ("PENDING", "FAILED")  # not QUEUED for ever, waiting for a job that is not there
    else:
        worker = spawn(store_url, "--burst")
        assert keyed.join(DEADLINE) == 3
        assert worker.wait(DEADLINE) == 0, worker.log()
        assert keys_in(q) == {s}
    with pytest.raises(ValueError, match=r"^queue must be .*printable.*, not 'a\\x00b'"):
        q.task(app.on_hostile_queue, queue=s)  # refused at the caller, before any store sees it


def test_status_shows_hostile_job_names_and_messages_as_they_are(q, store_url, spawn) -> None:
    names = ["[/]", "[bold]x[/bold]:y", "[link=https://example.com]z[/link]:w"]
    ids = [raw_enqueue(q, name, b'{"v":1}') for name in names]
    message = "[/red] [blink]boom"
    failing = job(q, jobs.fail).delay(message)
    worker = spawn(store_url, "--burst")
    assert worker.wait(DEADLINE) == 0, worker.log()
    assert statuses(q, [*ids, failing.id]) == ["FAILED"] * 4
    shown = run_cli("status", store_url)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    for text in (*names, message):
        assert text in shown.stdout, shown.stdout


# ------------------------------------------------------------------ two Redis prefixes on one server


@pytest.fixture
def two_prefixes(redis_url) -> Iterator[tuple[str, str]]:
    """Two URLs on the test Redis server with fresh prefixes; their keys are deleted afterwards."""
    prefixes = [unique_name("tg"), unique_name("tg")]
    sep = "&" if "?" in redis_url else "?"
    yield f"{redis_url}{sep}prefix={prefixes[0]}", f"{redis_url}{sep}prefix={prefixes[1]}"
    import redis

    client = redis.Redis.from_url(redis_url)
    for prefix in prefixes:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    client.close()


def test_two_prefixes_on_one_redis_never_see_each_others_jobs(two_prefixes, spawn, tmp_path, redis_url) -> None:
    url_a, url_b = two_prefixes
    qa, qb = app.make_queue(url_a), app.make_queue(url_b)
    try:
        rec_a, rec_b = tmp_path / "a", tmp_path / "b"
        jobs_a = [job(qa, jobs.count).delay(str(rec_a), f"a{i}") for i in range(3)]
        jobs_b = [job(qb, jobs.count).delay(str(rec_b), f"b{i}") for i in range(2)]
        same_a, same_b = Task("same", jobs.add, args=(1, 2)), Task("same", jobs.add, args=(10, 20))
        make_later(qa, same_a)
        make_later(qb, same_b)  # the same key in the other prefix: a job of its own
        for listed, handles in ((qa.list(), jobs_a), (qb.list(), jobs_b)):
            named = sorted(key_label(r.key) if r.key else r.id for r in listed)
            assert named == sorted(["same", *(h.id for h in handles)])
        assert qa.stats() == {"default": {"QUEUED": 4}} and qb.stats() == {"default": {"QUEUED": 3}}
        assert all(qa.get(h.id) is None for h in jobs_b) and all(qb.get(h.id) is None for h in jobs_a)
        assert qa.cancel([h.id for h in jobs_b]) == [] and qa.retry([h.id for h in jobs_b]) == []

        worker = spawn(url_a, "--burst", name="a")
        assert worker.wait(DEADLINE) == 0, worker.log()
        assert sorted(lines(rec_a)) == ["a0", "a1", "a2"] and lines(rec_b) == []
        assert same_a.join(DEADLINE) == 3 and same_b.state == "QUEUED"
        assert qa.stats() == {"default": {"DONE": 4}} and qb.stats() == {"default": {"QUEUED": 3}}
        assert qa.purge(older_than=0) == 4
        assert qb.stats() == {"default": {"QUEUED": 3}} and len(qb.list()) == 3

        worker = spawn(url_b, "--burst", name="b")
        assert worker.wait(DEADLINE) == 0, worker.log()
        assert sorted(lines(rec_b)) == ["b0", "b1"] and sorted(lines(rec_a)) == ["a0", "a1", "a2"]
        assert same_b.join(DEADLINE) == 30
        assert qa.stats() == {} and qb.stats() == {"default": {"DONE": 3}}

        import redis

        client = redis.Redis.from_url(redis_url)
        try:
            prefix_b = _split_option(url_b, "prefix")[1]
            for h in jobs_b:  # every key that holds one of B's ids is under B's prefix
                found = [k.decode() for k in client.scan_iter(match=f"*{h.id}*", count=1000)]
                assert found and all(k.startswith(f"{prefix_b}:") for k in found), found
        finally:
            client.close()
    finally:
        qa.close()
        qb.close()


def test_workers_on_two_prefixes_each_serve_only_their_own(two_prefixes, spawn, tmp_path) -> None:
    url_a, url_b = two_prefixes
    qa, qb = app.make_queue(url_a), app.make_queue(url_b)
    try:
        wa, wb = spawn(url_a, name="a"), spawn(url_b, name="b")
        ha = [job(qa, jobs.add).delay(i, 0) for i in range(5)]
        hb = [job(qb, jobs.add).delay(0, i) for i in range(5)]
        assert [h.join(DEADLINE) for h in ha] == list(range(5))
        assert [h.join(DEADLINE) for h in hb] == list(range(5))
        assert all(f":{wa.pid}:" in (h.record().worker or "") for h in ha), logs_of(wa, wb)()
        assert all(f":{wb.pid}:" in (h.record().worker or "") for h in hb), logs_of(wa, wb)()
        stop(wa)
        stop(wb)
    finally:
        qa.close()
        qb.close()
