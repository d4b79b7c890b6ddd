"""taskgraph's side: a durable queue on the store ``BENCH_TASKGRAPH_URL`` names, and a no-op job.

Workers run as ``taskgraph worker peer_apps.taskgraph_app:queue [--burst]``, with the checkout of taskgraph to
measure first on ``PYTHONPATH`` and benchmarks/ after it; when ``BENCH_TASKGRAPH_HOME`` names that checkout,
importing this module fails if taskgraph came from anywhere else.
"""

from __future__ import annotations

import os

from taskgraph import DurableQueue, open_queue

from . import tally

if os.environ.get("BENCH_TASKGRAPH_HOME"):
    import checkouts  # benchmarks/checkouts.py, on the path whenever the variable is set

    checkouts.verify()

URL = "BENCH_TASKGRAPH_URL"

queue: DurableQueue = open_queue(os.environ[URL])  # type: ignore[assignment]


@queue.task
def noop() -> None:
    tally()
