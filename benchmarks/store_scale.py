"""Drain rate of a store that already holds many finished jobs, next to an empty store's, in one run.

For each store (``--stores``), two isolated stores: one empty, one filled with ``--fill`` finished (``DONE``) jobs
(default 1,000,000; ``--quick``: 100,000), each with its three events, as a worker leaves them. Then, ``--repeat``
times (the two alternating, the empty one first in odd repetitions): ``--jobs`` no-op jobs (default 2,000) are
enqueued in batches, 2 ``taskgraph worker peer_apps.taskgraph_app:queue --burst -q`` processes start, and the
drain is timed from their start until the store reports every job finished (``drain jobs/s``), and until both
workers saw the queue empty and exited (``exit ms`` after the last job: the burst worker's end check). The empty
store is a fresh one each repetition; the filled one keeps its finished jobs (2,000 more each time).

The fill writes rows directly (this benchmark only; nothing of the store's code is used but its schema): SQLite
``executemany`` in one transaction, PostgreSQL ``COPY`` and ``ANALYZE``, Redis a Lua script that writes 1,000
jobs (hash, events, sets, counters) per call. ``--redis-fill`` caps Redis's fill apart (the server is shared: the
run prints what the filled prefix takes in memory). Every store made is removed afterwards: the SQLite files,
the PostgreSQL schemas, the Redis keys.

Run it::

    .venv/bin/python benchmarks/store_scale.py                    # 1,000,000 finished jobs, repeat 3
    .venv/bin/python benchmarks/store_scale.py --quick            # 100,000, repeat 2
    .venv/bin/python benchmarks/store_scale.py --stores sqlite --fill 300000 --markdown
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from typing import Any

from queue_throughput import STORES, Workers, count, delete_keys, fresh, tail, with_query

from taskgraph.queues.registry import open_store
from taskgraph.stores.records import NewJob

NAME = "peer_apps.taskgraph_app:noop"
PAYLOAD = b'{"v":1,"args":[],"kwargs":{}}'
OPTIONS = json.dumps({"mode": "thread", "retries": 0, "backoff": 1.0, "timeout": None, "priority": 0,
                      "queue": "default", "daemon": False, "serializer": "json"})
CHUNK = 1000
POLL = 0.005


class Place:
    """One isolated store: its URL, how to fill it and how to remove it."""

    def __init__(self, kind: str, opts: argparse.Namespace, tmp: str) -> None:
        self.kind, self.opts = kind, opts
        if kind == "sqlite":
            self.path = os.path.join(tmp, f"{fresh('scale')}.db")
            self.url = f"sqlite:///{self.path}"
        elif kind == "postgresql":
            self.schema = fresh("tgscale")
            self.url = with_query(opts.postgres, schema=self.schema)
        else:
            self.prefix = fresh("tgscale")
            self.url = with_query(opts.redis, prefix=self.prefix)
        from urllib.parse import urlsplit

        self.store = open_store(urlsplit(self.url))  # makes the schema

    def fill(self, n: int) -> None:
        """Write ``n`` DONE jobs of the benchmark's no-op, finished a minute ago, each with its three events."""
        now = time.time() - 60
        ids = (uuid.uuid4().hex for _ in range(n))
        getattr(self, f"_fill_{self.kind}")(ids, n, now)

    def _fill_sqlite(self, ids: Any, n: int, now: float) -> None:
        import sqlite3

        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("BEGIN")
        done = 0
        while done < n:
            batch = [next(ids) for _ in range(min(50_000, n - done))]
            [last] = db.execute("SELECT COALESCE(MAX(seq), 0) FROM jobs").fetchone()  # the batch's numbers follow
            db.executemany(
                "INSERT INTO jobs (id, name, queue, status, priority, payload, options, result, attempts, not_before, "
                "created, started, finished, worker, progress) VALUES (?, ?, 'default', 'DONE', 0, ?, ?, "
                "x'6e756c6c', 1, ?, ?, ?, ?, 'w-fill', 1.0)",
                [(i, NAME, PAYLOAD, OPTIONS, now, now, now, now) for i in batch])
            db.executemany(
                "INSERT INTO events (job_seq, at, event, source, dest, worker, detail) VALUES (?, ?, ?, ?, ?, ?, NULL)",
                [e for i in range(last + 1, last + 1 + len(batch))
                 for e in ((i, now, "queue", None, "QUEUED", None), (i, now, "dispatch", "QUEUED", "RUNNING", "w-fill"),
                           (i, now, "done", "RUNNING", "DONE", "w-fill"))])
            done += len(batch)
        db.execute("COMMIT")
        db.execute("ANALYZE")
        db.close()

    def _fill_postgresql(self, ids: Any, n: int, now: float) -> None:
        import psycopg

        s = f'"{self.schema}"'
        with psycopg.connect(self.opts.postgres, autocommit=False) as conn:
            with conn.cursor() as cur:
                jobs = [next(ids) for _ in range(n)]
                with cur.copy(f"COPY {s}.jobs (id, name, queue, status, priority, payload, options, result, "
                              "attempts, not_before, created, started, finished, worker, progress) FROM STDIN") as copy:
                    for i in jobs:
                        copy.write_row((i, NAME, "default", "DONE", 0, PAYLOAD, OPTIONS, b"null", 1, now, now, now,
                                        now, "w-fill", 1.0))
                with cur.copy(f"COPY {s}.events (job, at, event, source, dest, worker) FROM STDIN") as copy:
                    for i in jobs:
                        copy.write_row((i, now, "queue", None, "QUEUED", None))
                        copy.write_row((i, now, "dispatch", "QUEUED", "RUNNING", "w-fill"))
                        copy.write_row((i, now, "done", "RUNNING", "DONE", "w-fill"))
            conn.commit()
            conn.autocommit = True
            conn.execute(f"VACUUM ANALYZE {s}.jobs")
            conn.execute(f"VACUUM ANALYZE {s}.events")

    _REDIS_FILL = r"""
local P, now = ARGV[1], ARGV[2]
local first = redis.call('INCRBY', P .. ':seq', #ARGV - 2) - (#ARGV - 2)
local all, fin = {}, {}
for x = 3, #ARGV do
  local id, seq = ARGV[x], first + x - 2
  redis.call('HSET', P .. ':job:' .. id, 'id', id, 'name', '__NAME__', 'label', '__NAME__',
    'rlabel', "'__NAME__'", 'queue', 'default', 'status', 'DONE', 'priority', '0', 'pk', '09223372036854775807',
    'payload', '__PAYLOAD__', 'options', '__OPTIONS__', 'result', 'null', 'attempts', '1', 'lease_losses', '0',
    'waiting', '0', 'not_before', now, 'created', now, 'started', now, 'finished', now, 'worker', 'w-fill',
    'progress', '1.0', 'seq', tostring(seq))
  redis.call('RPUSH', P .. ':events:' .. id, '["' .. now .. '","queue",null,"QUEUED",null,null]',
    '["' .. now .. '","dispatch","QUEUED","RUNNING","w-fill",null]',
    '["' .. now .. '","done","RUNNING","DONE","w-fill",null]')
  all[#all + 1] = seq; all[#all + 1] = id
  fin[#fin + 1] = now; fin[#fin + 1] = id
end
redis.call('ZADD', P .. ':all', unpack(all))
redis.call('ZADD', P .. ':finished', unpack(fin))
redis.call('HINCRBY', P .. ':counts', 'DONE:default', #ARGV - 2)
return #ARGV - 2
"""

    def _fill_redis(self, ids: Any, n: int, now: float) -> None:
        import redis

        text = (self._REDIS_FILL.replace("__NAME__", NAME).replace("__PAYLOAD__", PAYLOAD.decode())
                .replace("__OPTIONS__", OPTIONS))
        client = redis.Redis.from_url(self.opts.redis)
        script = client.register_script(text)
        now_s = f"{now:.6f}"
        for start in range(0, n, CHUNK):
            script(args=[self.prefix, now_s, *(next(ids) for _ in range(min(CHUNK, n - start)))])
        client.close()

    def memory(self) -> int | None:
        """Bytes the keys of this prefix take in Redis (sampled: 200 job hashes and their events, plus the sets)."""
        if self.kind != "redis":
            return None
        import redis

        client = redis.Redis.from_url(self.opts.redis)
        try:
            jobs = int(client.zcard(f"{self.prefix}:all"))
            sample = [m.decode() for m in client.zrange(f"{self.prefix}:all", 0, 199)]
            per = sum((client.memory_usage(f"{self.prefix}:job:{i}") or 0)
                      + (client.memory_usage(f"{self.prefix}:events:{i}") or 0) for i in sample) / max(len(sample), 1)
            sets = sum(client.memory_usage(f"{self.prefix}:{k}", samples=0) or 0 for k in ("all", "finished"))
            return int(per * jobs + sets)
        finally:
            client.close()

    def drain(self, n: int, tmp: str) -> dict[str, float]:
        """Enqueue ``n`` no-op jobs, drain them with 2 burst workers; the figures."""
        jobs = [NewJob(id=uuid.uuid4().hex, name=NAME, payload=PAYLOAD, options=json.loads(OPTIONS)) for _ in range(n)]
        for start in range(0, n, CHUNK):
            self.store.enqueue_ids(jobs[start:start + CHUNK])
        ids = [j.id for j in jobs]
        tally = os.path.join(tmp, f"{fresh('count')}.count")
        here = os.path.dirname(os.path.abspath(__file__))  # peer_apps
        path = os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "BENCH_TASKGRAPH_URL": self.url, "PYTHONPATH": path}
        command = [sys.executable, "-m", "taskgraph", "worker", "peer_apps.taskgraph_app:queue", "-q", "--burst"]
        system = _Setup(env, tmp)
        start = time.perf_counter()
        workers = Workers(system, [command, command], tally, fresh("drain"))  # type: ignore[arg-type]
        try:
            deadline = start + self.opts.timeout
            while count(tally) < n:
                workers.check_alive()
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"drain timed out: {count(tally)} of {n} ran; {tail(workers.logs[0])}")
                time.sleep(POLL)
            left = ids
            while left:
                statuses = {}
                for i in range(0, len(left), CHUNK):
                    statuses.update(self.store.status_of(left[i:i + CHUNK]))
                left = [i for i in left if statuses.get(i, ("?",))[0] != "DONE"]
                if left and time.perf_counter() > deadline:
                    raise RuntimeError(f"drain timed out: {len(left)} of {n} not DONE")
                if left:
                    time.sleep(POLL)
            finished = time.perf_counter()
            if not workers.wait(max(1.0, deadline - time.perf_counter())):
                raise RuntimeError(f"burst workers did not exit: {tail(workers.logs[0])}")
            exited = time.perf_counter()
        finally:
            workers.stop()
        if count(tally) != n:
            raise RuntimeError(f"the no-op ran {count(tally)} times for {n} jobs")
        return {"drain": n / (finished - start), "exit_ms": (exited - finished) * 1e3}

    def remove(self) -> None:
        self.store.close()
        if self.kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.remove(self.path + suffix)
                except FileNotFoundError:
                    pass
        elif self.kind == "postgresql":
            import psycopg

            with psycopg.connect(self.opts.postgres, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        else:
            delete_keys(self.opts.redis, f"{self.prefix}:*")


class _Setup:
    """What :class:`queue_throughput.Workers` asks of a system: the workers' environment and folder."""

    def __init__(self, env: dict[str, str], tmp: str) -> None:
        self.env, self.tmp = env, tmp

    def worker_setup(self) -> tuple[dict[str, str], str]:
        return self.env, self.tmp


def measure(kind: str, opts: argparse.Namespace, tmp: str) -> dict[str, Any]:
    fill = min(opts.fill, opts.redis_fill) if kind == "redis" else opts.fill
    full = Place(kind, opts, tmp)
    made: list[Place] = [full]
    out: dict[str, Any] = {"fill": fill, "empty": [], "full": []}
    try:
        start = time.perf_counter()
        full.fill(fill)
        out["fill_s"] = time.perf_counter() - start
        out["memory"] = full.memory()
        print(f"  {kind}: filled with {fill:,} finished jobs in {out['fill_s']:.1f} s"
              + (f", {out['memory'] / 2**20:,.0f} MiB in Redis" if out["memory"] else ""), file=sys.stderr, flush=True)
        for rep in range(opts.repeat):
            for which in (("empty", "full") if rep % 2 == 0 else ("full", "empty")):
                if which == "empty":
                    place = Place(kind, opts, tmp)
                    made.append(place)
                else:
                    place = full
                r = place.drain(opts.jobs, tmp)
                out[which].append(r)
                print(f"  {kind} {which:5} [{rep + 1}/{opts.repeat}]: drain {r['drain']:,.0f} jobs/s, exit "
                      f"{r['exit_ms']:.0f} ms", file=sys.stderr, flush=True)
                if which == "empty":
                    place.remove()
                    made.remove(place)
    except Exception as exc:  # noqa: BLE001 - reported in the table, the other stores go on
        out["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        print(f"  {kind}: {out['error']}", file=sys.stderr, flush=True)
    finally:
        for place in made:
            place.remove()
    return out


def table(results: dict[str, dict[str, Any]], markdown: bool) -> str:
    head = ["store", "finished jobs", "fill s", "drain empty jobs/s", "drain full jobs/s", "full / empty",
            "exit ms empty", "exit ms full", "note"]
    rows = []
    for kind, r in results.items():
        def med(r: dict[str, Any], which: str, key: str) -> float | None:
            values = [x[key] for x in r[which]]
            return statistics.median(values) if values else None

        def span(r: dict[str, Any], which: str, key: str) -> str:
            values = [x[key] for x in r[which]]
            return (f"{statistics.median(values):,.0f} [{min(values):,.0f}-{max(values):,.0f}]"
                    if values else "-")

        empty, full = med(r, "empty", "drain"), med(r, "full", "drain")
        ratio = f"{full / empty:.2f}" if empty and full else "-"
        note = r.get("error", "")
        if r.get("memory"):
            note = f"{r['memory'] / 2**20:,.0f} MiB in Redis {note}".strip()
        rows.append([kind, f"{r['fill']:,}", f"{r.get('fill_s', 0):.0f}", span(r, "empty", "drain"),
                     span(r, "full", "drain"), ratio, span(r, "empty", "exit_ms"), span(r, "full", "exit_ms"), note])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i in (0, 8) else "---:"
                                                            for i in range(len(head))) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)) for row in [head, *rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default=",".join(STORES), help="comma-separated subset of sqlite,postgresql,redis")
    parser.add_argument("--fill", type=int, default=1_000_000, help="finished jobs in the filled store (1,000,000)")
    parser.add_argument("--redis-fill", type=int, default=1_000_000, help="the fill of Redis, if smaller")
    parser.add_argument("--jobs", type=int, default=2000, help="jobs drained (default 2,000)")
    parser.add_argument("--repeat", type=int, default=3, help="drains of each store (default 3)")
    parser.add_argument("--quick", action="store_true", help="100,000 finished jobs, repeat 2")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--timeout", type=float, default=300.0, help="time limit of one drain (default 300 s)")
    parser.add_argument("--postgres", default="postgresql://127.0.0.1:5432/test", metavar="URL")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", metavar="URL")
    args = parser.parse_args()
    if args.quick:
        args.fill, args.repeat = min(args.fill, 100_000), 2
    args.redis_fill = min(args.redis_fill, args.fill)
    kinds = [k for k in args.stores.split(",") if k]
    if bad := [k for k in kinds if k not in STORES]:
        parser.error(f"unknown stores {bad}; known: {', '.join(STORES)}")
    load = os.getloadavg()[0]
    tmp = tempfile.mkdtemp(prefix="tgscale-")
    try:
        results = {kind: measure(kind, args, tmp) for kind in kinds}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nPython {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load:.2f} at the start; "
          f"{args.jobs:,} no-op jobs drained by 2 burst workers, medians [range] of {args.repeat}\n")
    print(table(results, args.markdown))


if __name__ == "__main__":
    main()
