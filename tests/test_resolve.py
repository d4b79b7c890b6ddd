"""``await handle.resolve()``: many waits, no thread each, on every store; abandoned waits are forgotten."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from taskgraph import CancelledError
from taskgraph.durable.worker import Worker
from tests import jobs
from tests.durable_app import make_queue


@pytest.fixture
def q(in_process_store_url):
    queue = make_queue(in_process_store_url)
    yield queue
    queue.close()


class NoExecutor(ThreadPoolExecutor):
    """A default executor that refuses work: a resolve that used a thread would fail."""

    def submit(self, *args, **kwargs):  # type: ignore[override]
        raise AssertionError("resolve() used the event loop's default executor")


def serve(q, stop: threading.Event) -> threading.Thread:
    worker = Worker(q, threads=4)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    threading.Thread(target=lambda: (stop.wait(60), worker.stop()), daemon=True).start()
    return thread


def test_many_waits_hold_no_thread_each_and_all_see_their_results(q, tmp_path):
    release = tmp_path / "release"
    wait = q.task(jobs.wait_for_file)
    handles = [wait.delay(str(release)) for _ in range(12)] + [q.job("tests.jobs:add").delay(i, 1) for i in range(12)]

    async def main():
        asyncio.get_running_loop().set_default_executor(NoExecutor(1))
        waits = [asyncio.ensure_future(h.resolve(30)) for h in handles]
        await asyncio.sleep(0)  # every wait registered before the jobs can end
        threads = threading.active_count()
        release.touch()
        results = await asyncio.gather(*waits)
        return threads, results

    stop = threading.Event()
    before = threading.active_count()
    worker = serve(q, stop)
    try:
        threads, results = asyncio.run(main())
    finally:
        stop.set()
        worker.join(30)
    assert results == ["released"] * 12 + [i + 1 for i in range(12)]
    # the worker's threads and the one thread watching the store for all 24 waits: not one per wait
    assert threads - before < 12


def test_a_cancelled_wait_is_forgotten_and_a_timeout_says_so(q):
    handle = q.job("tests.jobs:add").delay(1, 2)  # no worker: it stays QUEUED

    async def main():
        waiting = asyncio.ensure_future(handle.resolve())
        await asyncio.sleep(0)  # the wait registers as it starts
        assert handle.id in q._awaited._waiters
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert q._awaited._waiters == {}
        with pytest.raises(TimeoutError, match=f"job {handle.id} is still not finished after 0.05 s"):
            await handle.resolve(0.05)
        assert q._awaited._waiters == {}

    asyncio.run(main())


def test_resolve_raises_what_join_raises(q):
    failed = q.job("tests.jobs:fail").delay("broken")
    cancelled = q.job("tests.jobs:add").delay(1, 2)
    cancelled.cancel()
    stop = threading.Event()
    worker = serve(q, stop)

    async def main():
        with pytest.raises(ValueError, match="^broken$"):
            await failed.resolve(30)
        with pytest.raises(CancelledError, match="was cancelled"):
            await cancelled.resolve(30)
        with pytest.raises(KeyError, match="never enqueued, or purged"):
            await _missing(q).resolve(5)

    try:
        asyncio.run(main())
    finally:
        stop.set()
        worker.join(30)


def _missing(q):
    from taskgraph.durable.handle import JobHandle

    return JobHandle(q, "0" * 32)


def test_closing_the_queue_ends_the_waits(q):
    handle = q.job("tests.jobs:add").delay(1, 2)

    async def main():
        waiting = asyncio.ensure_future(handle.resolve())
        await asyncio.sleep(0)  # the wait registers as it starts
        q.close()
        with pytest.raises(RuntimeError, match="was closed while a job was awaited"):
            await waiting

    asyncio.run(main())
