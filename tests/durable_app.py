"""The app of the durable-queue tests: a queue with jobs of :mod:`tests.jobs` registered.

A worker is started as ``taskgraph worker tests.durable_app:queue`` with ``TASKGRAPH_APP_URL`` naming the store;
a test opens its own queue on the same store with :func:`make_queue`, which registers the same functions, so
both sides know the same jobs by the same names (``tests.jobs:NAME``).
"""

from __future__ import annotations

import os

from taskgraph import DurableQueue, open_queue
from tests import jobs


def make_queue(url: str) -> DurableQueue:
    """A queue on ``url`` with the jobs of the durable tests registered."""
    queue = open_queue(url)
    assert isinstance(queue, DurableQueue)
    for func in (jobs.add, jobs.count, jobs.fail, jobs.fail_with, jobs.fail_custom, jobs.sleep, jobs.wait_for_file,
                 jobs.pid, jobs.report, jobs.unencodable_result, jobs.progress_then_wait, jobs.async_add,
                 jobs.async_sleep):
        queue.task(func)
    queue.task(jobs.flaky, retries=3, backoff=0.05)
    queue.task(jobs.cpu, mode="process")
    return queue


queue = make_queue(os.environ["TASKGRAPH_APP_URL"]) if os.environ.get("TASKGRAPH_APP_URL") else None
