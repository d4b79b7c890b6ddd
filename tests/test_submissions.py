"""Per-call options and checked submissions, against each store: ``JobFunction.enqueue``'s options take effect,
a caller's id is an idempotent submit, metadata round-trips and filters, UUID ids are found in any spelling, and
every bad option, id, metadata, time or argument shape is refused at the caller with a message naming it, before
anything is stored."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from taskgraph import DurableQueue, open_queue
from taskgraph.durable.handle import JobHandle
from taskgraph.stores.records import NewJob
from tests import jobs
from tests.jobs import lines
from tests.test_durable import burst

ADD = "tests.jobs:add"


@pytest.fixture
def q(store_url):
    queue = open_queue(store_url)
    assert isinstance(queue, DurableQueue)
    yield queue
    queue.close()


def refused(option: str, value: object, allowed: str) -> str:
    """The pattern of a refusal's message: the option, what is allowed, the value, the job."""
    return f"^{option} must be {re.escape(allowed)}, not {re.escape(repr(value))} \\(job {ADD}\\)$"


PRIORITY = "a whole number from -2147483648 to 2147483647"
SECONDS = "a finite number of seconds > 0, or None for no limit"
BACKOFF = "a finite number of seconds >= 0"
QUEUE = "a name of 1 to 100 printable characters without spaces or commas"

BAD_OPTIONS = [
    ("priority", "high", PRIORITY),
    ("priority", True, PRIORITY),
    ("priority", 1.5, PRIORITY),
    ("priority", 2**31, PRIORITY),
    ("priority", -(2**31) - 1, PRIORITY),
    ("timeout", 0, SECONDS),
    ("timeout", -1.0, SECONDS),
    ("timeout", float("nan"), SECONDS),
    ("timeout", float("inf"), SECONDS),
    ("timeout", "10", SECONDS),
    ("backoff", -1, BACKOFF),
    ("backoff", float("nan"), BACKOFF),
    ("backoff", float("inf"), BACKOFF),
    ("backoff", True, BACKOFF),
    ("retries", -1, "a whole number >= 0"),
    ("retries", 1.5, "a whole number >= 0"),
    ("retries", True, "a whole number >= 0"),
    ("queue", "", QUEUE),
    ("queue", "a b", QUEUE),
    ("queue", "x" * 101, QUEUE),
    ("queue", "mail\n", QUEUE),
    ("queue", "mail,sms", QUEUE),
    ("queue", "nul\x00", QUEUE),
    ("queue", 3, QUEUE),
    ("mode", "fork", "one of thread, process, async"),
    ("daemon", "yes", "True or False"),
]


@pytest.mark.parametrize("option, value, allowed", BAD_OPTIONS, ids=[f"{o}={v!r}" for o, v, _ in BAD_OPTIONS])
def test_a_bad_option_is_refused_where_the_job_is_declared(q, option, value, allowed):
    with pytest.raises(ValueError, match=refused(option, value, allowed)):
        q.task(jobs.add, **{option: value})
    assert q.job(ADD) is None


@pytest.mark.parametrize("option, value, allowed", BAD_OPTIONS, ids=[f"{o}={v!r}" for o, v, _ in BAD_OPTIONS])
def test_a_bad_option_is_refused_per_call_and_nothing_is_stored(q, option, value, allowed):
    add = q.task(jobs.add)
    with pytest.raises(ValueError, match=refused(option, value, allowed)):
        add.enqueue((1, 2), **{option: value})
    assert q.list() == []


IDS = "a string of 1 to 200 printable characters without spaces"
BAD_IDS = ["", "order 42", "tab\there", "x" * 201, "nul\x00", 42, b"bytes"]


@pytest.mark.parametrize("bad", BAD_IDS, ids=[repr(b)[:20] for b in BAD_IDS])
def test_a_bad_id_is_refused(q, bad):
    with pytest.raises(ValueError, match=refused("id", bad, IDS)):
        q.task(jobs.add).enqueue((1, 2), id=bad)
    assert q.list() == []


BAD_METADATA = [
    (["a"], "not"),
    ({1: "a"}, "not"),
    ({"a": (1, 2)}, "reads back as {'a': [1, 2]}"),
    ({"a": {2: "x"}}, "reads back as {'a': {'2': 'x'}}"),
    ({"a": float("nan")}, "Out of range float values are not JSON compliant"),
    ({"a": object()}, "Object of type object is not JSON serializable"),
    ({"big": "x" * 70000}, "at most 65536 bytes of JSON, not 70011 bytes"),
]


