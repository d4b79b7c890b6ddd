"""The PostgreSQL store against the store contract, and what is particular to it: schemas and their versions,
waking through LISTEN/NOTIFY, races with concurrent writers, and clear errors for bad URLs and servers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from taskgraph.stores.base import Store, StoreError
from taskgraph.stores.records import JobRecord
from taskgraph.stores.sqlite import SQLiteStore
from taskgraph.testing import StoreContract, new_job, wakes

from .conftest import unique_name

psycopg = pytest.importorskip("psycopg")

from psycopg import sql  # noqa: E402

from taskgraph.stores.postgres import SCHEMA_VERSION, PostgresStore, open_postgres  # noqa: E402
from taskgraph.stores.postgres_session import parse  # noqa: E402

ERROR = {"type": "builtins.ValueError", "message": "boom", "traceback": ""}


def with_options(url: str, **options: str) -> str:
    parts = urlsplit(url)
    extra = "&".join(f"{k}={v}" for k, v in options.items())
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


def with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{user}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def drop_schemas(postgres_url: str, names: list[str]) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def raw(postgres_url: str) -> Iterator[psycopg.Connection]:
    """A plain connection to the test server, to look at what the store wrote."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def schemas(postgres_url: str) -> Iterator[Callable[..., Callable[[], PostgresStore]]]:
    """``schemas()`` is a connect function for a fresh schema (``schemas(name)`` for that one); the stores it opened
    are closed and the schemas dropped afterwards, whether the test passed or not."""
    made: list[str] = []
    opened: list[PostgresStore] = []

    def make(name: str | None = None) -> Callable[[], PostgresStore]:
        schema = name or unique_name("tg")
        made.append(schema)

        def connect() -> PostgresStore:
            store = PostgresStore(with_options(postgres_url, schema=schema))
            opened.append(store)
            return store

        return connect

    try:
        yield make
    finally:
        for store in opened:
            store.close()
        drop_schemas(postgres_url, made)


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def connect(self, schemas: Callable[..., Callable[[], PostgresStore]]) -> Callable[[], PostgresStore]:
        return schemas()


@pytest.fixture
def store(schemas: Callable[..., Callable[[], PostgresStore]]) -> PostgresStore:
    return schemas()()


def timed(call: Callable[[], object]) -> float:
    started = time.monotonic()
    call()
    return time.monotonic() - started


# ---------------------------------------------------------------------------------------------- schemas


def test_two_schemas_neither_see_nor_wake_each_other(schemas: Callable[..., Callable[[], PostgresStore]]) -> None:
    a, b = schemas()(), schemas()()
    a.wait(0)
    a.wait_for_work(["default"], 0)  # both listening from here on
    [job] = b.enqueue([new_job(key="shared")])
    assert a.get([job.id]) == [] and a.list_jobs() == [] and a.stats() == {} and a.history(job.id) == []
    assert a.claim("w", ["default"], 10, 30) == []
    assert a.cancel([job.id]) == [] and a.heartbeat("w", [job.id], 30) == set()
    [mine] = a.enqueue([new_job(key="shared")])
    assert mine.id != job.id  # keys are per schema
    a.claim("w", ["default"], 10, 30)
    a.wait(0)
    a.wait_for_work(["default"], 0)  # a has taken note of its own changes

    # b's changes, made after a took note, would wake a's next waits at once if they reached a's channels
    for _ in range(5):
        b.enqueue([new_job()])
        [claimed] = b.claim("w", ["default"], 1, 30)
        assert b.complete("w", [(claimed.id, b"1")]) == [claimed.id]
    assert timed(lambda: a.wait(0.6)) >= 0.55
    assert timed(lambda: a.wait_for_work(["default"], 0.4)) >= 0.35
    assert b.stats() == {"default": {"QUEUED": 1, "DONE": 5}}


