"""Throughput and latency of taskgraph's durable queues on each store, next to Huey, RQ and Procrastinate.

What it measures, for every system in the same run, on no-op jobs (each appends one byte to a count file):

* ``enqueue``: N jobs (``--jobs``, default 2,000) enqueued one by one from one client, in jobs/s;
* ``drain``: those N jobs run by 2 real worker processes of the system, in jobs/s: the time from starting the
  workers until the system's own store says the last job is finished (taskgraph: ``DONE`` in the store; Huey: a
  result stored; RQ: the finished-job registry; Procrastinate: ``succeeded``). ``start ms`` is the part of it
  until the first job ran (interpreter start, imports, connecting);
* ``round trip``: with one idle worker already running, one job enqueued at a time and waited for with the
  system's own mechanism, ``--roundtrips`` times (default 200) after a warm-up of 20; p50 and p95 in ms;
* ``batch`` (taskgraph only, where it has ``job.map``): 10 x N jobs enqueued by ``noop.map`` in batches of 1,000,
  in jobs/s; ``status us``: the mean time of ``handle.status()`` on a finished job, over 1,000 calls.

The systems (``--stores`` and ``--peers`` pick them):

* taskgraph on ``sqlite:///<fresh file>``, ``postgresql://.../test?schema=<fresh>``, ``redis://.../0?prefix=<fresh>``:
  workers are ``taskgraph worker peer_apps.taskgraph_app:queue --burst -q`` (leases and acknowledgement on, as
  always; default threads and batch, or ``--taskgraph-args``); a client waits with ``handle.join()``;
* ``huey-sqlite``, ``huey-redis``: one ``huey_consumer`` with 2 worker processes (``-w 2 -k process``; ``-w 1`` for
  the round trip); results kept for None too (``store_none``); a client waits with ``result.get(blocking=True)``
  (Huey's polling; with Redis, ``notify_result=True``, its blocking wake-up);
* ``rq``: 2 ``rq worker --burst --worker-class rq.worker.SimpleWorker`` processes, keys under a fresh
  ``RQ_KEY_PREFIX``; a client waits with ``job.latest_result(timeout=...)`` (a blocking read of the result stream);
* ``procrastinate``: psycopg 3 connector, its schema applied to a fresh database (a fresh schema if the role may
  not create databases); 2 ``procrastinate worker`` processes (``--one-shot`` for the drain); Procrastinate keeps no
  results, so a client polls the job's status every millisecond.

Every worker runs with its logging turned down (``-q``, ``--quiet``, ``--log-level warning``), so that no system
pays for a log line per job. Each repetition of each system runs in a fresh subprocess, on a fresh file, schema,
database or key prefix that is removed afterwards; the table shows the medians of ``--repeat`` repetitions. Each
run is checked: the count file must show each job run exactly once, and the store must report every job finished.
A peer that is not installed is shown as such; one that fails shows why (a drain with no progress for 30 s is
given up, quoting its worker's log), and the others go on. A full run takes about 5 minutes on 2 cores, a third
of it Huey SQLite's 110 ms round trips.

Before and after in one run: ``--before DIR`` (another checkout, e.g. a ``git worktree`` of an older commit) adds
a row ``taskgraph@before`` per store, whose client and workers import taskgraph from DIR; the plain ``taskgraph``
rows import it from ``--after`` (default: this checkout). The client and every worker check where their taskgraph
came from (the run stops, or the row shows why). Repetitions are the outer loop: each repetition runs every row
once, each row on --before next to its row on --after (before first in the 2nd, 4th, ... repetition), so that the
machine's moods hit both alike; the output then compares each pair (ratio of the medians, and the range of the
runs).

Run it (``make bench-queues`` runs the first)::

    .venv/bin/python benchmarks/queue_throughput.py                 # all stores and peers, 2,000 jobs, repeat 3
    .venv/bin/python benchmarks/queue_throughput.py --quick         # 500 jobs, repeat 1
    .venv/bin/python benchmarks/queue_throughput.py --stores sqlite --peers huey-sqlite --markdown
    .venv/bin/python benchmarks/queue_throughput.py --peers none --taskgraph-args="--threads 8 --batch 64"
    .venv/bin/python benchmarks/queue_throughput.py --peers none --before ../before   # a worktree of main there

The peers are in the ``bench`` extra: ``pip install -e '.[bench]'``. Servers: PostgreSQL at ``--postgres``
(default postgresql://127.0.0.1:5432/test) and Redis at ``--redis`` (default redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import checkouts

ROOT = checkouts.ROOT
STORES = ("sqlite", "postgresql", "redis")
PEERS = ("huey-sqlite", "huey-redis", "rq", "procrastinate")
# (system, store) of each row, in the order of the table; the peer name that selects each peer row.
ROWS = [("taskgraph", s) for s in STORES] + [
    ("huey", "sqlite"), ("huey", "redis"), ("rq", "redis"), ("procrastinate", "postgresql"),
]
PEER_OF = {("huey", "sqlite"): "huey-sqlite", ("huey", "redis"): "huey-redis", ("rq", "redis"): "rq",
           ("procrastinate", "postgresql"): "procrastinate"}
# What each system needs importable, beyond the standard library.
NEEDS = {
    ("taskgraph", "sqlite"): [],  # taskgraph itself: the checkout of --after or --before
    ("taskgraph", "postgresql"): ["psycopg"],
    ("taskgraph", "redis"): ["redis"],
    ("huey", "sqlite"): ["huey"],
    ("huey", "redis"): ["huey", "redis"],
    ("rq", "redis"): ["rq", "redis"],
    ("procrastinate", "postgresql"): ["procrastinate", "psycopg"],
}
WORKERS = 2  # worker processes for the drain
WARMUP = 20  # round trips before the measured ones
POLL = 0.002  # seconds between looks at the count file and the store while draining
STALL = 30.0  # a drain in which no job ran (or finished) for this long is given up, with the worker's last words

TARGETS = """\
Targets (taskgraph, leases and acknowledgement on; 2 cores, 2,000 no-op jobs, 2 worker processes, medians of 3):
  SQLite drain     >= 2,500 jobs/s  -> {sqlite}
  Redis drain      >= 2,000 jobs/s  -> {redis}
  PostgreSQL drain >=   650 jobs/s  -> {postgresql}
  round trip p50   <= 5 ms on all three stores -> {latency}