@pytest.mark.parametrize("bad, why", BAD_METADATA, ids=[w[:20] for _, w in BAD_METADATA])
def test_bad_metadata_is_refused(q, bad, why):
    with pytest.raises(ValueError, match=f"^metadata must be .*{re.escape(why)}.*\\(job {ADD}\\)$"):
        q.task(jobs.add).enqueue((1, 2), metadata=bad)
    assert q.list() == []
    with pytest.raises(ValueError, match="^metadata must be"):
        q.list(metadata=bad)


@pytest.mark.parametrize(
    "times, message",
    [
        ({"at": "tomorrow"}, "at must be a datetime or finite epoch seconds, not 'tomorrow'"),
        ({"at": float("nan")}, "at must be a datetime or finite epoch seconds, not nan"),
        ({"delay": float("inf")}, "delay must be a finite number of seconds or a timedelta, not inf"),
        ({"delay": "5"}, "delay must be a finite number of seconds or a timedelta, not '5'"),
    ],
)
def test_a_bad_time_is_refused(q, times, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)} \\(job {ADD}\\)$"):
        q.task(jobs.add).enqueue((1, 2), **times)
    assert q.list() == []


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda add: add.delay(1), "missing a required argument: 'b'"),
        (lambda add: add.delay(1, 2, 3), "too many positional arguments"),
        (lambda add: add.delay(1, b=2, c=3), "got an unexpected keyword argument 'c'"),
        (lambda add: add.delay(1, a=2), "multiple values for argument 'a'"),
        (lambda add: add.schedule(5, 1), "missing a required argument: 'b'"),
        (lambda add: add.enqueue((1,)), "missing a required argument: 'b'"),
        (lambda add: add.enqueue((1,), {"b": 2, "c": 3}), "got an unexpected keyword argument 'c'"),
        (lambda add: add.enqueue(5), "args must be a list or tuple of arguments, not int"),
        (lambda add: add.enqueue("ab"), "args must be a list or tuple of arguments, not str"),
    ],
    ids=["missing", "too-many", "unknown-kw", "twice", "schedule", "enqueue", "enqueue-kw", "int", "str"],
)
def test_arguments_that_do_not_fit_the_signature_are_refused(q, call, message):
    add = q.task(jobs.add)
    with pytest.raises(TypeError, match=f"^job {ADD}: {re.escape(message)}$"):
        call(add)
    assert q.list() == []


def test_a_per_call_mode_must_fit_the_function(q):
    with pytest.raises(TypeError, match="async_add is an async def function"):
        q.task(jobs.async_add).enqueue((1, 2), mode="thread")
    assert q.list() == []


# ------------------------------------------------------------------ options that take effect


def test_per_call_priority_orders_the_claims(q, tmp_path):
    path = tmp_path / "order"
    count = q.task(jobs.count, priority=100)
    handles = [count.enqueue((str(path), f"p{p}"), priority=p) for p in (5, 0, 9)]
    plain = count.delay(str(path), "declared")
    assert [h.record().priority for h in handles] == [5, 0, 9]
    assert plain.record().priority == 100
    burst(q, threads=1, batch=1)
    assert lines(path) == ["declared", "p9", "p5", "p0"]


def test_per_call_queue_routes_the_job(q, tmp_path):
    path = tmp_path / "count"
    count = q.task(jobs.count)
    mail = count.enqueue((str(path), "mail"), queue="mail")
    default = count.delay(str(path), "default")
    assert (mail.record().queue, mail.record().options["queue"]) == ("mail", "mail")
    burst(q, queues=["mail"])
    assert mail.join(timeout=5) == "mail"
    assert default.status() == "QUEUED"
    assert q.stats() == {"mail": {"DONE": 1}, "default": {"QUEUED": 1}}


def test_per_call_timeout_takes_effect(q):
    sleep = q.task(jobs.sleep)  # no timeout declared
    h = sleep.enqueue((1.0,), timeout=0.2)
    begun = time.monotonic()
    burst(q)
    assert time.monotonic() - begun < 0.9  # failed at its timeout, not when the thread ended
    assert h.status() == "FAILED"
    with pytest.raises(TimeoutError, match="timeout of 0.2 s"):
        h.join(timeout=5)


def test_per_call_retries_take_effect(q, tmp_path):
    flaky = q.task(jobs.flaky)  # no retries declared
    retried = flaky.enqueue((str(tmp_path / "a"), 2), retries=2, backoff=0)
    once = flaky.delay(str(tmp_path / "b"), 2)
    burst(q)
    assert retried.join(timeout=5) == 3
    assert retried.record().attempts == 3
    assert once.status() == "FAILED" and once.record().attempts == 1


