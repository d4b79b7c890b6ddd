"""A worker inside an application: ``async with Worker(queue)``, ``start()`` and an awaitable ``stop()`` from an
event loop; and the registration of a live worker in a store that keeps them (``register_worker``, called only when
the store has it)."""

from __future__ import annotations

import asyncio
import os
import re
import socket
from typing import Any

import pytest

from taskgraph.durable.worker import Worker
from tests import context_app
from tests.context_app import named
from tests.jobs import lines
from tests.procs import wait_for


@pytest.fixture
def q(in_process_store_url):
    queue = context_app.make_queue(in_process_store_url)
    yield queue
    queue.close()




def test_async_with_worker_serves_jobs_and_its_end_drains_without_blocking_the_loop(q, tmp_path):
    started = tmp_path / "started"
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def main() -> tuple[Worker, Any, Any, int]:
        ticker = asyncio.create_task(tick())
        async with Worker(q, threads=1, grace=30) as worker:
            about = await named(q, context_app.whoami).delay().resolve(15)
            slow = named(q, context_app.nap).delay(0.5, str(started))
            while not lines(started):
                await asyncio.sleep(0.01)
            before = ticks
        during = ticks - before  # the loop kept running while the block's end waited for the job
        ticker.cancel()
        return worker, about, slow, during

    worker, about, slow, during = asyncio.run(main())
    assert about["worker_id"] == worker.id
    assert slow.record().status == "DONE"  # drained: waited for, not handed back
    assert slow.join(1) == "rested"
    assert during >= 10, f"the event loop ran only {during} ticks of 10 ms while the worker stopped"
    assert worker.snapshot().stopped


def test_start_twice_is_refused_and_stop_wait_returns_the_exit_status(q):
    worker = Worker(q, threads=1).start()
    try:
        with pytest.raises(RuntimeError, match=f"worker {worker.id} was started already: a worker runs once"):
            worker.start()
        assert named(q, context_app.plain_int).delay(41).join(15) == 42
    finally:
        assert worker.stop().wait(15) == 0


def test_a_live_worker_is_listed_by_the_store_while_it_runs_and_gone_once_it_stops(q, tmp_path):
    """Every store keeps live workers: the worker registers at start and at each heartbeat (with the job it runs),
    and deregisters at stop."""
    started = tmp_path / "started"
    worker = Worker(q, threads=2, lease=3.0).start()
    try:
        h = named(q, context_app.nap).delay(1.5, str(started))
        [info] = wait_for(lambda: [w for w in q.workers() if h.id in w.running], 10, "a worker listed with the job")
        assert (info.id, info.host, info.pid, info.queues) == (worker.id, socket.gethostname(), os.getpid(),
                                                               ("default",))
        assert info.concurrency == {"thread": 2, "async": 100}
        assert info.started is not None and info.heartbeat is not None and info.expires is not None
        assert h.join(15) == "rested"
        wait_for(lambda: [w for w in q.workers() if w.done == 1], 10, "the worker's tally refreshed")
        assert worker.worker_info()["done"] == 1
    finally:
        assert worker.stop().wait(15) == 0
    assert q.workers() == []


def test_the_worker_dashboard_names_the_live_workers_of_its_store_and_the_next_recurring_runs(q, tmp_path):
    from rich.console import Console

    from taskgraph.views.worker_view import QueueDepths, render_dashboard

    q.recurring("nightly", named(q, context_app.nap), "0 3 * * *", args=(0.0, str(tmp_path / "started")))
    worker = Worker(q, threads=2, lease=3.0).start()
    try:
        depths = QueueDepths(q._connect)
        depths.start()
        try:
            wait_for(lambda: depths.workers and depths.latest[0] is not None, 10, "the dashboard's first read")
            frame = render_dashboard(worker.snapshot(2.0), depths.latest, width=200, workers=depths.workers,
                                     recurring=depths.recurring)
        finally:
            depths.stop()
    finally:
        assert worker.stop().wait(15) == 0
    console = Console(width=200, record=True, file=open(os.devnull, "w"))  # noqa: SIM115 - closed with the console
    console.print(frame)
    text = console.export_text()
    assert f"Live workers (1): {worker.id} (0 running)" in text
    assert re.search(r"Next runs: nightly (\S+ )?03:00(:00)? \(in [^)]+\)", text), text
