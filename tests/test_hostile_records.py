"""Records no worker can use, written straight into each store: each fails alone, with its reason, and the worker
goes on serving the other jobs.

Each test enqueues a good job and a job it then damages behind the store's back (an SQL ``UPDATE`` of the ``jobs``
table on SQLite and PostgreSQL, ``HSET``/``HDEL`` on the Redis job hash), with a value the store's own types let
in: SQLite keeps text in any column, PostgreSQL's columns are typed (so its cases are the text ones and NaN), Redis
keeps text. A burst :class:`~taskgraph.durable.worker.Worker` serves the store in a thread of this process; the test
asserts that the damaged job is FAILED with a message naming the field and saying it was refused, without running
and without a retry, and that the good job is DONE.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from taskgraph import DurableQueue, open_queue
from taskgraph.durable.worker import Worker
from taskgraph.errors import RefusedJob
from tests import jobs
from tests.procs import ROOT

DEADLINE = 30.0  # seconds: only a broken worker takes this long


@pytest.fixture
def q(store_url: str) -> Iterator[DurableQueue]:
    queue = open_queue(store_url)
    assert isinstance(queue, DurableQueue)
    queue.task(jobs.add)
    queue.task(jobs.async_add, mode="async")
    yield queue
    queue.close()


def _split_option(url: str, option: str) -> tuple[str, str]:
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    rest = urlencode([(k, v) for k, v in pairs if k != option])
    return parts._replace(query=rest).geturl(), dict(pairs)[option]


def tamper(url: str, job_id: str, value: Any) -> None:
    """Damage a stored job: ``value`` is ``(column, SQL expression)`` for SQLite and PostgreSQL, or a mapping of
    hash fields for Redis (None deletes the field)."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        column, expression = value
        with contextlib.closing(sqlite3.connect(urlsplit(url).path[1:], timeout=30)) as db, db:
            assert db.execute(f"UPDATE jobs SET {column} = {expression} WHERE id = ?", (job_id,)).rowcount == 1
    elif scheme.startswith("postgres"):
        import psycopg

        column, expression = value
        base, schema = _split_option(url, "schema")
        with psycopg.connect(base, autocommit=True) as conn:
            cursor = conn.execute(f'UPDATE "{schema}".jobs SET {column} = {expression} WHERE id = %s', (job_id,))
            assert cursor.rowcount == 1
    else:
        import redis

        base, prefix = _split_option(url, "prefix")
        client = redis.Redis.from_url(base)
        try:
            key = f"{prefix}:job:{job_id}"
            assert client.exists(key)
            for field, text in value.items():
                if text is None:
                    client.hdel(key, field)
                else:
                    client.hset(key, field, text)
        finally:
            client.close()


def serve(queue: DurableQueue) -> None:
    """Run a burst worker on ``queue`` until the queue holds no unfinished job; it must end, and end well."""
    outcome: list[Any] = []
    worker = Worker(queue, threads=2, lease=10.0)
    thread = threading.Thread(target=lambda: outcome.append(worker.run(burst=True)), daemon=True)
    thread.start()
    thread.join(DEADLINE)
    if thread.is_alive():
        worker.stop()
        thread.join(DEADLINE)
        pytest.fail(f"the burst worker did not finish in {DEADLINE} s: a record held it")
    assert outcome == [0]


REFUSED = "was refused"
NOT_RETRIED = "it was not run and will not be retried"


def _options(**changes: str) -> str:
    """The SQL text of stored options with ``changes`` (JSON texts) in place."""
    fields = {"mode": '"thread"', "retries": "0", "backoff": "1.0", "timeout": "null", "serializer": '"json"'}
    fields.update(changes)
    return "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"


def _all(column: str, text: str) -> dict[str, Any]:
    """The same damage in every store: ``column`` set to the text ``text``."""
    literal = "'" + text.replace("'", "''") + "'"
    return {"sqlite": (column, literal), "postgresql": (column, literal), "redis": {column: text}}