Reference peer figures from the issue (2 cores, 2,000 no-op jobs, 2 worker processes, medians of 3):
  Huey SQLite 1,234 jobs/s with a 110 ms round trip; Huey Redis 1,375 jobs/s, ~2 ms; RQ 302 jobs/s (SimpleWorker),
  5 ms; Dramatiq Redis 466 jobs/s, 9 ms (not run here); Procrastinate 219 jobs/s, 14 ms."""


def fresh(prefix: str) -> str:
    """A new lowercase identifier: a schema, a database, a key prefix or a queue name."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def with_query(url: str, **params: str) -> str:
    extra = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{url}{'&' if '?' in url else '?'}{extra}"


def first_line(exc: BaseException) -> str:
    """``Type: the first line of the message``, without a leading URL (the table says which store it is)."""
    text = str(exc).strip().splitlines()
    if not text:
        return type(exc).__name__
    head, sep, rest = text[0].partition(": ")
    message = rest if sep and "://" in head else text[0]
    return f"{type(exc).__name__}: {message}"


class BenchError(Exception):
    """A run that cannot be measured; the message goes into the table's note."""


# ------------------------------------------------------------------ the systems (in the child)


class System:
    """One system on one store, as the child drives it. Subclasses fill in the hooks."""

    burst = False  # the drain workers exit by themselves once the queue is empty

    def __init__(self, store: str, opts: argparse.Namespace, tmp: str) -> None:
        self.store = store
        self.opts = opts
        self.tmp = tmp
        self.env: dict[str, str] = {}  # set for the client (before importing the app) and every worker

    def setup(self) -> None:
        """Make the isolated store, set ``self.env``, import the app and open the client."""

    def enqueue(self) -> Any:
        """Enqueue one no-op job; return whatever the round trip needs to wait for it."""
        raise NotImplementedError

    def wait(self, job: Any, timeout: float) -> None:
        """Wait for ``job`` with the system's own mechanism; raise if it did not succeed."""
        raise NotImplementedError

    def finished(self) -> int:
        """How many jobs the store reports finished successfully."""
        raise NotImplementedError

    def drain_workers(self) -> list[list[str]]:
        """The command lines of the drain's worker processes."""
        raise NotImplementedError

    def idle_worker(self) -> list[str]:
        """The command line of the one worker of the round trips."""
        raise NotImplementedError

    def enqueue_batch(self, n: int) -> bool:
        """Enqueue ``n`` no-op jobs in batches, if the system can; whether it did."""
        return False

    def status(self, job: Any) -> Any:
        """The status of ``job`` as the system reads it (``NotImplemented``: not measured)."""
        return NotImplemented

    def stop_signal(self) -> int:
        return signal.SIGTERM

    def worker_setup(self) -> tuple[dict[str, str], str]:
        """The environment and the working directory of the worker processes: this checkout first on the path."""
        path = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
        return {**os.environ, **self.env, "PYTHONPATH": path}, ROOT

    def teardown(self) -> None:
        """Close the client and remove the store."""


