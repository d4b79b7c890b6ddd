"""An app on an in-memory store, for the process-mode tests of :mod:`tests.test_store_memory`.

A worker started with ``app="tests.memory_app:queue"`` runs ``process`` jobs in worker processes that import this
module: each opens an empty store of its own under the same name, which it never uses (a worker process only runs
the function and sends the outcome back to the worker, which reports it to the store in this process).
"""

from __future__ import annotations

from taskgraph import DurableQueue, open_queue
from tests import jobs

queue = open_queue("memory://tests-memory-app")
assert isinstance(queue, DurableQueue)
pid = queue.task(jobs.pid, mode="process")
add = queue.task(jobs.add)
