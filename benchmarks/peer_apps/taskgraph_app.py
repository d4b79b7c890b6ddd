"""taskgraph's side: a durable queue on the store ``BENCH_TASKGRAPH_URL`` names, and a no-op job.

Workers run as ``taskgraph worker benchmarks.peer_apps.taskgraph_app:queue [--burst]``.
"""

from __future__ import annotations

import os

from taskgraph import DurableQueue, open_queue

from . import tally

URL = "BENCH_TASKGRAPH_URL"

queue: DurableQueue = open_queue(os.environ[URL])  # type: ignore[assignment]


@queue.task
def noop() -> None:
    tally()