class Taskgraph(System):
    """taskgraph, imported from the checkout the parent put first on ``PYTHONPATH`` (then benchmarks/, for
    ``peer_apps``): in this child and in its workers alike."""

    burst = True
    APP = "peer_apps.taskgraph_app:queue"

    def setup(self) -> None:
        if self.store == "sqlite":
            url = f"sqlite:///{os.path.join(self.tmp, 'jobs.db')}"
        elif self.store == "postgresql":
            self.schema = fresh("tgbench")
            url = with_query(self.opts.postgres, schema=self.schema)
        else:
            self.prefix = fresh("tgbench")
            url = with_query(self.opts.redis, prefix=self.prefix)
        self.url = url
        self.env = {"BENCH_TASKGRAPH_URL": url}
        os.environ.update(self.env)
        try:
            from peer_apps import taskgraph_app
        except ImportError as exc:
            raise BenchError(f"store not available: {first_line(exc)}") from None
        except Exception as exc:  # StoreError: no server, no driver, no store module yet
            raise BenchError(first_line(exc)) from None
        self.app = taskgraph_app

    def enqueue(self) -> Any:
        return self.app.noop.delay()

    def enqueue_batch(self, n: int) -> bool:
        batch = getattr(self.app.noop, "map", None)  # not in checkouts before it
        if batch is None:
            return False
        batch([()] * n)
        return True

    def status(self, job: Any) -> Any:
        return job.status()

    def wait(self, job: Any, timeout: float) -> None:
        job.join(timeout=timeout)

    def finished(self) -> int:
        stats = self.app.queue.stats()
        failed = sum(counts.get("FAILED", 0) for counts in stats.values())
        if failed:
            raise BenchError(f"{failed} job(s) FAILED")
        return sum(counts.get("DONE", 0) for counts in stats.values())

    def _worker(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "taskgraph", "worker", self.APP, "-q", *extra,
                *shlex.split(self.opts.taskgraph_args)]

    def drain_workers(self) -> list[list[str]]:
        return [self._worker("--burst") for _ in range(WORKERS)]

    def idle_worker(self) -> list[str]:
        return self._worker()

    def worker_setup(self) -> tuple[dict[str, str], str]:
        # PYTHONPATH as the parent set it; not this checkout's folder as the working directory, which `python -m`
        # would put first on sys.path, ahead of the checkout asked for.
        return {**os.environ, **self.env}, self.tmp

    def teardown(self) -> None:
        app = getattr(self, "app", None)
        if app is not None:
            app.queue.close()
        if self.store == "postgresql":
            import psycopg

            with psycopg.connect(self.opts.postgres, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        elif self.store == "redis":
            delete_keys(self.opts.redis, f"{self.prefix}*")


class Huey(System):
    APP = "benchmarks.peer_apps.huey_app.huey"

    def setup(self) -> None:
        self.name = fresh("hueybench")
        self.env = {"BENCH_HUEY_STORE": self.store, "BENCH_HUEY_NAME": self.name,
                    "BENCH_HUEY_FILE": os.path.join(self.tmp, "huey.db"), "BENCH_HUEY_REDIS": self.opts.redis}
        os.environ.update(self.env)
        from benchmarks.peer_apps import huey_app

        self.app = huey_app
        self.app.huey.storage.queue_size()  # connect now: a server that is down is reported here

    def enqueue(self) -> Any:
        return self.app.noop()

    def wait(self, job: Any, timeout: float) -> None:
        job.get(blocking=True, timeout=timeout)

    def finished(self) -> int:
        return self.app.huey.storage.result_store_size()

    def _consumer(self, workers: int) -> list[str]:
        return [sys.executable, "-m", "huey.bin.huey_consumer", self.APP, "-w", str(workers), "-k", "process",
                "-q", "-n"]

    def drain_workers(self) -> list[list[str]]:
        return [self._consumer(WORKERS)]

    def idle_worker(self) -> list[str]:
        return self._consumer(1)

    def teardown(self) -> None:
        app = getattr(self, "app", None)
        if app is None:
            return
        app.huey.storage.flush_all()
        if self.store == "redis":
            delete_keys(self.opts.redis, f"huey.*{self.name}*")


class RQ(System):
    burst = True

    def setup(self) -> None:
        self.prefix = fresh("rqbench")
        self.env = {"RQ_KEY_PREFIX": self.prefix}
        os.environ.update(self.env)  # read by rq when it is imported
        from redis import Redis
        from rq import Queue

        from benchmarks.peer_apps import rq_app

        self.noop = rq_app.noop
        self.conn = Redis.from_url(self.opts.redis)
        self.conn.ping()
        self.queue = Queue("bench", connection=self.conn)

    def enqueue(self) -> Any:
        return self.queue.enqueue(self.noop)

    def wait(self, job: Any, timeout: float) -> None:
        result = job.latest_result(timeout=max(1, int(timeout)))
        if result is None:
            raise TimeoutError(f"RQ job {job.id}: no result within {timeout} s")
        if result.type != result.Type.SUCCESSFUL:
            raise BenchError(f"RQ job {job.id} ended {result.type}: {result.exc_string}")

    def finished(self) -> int:
        failed = self.queue.failed_job_registry.get_job_count(cleanup=False)
        if failed:
            raise BenchError(f"{failed} RQ job(s) failed")
        return self.queue.finished_job_registry.get_job_count(cleanup=False)

    def _worker(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "rq.cli", "worker", "--worker-class", "rq.worker.SimpleWorker", "--url",
                self.opts.redis, "--quiet", *extra, "bench"]

    def drain_workers(self) -> list[list[str]]:
        return [self._worker("--burst") for _ in range(WORKERS)]

    def idle_worker(self) -> list[str]:
        return self._worker()

    def teardown(self) -> None:
        if hasattr(self, "conn"):
            self.conn.close()
        delete_keys(self.opts.redis, f"{self.prefix}:*")


class Procrastinate(System):
    APP = "benchmarks.peer_apps.procrastinate_app.app"

    def setup(self) -> None:
        import psycopg

        self.database = self.schema = None
        base = self.opts.postgres
        parts = urlsplit(base)
        try:  # a database of its own: its LISTEN/NOTIFY channels are then its own too
            name = fresh("procrastinate_bench")
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            self.database = name
            dsn = urlunsplit(parts._replace(path=f"/{name}"))
        except psycopg.errors.InsufficientPrivilege:  # else a schema of its own, first on the search path
            self.schema = fresh("procrastinate_bench")
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{self.schema}"')
            dsn = with_query(base, options=f"-csearch_path%3D{self.schema}")
        self.dsn = dsn
        self.env = {"BENCH_PROCRASTINATE_DSN": dsn}
        os.environ.update(self.env)
        from benchmarks.peer_apps import procrastinate_app

        self.app = procrastinate_app
        self.app.app.open()
        self.app.app.schema_manager.apply_schema()
        self.conn = psycopg.connect(dsn, autocommit=True)

    def enqueue(self) -> Any:
        return self.app.noop.defer()

    def wait(self, job: Any, timeout: float) -> None:
        from procrastinate.jobs import Status

        deadline = time.monotonic() + timeout
        manager = self.app.app.job_manager
        while True:
            status = manager.get_job_status(job)
            if status == Status.SUCCEEDED:
                return
            if status not in (Status.TODO, Status.DOING):
                raise BenchError(f"Procrastinate job {job} ended {status.value}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Procrastinate job {job} is still {status.value} after {timeout} s")
            time.sleep(0.001)

    def finished(self) -> int:
        rows = dict(self.conn.execute("SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY 1").fetchall())
        if rows.get("failed"):
            raise BenchError(f"{rows['failed']} Procrastinate job(s) failed")
        return int(rows.get("succeeded", 0))

    def _worker(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "procrastinate", f"--app={self.APP}", "--log-level", "warning", "worker",
                *extra]

    def drain_workers(self) -> list[list[str]]:
        return [self._worker("--one-shot") for _ in range(WORKERS)]

    def idle_worker(self) -> list[str]:
        return self._worker()

    def teardown(self) -> None:
        import psycopg

        if hasattr(self, "conn"):
            self.conn.close()
        if hasattr(self, "app"):
            self.app.app.close()
        with psycopg.connect(self.opts.postgres, autocommit=True) as conn:
            if self.database:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            if self.schema:
                conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


SYSTEMS = {"taskgraph": Taskgraph, "huey": Huey, "rq": RQ, "procrastinate": Procrastinate}


def delete_keys(url: str, pattern: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        batch = []
        for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
    finally:
        client.close()


# ------------------------------------------------------------------ one repetition (in the child)


class Workers:
    """Worker processes started by the child, each in its own session, with its output in a log file."""

    def __init__(self, system: System, commands: list[list[str]], count_file: str, tag: str) -> None:
        env, cwd = system.worker_setup()
        env["BENCH_COUNT_FILE"] = count_file
        self.system = system
        self.logs = [os.path.join(system.tmp, f"{tag}-{i}.log") for i in range(len(commands))]
        self.procs: list[subprocess.Popen[bytes]] = []
        for command, log in zip(commands, self.logs, strict=True):
            with open(log, "wb") as out:
                self.procs.append(subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True))

    def check_alive(self) -> None:
        """Raise if a worker exited with an error status."""
        for proc, log in zip(self.procs, self.logs, strict=True):
            code = proc.poll()
            if code not in (None, 0):
                raise BenchError(f"a worker exited with status {code}: {tail(log)}")

    def wait(self, timeout: float) -> bool:
        """Wait for every worker to exit by itself; True if they all did within ``timeout``."""
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                return False
        self.check_alive()
        return True

    def stop(self, sig: int = signal.SIGTERM, grace: float = 15.0) -> None:
        """Signal each worker's process group, then kill what is left after ``grace`` seconds."""
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        for proc in self.procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        for proc in self.procs:  # children of a worker left behind in its group (Huey's worker processes)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def tail(path: str, lines: int = 3) -> str:
    try:
        with open(path, errors="replace") as f:
            text = [line.strip() for line in f.read().strip().splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:])[-300:] or "(empty log)"