def test_the_schema_is_made_on_first_use_and_reused(
    schemas: Callable[..., Callable[[], PostgresStore]], raw: psycopg.Connection
) -> None:
    name = unique_name("tg")
    exists = "SELECT count(*) FROM pg_namespace WHERE nspname = %s"
    assert raw.execute(exists, (name,)).fetchone()[0] == 0
    connect = schemas(name)
    first = connect()
    assert raw.execute(exists, (name,)).fetchone()[0] == 1
    tables = raw.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", (name,)
    ).fetchall()
    assert [t for (t,) in tables] == ["edges", "events", "jobs", "taskgraph_meta"]
    version = sql.SQL("SELECT value FROM {}.taskgraph_meta WHERE key = 'schema'").format(sql.Identifier(name))
    assert raw.execute(version).fetchone()[0] == str(SCHEMA_VERSION)
    [job] = first.enqueue([new_job()])
    second = connect()
    assert [r.id for r in second.get([job.id])] == [job.id]
    assert first.schema == second.schema == name


def test_many_processes_starting_at_once_make_the_schema_once(
    schemas: Callable[..., Callable[[], PostgresStore]],
) -> None:
    connect = schemas()
    barrier = threading.Barrier(6)
    outcomes: list[object] = []

    def start() -> None:
        barrier.wait()
        try:
            store = connect()
            store.enqueue([new_job()])
            outcomes.append("ok")
        except Exception as exc:  # pragma: no cover - what the test is looking for
            outcomes.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == ["ok"] * 6
    assert connect().stats() == {"default": {"QUEUED": 6}}


def test_a_newer_schema_version_is_refused(
    schemas: Callable[..., Callable[[], PostgresStore]], raw: psycopg.Connection
) -> None:
    name = unique_name("tg")
    connect = schemas(name)
    connect().close()
    raw.execute(
        sql.SQL("UPDATE {}.taskgraph_meta SET value = %s WHERE key = 'schema'").format(sql.Identifier(name)),
        (str(SCHEMA_VERSION + 1),),
    )
    with pytest.raises(StoreError) as caught:
        connect()
    message = str(caught.value)
    assert f"version {SCHEMA_VERSION + 1}" in message and "upgrade taskgraph" in message
    assert f"schema={name}" in message  # the URL


def test_tables_taskgraph_did_not_make_are_left_alone(
    schemas: Callable[..., Callable[[], PostgresStore]], raw: psycopg.Connection
) -> None:
    name = unique_name("tg")
    connect = schemas(name)
    raw.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    raw.execute(sql.SQL("CREATE TABLE {}.jobs (x int)").format(sql.Identifier(name)))
    with pytest.raises(StoreError, match="did not make"):
        connect()


# ---------------------------------------------------------------------------------------------- URLs and errors


def test_open_postgres_reads_the_schema_option(postgres_url: str) -> None:
    name = unique_name("tg")
    store = open_postgres(urlsplit(with_options(postgres_url, schema=name, connect_timeout="5")))
    try:
        assert store.schema == name and store.connect_timeout == 5
        assert f"schema={name}" in store.url and repr(store) == f"PostgresStore({store.url!r})"
        store.enqueue([new_job()])
    finally:
        store.close()
        drop_schemas(postgres_url, [name])


def test_the_default_schema_is_taskgraph() -> None:
    conninfo, schema, timeout, shown, _ = parse("postgresql://u:pw@db.example:5433/jobs?sslmode=prefer")
    assert (schema, timeout) == ("taskgraph", 10)
    assert conninfo == "postgresql://u:pw@db.example:5433/jobs?sslmode=prefer"
    assert shown == "postgresql://u:***@db.example:5433/jobs?sslmode=prefer"
    assert parse("postgresql:///jobs?schema=s")[0] == "postgresql:///jobs"  # a local socket keeps its '//'


@pytest.mark.parametrize("name", ["bad-name", "1abc", "pg_catalog", 'x";DROP TABLE jobs;--', "a" * 51, "", "é"])
def test_an_invalid_schema_name_is_refused_before_connecting(name: str) -> None:
    url = with_options("postgresql://user:hunter2pw@127.0.0.1:1/test", schema=name)
    with pytest.raises(StoreError) as caught:
        open_postgres(urlsplit(url))
    message = str(caught.value)
    assert "schema name" in message and "?schema=taskgraph" in message
    assert "hunter2pw" not in message and "user:***@127.0.0.1:1/test" in message


