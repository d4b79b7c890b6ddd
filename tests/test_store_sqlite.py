"""The SQLite store against the store contract."""

from __future__ import annotations

import multiprocessing

import pytest

from taskgraph.stores.sqlite import SQLiteStore
from taskgraph.testing import StoreContract


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def connect(self, tmp_path):
        path = str(tmp_path / "jobs.db")
        return lambda: SQLiteStore(path)


# ------------------------------------------------------------------ queries that do not read the finished jobs


@pytest.fixture
def finished_store(tmp_path):
    """A store holding 20,000 DONE jobs and a few unfinished ones, analysed as a big store is."""
    from taskgraph.testing import new_job

    store = SQLiteStore(str(tmp_path / "jobs.db"))
    store.enqueue([new_job(queue="q"), new_job(queue="q")])
    db = store._db
    db.executemany(
        "INSERT INTO jobs (id, name, queue, status, payload, options, not_before, created, finished) "
        "VALUES (?, 'tests:job', 'q', 'DONE', x'', '{}', 0, 0, 0)", [(f"done-{i}",) for i in range(20_000)])
    db.commit()
    db.execute("ANALYZE")
    yield store
    store.close()


def plan(store: SQLiteStore, query: str, params: tuple[object, ...]) -> str:
    return " | ".join(row[-1] for row in store._db.execute(f"EXPLAIN QUERY PLAN {query}", params))


def test_a_burst_workers_end_check_finds_unfinished_jobs_by_an_index(finished_store: SQLiteStore) -> None:
    from taskgraph.stores.sqlite_file import ANY_UNFINISHED as _ANY_UNFINISHED

    shown = plan(finished_store, _ANY_UNFINISHED.format("?, ?"), ("q", "other"))
    assert "USING COVERING INDEX jobs_status" in shown and "SCAN" not in shown, shown
    assert finished_store.any_unfinished(["q"]) and not finished_store.any_unfinished(["other"])
    finished_store.cancel([r.id for r in finished_store.list_jobs(status="QUEUED")])
    assert not finished_store.any_unfinished(["q", "other"])


@pytest.mark.parametrize("status", ["QUEUED", "DONE"])
def test_a_list_of_one_status_reads_it_newest_first_by_an_index(finished_store: SQLiteStore, status: str) -> None:
    from taskgraph.stores.sqlite import _LIGHT_COLUMNS

    query = f"SELECT {_LIGHT_COLUMNS} FROM jobs WHERE status = ? ORDER BY seq DESC LIMIT ? OFFSET ?"  # list_jobs'
    shown = plan(finished_store, query, (status, 10, 0))
    assert "INDEX jobs_status_seq" in shown and "TEMP B-TREE" not in shown, shown
    assert [r.status for r in finished_store.list_jobs(status=status, limit=2)] == [status, status]


def test_a_workers_statements_read_no_finished_job(finished_store: SQLiteStore) -> None:
    # every statement of a worker's cycle (claim, heartbeat, complete, fail, the end check) finds its rows by an
    # index: none scans the table of jobs, whatever the number of finished jobs in it
    seen: list[str] = []
    finished_store._db.set_trace_callback(seen.append)  # with the values bound
    a, b = finished_store.claim("w1", ["q"], 2, 30)
    finished_store.heartbeat("w1", [a.id, b.id], 30)
    finished_store.complete("w1", [(a.id, b"1")])
    finished_store.fail("w1", b.id, {"type": "E", "message": "m", "traceback": ""}, None)
    finished_store.any_unfinished(["q"])
    finished_store._db.set_trace_callback(None)
    statements = [q for q in seen if q.split()[0] in ("SELECT", "UPDATE", "DELETE", "WITH")]
    assert len(statements) >= 5
    for query in statements:
        shown = plan(finished_store, query, ())
        assert not any(part.strip().startswith("SCAN") for part in shown.split("|")), (query, shown)


def test_a_store_made_before_the_status_index_gets_it_at_open(tmp_path) -> None:
    path = str(tmp_path / "old.db")
    SQLiteStore(path).close()
    import sqlite3

    with sqlite3.connect(path) as db:
        db.execute("DROP INDEX jobs_status_seq")
    store = SQLiteStore(path)
    try:
        assert store._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'jobs_status_seq'").fetchone()
    finally:
        store.close()