def count(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def measure_once(system: System, opts: argparse.Namespace) -> dict[str, float]:
    n = opts.jobs
    result: dict[str, float] = {}

    # enqueue: N jobs one by one from this client
    start = time.perf_counter()
    for _ in range(n):
        system.enqueue()
    result["enqueue"] = n / (time.perf_counter() - start)

    # drain: 2 worker processes from their start until the store says the last job is finished
    drain_file = os.path.join(system.tmp, "drain.count")
    start = time.perf_counter()
    workers = Workers(system, system.drain_workers(), drain_file, "drain")
    try:
        deadline = start + opts.timeout
        first = None
        progress = (0, start)  # (jobs seen, when that number last changed)
        while True:
            seen = count(drain_file)
            now = time.perf_counter()
            if first is None and seen:
                first = now
            if seen >= n:
                break
            progress = (seen, now) if seen != progress[0] else progress
            if now > deadline or now - progress[1] > STALL:
                why = f"timed out after {opts.timeout:g} s" if now > deadline else f"stalled for {STALL:g} s"
                raise BenchError(f"drain {why}: {seen} of {n} jobs ran; worker log: {tail(workers.logs[0])}")
            workers.check_alive()
            time.sleep(POLL)
        progress = (0, time.perf_counter())
        while (done := system.finished()) < n:
            now = time.perf_counter()
            progress = (done, now) if done != progress[0] else progress
            if now > deadline or now - progress[1] > STALL:
                raise BenchError(f"drain: all {n} jobs ran, but the store reports {done} finished after "
                                 f"{now - start:.1f} s; worker log: {tail(workers.logs[0])}")
            time.sleep(POLL)
        end = time.perf_counter()
        if system.burst and not workers.wait(60.0):
            raise BenchError("burst workers did not exit within 60 s of the last job")
    finally:
        workers.stop(system.stop_signal())
    ran = count(drain_file)
    if ran != n:
        raise BenchError(f"the no-op ran {ran} times for {n} jobs")
    result["drain"] = n / (end - start)
    result["start_ms"] = ((first or end) - start) * 1e3

    # round trip: one idle worker; enqueue one job and wait for it, one at a time
    trip_file = os.path.join(system.tmp, "trip.count")
    workers = Workers(system, [system.idle_worker()], trip_file, "trip")
    times = []
    last = None
    try:
        try:
            system.wait(last := system.enqueue(), 60.0)  # the first waits for the worker to start
        except Exception as exc:
            workers.check_alive()
            raise BenchError(f"no round trip within 60 s ({first_line(exc)}): {tail(workers.logs[0])}") from None
        for i in range(WARMUP - 1 + opts.roundtrips):
            t = time.perf_counter()
            system.wait(system.enqueue(), 30.0)
            if i >= WARMUP - 1:
                times.append(time.perf_counter() - t)
    finally:
        workers.stop(system.stop_signal())
    ran = count(trip_file)
    if ran != WARMUP + opts.roundtrips:
        raise BenchError(f"the no-op ran {ran} times for {WARMUP + opts.roundtrips} round trips")
    times.sort()
    result["p50_ms"] = statistics.median(times) * 1e3
    result["p95_ms"] = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))] * 1e3

    # batch enqueue and status, with no worker running (the batch's jobs stay queued until the store is removed)
    if system.enqueue_batch(1000):  # a warm-up, where the system has batches
        start = time.perf_counter()
        system.enqueue_batch(10 * n)
        result["batch"] = 10 * n / (time.perf_counter() - start)
    if system.status(last) is not NotImplemented:
        start = time.perf_counter()
        for _ in range(1000):
            system.status(last)
        result["status_us"] = (time.perf_counter() - start) / 1000 * 1e6
    return result