@pytest.mark.parametrize("value", ["0", "-3", "soon", "inf"])
def test_an_invalid_connect_timeout_is_refused(value: str) -> None:
    with pytest.raises(StoreError, match="connect_timeout must be a positive number"):
        PostgresStore(f"postgresql://127.0.0.1:1/test?connect_timeout={value}")


def test_an_unreachable_server_is_a_store_error_naming_the_url_without_its_password() -> None:
    url = "postgresql://someone:hunter2pw@127.0.0.1:1/test?connect_timeout=3"
    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        PostgresStore(url)
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert "hunter2pw" not in message and "hunter2pw" not in repr(caught.value)
    assert "postgresql://someone:***@127.0.0.1:1/test" in message
    assert "cannot reach the PostgreSQL server" in message and "check that it runs" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no chained libpq text


def test_refused_credentials_are_a_store_error_naming_the_url_without_its_password(postgres_url: str) -> None:
    url = with_credentials(postgres_url, unique_name("nobody"), "n0t-the-pa55word")
    with pytest.raises(StoreError) as caught:
        PostgresStore(url)
    message = str(caught.value)
    assert "n0t-the-pa55word" not in message
    assert ":***@" in message and "refused the credentials" in message and "check the user name and password" in message


def test_a_missing_database_says_to_create_it(postgres_url: str) -> None:
    url = urlunsplit(urlsplit(postgres_url)._replace(path=f"/{unique_name('nodb')}"))
    with pytest.raises(StoreError, match="database does not exist.*create it"):
        PostgresStore(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user:pa%zzword@127.0.0.1:5432/test",  # libpq quotes the bad token, password included
        "postgresql://user:pa55word@127.0.0.1:notaport/test",
        "postgresql://user:pa55word@127.0.0.1:5432/test?no_such_option=1",
        "postgresql://user:pa55word@127.0.0.1:5432/test?schema",
        "mysql://user:pa55word@127.0.0.1:5432/test",
    ],
)
def test_a_malformed_url_is_a_store_error_without_its_password(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        PostgresStore(url)
    message = str(caught.value)
    assert "pa%zzword" not in message and "pa55word" not in message and "zzword" not in message
    assert "user:***@127.0.0.1" in message
    assert "postgresql://USER:PASSWORD@HOST:5432/DATABASE" in message or "?schema=NAME" in message


def test_a_password_given_as_an_option_is_hidden_too() -> None:
    with pytest.raises(StoreError) as caught:
        PostgresStore("postgresql://127.0.0.1:1/test?password=topsecret99&connect_timeout=2")
    assert "topsecret99" not in str(caught.value) and "password=***" in str(caught.value)


def test_other_options_go_to_libpq_as_written(postgres_url: str) -> None:
    name = unique_name("tg")
    store = PostgresStore(with_options(postgres_url, schema=name, application_name="tg%20worker%2B1"))
    try:
        assert store._pg.conn.execute("SHOW application_name").fetchone()[0] == "tg worker+1"
    finally:
        store.close()
        drop_schemas(postgres_url, [name])


def test_an_old_psycopg_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psycopg, "__version__", "3.2.1")
    with pytest.raises(StoreError, match=r"needs psycopg 3\.2\.4 or newer, not 3\.2\.1"):
        PostgresStore("postgresql://127.0.0.1:1/test")


def test_the_url_attribute_hides_the_password(postgres_url: str) -> None:
    parts = urlsplit(postgres_url)
    if parts.password:
        pytest.skip("the test server's URL already has a password")
    user = parts.username or psycopg.connect(postgres_url).info.user
    name = unique_name("tg")
    url = with_options(with_credentials(postgres_url, user, "s3cret-pa55"), schema=name)
    try:
        store = PostgresStore(url)
    except StoreError as exc:
        assert "s3cret-pa55" not in str(exc)
        pytest.skip(f"the test server checks passwords: {exc}")
    try:
        assert "s3cret-pa55" not in store.url and "s3cret-pa55" not in repr(store)
        assert f"{user}:***@" in store.url
    finally:
        store.close()
        drop_schemas(postgres_url, [name])


