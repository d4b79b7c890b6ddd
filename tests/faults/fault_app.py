"""The app of the fault tests (a queue with jobs of :mod:`tests.jobs` registered), and the programs their
subprocesses run.

A worker serves ``tests.faults.fault_app:queue``, reading its store's URL from ``TASKGRAPH_APP_URL``; a test opens
its own queue on the same store with :func:`make_queue`, which registers the same functions, so both sides know
the same jobs by the same names (``tests.jobs:NAME``). Jobs count their executions by appending one line per run
to a file (``tests.jobs.record``: one ``O_APPEND`` write), independently of any store.

The programs (``drive_gated_graph``, ``drive_layers``, ``hammer``, ``hold_write_lock``) run in subprocesses started
as ``python -c "from tests.faults import fault_app; fault_app.main()" PROGRAM ARGS...``: the jobs they use are
imported from :mod:`tests.jobs` by name, never defined in ``__main__``, or workers could not find them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
import uuid
from typing import Any

from taskgraph import DurableQueue, Task, make_now, open_queue
from taskgraph.stores.base import StoreError
from taskgraph.stores.records import NewJob
from tests import jobs

#: Where ids of hammered jobs come from: ``uuid5(IDS, name)``, so a test knows them without being told.
IDS = uuid.UUID("0c6b2f8e-52d4-4d55-9d2c-3f6e0a9b7c41")


def make_queue(url: str) -> DurableQueue:
    """A queue on ``url`` with the jobs of the fault tests registered (a test may decorate again for other
    options: the options travel with each job)."""
    queue = open_queue(url)
    assert isinstance(queue, DurableQueue)
    queue.task(jobs.note)
    queue.task(jobs.wait_for_file)
    queue.task(jobs.leak, mode="process", timeout=2.0)
    queue.task(jobs.hang, mode="process", timeout=2.0)
    queue.task(jobs.pid, mode="process")
    return queue


queue = make_queue(os.environ["TASKGRAPH_APP_URL"]) if os.environ.get("TASKGRAPH_APP_URL") else None


# ------------------------------------------------------------------ programs run in subprocesses


def drive_gated_graph(url: str, record_path: str, release: str, started: str) -> int:
    """``make_now`` of a graph with a gate in the middle: 10 ``pre`` tasks, a ``gate`` (blocks until ``release``
    exists) requiring them, 10 ``post`` tasks requiring the gate and one ``pre`` each, and a ``final`` task
    requiring every ``post``. Prints ``NAME=STATE:RESULT`` for each task; exit status 0 when all are DONE."""
    q = make_queue(url)
    pre = [Task(f"pre{i}", jobs.note, args=(record_path, f"pre{i}")) for i in range(10)]
    middle = Task("gate", jobs.wait_for_file, args=(release, started, "gate", 120.0)).require(*pre)
    post = [Task(f"post{i}", jobs.note, args=(record_path, f"post{i}")).require(middle, pre[i]) for i in range(10)]
    final = Task("final", jobs.note, args=(record_path, "final")).require(*post)
    tasks = [*pre, middle, *post, final]
    make_now(final, queue=q)
    print(" ".join(f"{t.name}={t.state.value}:{t.result}" for t in tasks), flush=True)
    q.close()
    return 0 if all(t.state == "DONE" for t in tasks) else 1


def layered_graph(record_path: str, layers: int, width: int, pause: float) -> list[Task]:
    """``layers`` layers of ``width`` ``note`` tasks named ``L<layer>.<i>`` (each returns its name), each after
    three of the layer before (fan-in), and a ``sink`` after the whole last layer."""
    tasks: list[Task] = []
    previous: list[Task] = []
    for layer in range(layers):
        current = []
        for i in range(width):
            name = f"L{layer}.{i}"
            t = Task(name, jobs.note, args=(record_path, name, pause))
            if previous:
                t.require(*{previous[i], previous[(i + 1) % width], previous[(i + 7) % width]})
            current.append(t)
        tasks += current
        previous = current
    tasks.append(Task("sink", jobs.note, args=(record_path, "sink")).require(*previous))
    return tasks


def drive_layers(url: str, record_path: str, layers: str, width: str, pause: str) -> int:
    """``make_now`` of :func:`layered_graph`; prints one JSON object, name -> [state, result, error]; exit
    status 0 when all are DONE."""
    q = make_queue(url)
    tasks = layered_graph(record_path, int(layers), int(width), float(pause))
    make_now(tasks[-1], queue=q)
    outcome = {t.name: [t.state.value, t.result, None if t.exception is None else repr(t.exception)] for t in tasks}
    print(json.dumps(outcome), flush=True)
    q.close()
    return 0 if all(t.state == "DONE" for t in tasks) else 1


def hammered_id(name: str) -> str:
    return uuid.uuid5(IDS, name).hex


def hammer(url: str, tag: str, count: str, record_path: str, progress: str) -> int:
    """Enqueue ``count`` ``note`` jobs named ``TAG-00000``... in transactions of 1 to 4 jobs, reading between
    them (get, and now and then list and stats). An enqueue that fails with a StoreError (the database stayed
    locked) is sent again with the same ids, as a client should: enqueueing an id the store has is harmless.
    Appends the count enqueued so far to ``progress`` after each transaction; prints a JSON summary."""
    q = make_queue(url)
    job = q.job("tests.jobs:note")
    assert job is not None
    options = job.options.stored(q.serializer.name)
    store = q.store
    total = int(count)
    done, batch_no, retries, reads = 0, 0, 0, 0
    errors: list[str] = []
    while done < total:
        size = min(1 + batch_no % 4, total - done)
        names = [f"{tag}-{i:05d}" for i in range(done, done + size)]
        batch = [NewJob(id=hammered_id(n), name=job.name, options=options,
                        payload=q.serializer.encode_call(job.name, (record_path, n), {})) for n in names]
        while True:
            try:
                records = store.enqueue(batch)
                break
            except StoreError as exc:
                retries += 1
                errors.append(str(exc))
        assert [r.id for r in records] == [j.id for j in batch]
        done += size
        batch_no += 1
        jobs.record(progress, str(done))
        assert len(store.get([j.id for j in batch])) == size
        reads += 1
        if batch_no % 5 == 0:
            store.list_jobs(limit=20)
            store.stats()
            reads += 2
    print(json.dumps({"enqueued": done, "transactions": batch_no, "retries": retries, "errors": errors,
                      "reads": reads}), flush=True)
    q.close()
    return 0


def _enqueued(paths: list[str]) -> int:
    """How many jobs the hammers writing ``paths`` have enqueued so far (the last line of each)."""
    return sum(int(last[0]) for last in (jobs.lines(path)[-1:] for path in paths) if last)


def hold_write_lock(db_path: str, log_path: str, seconds: str, thresholds: str, *progress: str) -> int:
    """Hold SQLite's write lock (``BEGIN IMMEDIATE``) for ``seconds`` each time the hammers together have
    enqueued the next of ``thresholds`` (comma-separated) jobs, as another program using the file might; logs
    ``hold N`` and ``free N`` lines to ``log_path``."""
    db = sqlite3.connect(db_path, timeout=60, isolation_level=None)
    for n, threshold in enumerate(int(t) for t in thresholds.split(",")):
        deadline = time.monotonic() + 120
        while _enqueued(list(progress)) < threshold:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the hammers never enqueued {threshold} jobs")
            time.sleep(0.002)
        db.execute("BEGIN IMMEDIATE")
        jobs.record(log_path, f"hold {n} {_enqueued(list(progress))}")
        time.sleep(float(seconds))  # the fault: the lock held this long
        jobs.record(log_path, f"free {n} {_enqueued(list(progress))}")
        db.execute("COMMIT")
    db.close()
    return 0


PROGRAMS: dict[str, Any] = {
    "drive_gated_graph": drive_gated_graph,
    "drive_layers": drive_layers,
    "hammer": hammer,
    "hold_write_lock": hold_write_lock,
}


def main() -> None:
    """``python -c "from tests.faults import fault_app; fault_app.main()" PROGRAM ARGS...``"""
    sys.exit(PROGRAMS[sys.argv[1]](*sys.argv[2:]))