def child(name: str, store: str, opts: argparse.Namespace) -> None:
    """Measure one repetition of one system and print one JSON line: its figures, or ``{"error": why}``."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the parent's timeout: clean up on the way out
    if name == "taskgraph":
        try:
            checkouts.verify()  # taskgraph from the checkout asked for, or a loud stop
        except checkouts.WrongCheckout as exc:
            print(json.dumps({"fatal": str(exc)}), flush=True)
            return
    elif ROOT not in sys.path:  # the peers' apps: benchmarks.peer_apps.*
        sys.path.insert(0, ROOT)
    with tempfile.TemporaryDirectory(prefix="queue-bench-") as tmp:
        system = SYSTEMS[name](store, opts, tmp)
        out: dict[str, Any] = {}
        try:
            system.setup()
            out = measure_once(system, opts)
        except BenchError as exc:
            out = {"error": str(exc)}
        except Exception as exc:
            out = {"error": first_line(exc)}
        finally:
            try:
                system.teardown()
            except Exception as exc:
                out.setdefault("cleanup", f"cleanup failed: {first_line(exc)}")
    print(json.dumps(out), flush=True)


# ------------------------------------------------------------------ the driver (in the parent)


class Row(NamedTuple):
    """One row of the table: a system on a store, and for taskgraph the checkout it imports taskgraph from."""

    label: str  # "taskgraph", "taskgraph@before", "huey", ...
    name: str  # the key of SYSTEMS
    store: str
    home: str | None  # None for the peers, which do not import taskgraph


def rows_of(opts: argparse.Namespace) -> list[Row]:
    """The rows to measure: taskgraph on each store on --after, each followed by --before's; then the peers."""
    out = []
    for name, store in ROWS:
        if name == "taskgraph" and store in opts.stores:
            out.append(Row(name, name, store, opts.after))
            if opts.before:
                out.append(Row(name + checkouts.BEFORE, name, store, opts.before))
        elif PEER_OF.get((name, store)) in opts.peers:
            out.append(Row(name, name, store, None))
    return out


