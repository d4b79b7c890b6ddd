"""Jobs for the many-workers tests (tests/test_scale.py), importable by worker subprocesses.

A worker is started as ``taskgraph worker tests.scale_app:queue`` with ``TASKGRAPH_APP_URL`` naming the store; a
test opens its own queue on the same store with :func:`make_queue`, which registers the same functions, so both
sides know the same jobs by the same import paths.

Each job is told its own store id and writes it, with the pid of the process that runs it, to a file with one
``O_APPEND`` write per line: the executions are counted by the jobs themselves, independently of the store.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from taskgraph import DurableQueue, open_queue
from taskgraph.durable.jobs import import_path
from taskgraph.stores.records import NewJob
from tests.counts import record


def mark(path: str, job_id: str) -> str:
    """Write ``"<job_id> <pid>"``: one line per execution."""
    record(path, f"{job_id} {os.getpid()}")
    return job_id


def work(path: str, job_id: str, seconds: float, freeze: str = "", thaw: str = "") -> str:
    """Write ``"start <job_id> <pid>"``, sleep ``seconds``, write ``"end <job_id> <pid>"``: a job seen to be
    running between its two lines.

    While the file ``freeze`` exists, a job that starts writes ``"held <job_id> <pid>"`` after its start line and
    waits for the file ``thaw`` (up to a minute) before it sleeps: a test can hold every worker in the middle of
    a job, and know which jobs each is running.
    """
    record(path, f"start {job_id} {os.getpid()}")
    if freeze and os.path.exists(freeze):
        record(path, f"held {job_id} {os.getpid()}")
        deadline = time.monotonic() + 60.0
        while not os.path.exists(thaw):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{thaw} never appeared")
            time.sleep(0.001)
    time.sleep(seconds)
    record(path, f"end {job_id} {os.getpid()}")
    return job_id


def make_queue(url: str) -> DurableQueue:
    """A queue on ``url`` with every job of this module registered."""
    queue = open_queue(url)
    assert isinstance(queue, DurableQueue)
    queue.task(mark)
    queue.task(work)
    return queue


def enqueue_own_ids(queue: DurableQueue, func: Callable[..., Any], n: int, args: Callable[[str], Iterable[Any]],
                    after: Sequence[str] = ()) -> list[str]:
    """Enqueue ``n`` jobs of ``func`` in one store call, each called with ``args(its own id)``, PENDING until the
    jobs ``after`` are DONE.

    Returns:
        the ids, in order of enqueueing.
    """
    job = queue.job(import_path(func))
    assert job is not None, f"{func.__name__} is not registered on {queue!r}"
    ids = [uuid.uuid4().hex for _ in range(n)]
    encode = queue.serializer.encode_call
    options = job.options.stored(queue.serializer.name)
    records = queue.store.enqueue([
        NewJob(id=job_id, name=job.name, payload=encode(job.name, tuple(args(job_id)), {}), options=options,
               queue=job.options.queue, priority=job.options.priority, after=list(after))
        for job_id in ids
    ])
    assert [r.id for r in records] == ids
    return ids


GATE_QUEUE = "scale-gate"  # a named queue no worker serves: only the test claims its job
GATE_WORKER = "scale-test:gate"


def enqueue_gate(queue: DurableQueue) -> str:
    """A job that holds back the jobs enqueued ``after`` it until :func:`open_gate`; its id."""
    name = import_path(mark)
    gate = NewJob(id=uuid.uuid4().hex, name=name, payload=queue.serializer.encode_call(name, ("", "gate"), {}),
                  queue=GATE_QUEUE)
    return queue.store.enqueue([gate])[0].id


def open_gate(queue: DurableQueue, gate_id: str) -> None:
    """Complete the gate job by hand: every job waiting for it becomes QUEUED at once, in one transaction."""
    claimed = queue.store.claim(GATE_WORKER, [GATE_QUEUE], 1, 600.0)
    assert [r.id for r in claimed] == [gate_id]
    result = queue.serializer.encode_result(import_path(mark), "gate")
    assert queue.store.complete(GATE_WORKER, [(gate_id, result)]) == [gate_id]


queue = make_queue(os.environ["TASKGRAPH_APP_URL"]) if os.environ.get("TASKGRAPH_APP_URL") else None