def test_a_lost_connection_is_a_store_error_and_the_next_call_connects_again(
    store: PostgresStore, raw: psycopg.Connection
) -> None:
    [job] = store.enqueue([new_job()])
    store.wait(0)
    pid = store._pg.conn.info.backend_pid
    raw.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 10
    while raw.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises(StoreError, match="lost the connection"):
        store.stats()
    assert store.get([job.id])[0].status == "QUEUED"
    assert timed(lambda: store.wait(5)) < 1  # listening again: what happened meanwhile is unknown, so it returns
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.stats()


# ---------------------------------------------------------------------------------------------- clock and waking


def test_times_are_the_servers(store: PostgresStore, raw: psycopg.Connection) -> None:
    [record] = store.enqueue([new_job(delay=3600)])
    server_now = raw.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()[0]
    assert abs(record.created - server_now) < 5
    assert abs(record.not_before - (server_now + 3600)) < 5
    [later] = store.enqueue([new_job(delay=10, not_before=server_now + 7200)])
    assert abs(later.not_before - (server_now + 7200)) < 5  # the later of the two


def test_wait_does_not_miss_a_change_made_between_two_calls(
    schemas: Callable[..., Callable[[], PostgresStore]],
) -> None:
    connect = schemas()
    waiter, writer = connect(), connect()
    assert timed(lambda: waiter.wait(5)) < 1  # the first call starts listening and returns
    assert timed(lambda: waiter.wait(0.2)) >= 0.15  # nothing changed
    writer.enqueue([new_job()])  # while nobody waits
    waiter.list_jobs()  # and the waiter's connection is busy with something else
    assert timed(lambda: waiter.wait(10)) < 1
    assert timed(lambda: waiter.wait(0.2)) >= 0.15  # taken note of


def test_wait_for_work_wakes_only_for_its_queues(schemas: Callable[..., Callable[[], PostgresStore]]) -> None:
    connect = schemas()
    idle, client = connect(), connect()
    idle.wait_for_work(["mail"], 0)
    client.enqueue([new_job(queue="video")])
    assert timed(lambda: idle.wait_for_work(["mail"], 0.3)) >= 0.25
    assert wakes(lambda t: idle.wait_for_work(["mail", "sms"], t), lambda: client.enqueue([new_job(queue="sms")]))


def test_an_idle_worker_wakes_when_a_delayed_job_comes_due(schemas: Callable[..., Callable[[], PostgresStore]]) -> None:
    connect = schemas()
    idle, client = connect(), connect()
    idle.wait_for_work(["default"], 0)
    started = time.monotonic()
    client.enqueue([new_job(delay=0.5)])
    claimed: list[JobRecord] = []
    while not claimed and time.monotonic() - started < 10:
        idle.wait_for_work(["default"], 30)  # woken by the enqueue, then when the job comes due, not after 30 s
        claimed = idle.claim("w", ["default"], 1, 30)
    assert claimed and 0.45 < time.monotonic() - started < 5


def test_released_dependents_wake_idle_workers(schemas: Callable[..., Callable[[], PostgresStore]]) -> None:
    connect = schemas()
    worker, idle = connect(), connect()
    a = new_job("tests:a", queue="first")
    b = new_job("tests:b", queue="second", after=[a.id])
    worker.enqueue([a, b])
    idle.wait_for_work(["second"], 0)
    worker.claim("w", ["first"], 1, 30)
    worker.complete("w", [(a.id, b"1")])
    assert timed(lambda: idle.wait_for_work(["second"], 10)) < 1
    assert [r.id for r in idle.claim("w2", ["second"], 5, 30)] == [b.id]


# ---------------------------------------------------------------------------------------------- batches and races


def test_claims_take_the_queues_in_order_and_priority_within_each(store: PostgresStore) -> None:
    jobs = [new_job(queue=q, priority=p) for q, p in [("a", 1), ("b", 5), ("a", 3), ("c", 9), ("b", 0), ("a", 3)]]
    store.enqueue(jobs)
    claimed = store.claim("w", ["a", "b", "a"], 4, 30)
    assert [r.id for r in claimed] == [jobs[2].id, jobs[5].id, jobs[0].id, jobs[1].id]
    assert [r.id for r in store.claim("w", ["a", "b"], 10, 30)] == [jobs[4].id]