# label -> (the damage in each store it can be written to, the error type, what the message says)
CASES: dict[str, tuple[dict[str, Any], str, str]] = {
    "priority text": (
        {"sqlite": ("priority", "'high'"), "redis": {"priority": "high"}},
        "taskgraph.errors.RefusedJob", "its stored priority 'high' is not a whole number of 64 bits"),
    "priority float": (
        {"sqlite": ("priority", "1.5"), "redis": {"priority": "1.5"}},
        "taskgraph.errors.RefusedJob", "is not a whole number of 64 bits"),
    "priority null": (
        {"redis": {"priority": None}},
        "taskgraph.errors.RefusedJob", "its stored priority None is not a whole number of 64 bits"),
    "priority huge": (
        {"sqlite": ("priority", "99999999999999999999999"), "redis": {"priority": "99999999999999999999999"}},
        "taskgraph.errors.RefusedJob", "is not a whole number of 64 bits"),
    "options not an object": (
        _all("options", "[1, 2]"), "taskgraph.errors.RefusedJob", "its stored options are not an object"),
    "options unparsable": (
        _all("options", "{not json"), "taskgraph.errors.RefusedJob", "its stored options cannot be read"),
    "unknown mode": (
        _all("options", _options(mode='"fibre"')), "taskgraph.errors.RefusedJob",
        "its stored mode 'fibre' is none of thread, process, async"),
    "async mode for a plain function": (
        _all("options", _options(mode='"async"')), "taskgraph.errors.RefusedJob",
        "its stored mode is 'async', but tests.jobs:add is registered with mode 'thread'"),
    "timeout text": (
        _all("options", _options(timeout='"soon"')), "taskgraph.errors.RefusedJob",
        "its stored timeout 'soon' is not a finite number of seconds > 0, nor null"),
    "timeout NaN": (
        _all("options", _options(timeout="NaN")), "taskgraph.errors.RefusedJob",
        "its stored timeout nan is not a finite number of seconds > 0"),
    "timeout negative": (
        _all("options", _options(timeout="-5")), "taskgraph.errors.RefusedJob",
        "its stored timeout -5 is not a finite number of seconds > 0"),
    "timeout huge": (
        _all("options", _options(timeout="1" + "0" * 400)), "taskgraph.errors.RefusedJob",
        f"its stored timeout {'1' + '0' * 59}... is not a finite number"),
    "retries text": (
        _all("options", _options(retries='"3"')), "taskgraph.errors.RefusedJob",
        "its stored retries '3' is not a whole number >= 0"),
    "retries negative": (
        _all("options", _options(retries="-1")), "taskgraph.errors.RefusedJob",
        "its stored retries -1 is not a whole number >= 0"),
    "retries true": (
        _all("options", _options(retries="true")), "taskgraph.errors.RefusedJob",
        "its stored retries True is not a whole number >= 0"),
    "backoff NaN": (
        _all("options", _options(backoff="NaN")), "taskgraph.errors.RefusedJob",
        "its stored backoff nan is not a finite number of seconds >= 0"),
    "backoff negative": (
        _all("options", _options(backoff="-1")), "taskgraph.errors.RefusedJob",
        "its stored backoff -1 is not a finite number of seconds >= 0"),
    "name not module:qualname": (
        _all("name", "no colon here"), "builtins.LookupError",
        "no job named 'no colon here' is known to this worker"),
    "name of no registered job": (
        _all("name", "tests.jobs:not_a_job"), "builtins.LookupError",
        "no job named 'tests.jobs:not_a_job' is known to this worker"),
    "name a blob": (
        {"sqlite": ("name", "x'00ff'")}, "builtins.LookupError", "no job named '\\x00\ufffd' is known to this worker"),
    "payload not JSON": (
        {"sqlite": ("payload", "x'ff00'"), "postgresql": ("payload", "'\\xff00'::bytea"),
         "redis": {"payload": b"\xff\x00"}},
        "taskgraph.errors.SerializationError", "the payload cannot be read as json"),
    "not_before text": (
        {"sqlite": ("not_before", "'soon'"), "redis": {"not_before": "soon"}},
        "taskgraph.errors.RefusedJob", "its stored not_before 'soon' is not a time"),
    "not_before NaN": (
        {"postgresql": ("not_before", "'NaN'::float8"), "redis": {"not_before": "nan"}},
        "taskgraph.errors.RefusedJob", "its stored not_before nan is not a time"),
    "not_before infinite": (
        {"sqlite": ("not_before", "9e999"), "postgresql": ("not_before", "'Infinity'::float8"),
         "redis": {"not_before": "inf"}},
        "taskgraph.errors.RefusedJob", "its stored not_before inf is not a time"),
    "created text": (
        {"sqlite": ("created", "'yesterday'"), "redis": {"created": "yesterday"}},
        "taskgraph.errors.RefusedJob", "its stored created 'yesterday' is not a time"),
    "progress text": (
        {"sqlite": ("progress", "'half'"), "redis": {"progress": "half"}},
        "taskgraph.errors.RefusedJob", "its stored progress 'half' is not a number"),
    "progress message a blob": (
        {"sqlite": ("priority", "'high', progress_message = x'01'")},
        "taskgraph.errors.RefusedJob", "its stored priority 'high' is not a whole number of 64 bits"),
    "created NaN": (
        {"postgresql": ("created", "'NaN'::float8")},
        "taskgraph.errors.RefusedJob", "its stored created nan is not a time"),
}


