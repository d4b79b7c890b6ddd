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