def test_the_claim_that_takes_back_an_expired_lease_can_claim_that_job(store: PostgresStore) -> None:
    [job] = store.enqueue([new_job()])
    store.claim("dead", ["default"], 1, 0.05)
    time.sleep(0.3)  # let the lease run out (a time-based contract, not synchronisation)
    [again] = store.claim("alive", ["default"], 1, 30)  # taken back and claimed in one call, as in SQLite
    assert (again.id, again.worker, again.attempts, again.lease_losses) == (job.id, "alive", 2, 1)
    assert [e.event for e in store.history(job.id)] == ["queue", "dispatch", "requeue", "dispatch"]


def test_a_batch_of_completions_releases_each_dependent_once(store: PostgresStore) -> None:
    a, b, c = new_job("tests:a"), new_job("tests:b"), new_job("tests:c")
    join = new_job("tests:join", after=[a.id, b.id, c.id, a.id])  # a repeated prerequisite counts once
    store.enqueue([a, b, c, join])
    assert store.get([join.id])[0].waiting == 3
    store.claim("w", ["default"], 3, 30)
    assert store.complete("w", [(a.id, b"a"), (b.id, b"b"), (a.id, b"again"), ("missing", b"x")]) == [a.id, b.id]
    record = store.get([join.id])[0]
    assert (record.status, record.waiting) == ("PENDING", 1)
    assert store.get([a.id])[0].result == b"a"
    assert store.complete("w", [(a.id, b"late"), (b.id, b"late")]) == []  # refused: nothing released again
    assert store.get([join.id])[0].waiting == 1
    assert store.complete("w", [(c.id, b"c")]) == [c.id]
    assert store.get([join.id])[0].status == "QUEUED"
    assert [e.event for e in store.history(join.id)] == ["queue", "release"]


def test_enqueue_in_one_call_follows_the_order_of_the_jobs(store: PostgresStore) -> None:
    [old] = store.enqueue([new_job("tests:old", key="k1")])
    store.claim("w", ["default"], 1, 30)
    store.fail("w", old.id, ERROR, None)
    first = new_job("tests:first", key="k2")
    again = new_job("tests:again", key="k2")  # the same key later in the call: the first job
    retried = new_job("tests:retried", key="k1", payload=b"new")  # a FAILED key: queued again
    child = new_job("tests:child", after=[first.id, old.id])
    records = store.enqueue([first, again, retried, child])
    assert [r.id for r in records] == [first.id, first.id, old.id, child.id]
    assert [r.status for r in records] == ["QUEUED", "QUEUED", "QUEUED", "PENDING"]
    assert records[2].payload == b"new" and records[2].error is None and records[3].waiting == 2
    assert [e.event for e in store.history(old.id)] == ["queue", "dispatch", "fail", "retry"]


def test_enqueue_refuses_a_missing_prerequisite_and_writes_nothing(store: PostgresStore) -> None:
    with pytest.raises(StoreError, match="prerequisite job 'nowhere' is not in the store"):
        store.enqueue([new_job(), new_job(after=["nowhere"])])
    assert store.stats() == {}


@pytest.mark.parametrize("looking", [False, True], ids=["plain", "with-prerequisites"])
def test_an_id_the_store_has_is_returned_as_it_is(store: PostgresStore, looking: bool) -> None:
    [first] = store.enqueue([new_job("tests:first", payload=b"old")])
    store.claim("w", ["default"], 1, 30)
    [base] = store.enqueue([new_job("tests:base")])
    extra = {"after": [base.id]} if looking else {}
    again = new_job("tests:again", id=first.id, payload=b"new", **extra)
    twice = new_job("tests:twice", **extra)
    records = store.enqueue([again, twice, new_job("tests:twice-again", id=twice.id)])  # a retried call, say
    assert [r.id for r in records] == [first.id, twice.id, twice.id]
    assert (records[0].name, records[0].payload, records[0].status) == ("tests:first", b"old", "RUNNING")
    assert records[2].name == "tests:twice"
    assert [e.event for e in store.history(first.id)] == ["queue", "dispatch"]
    assert [e.event for e in store.history(twice.id)] == ["queue"]
    expected = {"RUNNING": 1, "QUEUED": 1, "PENDING": 1} if looking else {"RUNNING": 1, "QUEUED": 2}
    assert store.stats() == {"default": expected}


