"""The app of the many-workers tests (tests/test_scale.py): a queue with :func:`tests.jobs.note` and
:func:`tests.jobs.work` registered.

A worker is started as ``taskgraph worker tests.scale_app:queue`` with ``TASKGRAPH_APP_URL`` naming the store; a
test opens its own queue on the same store with :func:`make_queue`, which registers the same functions, so both
sides know the same jobs by the same names.
"""

from __future__ import annotations

import os

from taskgraph import DurableQueue, open_queue
from tests import jobs


def make_queue(url: str) -> DurableQueue:
    """A queue on ``url`` with the jobs of the scale tests registered."""
    queue = open_queue(url)
    assert isinstance(queue, DurableQueue)
    queue.task(jobs.note)
    queue.task(jobs.work)
    return queue


queue = make_queue(os.environ["TASKGRAPH_APP_URL"]) if os.environ.get("TASKGRAPH_APP_URL") else None
