"""The app of the result-cache tests: the durable tests' queue with cached jobs of :mod:`tests.jobs`.

``count`` keeps results 60 s, at most 2 of them; ``flaky`` keeps them until invalidated (and is not retried), so a
failure shows whether it was cached; ``note`` is a ``process`` job, its line naming the process that ran it;
``trace`` keeps results 1 s, ``atrace`` (async) 60 s. A worker runs ``taskgraph worker tests.cache_app:queue``; a
test opens the same queue with :func:`cache_queue`.
"""

from __future__ import annotations

import os

from taskgraph import DurableQueue
from tests import jobs
from tests.durable_app import make_queue


def cache_queue(url: str) -> DurableQueue:
    queue = make_queue(url)
    queue.task(jobs.count, cache=60, cache_max=2)
    queue.task(jobs.flaky, cache=True, cache_version=2)
    queue.task(jobs.wait_for_file, cache=60)
    queue.task(jobs.async_add, cache=60)
    queue.task(jobs.note, mode="process", cache=60)
    queue.task(jobs.trace, cache=1)
    queue.task(jobs.atrace, cache=60)
    return queue


queue = cache_queue(os.environ["TASKGRAPH_APP_URL"]) if os.environ.get("TASKGRAPH_APP_URL") else None
