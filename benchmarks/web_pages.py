"""How long each dashboard page and API read takes against a store holding 100,000 jobs.

The store is filled through its own contract (``enqueue`` in batches, then ``claim`` and ``complete`` or ``fail``
as a worker would), so it holds jobs in every status: by default 80 % DONE, 10 % FAILED, 10 % QUEUED, over two named
queues, and then a graph of 100 keyed jobs with their edges, as ``make_later`` stores one. Each page is then asked
for through the ASGI app in this process (no network), a few times, and the median and the worst are printed; the
target is under 300 ms each.

    .venv/bin/python benchmarks/web_pages.py                      # SQLite, 100,000 jobs
    .venv/bin/python benchmarks/web_pages.py --store postgresql://127.0.0.1:5432/test --jobs 100000
    .venv/bin/python benchmarks/web_pages.py --store redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from taskgraph import DurableQueue, open_queue  # noqa: E402
from taskgraph.stores.records import NewJob  # noqa: E402

TARGET = 0.300
BATCH = 2000
GRAPH = 100  # tasks of the stored graph (/graphs/bench)


def add(a: int, b: int) -> int:
    return a + b


def fill(q: DurableQueue, jobs: int) -> str:
    """Put ``jobs`` jobs in the store, in every status; return the id of a FAILED one."""
    name = q.task(add).name
    store = q.store
    payload = q.serializer.encode_call(name, (1, 2), {})
    started = time.perf_counter()
    for start in range(0, jobs, BATCH):
        store.enqueue([NewJob(id=uuid.uuid4().hex, name=name, payload=payload, options={"mode": "thread"},
                              queue="default" if i % 3 else "reports", metadata={"n": i})
                       for i in range(start, min(start + BATCH, jobs))])
    worker = "bench-worker"
    failed_id = ""
    finished = 0
    to_finish = jobs * 9 // 10
    while finished < to_finish:
        claimed = store.claim(worker, ["default", "reports"], min(BATCH, to_finish - finished), 300.0)
        if not claimed:
            break
        done = [r for i, r in enumerate(claimed) if (finished + i) % 9]
        store.complete(worker, [(r.id, b"3") for r in done])
        for r in claimed:
            if r not in done:
                store.fail(worker, r.id, {"type": "builtins.ValueError", "message": "bench", "traceback": ""}, None)
                failed_id = r.id
        finished += len(claimed)
    # and a graph as make_later stores one: keyed jobs of one namespace, each after the one or two before it
    ids = [uuid.uuid4().hex for _ in range(GRAPH)]
    store.enqueue([NewJob(id=ids[i], name=name, payload=payload, options={"mode": "thread"}, key=f"bench/t{i}@0",
                          after=ids[max(i - 2, 0):i]) for i in range(GRAPH)])
    print(f"filled {jobs} jobs and a graph of {GRAPH} in {time.perf_counter() - started:.1f} s: {q.stats()}",
          flush=True)
    return failed_id


def measure(q: DurableQueue, failed_id: str, repeat: int) -> list[tuple[str, float, float]]:
    from fastapi.testclient import TestClient

    from taskgraph.web import create_app

    paths = ["/", "/jobs", "/jobs?status=FAILED", "/jobs?status=DONE&offset=5000", "/jobs?status=SCHEDULED",
             "/jobs?queue=reports",
             f"/jobs/{failed_id}", "/workers", "/queues", "/graphs", "/graphs/bench", "/api/stats",
             "/api/tasks?limit=500", f"/api/tasks/{failed_id}", "/api/graphs/bench.svg", "/api/health"]
    rows = []
    with TestClient(create_app(q)) as client:
        for path in paths:
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = client.get(path)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, (path, response.status_code, response.text[:300])
            rows.append((path, statistics.median(times), max(times)))
            print(f"{path:40} median {rows[-1][1] * 1000:7.1f} ms  worst {rows[-1][2] * 1000:7.1f} ms"
                  f"{'' if rows[-1][1] < TARGET else '  OVER TARGET'}", flush=True)
    return rows


def drop(url: str, tag: str) -> None:
    """Remove what the benchmark put in a PostgreSQL or Redis server."""
    base = url.split("?")[0]
    if url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{tag}" CASCADE')
    elif url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(base)
        keys = list(client.scan_iter(match=f"{tag}:*", count=5000))
        for start in range(0, len(keys), 5000):
            client.delete(*keys[start:start + 5000])
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", help="a store URL (an empty one: a fresh schema or prefix is used for "
                        "PostgreSQL and Redis); by default a new SQLite file")
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = args.store or f"sqlite:///{os.path.join(folder, 'jobs.db')}"
        tag = f"bench_{uuid.uuid4().hex[:8]}"
        if url.startswith("postgresql"):
            url += f"{'&' if '?' in url else '?'}schema={tag}"
        elif url.startswith("redis"):
            url += f"{'&' if '?' in url else '?'}prefix={tag}"
        q = open_queue(url)
        assert isinstance(q, DurableQueue)
        try:
            failed_id = fill(q, args.jobs)
            rows = measure(q, failed_id, args.repeat)
        finally:
            q.close()
            drop(url, tag)
    over = [path for path, median, _ in rows if median >= TARGET]
    print(f"{len(rows) - len(over)} of {len(rows)} under {TARGET * 1000:.0f} ms" + (f"; over: {over}" if over else ""))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