def test_at_and_delay_set_when_it_may_start(q):
    add = q.task(jobs.add)
    when = datetime.now(timezone.utc) + timedelta(hours=1)
    assert add.enqueue((1, 2), at=when).record().not_before == pytest.approx(when.timestamp())
    assert add.enqueue((1, 2), at=when.timestamp() + 60).record().not_before == pytest.approx(when.timestamp() + 60)
    later = add.enqueue((1, 2), delay=timedelta(hours=2)).record().not_before
    assert later == pytest.approx(time.time() + 7200, abs=60)
    both = add.enqueue((1, 2), at=when, delay=7200).record().not_before  # the later of the two
    assert both == pytest.approx(time.time() + 7200, abs=60)
    now = add.enqueue((1, 2)).record().not_before
    assert now <= time.time() + 60


# ------------------------------------------------------------------ ids


def test_an_id_is_an_idempotent_submit(q, tmp_path):
    path = tmp_path / "runs"
    count = q.task(jobs.count)
    first = count.enqueue((str(path), "first"), id="order-42")
    again = count.enqueue((str(path), "second"), id="order-42", priority=9, metadata={"x": 1})
    assert first == again and first.id == "order-42"
    assert len(q.list()) == 1
    burst(q)
    assert first.join(timeout=5) == "first"
    after = count.enqueue((str(path), "third"), id="order-42")  # after it finished: still the same job
    assert after == first and after.status() == "DONE"
    burst(q)
    assert lines(path) == ["first"]  # run once
    assert after.record().metadata == {}


def test_any_printable_id_round_trips(q):
    add = q.task(jobs.add)
    odd = "ünï'\";--*[x]:{}%s$1🙂" + "x" * 180
    h = add.enqueue((1, 2), id=odd)
    assert h.id == odd and q.get(odd) == h and add.enqueue((3, 4), id=odd) == h
    burst(q)
    assert h.join(timeout=5) == 3 and [r.id for r in q.list()] == [odd]


@pytest.mark.parametrize("end", ["FAILED", "CANCELLED"])
def test_an_id_does_not_run_a_failed_or_cancelled_job_again(q, end):
    # unlike a task's key, which queues a FAILED or CANCELLED job again
    fail = q.task(jobs.fail)
    h = fail.enqueue(("boom",), id="nightly-2026-12-03")
    if end == "CANCELLED":
        q.cancel([h.id])
    burst(q)
    history = h.history()
    assert fail.enqueue(("again",), id="nightly-2026-12-03") == h
    assert h.status() == end and h.history() == history


def test_dashed_uuids_find_the_job_everywhere(q):
    add = q.task(jobs.add)
    h = add.delay(1, 2)
    dashed = str(uuid.UUID(h.id))
    assert dashed != h.id
    assert q.get(dashed) == h and q.get(dashed.upper()) == h
    assert JobHandle(q, dashed).status() == "QUEUED"
    assert q.cancel([dashed]) == [h.id]
    assert q.retry([f"{{{dashed}}}"]) == [h.id]
    given = str(uuid.uuid4())  # a caller's id in the dashed form is stored as its 32 hex digits
    mine = add.enqueue((1, 2), id=given)
    assert mine.id == uuid.UUID(given).hex
    assert q.get(given) == mine and add.enqueue((3, 4), id=uuid.UUID(given).hex) == mine
    assert q.get("no-such-job") is None


# ------------------------------------------------------------------ metadata


def test_metadata_round_trips_and_filters(q):
    add = q.task(jobs.add)
    a = add.enqueue((1, 2), metadata={"tenant": "acme", "n": 1, "tags": ["x"]})
    b = add.enqueue((3, 4), metadata={"tenant": "other"})
    c = add.delay(5, 6)
    assert a.record().metadata == {"tenant": "acme", "n": 1, "tags": ["x"]}
    assert c.record().metadata == {}
    assert [r.id for r in q.list(metadata={"tenant": "acme"})] == [a.id]
    assert [r.id for r in q.list(metadata={"tenant": "acme", "n": 1})] == [a.id]
    assert q.list(metadata={"tenant": "acme", "n": 2}) == []
    assert [r.id for r in q.list(metadata={})] == [c.id, b.id, a.id]
    burst(q)
    assert a.join(timeout=5) == 3 and a.record().metadata["tenant"] == "acme"  # kept through the run
    assert [r.id for r in q.list(status="DONE", metadata={"tenant": "other"})] == [b.id]


def test_a_job_stored_without_metadata_reads_as_empty(q):
    # rows written before metadata existed, or by another writer: options without it, or with something else
    payload = b'{"v":1,"args":[1,2],"kwargs":{}}'
    plain, odd = q.store.enqueue([
        NewJob(id=uuid.uuid4().hex, name=ADD, payload=payload, options={"mode": "thread"}),
        NewJob(id=uuid.uuid4().hex, name=ADD, payload=payload, options={"mode": "thread", "metadata": "text"}),
    ])
    assert q.get(plain.id).record().metadata == {} == q.get(odd.id).record().metadata
    assert q.list(metadata={"tenant": "acme"}) == []