def _open_store(path: str) -> str:
    """In a process of its own: open the store at ``path`` (what a worker starting does), or say why not."""
    try:
        SQLiteStore(path).close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def test_workers_opening_a_new_store_file_at_once_all_open_it(tmp_path):
    # switching a new file to WAL takes a lock SQLite's busy timeout does not wait for: "database is locked"
    with multiprocessing.get_context("fork").Pool(4) as pool:
        for i in range(25):
            path = str(tmp_path / f"jobs{i}.db")
            assert pool.map(_open_store, [path] * 4) == ["ok"] * 4, f"round {i}"


# ------------------------------------------------------------------ schema 2: events by the job's sequence number


def _as_version_1(path: str, events: list[tuple[str, float, str, str | None, str, str | None, str | None]]) -> None:
    """Turn the store file at ``path`` into what taskgraph wrote before schema 2: events named by the job's id
    (``job TEXT``, indexed ``events_job``), holding ``events``."""
    import sqlite3

    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE events")
        db.execute("CREATE TABLE events (job TEXT NOT NULL, at REAL NOT NULL, event TEXT NOT NULL, source TEXT, "
                   "dest TEXT NOT NULL, worker TEXT, detail TEXT)")
        db.execute("CREATE INDEX events_job ON events (job)")
        db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", events)
        db.execute("UPDATE taskgraph_meta SET value = '1' WHERE key = 'schema'")


def test_a_version_1_store_is_migrated_at_open_keeping_every_jobs_history(tmp_path) -> None:
    from taskgraph.testing import new_job

    path = str(tmp_path / "old.db")
    store = SQLiteStore(path)
    a, b = store.enqueue([new_job(queue="q"), new_job(queue="q")])
    store.close()
    # interleaved as jobs' events are, one of a job that is no more (no version wrote such a row: it is dropped)
    _as_version_1(path, [(a.id, 1.0, "queue", None, "QUEUED", None, None),
                         (b.id, 2.0, "queue", None, "QUEUED", None, "second"),
                         ("gone", 2.5, "queue", None, "QUEUED", None, None),
                         (a.id, 3.0, "dispatch", "QUEUED", "RUNNING", "w1", None),
                         (a.id, 4.0, "done", "RUNNING", "DONE", "w1", "é \x00 ✓")])
    store = SQLiteStore(path)
    try:
        db = store._db
        assert db.execute("SELECT value FROM taskgraph_meta WHERE key = 'schema'").fetchone() == ("2",)
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'events'")}
        assert indexes == {"events", "events_seq"}
        assert [(e.at, e.event, e.worker, e.detail) for e in store.history(a.id)] == [
            (1.0, "queue", None, None), (3.0, "dispatch", "w1", None), (4.0, "done", "w1", "é \x00 ✓")]
        assert [(e.at, e.detail) for e in store.history(b.id)] == [(2.0, "second")]
        assert db.execute("SELECT COUNT(*) FROM events").fetchone() == (4,)
        # and it goes on as a new store: the next events land after the migrated ones
        assert {j.id for j in store.claim("w2", ["q"], 2, 30)} == {a.id, b.id}
        assert [e.event for e in store.history(b.id)] == ["queue", "dispatch"]
    finally:
        store.close()


def test_workers_opening_a_version_1_store_at_once_migrate_it_once(tmp_path):
    from taskgraph.testing import new_job

    with multiprocessing.get_context("fork").Pool(4) as pool:
        for i in range(10):
            path = str(tmp_path / f"old{i}.db")
            store = SQLiteStore(path)
            [job] = store.enqueue([new_job()])
            store.close()
            _as_version_1(path, [(job.id, 1.0, "queue", None, "QUEUED", None, None)])
            assert pool.map(_open_store, [path] * 4) == ["ok"] * 4, f"round {i}"
            store = SQLiteStore(path)
            assert [e.event for e in store.history(job.id)] == ["queue"], f"round {i}"
            store.close()


def test_a_jobs_history_and_its_events_go_by_the_sequence_index(finished_store: SQLiteStore) -> None:
    job = finished_store.list_jobs(status="QUEUED", limit=1)[0]
    seen: list[str] = []
    finished_store._db.set_trace_callback(seen.append)
    assert [e.event for e in finished_store.history(job.id)] == ["queue"]
    finished_store._db.set_trace_callback(None)
    [query] = [q for q in seen if q.startswith("SELECT")]
    shown = plan(finished_store, query, ())
    assert "INDEX events_seq" in shown and "SCAN" not in shown, shown
