"""The Redis store against the store contract, and what is particular to it: key prefixes, the server's clock,
the ready-set order, waking, and clear errors for bad URLs and servers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from taskgraph.stores.base import Store, StoreError
from taskgraph.stores.records import JobRecord
from taskgraph.testing import StoreContract, new_job, wakes
from taskgraph.urls import redact

from .conftest import unique_name

redis = pytest.importorskip("redis")

from taskgraph.stores.redis import RedisStore, open_redis  # noqa: E402

#: The key kinds the store writes after its prefix; a key that starts with one of them was written unprefixed.
KINDS = {
    "job", "ready", "running", "delayed", "finished", "all", "events", "edges", "after", "keys", "counts", "seq",
    "wake", "changes",
}


def with_prefix(url: str, prefix: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&prefix={prefix}" if parts.query else f"prefix={prefix}"
    return urlunsplit(parts._replace(query=query))


def with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{user}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def keys_under(client: redis.Redis, prefix: str) -> list[bytes]:
    return list(client.scan_iter(match=f"{prefix}:*", count=1000))


def drop(client: redis.Redis, prefix: str) -> None:
    keys = keys_under(client, prefix)
    for i in range(0, len(keys), 500):
        client.delete(*keys[i : i + 500])


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    raw = redis.Redis.from_url(redis_url, socket_connect_timeout=5)
    yield raw
    raw.close()


@pytest.fixture
def prefixed(redis_url: str, client: redis.Redis) -> Iterator[Callable[[str], Callable[[], RedisStore]]]:
    """``prefixed(prefix)`` is a connect function for that prefix; every key under it is deleted afterwards."""
    used: list[str] = []
    opened: list[RedisStore] = []

    def make(prefix: str) -> Callable[[], RedisStore]:
        used.append(prefix)

        def connect() -> RedisStore:
            store = RedisStore(with_prefix(redis_url, prefix))
            opened.append(store)
            return store

        return connect

    yield make
    for store in opened:
        store.close()
    for prefix in used:
        drop(client, prefix)


class TestRedisStore(StoreContract):
    @pytest.fixture
    def connect(self, prefixed: Callable[[str], Callable[[], RedisStore]]) -> Callable[[], RedisStore]:
        return prefixed(unique_name("tg"))


@pytest.fixture
def store(prefixed: Callable[[str], Callable[[], RedisStore]]) -> RedisStore:
    return prefixed(unique_name("tg"))()


def timed(call: Callable[[], object]) -> float:
    started = time.monotonic()
    call()
    return time.monotonic() - started


def claim_all(store: Store, queues: list[str] | None = None) -> list[JobRecord]:
    claimed: list[JobRecord] = []
    while True:
        batch = store.claim("w", queues or ["default"], 3, 30)
        if not batch:
            return claimed
        claimed.extend(batch)


# ---------------------------------------------------------------------------------------------- prefixes


def test_two_prefixes_neither_see_nor_wake_each_other(prefixed: Callable[[str], Callable[[], RedisStore]]) -> None:
    a, b = prefixed(unique_name("tg"))(), prefixed(unique_name("tg"))()
    a.wait(0)
    [job] = b.enqueue([new_job(key="shared")])
    assert a.get([job.id]) == [] and a.list_jobs() == [] and a.stats() == {} and a.history(job.id) == []
    assert a.claim("w", ["default"], 10, 30) == []
    assert a.cancel([job.id]) == [] and a.heartbeat("w", [job.id], 30) == set()
    [mine] = a.enqueue([new_job(key="shared")])
    assert mine.id != job.id  # the key is per prefix

    # a's waits are not woken by b's changes (once a has taken note of its own): a change made after a took note
    # would wake a's next wait at once if it reached a's keys, so the change need not race the wait
    a.claim("w", ["default"], 10, 30)
    a.wait_for_work(["default"], 0.01)
    a.wait(0)
    b.enqueue([new_job()])
    assert timed(lambda: a.wait_for_work(["default"], 1.0)) >= 0.9, "woken by the other prefix's enqueue"
    b.enqueue([new_job()])
    assert timed(lambda: a.wait(1.0)) >= 0.9, "woken by the other prefix's change"
    assert [r.status for r in b.list_jobs()] == ["QUEUED", "QUEUED", "QUEUED"]
    assert a.stats() == {"default": {"RUNNING": 1}}


def test_every_key_starts_with_the_prefix(
    prefixed: Callable[[str], Callable[[], RedisStore]], client: redis.Redis
) -> None:
    prefix = unique_name("tg")
    token = unique_name("tok")  # in every queue, id, key and worker name, so a key built from them shows it
    before = set(client.scan_iter(count=1000))
    store = prefixed(prefix)()
    a = new_job(id=f"{token}-a", queue=f"q-{token}", key=f"k-{token}")
    b = new_job(id=f"{token}-b", queue=f"q-{token}", after=[a.id])
    c = new_job(id=f"{token}-c", queue=f"q-{token}", delay=0.05)
    d = new_job(id=f"{token}-d", queue=f"other-{token}", after=[b.id])
    store.enqueue([a, b, c, d])
    worker = f"w-{token}"
    [ra] = store.claim(worker, [f"q-{token}"], 1, 30)
    store.heartbeat(worker, [ra.id], 30)
    store.set_progress(worker, ra.id, 0.5, "half")
    store.complete(worker, [(ra.id, b"1")])
    [rb] = store.claim(worker, [f"q-{token}"], 1, 30)
    store.release(worker, [rb.id])
    [rb] = store.claim(worker, [f"q-{token}"], 1, 30)
    store.fail(worker, rb.id, {"type": "builtins.ValueError", "message": "x", "traceback": ""}, None)
    store.wait_for_work([f"q-{token}"], 0.2)
    store.claim(worker, [f"q-{token}", f"other-{token}"], 5, 0.01)
    store.cancel([c.id])
    store.wait(0.05)
    store.enqueue([new_job(id=f"{token}-e", queue=f"q-{token}", key=f"k-{token}")])
    store.stats()
    store.list_jobs(queue=f"q-{token}")
    assert store.purge(-1) >= 1
    written = set(client.scan_iter(count=1000)) - before
    ours = {k for k in written if k.startswith(f"{prefix}:".encode())}
    assert ours, "the workload wrote nothing under the prefix"
    stray = [k for k in written - ours if token.encode() in k or k.split(b":")[0].decode("utf-8", "replace") in KINDS]
    assert stray == []
    assert all(k.startswith(f"{prefix}:".encode()) for k in client.scan_iter(match=f"*{token}*", count=1000))


# ---------------------------------------------------------------------------------------------- order and time


def order_scenario(store: Store) -> list[str]:
    """Priority, FIFO, delays, a hand-back and a retry together; returns the names in the order claimed."""
    store.enqueue([
        new_job("a", priority=0),
        new_job("b", priority=5),
        new_job("c", priority=0, delay=0.3),
        new_job("d", priority=0),
        new_job("e", priority=5, delay=0.3),
        new_job("f", priority=-3),
        new_job("g", priority=2**62),
        new_job("h", priority=0, queue="other"),
    ])
    [held] = store.claim("holder", ["default"], 1, 30)
    assert held.name == "g"
    [retried] = store.claim("holder", ["default"], 1, 30)
    assert retried.name == "b"
    time.sleep(0.4)  # let the delayed jobs come due (a time-based contract, not synchronisation)
    store.release("holder", [held.id])  # not_before now: behind everything of its priority already due
    store.enqueue([new_job("i", priority=0)])
    assert store.fail("holder", retried.id, {"type": "builtins.ValueError", "message": "x", "traceback": ""}, 0.0)
    return [r.name for r in claim_all(store, ["default", "other"])]


def test_order_is_priority_then_not_before_then_enqueue_order_like_sqlite(store: RedisStore, tmp_path) -> None:
    from taskgraph.stores.sqlite import SQLiteStore

    expected = ["g", "e", "b", "a", "d", "c", "i", "f", "h"]  # h last: its queue is named after default
    assert order_scenario(store) == expected
    with SQLiteStore(str(tmp_path / "jobs.db")) as sqlite:
        assert order_scenario(sqlite) == expected


def test_claim_takes_queues_in_the_order_named_once_each(store: RedisStore) -> None:
    a, b, c, d = store.enqueue([
        new_job(queue="x"), new_job(queue="y", priority=1), new_job(queue="x", priority=1), new_job(queue="y")
    ])
    claimed = store.claim("w", ["x", "y", "x"], 3, 30)
    assert [r.id for r in claimed] == [c.id, a.id, b.id]
    assert [r.id for r in store.claim("w", ["y", "x"], 3, 30)] == [d.id]


def test_times_come_from_the_servers_clock(store: RedisStore, client: redis.Redis) -> None:
    seconds, micros = client.time()
    server_now = seconds + micros / 1e6
    [delayed, absolute, earlier] = store.enqueue([
        new_job(delay=100),
        new_job(not_before=server_now + 3600, delay=100),
        new_job(not_before=server_now - 3600, delay=50),
    ])
    assert abs(delayed.created - server_now) < 2
    assert delayed.not_before == pytest.approx(delayed.created + 100, abs=1e-5)
    assert absolute.not_before == pytest.approx(server_now + 3600, abs=1e-5)  # the later of the two
    assert earlier.not_before == pytest.approx(earlier.created + 50, abs=1e-5)
    [job] = store.enqueue([new_job()])
    [claimed] = store.claim("w", ["default"], 1, 7.5)
    assert claimed.started is not None and claimed.lease_expires == pytest.approx(claimed.started + 7.5, abs=1e-5)


def test_a_delayed_job_wakes_an_idle_worker_when_it_comes_due(store: RedisStore) -> None:
    store.enqueue([new_job(delay=0.4)])
    store.wait_for_work(["default"], 5)  # the enqueue's own wake-up
    assert store.claim("w", ["default"], 1, 30) == []
    started = time.monotonic()
    store.wait_for_work(["default"], 10)
    assert time.monotonic() - started < 3
    deadline = time.monotonic() + 5
    claimed: list[JobRecord] = []
    while not claimed and time.monotonic() < deadline:
        claimed = store.claim("w", ["default"], 1, 30)
    assert len(claimed) == 1


# ---------------------------------------------------------------------------------------------- values and bookkeeping


def test_bytes_and_text_round_trip_everywhere(store: RedisStore) -> None:
    queue, worker = "qüeue 'x'; \"y\" ✓", "wörker ; 'w'"
    payload, result = b"\x00\x01\x02 NUL \x00 end \xff", b"\x00result\x00\xfe"
    [job] = store.enqueue([new_job(queue=queue, payload=payload)])
    [claimed] = store.claim(worker, [queue], 1, 30)
    assert claimed.payload == payload and claimed.worker == worker and claimed.queue == queue
    assert store.set_progress(worker, job.id, 0.5, "hälf; 'way' \x00") is True
    assert store.get([job.id])[0].progress_message == "hälf; 'way' \x00"
    assert store.complete(worker, [(job.id, result)]) == [job.id]
    assert store.get([job.id])[0].result == result
    assert store.history(job.id)[-1].worker == worker
    assert store.stats() == {queue: {"DONE": 1}}
    [other] = store.enqueue([new_job()])
    store.claim(worker, ["default"], 1, 30)
    error = {"type": "x.Error", "message": "ünïcødé ' \" ; \x00", "traceback": "line 1\nline 2"}
    assert store.fail(worker, other.id, error, None)
    assert store.get([other.id])[0].error == error


def test_a_cascaded_failure_carries_args(store: RedisStore) -> None:
    a = new_job("mod:a'quote")
    b = new_job("mod:b", after=[a.id])
    store.enqueue([a, b])
    store.claim("w", ["default"], 1, 30)
    store.fail("w", a.id, {"type": "builtins.ValueError", "message": "x", "traceback": ""}, None)
    [rb] = store.get([b.id])
    assert rb.error == {
        "type": "taskgraph.errors.BlockedError",
        "message": f"task 'mod:b' is blocked: prerequisite {a.name!r} is FAILED",
        "args": ["mod:b", [[a.name, "FAILED"]]],
        "traceback": "",
    }
    event = store.history(b.id)[-1]
    assert (event.event, event.source, event.dest) == ("fail", "PENDING", "FAILED")
    assert event.detail == f"prerequisite {a.name!r}"


def test_a_blocked_job_is_called_by_its_key_if_it_has_one(store: RedisStore, tmp_path) -> None:
    from taskgraph.stores.sqlite import SQLiteStore

    def scenario(store: Store) -> list[object]:
        a = new_job("mod:a", key="key 'a' ✓")
        b = new_job("mod:b", key="kb", after=[a.id])
        c = new_job("mod:c", after=[b.id])
        store.enqueue([a, b, c])
        store.claim("w", ["default"], 1, 30)
        store.fail("w", a.id, {"type": "builtins.ValueError", "message": "x", "traceback": ""}, None)
        [late] = store.enqueue([new_job("mod:late", key="k late", after=[b.id])])
        [plain] = store.enqueue([new_job("mod:plain", after=[a.id])])
        records = store.get([b.id, c.id]) + [late, plain]
        return [r.error for r in records] + [store.history(c.id)[-1].detail]

    with SQLiteStore(str(tmp_path / "jobs.db")) as sqlite:
        expected = scenario(sqlite)
    assert scenario(store) == expected
    assert expected[0]["message"] == "task 'kb' is blocked: prerequisite \"key 'a' ✓\" is FAILED"  # type: ignore[index]


def test_a_prerequisite_named_twice_is_waited_for_once(store: RedisStore) -> None:
    a = new_job()
    b = new_job(after=[a.id, a.id])
    assert [r.waiting for r in store.enqueue([a, b])] == [0, 1]
    store.claim("w", ["default"], 1, 30)
    store.complete("w", [(a.id, b"")])
    assert store.get([b.id])[0].status == "QUEUED"


def test_a_missing_prerequisite_changes_nothing(store: RedisStore) -> None:
    first = new_job()
    with pytest.raises(StoreError, match="not in the store"):
        store.enqueue([first, new_job(after=["nowhere"])])
    assert store.get([first.id]) == [] and store.stats() == {} and store.list_jobs() == []


def test_enqueueing_the_same_id_again_returns_the_job(store: RedisStore) -> None:
    job = new_job(payload=b"first")
    store.enqueue([job])
    [again] = store.enqueue([new_job(id=job.id, payload=b"second")])
    assert again.payload == b"first" and len(store.list_jobs()) == 1 and store.stats() == {"default": {"QUEUED": 1}}


def test_keys_in_one_call_and_a_reset_into_another_queue(store: RedisStore) -> None:
    one, two = store.enqueue([new_job(key="k"), new_job(key="k")])
    assert one.id == two.id and store.stats() == {"default": {"QUEUED": 1}}
    store.cancel([one.id])
    [again] = store.enqueue([new_job(key="k", queue="mail", priority=3)])
    assert again.id == one.id and (again.status, again.queue, again.priority) == ("QUEUED", "mail", 3)
    assert again.finished is None and store.stats() == {"mail": {"QUEUED": 1}}
    assert [r.id for r in store.claim("w", ["mail"], 5, 30)] == [one.id]
    assert store.claim("w", ["default"], 5, 30) == []


def test_stats_stay_exact_through_every_transition(store: RedisStore) -> None:
    error = {"type": "builtins.ValueError", "message": "x", "traceback": ""}
    a, b, c = new_job(), new_job(queue="q2"), new_job(queue="q2")
    d = new_job(after=[a.id, b.id])
    e = new_job(after=[d.id], queue="q3")
    f = new_job(after=[c.id])
    store.enqueue([a, b, c, d, e, f, new_job(delay=3600), new_job(key="kk")])
    store.claim("w", ["q2", "default"], 3, 30)  # b and c, then a
    store.complete("w", [(a.id, b"")])
    store.fail("w", c.id, error, None)
    store.release("w", [b.id])
    store.claim("w", ["q2"], 1, 30)
    store.fail("w", b.id, error, 0)
    store.claim("w", ["q2"], 1, 30)
    store.complete("w", [(b.id, b"")])
    store.claim("w", ["default"], 1, 0.01)
    time.sleep(0.05)  # let the lease run out (a time-based contract, not synchronisation)
    store.claim("w2", ["nothing"], 1, 30)  # takes the lease back
    store.cancel([e.id])
    assert store.purge(-1) >= 4
    [x] = store.enqueue([new_job(key="fresh", queue="q5"), new_job(key="cancelled")])[:1]
    store.cancel([store.enqueue([new_job(key="cancelled")])[0].id])
    store.claim("w", ["q5"], 1, 30)
    store.fail("w", x.id, error, None)
    store.enqueue([new_job(key="cancelled", queue="q4", after=[x.id])])  # reset into another queue, blocked
    recount: dict[str, dict[str, int]] = {}
    for record in store.list_jobs(limit=-1):
        recount.setdefault(record.queue, {}).setdefault(record.status, 0)
        recount[record.queue][record.status] += 1
    assert store.stats() == recount
    assert recount["q4"] == {"FAILED": 1} and recount["q5"] == {"FAILED": 1} and "CANCELLED" not in recount["default"]


def test_purge_deletes_every_key_of_a_job(store: RedisStore, client: redis.Redis) -> None:
    a = new_job(key="the key")
    b = new_job(after=[a.id])
    store.enqueue([a, b])
    store.claim("w", ["default"], 1, 30)
    store.complete("w", [(a.id, b"")])
    store.claim("w", ["default"], 1, 30)
    store.complete("w", [(b.id, b"")])
    assert store.purge(-1) == 2
    left = {k.decode() for k in keys_under(client, store.prefix)}
    assert not [k for k in left if a.id in k or b.id in k]
    assert client.hlen(f"{store.prefix}:keys") == 0 and client.zcard(f"{store.prefix}:all") == 0
    assert store.stats() == {}
    [fresh] = store.enqueue([new_job(key="the key")])
    assert fresh.id != a.id


def test_the_wake_list_stays_short(store: RedisStore, client: redis.Redis) -> None:
    for _ in range(50):
        store.enqueue([new_job()])
    store.enqueue([new_job() for _ in range(100)])
    assert client.llen(f"{store.prefix}:wake:default") <= 16


# ---------------------------------------------------------------------------------------------- waking


def test_wait_misses_no_change_between_two_calls(prefixed: Callable[[str], Callable[[], RedisStore]]) -> None:
    connect = prefixed(unique_name("tg"))
    waiter, writer = connect(), connect()
    waiter.wait(0)
    [job] = writer.enqueue([new_job()])
    started = time.monotonic()
    waiter.wait(10)
    assert time.monotonic() - started < 2
    writer.claim("w", ["default"], 1, 30)  # a status change without an enqueue wakes too
    started = time.monotonic()
    waiter.wait(10)
    assert time.monotonic() - started < 2
    started = time.monotonic()
    waiter.wait(0.3)  # nothing new: waits its time
    assert time.monotonic() - started >= 0.25
    assert job.id


@pytest.mark.parametrize("how", ["release", "continuation", "hand-back"])
def test_wait_for_work_wakes_on_new_ready_work(prefixed: Callable[[str], Callable[[], RedisStore]], how: str) -> None:
    connect = prefixed(unique_name("tg"))
    idle, other = connect(), connect()
    a = new_job()
    b = new_job(after=[a.id])
    other.enqueue([a, b])
    while idle.claim("w", ["default"], 5, 30):
        pass
    idle.wait_for_work(["default"], 0.01)  # the enqueue's own wake-up
    done: list[str] = []

    def act() -> None:
        done.extend(other.release("w", [a.id]) if how == "hand-back" else other.complete("w", [(a.id, b"")]))

    assert wakes(lambda t: idle.wait_for_work(["default"], t), act)
    assert done == [a.id]


# ---------------------------------------------------------------------------------------------- URLs and servers


def test_an_unreachable_server_is_a_clear_error() -> None:
    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        RedisStore("redis://someone:s3cret-pw@127.0.0.1:1/0")
    message = str(caught.value)
    assert "redis://someone:***@127.0.0.1:1/0" in message and "s3cret-pw" not in message
    assert "cannot reach" in message and "\n" not in message
    assert time.monotonic() - started < 10


def test_refused_credentials_are_a_clear_error(redis_url: str) -> None:
    url = with_credentials(redis_url, unique_name("nobody"), "n0t-the-pa55word")
    with pytest.raises(StoreError) as caught:
        open_redis(urlsplit(url))
    message = str(caught.value)
    assert "n0t-the-pa55word" not in message and ":***@" in message
    assert "refused the credentials" in message and "password" in message


def test_open_redis_reads_the_prefix(redis_url: str, client: redis.Redis) -> None:
    prefix = unique_name("tg")
    try:
        with open_redis(urlsplit(with_prefix(redis_url, prefix))) as store:
            assert isinstance(store, RedisStore) and store.prefix == prefix
            store.enqueue([new_job()])
            assert keys_under(client, prefix)
        with open_redis(urlsplit(redis_url)) as store:
            assert store.prefix == "taskgraph"
    finally:
        drop(client, prefix)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("redis://:pw-123@127.0.0.1:6379/0?prefix=", "prefix is empty"),
        ("redis://:pw-123@127.0.0.1:6379/0?prefix=a:b", "not valid"),
        ("redis://:pw-123@127.0.0.1:6379/0?prefix=tg*", "not valid"),
        ("redis://:pw-123@127.0.0.1:6379/0?prefix=a&prefix=b", "twice"),
        ("redis://:pw-123@127.0.0.1:6379/0?colour=blue", "unknown option 'colour'"),
        ("redis://:pw-123@127.0.0.1:port/0", "port must be a number"),
        ("redis://:pw-123@127.0.0.1:6379/zero", "database number"),
        ("redis://:pw-123@127.0.0.1:6379/0?socket_timeout=soon", "socket_timeout"),
        ("http://:pw-123@127.0.0.1:6379/0", "scheme must be"),
    ],
)
def test_a_malformed_url_is_a_clear_error(url: str, words: str) -> None:
    with pytest.raises(StoreError) as caught:
        open_redis(urlsplit(url))
    message = str(caught.value)
    assert words in message and "pw-123" not in message and ":***@" in message


def test_the_url_attribute_is_the_redacted_url(redis_url: str, prefixed) -> None:
    store = prefixed(unique_name("tg"))()
    full = with_prefix(redis_url, store.prefix)
    assert store.url == redact(full) and repr(store) == f"RedisStore({redact(full)!r})"
    password = urlsplit(redis_url).password
    assert not password or password not in store.url


# ---------------------------------------------------------------------------------------------- dashboard views


def test_finished_per_minute_counts_a_burst_a_few_jobs_a_call_and_keeps_the_counts(
        store: RedisStore, monkeypatch: pytest.MonkeyPatch):
    from taskgraph.stores import views_redis

    monkeypatch.setattr(views_redis, "_COUNT_BUDGET", 3)  # a burst far over a call's budget
    calls: list[object] = []
    script = store._views()[0]
    monkeypatch.setattr(store, "_view_scripts", (lambda *a, **k: calls.append(1) or script(*a, **k),
                                                 *store._views()[1:]))
    store.enqueue([new_job() for _ in range(12)])
    claimed = store.claim("w", ["default"], 12, 30)
    store.complete("w", [(r.id, b"1") for r in claimed[:5]])  # five jobs ending together share a finish time
    store.complete("w", [(r.id, b"1") for r in claimed[5:9]])
    for r in claimed[9:]:
        store.fail("w", r.id, {"type": "E", "message": "m", "traceback": ""}, None)
    counts = store.finished_per_minute(5)
    assert (sum(counts["DONE"]), sum(counts["FAILED"])) == (9, 3)
    assert len(calls) >= 3  # the budget cut the burst into several calls, never inside a shared finish time
    calls.clear()
    assert store.finished_per_minute(5) == counts and len(calls) == 1  # counted once: kept
    store.retry([claimed[9].id])  # a counted job leaves the finished set: its minute is counted again
    store.delete([claimed[0].id])
    again = store.finished_per_minute(5)
    assert (sum(again["DONE"]), sum(again["FAILED"])) == (8, 2)


def test_a_deep_filtered_page_is_walked_in_the_server(store: RedisStore, monkeypatch: pytest.MonkeyPatch):
    from taskgraph.stores import views_redis

    monkeypatch.setattr(views_redis, "_BUDGET", 7)  # several calls, each skipping part of the offset
    jobs = [new_job(queue="a" if i % 4 else "b", metadata={"even": i % 2 == 0}) for i in range(60)]
    store.enqueue(jobs)
    newest = [j.id for j in reversed(jobs) if j.queue == "a"]
    assert [r.id for r in store.list_jobs(queue="a", offset=20, limit=9)] == newest[20:29]
    assert [r.id for r in store.list_jobs(queue="a", offset=40)] == newest[40:]
    even = [j.id for j in reversed(jobs) if j.queue == "a" and j.metadata == {"even": True}]
    assert len(even) == 15 and [r.id for r in store.list_jobs(queue="a", metadata={"even": True}, offset=5,
                                                               limit=6)] == even[5:11]


def test_a_single_plain_enqueue_writes_what_the_general_script_writes(store: RedisStore, client: redis.Redis) -> None:
    # enqueue_ids of one plain job (delay()) runs the lean script; enqueue() the general one: same record and keys
    lean = new_job(priority=3, queue="q1", options={"mode": "thread", "retries": 2})
    [lean_id] = store.enqueue_ids([lean])
    general = new_job(priority=3, queue="q1", options={"mode": "thread", "retries": 2})
    store.enqueue([general])
    assert lean_id == lean.id
    p = store.prefix
    ours, theirs = client.hgetall(f"{p}:job:{lean.id}"), client.hgetall(f"{p}:job:{general.id}")
    assert ours.keys() == theirs.keys()
    varying = {b"id", b"created", b"not_before", b"seq", b"rk"}
    assert {k: v for k, v in ours.items() if k not in varying} == {k: v for k, v in theirs.items() if k not in varying}
    assert ours[b"created"] == ours[b"not_before"]
    assert ours[b"rk"][:20] == theirs[b"rk"][:20] and ours[b"rk"].endswith(lean.id.encode())
    assert len(ours[b"rk"]) == len(theirs[b"rk"]) and int(ours[b"seq"]) + 1 == int(theirs[b"seq"])
    assert client.zscore(f"{p}:all", lean.id) == int(ours[b"seq"])
    assert [(e.event, e.source, e.dest) for e in store.history(lean.id)] == [("queue", None, "QUEUED")]
    assert store.history(lean.id)[0].at == float(ours[b"created"])
    assert store.stats() == {"q1": {"QUEUED": 2}}
    assert client.llen(f"{p}:wake:q1") == 2 and client.ttl(f"{p}:wake:q1") > 0
    [record] = store.get([lean.id])
    assert (record.status, record.priority, record.queue, record.options) == ("QUEUED", 3, "q1",
                                                                              {"mode": "thread", "retries": 2})
    assert [r.id for r in claim_all(store, ["q1"])] == [lean.id, general.id]  # enqueue order


def test_a_single_plain_enqueue_of_a_known_id_leaves_that_job_as_it_is(store: RedisStore) -> None:
    job = new_job()
    assert store.enqueue_ids([job]) == [job.id]
    store.claim("w1", ["default"], 1, 30)
    assert store.enqueue_ids([new_job(id=job.id, payload=b"other")]) == [job.id]  # a retried call
    [record] = store.get([job.id])
    assert (record.status, record.payload) == ("RUNNING", job.payload)
    assert store.stats() == {"default": {"RUNNING": 1}}


def test_the_lean_enqueue_survives_a_killed_connection_and_loads_its_script(
    store: RedisStore, client: redis.Redis
) -> None:
    from taskgraph.stores import _redis_lua as lua
    from taskgraph.stores.redis_jobs import OneEnqueue

    first = new_job()
    store.enqueue_ids([first])
    conn = store._one._conn
    conn.send_command("CLIENT", "ID")
    client.client_kill_filter(_id=conn.read_response())
    second = new_job()
    assert store.enqueue_ids([second]) == [second.id]  # the broken connection is replaced, the job stored once
    # a script the server has never seen (a restarted server has none): loaded at the first NOSCRIPT
    fresh = OneEnqueue(store._client, store.prefix, f"{lua._ENQUEUE_ONE}\n-- {unique_name('never-loaded')}")
    third = new_job()
    try:
        assert fresh(third) == third.id
    finally:
        fresh.close()
    assert {r.id for r in store.get([first.id, second.id, third.id])} == {first.id, second.id, third.id}
    assert store.stats() == {"default": {"QUEUED": 3}}


def test_lists_of_queued_and_running_jobs_read_no_finished_job(store: RedisStore, client: redis.Redis) -> None:
    done, running, ready, later, other = (new_job(queue=q) for q in ("a", "a", "a", "a", "b"))
    store.enqueue([done, running])
    store.claim("w1", ["a"], 2, 30)
    store.complete("w1", [(done.id, b"1")])
    store.enqueue([ready, new_job(id=later.id, queue="a", delay=3600), other])
    client.delete(f"{store.prefix}:all")  # the index of every job: these lists must not need it
    assert [r.id for r in store.list_jobs(status="QUEUED")] == [other.id, later.id, ready.id]  # newest first
    assert [r.id for r in store.list_jobs(status="QUEUED", queue="a", limit=1, offset=1)] == [ready.id]
    assert [r.id for r in store.list_jobs(status="RUNNING")] == [running.id]
    assert store.list_jobs(status="QUEUED", name="tests:other") == []