def test_a_claim_of_nothing_claims_nothing(store: PostgresStore) -> None:
    store.enqueue([new_job()])
    assert store.claim("w", ["default"], 0, 30) == [] and store.claim("w", ["default"], -1, 30) == []
    assert store.claim("w", [], 5, 30) == []
    assert store.stats() == {"default": {"QUEUED": 1}}


def test_dependents_added_while_their_prerequisites_complete_are_never_stranded(
    schemas: Callable[..., Callable[[], PostgresStore]],
) -> None:
    connect = schemas()
    setup = connect()
    prereqs = setup.enqueue([new_job() for _ in range(150)])
    assert len(setup.claim("w", ["default"], 150, 60)) == 150
    dependents: list[JobRecord] = []

    def completer() -> None:
        store = connect()
        for record in prereqs:
            store.complete("w", [(record.id, b"1")])

    def enqueuer() -> None:
        store = connect()
        for record in prereqs:
            dependents.extend(store.enqueue([new_job(queue="next", after=[record.id])]))

    threads = [threading.Thread(target=completer), threading.Thread(target=enqueuer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = [r.status for r in setup.get([d.id for d in dependents])]
    assert statuses == ["QUEUED"] * 150


def test_a_cascade_reaches_dependents_added_concurrently(schemas: Callable[..., Callable[[], PostgresStore]]) -> None:
    connect = schemas()
    setup = connect()
    roots = setup.enqueue([new_job() for _ in range(100)])
    setup.claim("w", ["default"], 100, 60)
    children: list[JobRecord] = []

    def failer() -> None:
        store = connect()
        for record in roots:
            store.fail("w", record.id, ERROR, None)

    def enqueuer() -> None:
        store = connect()
        for record in roots:
            [child] = store.enqueue([new_job(after=[record.id])])
            [grandchild] = store.enqueue([new_job(after=[child.id])])
            children.extend([child, grandchild])

    threads = [threading.Thread(target=failer), threading.Thread(target=enqueuer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status for r in setup.get([c.id for c in children])} == {"FAILED"}


# ---------------------------------------------------------------------------------------------- like SQLite


def scenario(store: Store) -> list[tuple[object, ...]]:
    """A run through most of the contract with ids fixed in advance; what it leaves, times left out."""
    a, b, c = new_job("tests:a", id="a", priority=2), new_job("tests:b", id="b", key="kb"), new_job("tests:c", id="c")
    d = new_job("tests:d", id="d", after=["a", "b"])
    e = new_job("tests:e", id="e", after=["d"], key="ke")
    f = new_job("tests:f", id="f", after=["c"])
    g = new_job("tests:g", id="g", after=["f"])
    h = new_job("tests:h", id="h", after=["e", "g"])
    store.enqueue([a, b, c, d, e, f, g, h, new_job("tests:b2", id="b2", key="kb")])
    store.claim("w1", ["default"], 2, 30)  # a, then b or c (the same in both: order of enqueueing)
    store.complete("w1", [("a", b"ra")])
    store.fail("w1", "b", ERROR, 0.0)  # retried
    store.claim("w2", ["default"], 5, 30)
    store.release("w2", ["c"])
    store.claim("w2", ["default"], 5, 30)
    store.fail("w2", "c", ERROR, None)  # f, g FAILED; h FAILED through g
    store.complete("w2", [("b", b"rb")])  # d QUEUED
    store.cancel(["d", "e"])  # e CANCELLED through d: not in the answer
    store.enqueue([new_job("tests:e2", id="e2", key="ke", after=["a"])])  # a CANCELLED key: reset, QUEUED
    store.enqueue([new_job("tests:a-again", id="a"), new_job("tests:c-again", id="c", after=["a"])])  # known ids
    store.claim("w3", ["default"], 5, 30)
    store.set_progress("w3", "e", 0.5, "half")
    out: list[tuple[object, ...]] = []
    for job_id in ["a", "b", "b2", "c", "d", "e", "e2", "f", "g", "h"]:
        for r in store.get([job_id]):
            out.append((r.id, r.name, r.status, r.key, r.payload, r.result, r.error, r.attempts, r.lease_losses,
                        r.waiting, r.worker, r.progress, r.progress_message, r.options))
        out.append(tuple((ev.event, ev.source, ev.dest, ev.worker, ev.detail) for ev in store.history(job_id)))
    out.append(tuple(sorted((q, tuple(sorted(s.items()))) for q, s in store.stats().items())))
    return out


def test_the_same_calls_leave_the_same_records_as_the_sqlite_store(store: PostgresStore, tmp_path) -> None:
    reference = SQLiteStore(str(tmp_path / "jobs.db"))
    try:
        assert scenario(store) == scenario(reference)
    finally:
        reference.close()


# ---------------------------------------------------------------------------------------------- a worker's session


def test_a_worker_session_commits_without_flushing_and_plans_each_statement_once(
    schemas: Callable[..., Callable[[], PostgresStore]]
) -> None:
    connect = schemas()
    client, worker = connect(), connect()
    worker.for_worker()

    def settings(store: PostgresStore) -> tuple[str, str]:
        conn = store._pg.connection()
        return (conn.execute("SHOW synchronous_commit").fetchone()[0],
                conn.execute("SHOW plan_cache_mode").fetchone()[0])

    assert settings(worker) == ("off", "force_generic_plan")
    assert settings(client) == ("on", "auto")  # enqueues stay durable; other callers' queries planned per values
    worker._pg.conn.close()  # a lost connection: the new one is a worker's again
    assert settings(worker) == ("off", "force_generic_plan")
    [job] = client.enqueue([new_job()])
    assert [r.id for r in worker.claim("w1", ["default"], 4, 30)] == [job.id]
    assert worker.complete("w1", [(job.id, b"1")]) == [job.id]


# ---------------------------------------------------------------------------------------------- big stores


def seq_scans(plan: object) -> list[str]:
    """The relations a plan (EXPLAIN's JSON) reads whole."""
    found: list[str] = []
    if isinstance(plan, dict):
        if plan.get("Node Type") == "Seq Scan":
            found.append(str(plan.get("Relation Name")))
        for value in plan.values():
            found += seq_scans(value)
    elif isinstance(plan, list):
        for value in plan:
            found += seq_scans(value)
    return found


def test_a_workers_queries_read_no_finished_job(store: PostgresStore, raw: psycopg.Connection) -> None:
    # with 20,000 DONE jobs, the claim and the burst worker's end check find their rows by an index
    schema = store._pg.schema_sql
    store.enqueue([new_job(queue="q"), new_job(queue="q")])
    raw.execute(f"INSERT INTO {schema}.jobs (id, name, queue, status, payload, options, not_before, created, finished) "
                "SELECT 'done-' || i, 'tests:job', 'q', 'DONE', '', '{}', 0, 0, 0 FROM generate_series(1, 20000) i")
    raw.execute(f"ANALYZE {schema}.jobs")
    q = store._q
    claim = store._pg.params(max=5, worker="w1", lease=30.0, queues=["q"], limit=10, gate=True)
    for query, params in ((q["_Q_ANY_UNFINISHED"], {"queues": ["q", "other"]}), (q["_Q_CLAIM"], claim),
                          (f"SELECT id FROM {schema}.jobs WHERE status = %s::text ORDER BY seq DESC LIMIT 100",
                           ["QUEUED"])):
        [[plan]] = store._exec(f"EXPLAIN (FORMAT JSON) {query}", params)
        assert "jobs" not in seq_scans(plan), (query, plan)
    assert store.any_unfinished(["q"]) and not store.any_unfinished(["other"])
    store.cancel([r.id for r in store.list_jobs(status="QUEUED")])
    assert not store.any_unfinished(["q"])


def test_a_store_made_before_the_status_index_gets_it_at_open(
    schemas: Callable[..., Callable[[], PostgresStore]], raw: psycopg.Connection
) -> None:
    connect = schemas()
    first = connect()
    schema = first._pg.schema
    raw.execute(f'DROP INDEX "{schema}".jobs_status')
    first.close()
    connect().close()
    assert raw.execute("SELECT to_regclass(%s)", [f'"{schema}".jobs_status']).fetchone()[0] is not None
