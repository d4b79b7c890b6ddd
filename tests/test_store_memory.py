"""The in-memory store against the store contract, and what is particular to it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from taskgraph import DurableQueue, StoreError, Task, make_later, open_queue
from taskgraph.cli import main
from taskgraph.durable.worker import Worker
from taskgraph.stores.base import Store
from taskgraph.stores.memory import MemoryStore
from taskgraph.stores.records import JobRecord, NewJob
from taskgraph.stores.sqlite import SQLiteStore
from taskgraph.testing import StoreContract, new_job, wakes
from taskgraph.testing.stores import ERROR
from tests import jobs, memory_app


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def connect(self):
        name = f"contract-{uuid.uuid4().hex}"
        return lambda: MemoryStore(name)


# ------------------------------------------------------------------ what is particular to memory://


def fresh_url() -> str:
    return f"memory://t-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def serving(queue: DurableQueue, **options: Any) -> Iterator[Worker]:
    """A worker in a thread of this process for the length of the block: an embedded worker."""
    worker = Worker(queue, threads=2, **options)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            worker.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(15)
    assert not thread.is_alive() and not errors


def durable(url: str) -> DurableQueue:
    queue = open_queue(url)
    assert isinstance(queue, DurableQueue)
    return queue


def test_one_name_is_one_store_and_names_are_independent():
    url = fresh_url()
    first, again, other = durable(url), durable(url), durable(fresh_url())
    try:
        [record] = first.store.enqueue([new_job("tests.jobs:add")])
        assert again.store.get([record.id])[0].status == "QUEUED"
        assert other.store.get([record.id]) == [] and other.stats() == {}
        assert again.stats() == {"default": {"QUEUED": 1}}
        first.close()  # closing a queue closes its connections, not the store
        assert durable(url).stats() == {"default": {"QUEUED": 1}}
    finally:
        again.close()
        other.close()


def test_urls_name_a_store_or_are_refused_saying_how_to_write_them():
    assert MemoryStore("").url == "memory:" and MemoryStore("user:secret@x").url == "memory://user:***@x"
    for url, shown in [("memory:", "memory:"), ("memory://", "memory:"), ("memory://jobs", "memory://jobs"),
                       ("memory://jobs?serializer=pickle&namespace=x", "memory://jobs")]:
        queue = durable(url)
        assert queue.store.url == shown
        queue.close()
    with pytest.raises(StoreError, match=r"'memory://jobs/x': write an in-memory store's URL as memory://NAME"):
        open_queue("memory://jobs/x")
    with pytest.raises(StoreError, match=r"'memory://jobs\?size=3': unknown option 'size'; accepted options: none"):
        open_queue("memory://jobs?size=3")


def test_a_closed_connection_refuses_calls():
    store = MemoryStore(fresh_url())
    store.close()
    with pytest.raises(StoreError, match="this connection is closed; open another one"):
        store.stats()


def test_an_idle_worker_wakes_when_a_delayed_job_comes_due_without_polling():
    store = MemoryStore(fresh_url())
    [job] = store.enqueue([new_job(delay=0.3)])
    started = time.monotonic()
    store.wait_for_work(["default"], 20)
    assert 0.25 < time.monotonic() - started < 5
    assert [r.id for r in store.claim("w1", ["default"], 5, 30)] == [job.id]


def test_an_idle_worker_wakes_when_a_lease_runs_out_and_the_job_is_taken_back():
    store = MemoryStore(fresh_url())
    [job] = store.enqueue([new_job()])
    store.claim("lost", ["default"], 1, 0.3)
    idle = MemoryStore(store.name)
    started = time.monotonic()
    idle.wait_for_work(["default"], 20)
    assert 0.25 < time.monotonic() - started < 5
    assert store.get([job.id])[0].status == "QUEUED"  # taken back by the waiting connection, as a claim would
    assert [e.event for e in store.history(job.id)] == ["queue", "dispatch", "requeue"]
    assert [r.id for r in idle.claim("alive", ["default"], 1, 30)] == [job.id]


def test_wait_for_work_ignores_other_queues():
    idle = MemoryStore(fresh_url())
    client = MemoryStore(idle.name)
    started = time.monotonic()
    client.enqueue([new_job(queue="video")])
    idle.wait_for_work(["mail"], 0.3)
    assert time.monotonic() - started >= 0.25  # the video job did not wake a worker serving mail
    assert wakes(lambda t: idle.wait_for_work(["mail"], t), lambda: client.enqueue([new_job(queue="mail")]))


def test_an_embedded_worker_drains_thread_and_async_jobs_in_this_process():
    queue = durable(fresh_url())
    add = queue.task(jobs.add)
    async_add = queue.task(jobs.async_add)
    try:
        with serving(queue):
            handles = [add.delay(i, i) for i in range(20)]
            assert [h.join(timeout=15) for h in handles] == [2 * i for i in range(20)]
            assert async_add.delay(2, 3).join(timeout=15) == 5

            async def main() -> list[int]:
                return list(await asyncio.gather(*(async_add.delay(i, 1).resolve(timeout=15) for i in range(5))))

            assert asyncio.run(main()) == [1, 2, 3, 4, 5]
        assert queue.stats() == {"default": {"DONE": 26}}
    finally:
        queue.close()


def test_an_asyncio_app_runs_its_worker_as_a_task():
    queue = durable(fresh_url())
    async_add = queue.task(jobs.async_add)

    async def app() -> list[int]:
        worker = Worker(queue, threads=1)
        serving = asyncio.create_task(asyncio.to_thread(worker.run))
        try:
            return list(await asyncio.gather(*(async_add.delay(i, i).resolve(timeout=15) for i in range(4))))
        finally:
            worker.stop()
            assert await asyncio.wait_for(serving, 15) == 0

    try:
        assert asyncio.run(app()) == [0, 2, 4, 6]
    finally:
        queue.close()


def test_make_later_on_a_url_runs_the_graph_on_an_embedded_worker():
    url = fresh_url()
    queue = durable(url)
    add = queue.task(jobs.add)
    a, b = Task("a", add, args=(1, 2)), Task("b", add, args=(3, 4))
    total = Task("total", add, args=(a.args[0] + a.args[1], 7)).require(a, b)
    try:
        future = make_later(url, total)  # opens its own queue on the store, hands the graph over, closes it
        assert queue.stats() == {"default": {"QUEUED": 2, "PENDING": 1}}
        with serving(queue):
            assert future.result(timeout=15) == [total]
        assert total.result == 10 and (a.state, b.state, total.state) == ("DONE", "DONE", "DONE")
    finally:
        queue.close()


def test_process_jobs_run_in_worker_processes_of_a_worker_given_its_app():
    queue = memory_app.queue
    handle = memory_app.pid.delay()
    with serving(queue, app="tests.memory_app:queue", processes=1):
        child = handle.join(timeout=60)
    assert isinstance(child, int) and child != os.getpid()
    assert [e.event for e in handle.history()] == ["queue", "dispatch", "done"]


def test_process_jobs_fail_on_a_worker_without_its_app_saying_how_to_start_it():
    handle = memory_app.pid.delay()
    with serving(memory_app.queue):
        with pytest.raises(RuntimeError, match=r"process jobs need a worker that knows its app, for its worker "
                           r"processes to import: `taskgraph worker MODULE:QUEUE`, or "
                           r"Worker\(queue, app='MODULE:QUEUE'\)"):
            handle.join(timeout=15)
        assert memory_app.add.delay(1, 1).join(timeout=15) == 2  # the worker goes on


def test_the_commands_refuse_a_store_that_lives_in_another_process():
    worker = CliRunner().invoke(main, ["worker", "tests.memory_app:queue", "--burst"])
    assert worker.exit_code == 2
    assert "tests.memory_app:queue is a queue on memory://tests-memory-app, a store in the memory of one process" in (
        worker.output)
    assert "Run Worker(queue) in a thread of the process that enqueues" in worker.output
    status = CliRunner().invoke(main, ["status", "memory://jobs"])
    assert status.exit_code == 2
    assert "memory://jobs: an in-memory store lives in the memory of one process, and this command runs in " in (
        status.output)


# ------------------------------------------------------------------ the same answers as SQLite


def _same(record: JobRecord) -> tuple[Any, ...]:
    """What two stores must agree on in a record: all but the times, and whether each time is set."""
    times = (record.started, record.finished, record.lease_expires)
    return (record.id, record.name, record.status, record.queue, record.key, record.priority, record.payload,
            record.options, record.result, record.error, record.attempts, record.lease_losses, record.waiting,
            record.worker, record.progress, record.progress_message, *(t is None for t in times))


def _answer(store: Store, method: str, *args: Any) -> Any:
    """``store.method(*args)`` as two stores must agree on it: records by :func:`_same`, errors by message."""
    try:
        answer = getattr(store, method)(*args)
    except StoreError as exc:
        return str(exc).partition(": ")[2]  # the message without the store's URL
    if method == "history":
        return [(e.event, e.source, e.dest, e.worker, e.detail) for e in answer]
    return [_same(r) if isinstance(r, JobRecord) else r for r in answer] if isinstance(answer, list) else answer


def _random_call(
    rnd: random.Random, ids: list[str], step: int, running: list[JobRecord]
) -> tuple[str, tuple[Any, ...]]:
    """A random call of a store's method: its name and arguments, mostly on a ``running`` job by its worker; new
    jobs' ids are added to ``ids``."""
    what = rnd.choice(["enqueue", "enqueue", "claim", "claim", "complete", "complete", "fail", "fail", "release",
                       "cancel", "retry", "heartbeat", "set_progress"] + (["purge"] if step % 50 == 49 else []))
    worker, job = rnd.choice(["w1", "w2"]), rnd.choice(ids) if ids else "none"
    if running and rnd.random() < 0.7:
        chosen = rnd.choice(running)
        worker, job = chosen.worker or worker, chosen.id
    if what == "enqueue":
        batch: list[NewJob] = []
        for _ in range(rnd.randint(1, 3)):
            known = ids + [j.id for j in batch]
            batch.append(new_job(
                f"tests:n{rnd.randint(0, 3)}", id=job if rnd.random() < 0.1 else uuid.uuid4().hex,
                payload=bytes([rnd.randint(0, 255)]), key=rnd.choice([None, None, "k1", "k2", "k3"]),
                queue=rnd.choice(["default", "mail"]), priority=rnd.randint(0, 2),
                after=rnd.sample(known, min(len(known), rnd.randint(0, 2))),
            ))
        ids += [j.id for j in batch if j.id not in ids]
        return what, (batch,)
    return what, {
        "claim": (worker, rnd.sample(["default", "mail"], rnd.randint(1, 2)), rnd.randint(1, 3), 30),
        "complete": (worker, [(job, b"r")]),
        "fail": (worker, job, ERROR, rnd.choice([None, 0.0])),
        "release": (worker, [job]),
        "cancel": ([job],),
        "retry": (rnd.sample(ids, min(3, len(ids))),),
        "heartbeat": (worker, [job], 30),
        "set_progress": (worker, job, 0.5, "half"),
        "purge": (-1,),
    }[what]


@pytest.mark.parametrize("seed", range(5))
def test_random_calls_get_the_answers_sqlite_gives(tmp_path, seed):
    """300 random calls (enqueues with keys, repeated ids and prerequisites, claims over two queues, reports,
    retries later and by hand, releases, cancels, purges) made on both stores: every answer, record, listing,
    count and history the same."""
    rnd = random.Random(seed)
    sqlite, memory = SQLiteStore(str(tmp_path / "jobs.db")), MemoryStore(f"random-{uuid.uuid4().hex}")
    ids: list[str] = []
    seen: set[str] = set()
    for step in range(300):
        method, args = _random_call(rnd, ids, step, memory.list_jobs("RUNNING"))
        for check, check_args in [(method, args), ("get", (ids,)), ("list_jobs", (None, None, None, 1000)),
                                  ("stats", ()), *(("history", (i,)) for i in ids[-5:])]:
            assert _answer(sqlite, check, *check_args) == _answer(memory, check, *check_args), (step, method, check)
        seen.update(r.status for r in memory.get(ids))
    assert seen == {"PENDING", "QUEUED", "RUNNING", "DONE", "FAILED", "CANCELLED"}
    sqlite.close()