def child_args(opts: argparse.Namespace) -> list[str]:
    return ["--jobs", str(opts.jobs), "--roundtrips", str(opts.roundtrips), "--timeout", str(opts.timeout),
            "--postgres", opts.postgres, "--redis", opts.redis, f"--taskgraph-args={opts.taskgraph_args}"]


def measure(row: Row, opts: argparse.Namespace) -> dict[str, Any]:
    """One repetition in a fresh subprocess: its figures, or ``{"error": why}``.

    Stops the whole benchmark (``SystemExit``) when the subprocess imported taskgraph from another checkout.
    """
    command = [sys.executable, os.path.abspath(__file__), "--child", row.name, row.store, *child_args(opts)]
    env = checkouts.environ(row.home, checkouts.BENCH) if row.home else None  # the workers inherit it
    limit = 2 * opts.timeout + 180  # the drain's own limit, the round trips, start-ups and cleanup
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.terminate()  # the child stops its workers and removes its store
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        return {"error": f"timed out after {limit:g} s"}
    lines = out.strip().splitlines()
    result = None
    if lines:
        try:
            result = json.loads(lines[-1])
        except ValueError:
            pass
    if result is None:
        last = err.strip().splitlines()[-1] if err.strip() else f"exit status {proc.returncode}"
        return {"error": f"error: {last[:160]}"}
    if "fatal" in result:
        raise SystemExit(f"stopped: {row.label} {row.store}: {result['fatal']}")
    return result


def missing(name: str, store: str) -> list[str]:
    return [m for m in NEEDS[name, store] if importlib.util.find_spec(m) is None]