def _kind(url: str) -> str:
    scheme = urlsplit(url).scheme
    return "postgresql" if scheme.startswith("postgres") else scheme


@pytest.mark.parametrize("label", list(CASES))
def test_a_damaged_record_fails_alone_and_the_worker_serves_the_others(q, store_url, label) -> None:
    damage, kind, message = CASES[label]
    store = _kind(store_url)
    if store not in damage:
        pytest.skip(f"{store}'s column types cannot hold this damage")
    add = q.job("tests.jobs:add")
    before = add.delay(1, 2)
    hit = add.delay(3, 4)
    tamper(store_url, hit.id, damage[store])
    after = add.delay(20, 22)
    serve(q)
    assert before.join(0) == 3 and after.join(0) == 42
    [record] = q.store.get([hit.id])
    assert record.status == "FAILED", record
    assert record.error is not None and record.error["type"] == kind, record.error
    assert message in record.error["message"], record.error
    assert f"job {hit.id}" in record.error["message"], record.error
    assert REFUSED in record.error["message"] and NOT_RETRIED in record.error["message"], record.error
    assert record.attempts == 1 and record.result is None, record
    assert [e.event for e in q.store.history(hit.id)][-1] == "fail"


def test_a_thread_mode_record_of_an_async_function_is_refused_before_running(q, store_url) -> None:
    hit = q.job("tests.jobs:async_add").delay(1, 2)
    tamper(store_url, hit.id, _all("options", _options(mode='"thread"'))[_kind(store_url)])
    good = q.job("tests.jobs:async_add").delay(20, 22)
    serve(q)
    assert good.join(0) == 42
    [record] = q.store.get([hit.id])
    assert record.status == "FAILED" and record.error is not None, record
    assert record.error["type"] == "taskgraph.errors.RefusedJob", record.error
    assert ("its stored mode is 'thread', but tests.jobs:async_add is registered with mode 'async' (an async def "
            "function)" in record.error["message"]), record.error
    with pytest.raises(RefusedJob, match=r"was refused: its stored mode is 'thread'.*will not be retried$"):
        hit.join(0)


def test_many_damaged_records_at_once_each_fail_alone(q, store_url) -> None:
    """Every damage this store can hold, in one claim batch beside good jobs: none stops the claim."""
    store = _kind(store_url)
    add = q.job("tests.jobs:add")
    hit = {}
    for label, (damage, _, _) in CASES.items():
        if store in damage:
            hit[label] = add.delay(0, 0)
            tamper(store_url, hit[label].id, damage[store])
    good = [add.delay(i, i) for i in range(10)]
    serve(q)
    assert [h.join(0) for h in good] == [2 * i for i in range(10)]
    for label, handle in hit.items():
        [record] = q.store.get([handle.id])
        assert record.status == "FAILED", (label, record)
        assert CASES[label][2] in record.error["message"], (label, record.error)
    shown = subprocess.run([sys.executable, "-m", "taskgraph", "status", store_url], capture_output=True, text=True,
                           timeout=60, cwd=ROOT)
    assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
    assert f" of {len(hit)} FAILED)" in shown.stdout, shown.stdout


