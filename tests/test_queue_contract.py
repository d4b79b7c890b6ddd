"""Every queue against the queue conformance suite (:class:`taskgraph.testing.QueueContract`): the local queues, a
plain executor, loky's, and a duck-typed object with nothing but ``submit``. The Dask queue runs it in
tests/test_dask.py, on that module's cluster."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from taskgraph import open_queue
from taskgraph.testing import QueueContract


class Duck:
    """A queue in ten lines: each call on a thread of its own. No base class, no taskgraph import."""

    def submit(self, fn, /, *args, **kwargs):
        future = Future()

        def run():
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        threading.Thread(target=run).start()
        return future


@pytest.mark.parametrize("url", ["inline:", "threads://2", "processes://2", "asyncio:", "asyncio:?limit=3"])
class TestURLQueues(QueueContract):
    @pytest.fixture
    def queue(self, url):
        queue = open_queue(url)
        yield queue
        queue.close()


class TestThreadPoolExecutor(QueueContract):
    @pytest.fixture
    def queue(self):
        with ThreadPoolExecutor(2) as pool:
            yield pool


class TestLokyExecutor(QueueContract):
    @pytest.fixture
    def queue(self):
        loky = pytest.importorskip("loky")
        yield loky.get_reusable_executor(max_workers=2)


class TestDuckTypedQueue(QueueContract):
    @pytest.fixture
    def queue(self):
        return Duck()