FIGURES = ("enqueue", "drain", "start_ms", "p50_ms", "p95_ms")
OPTIONAL = ("batch", "status_us")  # measured where the system (or the checkout) has them


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    failed = [r for r in runs if "error" in r]
    cleanup = next((r["cleanup"] for r in runs if "cleanup" in r), None)
    if failed:
        return {"note": "; ".join(filter(None, [failed[0]["error"], cleanup]))}
    summary: dict[str, Any] = {key: statistics.median(r[key] for r in runs) for key in FIGURES}
    summary.update({key: statistics.median(r[key] for r in runs) for key in OPTIONAL if all(key in r for r in runs)})
    summary["runs"] = runs
    return {**summary, "note": cleanup} if cleanup else summary


def table(results: dict[tuple[str, str], dict[str, Any]], markdown: bool) -> str:
    head = ("system", "store", "enqueue jobs/s", "drain jobs/s", "start ms", "round trip p50 ms", "p95 ms",
            "batch jobs/s", "status us", "note")
    body = []
    for (label, store), r in results.items():
        if "enqueue" not in r:
            body.append((label, store, "-", "-", "-", "-", "-", "-", "-", r.get("note", "")))
        else:
            body.append((label, store, f"{r['enqueue']:,.0f}", f"{r['drain']:,.0f}", f"{r['start_ms']:,.0f}",
                         f"{r['p50_ms']:.2f}", f"{r['p95_ms']:.2f}",
                         f"{r['batch']:,.0f}" if "batch" in r else "-",
                         f"{r['status_us']:,.0f}" if "status_us" in r else "-", r.get("note", "")))
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * 7 + ["---"]) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    fmt = "  ".join(f"{{:{'<' if i < 2 or i == 9 else '>'}{w}}}" for i, w in enumerate(widths))
    return "\n".join(fmt.format(*row).rstrip() for row in [head, *body])


def compared(results: dict[tuple[str, str], dict[str, Any]], store: str, figure: str) -> str | None:
    """taskgraph's ``figure`` on ``store``, after against before; None when --before was not measured there."""
    after, before = results.get(("taskgraph", store)), results.get(("taskgraph" + checkouts.BEFORE, store))
    if after is None or before is None:
        return None
    if "runs" not in after or "runs" not in before:
        return f"no comparison ({after.get('note') or before.get('note')})"
    if figure not in after or figure not in before:
        return None
    rates = ("enqueue", "drain", "batch")
    unit, fmt = ("jobs/s", ",.0f") if figure in rates else ("us", ",.0f") if figure == "status_us" else ("ms", ".2f")
    return checkouts.compare([r[figure] for r in after["runs"]], [r[figure] for r in before["runs"]],
                             figure in rates, unit, fmt)


def comparisons(results: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """For every store, taskgraph's enqueue, drain and round-trip figures after against before."""
    lines = []
    for store in STORES:
        for figure, title in (("drain", "drain"), ("enqueue", "enqueue"), ("p50_ms", "round trip p50"),
                              ("batch", "batch enqueue"), ("status_us", "status()")):
            line = compared(results, store, figure)
            if line is not None:
                lines.append(f"  {store:10} {title:14} {line}")
    return lines


def verdicts(results: dict[tuple[str, str], dict[str, Any]], jobs: int) -> dict[str, str]:
    scale = "" if jobs == 2000 else f", with {jobs:,} jobs"
    out = {}
    for store, floor in (("sqlite", 2500), ("redis", 2000), ("postgresql", 650)):
        r = results.get(("taskgraph", store))
        if r is None:
            out[store] = "not measured"
        elif "drain" not in r:
            out[store] = f"NOT met ({r['note']})"
        else:
            out[store] = f"{'met' if r['drain'] >= floor else 'NOT met'} ({r['drain']:,.0f} jobs/s{scale})"
    parts = []
    for store in STORES:
        r = results.get(("taskgraph", store))
        if r is None:
            parts.append(f"{store} not measured")
        elif "p50_ms" not in r:
            parts.append(f"{store} NOT met (no figure)")
        else:
            parts.append(f"{store} {'met' if r['p50_ms'] <= 5 else 'NOT met'} ({r['p50_ms']:.2f} ms)")
    out["latency"] = "; ".join(parts)
    return out


def csv(choices: tuple[str, ...], allow_none: bool = False):
    def parse(text: str) -> list[str]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        if allow_none and items == ["none"]:
            return []
        bad = [i for i in items if i not in choices]
        if not items or bad:
            extra = " (or none)" if allow_none else ""
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(choices)}{extra}")
        return items

    return parse