def test_a_sqlite_record_with_damaged_lease_losses_is_taken_back_and_the_claim_goes_on(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    queue = open_queue(url)
    assert isinstance(queue, DurableQueue)
    try:
        queue.task(jobs.add)
        hit = queue.job("tests.jobs:add").delay(1, 2)
        tamper(url, hit.id, ("status", "'RUNNING', worker = 'gone', lease_expires = 0, lease_losses = 'many'"))
        good = queue.job("tests.jobs:add").delay(20, 22)
        serve(queue)
        assert good.join(0) == 42
        [record] = queue.store.get([hit.id])
        assert record.status == "FAILED" and record.error is not None, record
        assert "its worker was lost" in record.error["message"], record.error
    finally:
        queue.close()


def test_garbage_in_the_redis_ready_and_delayed_sets_is_dropped_and_the_claim_goes_on(q, store_url) -> None:
    if _kind(store_url) != "redis":
        pytest.skip("Redis keeps its queue order in sorted sets of its own")
    import redis

    base, prefix = _split_option(store_url, "prefix")
    client = redis.Redis.from_url(base)
    try:
        client.zadd(f"{prefix}:ready:default", {"short": 0, "0" * 52 + "no-such-job": 0, b"\xff" * 60: 0})
        client.zadd(f"{prefix}:delayed", {"no-such-job": 0, "": 0})
        good = q.job("tests.jobs:add").delay(20, 22)
        serve(q)
        assert good.join(0) == 42
        assert client.zcard(f"{prefix}:ready:default") == 0 and client.zcard(f"{prefix}:delayed") == 0
    finally:
        client.close()


def test_a_queue_field_changed_by_hand_does_not_stop_a_worker(q, store_url) -> None:
    """SQLite: a queue that is not text (a blob) names no queue a worker serves: the job is never claimed, and
    the worker serves the others and finishes. Redis: a job is claimed from its queue's set, and its queue field,
    changed by hand, is put back, so that the counts a burst worker waits on stay true."""
    store = _kind(store_url)
    if store == "postgresql":
        pytest.skip("PostgreSQL's queue column holds text only, and any text is a queue name")
    add = q.job("tests.jobs:add")
    hit = add.delay(1, 2)
    tamper(store_url, hit.id, ("queue", "x'00ff'") if store == "sqlite" else {"queue": ""})
    good = add.delay(20, 22)
    serve(q)
    assert good.join(0) == 42
    [record] = q.store.get([hit.id])
    if store == "sqlite":
        assert record.status == "QUEUED" and record.queue == "\x00\ufffd", record  # read as text, for display
        assert q.stats() == {"b'\\x00\\xff'": {"QUEUED": 1}, "default": {"DONE": 1}}
    else:
        assert record.status == "DONE" and record.queue == "default" and hit.join(0) == 3, record
        assert q.stats() == {"default": {"DONE": 2}}


def _raw_workers(url: str, entries: dict[str, str], expires: float) -> None:
    """Write worker entries straight into a store (after one good registration made its table)."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        with contextlib.closing(sqlite3.connect(urlsplit(url).path[1:], timeout=30)) as db, db:
            db.executemany("INSERT INTO workers (id, info, expires) VALUES (?, ?, ?)",
                           [(k, v, expires) for k, v in entries.items()])
    elif scheme.startswith("postgres"):
        import psycopg

        base, schema = _split_option(url, "schema")
        with psycopg.connect(base, autocommit=True) as conn:
            for k, v in entries.items():
                conn.execute(f'INSERT INTO "{schema}".workers (id, info, expires) VALUES (%s, %s, %s)', (k, v, expires))
    else:
        import redis

        base, prefix = _split_option(url, "prefix")
        client = redis.Redis.from_url(base)
        try:
            for k, v in entries.items():
                client.hset(f"{prefix}:workers", k, v)
                client.zadd(f"{prefix}:workers:expires", {k: expires})
        finally:
            client.close()


def test_damaged_worker_entries_are_left_out_of_the_list_and_the_status(q, store_url) -> None:
    import time

    from click.testing import CliRunner

    from taskgraph.cli import main

    q.store.register_worker({"id": "good", "host": "h", "started": 1.0}, 60)
    _raw_workers(store_url, {"text": "not json", "list": "[1, 2]", "no-id": '{"host": "h"}',
                             "odd": '{"id": "odd", "pid": "x", "queues": 7, "running": "j", "done": "many"}'},
                 time.time() + 60)
    workers = q.workers()
    assert [w.id for w in workers] == ["odd", "good"]  # no start time: first
    odd = workers[0]
    assert (odd.pid, odd.queues, odd.running, odd.done) == (None, (), (), 0)
    result = CliRunner().invoke(main, ["status", store_url], catch_exceptions=False)
    assert result.exit_code == 0 and "Workers (2 live)" in result.output, result.output