def issue_targets(results: dict[tuple[str, str], dict[str, Any]]) -> str:
    """The figure issue 9 asks for: each store's drain rate within noise of the checkout before."""
    lines = ["Issue 9 (taskgraph's drain rate, against --before measured in the same run):"]
    for store in STORES:
        if ("taskgraph", store) in results:
            shown = compared(results, store, "drain") or "not measured (run with --before)"
            lines.append(f"  {store:10} drain within noise of before -> {shown}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] + " Each system runs in its own subprocess with real worker processes; "
        "the table gives enqueue and drain rates in jobs/s and the round trip's p50 and p95 in ms.",
        epilog=f"stores: {', '.join(STORES)}; peers: {', '.join(PEERS)}. "
        "`make bench-queues` runs it with the defaults.",
    )
    parser.add_argument("--stores", type=csv(STORES, allow_none=True), default=list(STORES),
                        help=f"taskgraph's stores, comma-separated subset of {','.join(STORES)}, or none "
                        "(default: all)")
    parser.add_argument("--peers", type=csv(PEERS, allow_none=True), default=list(PEERS),
                        help=f"peers, comma-separated subset of {','.join(PEERS)}, or none (default: all)")
    checkouts.add_options(parser, "a row taskgraph@before per store (client and workers)", "taskgraph rows")
    parser.add_argument("--jobs", type=int, default=2000, help="no-op jobs enqueued and drained (default 2000)")
    parser.add_argument("--roundtrips", type=int, default=200, help="measured round trips (default 200)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="subprocesses per system; the medians are reported (default 3)")
    parser.add_argument("--quick", action="store_true", help="500 jobs and repeat 1")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--timeout", type=float, default=180.0, metavar="SECONDS",
                        help="time limit of one drain (default 180; one without progress for 30 s ends sooner)")
    parser.add_argument("--postgres", default="postgresql://127.0.0.1:5432/test", metavar="URL",
                        help="PostgreSQL server and database (default postgresql://127.0.0.1:5432/test)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", metavar="URL",
                        help="Redis server and database (default redis://127.0.0.1:6379/0)")
    parser.add_argument("--taskgraph-args", default="", metavar="ARGS",
                        help="extra options for each `taskgraph worker`, e.g. --taskgraph-args='--batch 64'")
    parser.add_argument("--child", nargs=2, metavar=("SYSTEM", "STORE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args)
        return
    if args.quick:
        args.jobs, args.repeat = 500, 1
    if args.repeat < 1 or args.jobs < 1 or args.roundtrips < 1:
        parser.error("--repeat, --jobs and --roundtrips must be at least 1")

    rows = rows_of(args)
    load = os.getloadavg()[0]
    runs: dict[Row, list[dict[str, Any]]] = {row: [] for row in rows}
    absent = {row: missing(row.name, row.store) for row in rows}
    for repetition in range(args.repeat):  # every row once per repetition, so noise hits them alike
        for row in checkouts.interleaved(rows, repetition):
            if absent[row] or (runs[row] and "error" in runs[row][-1]):  # one failure is enough to report
                continue
            runs[row].append(r := measure(row, args))
            shown = r["error"] if "error" in r else (f"enqueue {r['enqueue']:,.0f}/s, drain {r['drain']:,.0f}/s, "
                                                     f"round trip p50 {r['p50_ms']:.2f} ms {r.get('cleanup', '')}")
            print(f"  {row.label:16} {row.store:10} [{repetition + 1}/{args.repeat}]: {shown}", file=sys.stderr,
                  flush=True)
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        results[row.label, row.store] = (
            {"note": f"not installed ({', '.join(absent[row])})"} if absent[row] else summarize(runs[row]))

    print(f"\nPython {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load:.2f} at the start; "
          f"{args.jobs:,} jobs, {WORKERS} worker processes, {args.roundtrips} round trips after {WARMUP}; "
          f"median of {args.repeat} run(s) per row, the rows alternating in each repetition")
    if args.stores:
        print(f"taskgraph: {checkouts.describe(args.after)}")
        if args.before:
            print(f"taskgraph@before: {checkouts.describe(args.before)}")
    print()
    print(table(results, args.markdown))
    print()
    if args.before and (lines := comparisons(results)):
        print("After against before (medians, [lowest-highest] of the runs):")
        print("\n".join(lines))
        print()
    if args.stores:
        print(TARGETS.format(**verdicts(results, args.jobs)))
        print(issue_targets(results))


if __name__ == "__main__":
    main()
