"""A soak of the durable queue: many small jobs through one store while worker processes are killed and restarted.

What it does: enqueues ``--tasks`` small jobs (default 100,000) through the store API in large batches, then starts
``--workers`` real ``taskgraph worker benchmarks.soak_app:queue`` processes (default 2) and, every ``--kill-every``
seconds (default 3), SIGKILLs one of them (with its job processes; each slot in turn, or always the same slot with
``--kill-pattern one``) and starts a replacement in its slot, until the store holds every job final; a kill waits
until its victim has run a job, so that it never only interrupts a start-up. Then it stops the workers with
SIGTERM. Each job appends ``"N PID"`` to a file with one ``O_APPEND`` write, so executions are counted
independently of the store.

What it measures and prints:

* a table over time, a row at every 10 % of jobs DONE: elapsed time, jobs DONE, the rate since the row before,
  executions, kills, and the resident memory (RSS) of the driver and of each worker slot (the slot's current
  worker process plus its job processes); memory is sampled with psutil every ``--sample`` seconds;
* wall time from starting the workers to the last job final, the start-up (until the first execution), the
  throughput overall and excluding stalls (gaps of at least 0.5 s in which no job ran: waits for the lease of
  a killed worker's jobs to run out), the enqueue rate;
* kills, executions, jobs executed more than once (each should have run on a killed worker that did not live to
  report it), jobs taken back after their lease expired;
* **lost**: jobs not DONE at the end or never executed; **DONE twice**: jobs with more than one ``done`` event in
  their history (one query on the store: SQL on SQLite and PostgreSQL, a pipeline of ``LRANGE`` on Redis);
* memory: per slot and per long-lived process (one sampled at both ends: the driver, and with
  ``--kill-pattern one`` the workers never killed), the median RSS in the first and in the last 20 % of the run,
  flat when it grew by at most 10 % or 2 MB; the peak (``VmHWM``) of every process is in ``--json``.

Exit status 0 when no job was lost and none was marked DONE twice, else 1 (2 when the soak could not start).

Run it::

    .venv/bin/python benchmarks/soak.py                                  # 100,000 jobs, SQLite, 2 workers
    .venv/bin/python benchmarks/soak.py --tasks 2000 --kill-every 1 --lease 3
    .venv/bin/python benchmarks/soak.py --store postgresql --tasks 20000 --markdown
    .venv/bin/python benchmarks/soak.py --store redis://127.0.0.1:6379/0 --json out/soak.json
    .venv/bin/python benchmarks/soak.py --kill-pattern one --mode process --worker-args="--batch 64"

``--store`` takes ``sqlite`` (the default: a fresh file in a temporary folder), ``postgresql``, ``redis`` (the
servers of ``--postgres`` and ``--redis``) or a URL. A PostgreSQL or Redis store gets a fresh schema or key prefix,
removed at the end; a ``sqlite:///`` URL must name a file that does not exist yet (it is kept).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

APP = "benchmarks.soak_app:queue"
TICK = 0.05  # seconds between looks at the execution file, the workers and the clock
STATS_EVERY = 0.1  # seconds between reads of the store's counts once every job has run at least once
STALL_MIN = 0.5  # a gap without executions at least this long counts as a stall
WINDOW = 0.2  # the share of the run at each end whose memory is compared
FLAT_MB, FLAT_SHARE = 2.0, 0.10  # memory is flat when it grew by at most this many MB or this share
MIN_SAMPLES = 3  # samples each window needs for a memory verdict
ENQUEUE_BATCH = 5000  # jobs per store call
MB = 1024 * 1024
UNFINISHED = ("PENDING", "QUEUED", "RUNNING")


class SoakError(Exception):
    """The soak cannot start; the message says why."""


# ------------------------------------------------------------------ the store


@dataclass
class Target:
    """The store under test.

    Attributes:
        kind: ``sqlite``, ``postgresql`` or ``redis``.
        url: the URL the driver and the workers open (with the fresh schema or prefix).
        base: the server's URL without them, for cleaning up.
        space: the fresh schema or key prefix (PostgreSQL, Redis), or the file (SQLite).
    """

    kind: str
    url: str
    base: str
    space: str


def fresh(prefix: str) -> str:
    """A new lowercase identifier for a schema or key prefix."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def with_option(url: str, name: str, value: str) -> str:
    """``url`` with the query option ``name`` set to ``value`` (replacing any it had)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != name] + [(name, value)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def without_option(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != name])))


def make_target(spec: str, opts: argparse.Namespace, tmp: str) -> Target:
    """The store ``--store`` names, made fresh."""
    if spec == "sqlite":
        path = os.path.join(tmp, "jobs.db")
        return Target("sqlite", f"sqlite:///{path}", "", path)
    if spec in ("postgresql", "redis"):
        spec = opts.postgres if spec == "postgresql" else opts.redis
    scheme = urlsplit(spec).scheme
    if scheme == "sqlite":
        path = urlsplit(spec).path
        path = path[1:] if path.startswith("/") else path
        if os.path.exists(path):
            raise SoakError(f"{spec}: the file exists; the soak needs a store of its own, give a new file")
        return Target("sqlite", spec, "", path)
    if scheme.startswith("postgres"):
        base = without_option(spec, "schema")
        schema = fresh("tg_soak")
        return Target("postgresql", with_option(spec, "schema", schema), base, schema)
    if scheme in ("redis", "rediss"):
        base = without_option(spec, "prefix")
        prefix = fresh("tg_soak")
        return Target("redis", with_option(spec, "prefix", prefix), base, prefix)
    raise SoakError(f"--store {spec!r}: give sqlite, postgresql, redis or a sqlite://, postgresql:// or redis:// URL")


def drop_target(target: Target) -> None:
    """Remove a PostgreSQL schema or the Redis keys of a prefix (a SQLite file goes with its folder, or stays)."""
    if target.kind == "postgresql":
        import psycopg

        with psycopg.connect(target.base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{target.space}" CASCADE')
    elif target.kind == "redis":
        from benchmarks.queue_throughput import delete_keys

        delete_keys(target.base, f"{target.space}:*")


def history_counts(target: Target, ids: list[str]) -> dict[str, tuple[int, int]]:
    """For every job, how many ``done`` events its history holds and how often its lease expired, read in bulk."""
    done_twice_sql = (
        "SELECT job, SUM(CASE WHEN dest = 'DONE' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN event = 'requeue' AND detail LIKE '%expired%' THEN 1 ELSE 0 END) FROM {events} GROUP BY job"
    )
    if target.kind == "sqlite":
        import sqlite3

        conn = sqlite3.connect(f"file:{target.space}?mode=ro", uri=True)
        try:
            # events name their job by its sequence number there (schema 2)
            events = "(SELECT j.id AS job, e.* FROM events e JOIN jobs j ON j.seq = e.job_seq)"
            rows = conn.execute(done_twice_sql.format(events=events)).fetchall()
        finally:
            conn.close()
        return {job: (int(done), int(lost)) for job, done, lost in rows}
    if target.kind == "postgresql":
        import psycopg

        with psycopg.connect(target.base) as pg:
            rows = pg.execute(done_twice_sql.format(events=f'"{target.space}".events')).fetchall()
        return {job: (int(done), int(lost)) for job, done, lost in rows}
    import redis

    client = redis.Redis.from_url(target.base)
    counts: dict[str, tuple[int, int]] = {}
    try:
        for start in range(0, len(ids), 1000):
            chunk = ids[start:start + 1000]
            pipe = client.pipeline(transaction=False)
            for job_id in chunk:
                pipe.lrange(f"{target.space}:events:{job_id}", 0, -1)
            for job_id, rows in zip(chunk, pipe.execute(), strict=True):
                events = [json.loads(row) for row in rows]  # [at, event, source, dest, worker, detail]
                counts[job_id] = (sum(e[3] == "DONE" for e in events),
                                  sum(e[1] == "requeue" and "expired" in (e[5] or "") for e in events))
    finally:
        client.close()
    return counts


# ------------------------------------------------------------------ processes and memory


def memory(pid: int) -> dict[str, float] | None:
    """RSS, USS and peak RSS (``VmHWM``) of a process in MB, or None if it is gone."""
    try:
        info = psutil.Process(pid).memory_full_info()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return None
    out = {"rss": info.rss / MB, "uss": getattr(info, "uss", 0) / MB}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    out["hwm"] = int(line.split()[1]) / 1024
                    break
    except OSError:
        pass
    return out


def children(pid: int) -> list[int]:
    """The pids of a process's descendants (a worker's job processes)."""
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return []


@dataclass
class WorkerProc:
    """One ``taskgraph worker`` process in a slot, from its start to its end."""

    slot: int
    generation: int
    proc: subprocess.Popen[bytes]
    log: str
    started: float  # seconds since the workers started
    ended: float | None = None
    end: str | None = None  # killed (by the soak), stopped (SIGTERM at the end), exited (by itself), forced
    code: int | None = None
    peak_mb: float = 0.0  # the highest VmHWM seen, of the worker or one of its job processes
    first_mb: float | None = None  # its RSS (with its job processes) at its first and last samples
    last_mb: float | None = None
    samples: list[tuple[float, float, float]] = field(default_factory=list)  # (t, RSS, USS) of it, once serving
    job_pids: set[int] = field(default_factory=set)  # job processes seen under it
    serving: bool = False  # it has logged "serving": done importing

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pids(self) -> set[int]:
        return {self.pid, *self.job_pids}


class Workers:
    """The worker slots: starting, killing, restarting and finally stopping ``taskgraph worker`` processes."""

    def __init__(self, count: int, command: list[str], env: dict[str, str], folder: str, clock: float) -> None:
        self.command = command
        self.env = env
        self.folder = folder
        self.clock = clock  # time.monotonic() when the workers started
        self.slots: list[WorkerProc] = []
        self.all: list[WorkerProc] = []
        for slot in range(count):
            self.slots.append(self._start(slot))

    def now(self) -> float:
        return time.monotonic() - self.clock

    def _start(self, slot: int) -> WorkerProc:
        generation = sum(1 for w in self.all if w.slot == slot)
        log = os.path.join(self.folder, f"worker-{slot}-{generation}.log")
        with open(log, "wb") as out:
            # its own session: a kill takes its job processes with it
            proc = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        worker = WorkerProc(slot, generation, proc, log, self.now())
        self.all.append(worker)
        return worker

    def kill(self, slot: int) -> WorkerProc:
        """SIGKILL the worker of ``slot`` and its job processes, and start a replacement; the one killed."""
        victim = self.slots[slot]
        victim.job_pids.update(children(victim.pid))
        try:
            os.killpg(victim.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        victim.code = victim.proc.wait()
        victim.ended, victim.end = self.now(), "killed"
        self.slots[slot] = self._start(slot)
        return victim

    def check(self) -> list[WorkerProc]:
        """Workers that exited by themselves (they should not): noted and replaced."""
        gone = []
        for slot, worker in enumerate(self.slots):
            code = worker.proc.poll()
            if code is not None:
                worker.ended, worker.end, worker.code = self.now(), "exited", code
                gone.append(worker)
                self.slots[slot] = self._start(slot)
        return gone

    @staticmethod
    def serving(worker: WorkerProc) -> bool:
        """Whether the worker has logged that it serves (its signal handlers are in place by then)."""
        if not worker.serving:
            try:
                with open(worker.log, "rb") as f:
                    worker.serving = b" serving " in f.read()
            except OSError:
                pass
        return worker.serving

    def stop(self, timeout: float) -> None:
        """SIGTERM every live worker once it serves (a worker still importing would die of the signal rather than
        stop); SIGKILL (``forced``) one still running after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        for worker in self.slots:
            while worker.proc.poll() is None and not self.serving(worker):
                if time.monotonic() > deadline:
                    break
                time.sleep(TICK)
            if worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGTERM)
        for worker in self.slots:
            try:
                worker.code = worker.proc.wait(max(0.1, deadline - time.monotonic()))
                worker.end = worker.end or "stopped"
            except subprocess.TimeoutExpired:
                worker.end = "forced"
            worker.ended = worker.ended or self.now()
        self.cleanup()

    def cleanup(self) -> None:
        """Kill whatever is left of every worker's process group (teardown)."""
        for worker in self.all:
            try:
                os.killpg(worker.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if worker.proc.poll() is None:
                worker.proc.wait()
            if worker.end is None:
                worker.end, worker.code, worker.ended = "forced", worker.proc.returncode, self.now()

    def sample(self, t: float) -> list[dict[str, Any] | None]:
        """The memory of each slot now: its worker and job processes; ``starting`` until the worker serves (it is
        still importing), which the memory verdict leaves out."""
        out: list[dict[str, Any] | None] = []
        for worker in self.slots:
            own = memory(worker.pid)
            if own is None or worker.proc.poll() is not None:
                out.append(None)
                continue
            kids = [m for m in (memory(p) for p in children(worker.pid)) if m is not None]
            worker.job_pids.update(children(worker.pid))
            rss = own["rss"] + sum(m["rss"] for m in kids)
            worker.peak_mb = max([worker.peak_mb, own.get("hwm", 0.0), *(m.get("hwm", 0.0) for m in kids)])
            worker.first_mb = rss if worker.first_mb is None else worker.first_mb
            worker.last_mb = rss
            starting = not self.serving(worker)
            if not starting:
                worker.samples.append((t, own["rss"], own["uss"]))
            uss = own["uss"] + sum(m["uss"] for m in kids)
            out.append({"pid": worker.pid, "rss": round(rss, 2), "uss": round(uss, 2),
                        "worker_rss": round(own["rss"], 2), "job_processes": len(kids), "starting": starting})
        return out


class Executions:
    """Reads the execution file as it grows: lines so far and executions per process (a few dozen pids), so the
    driver's own memory does not grow with the jobs."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""
        self.lines = 0
        self.per_pid: dict[int, int] = {}

    def feed(self) -> int:
        """Read what was appended since the last call; the number of new executions."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return 0
        self.offset += len(data)
        data, self.partial = self.partial + data, b""
        if not data.endswith(b"\n"):
            data, _, self.partial = data.rpartition(b"\n")
        new = 0
        for line in data.splitlines():
            parts = line.split()
            if len(parts) == 2:
                pid = int(parts[1])
                self.per_pid[pid] = self.per_pid.get(pid, 0) + 1
                new += 1
        self.lines += new
        return new

    def read_all(self, n: int) -> tuple[list[list[int]], int]:
        """Every job's executing pids, and how many lines were malformed (after the run)."""
        runs: list[list[int]] = [[] for _ in range(n)]
        bad = 0
        try:
            with open(self.path, "rb") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) != 2 or not parts[0].isdigit() or not 0 <= int(parts[0]) < n:
                        bad += 1
                        continue
                    runs[int(parts[0])].append(int(parts[1]))
        except FileNotFoundError:
            pass
        return runs, bad


# ------------------------------------------------------------------ the soak


class Soak:
    """One soak: enqueue, run the workers while killing them, then check every job."""

    def __init__(self, opts: argparse.Namespace, target: Target, folder: str) -> None:
        self.opts = opts
        self.target = target
        self.folder = folder
        self.record = os.path.join(folder, "executions.txt")
        os.environ["SOAK_STORE_URL"] = target.url
        os.environ["SOAK_RECORD_FILE"] = self.record
        try:
            from benchmarks import soak_app
        except Exception as exc:  # no server, no driver
            raise SoakError(f"cannot open the store {target.kind}: {type(exc).__name__}: {first_line(exc)}") from None
        self.app = soak_app
        self.queue = soak_app.queue
        self.ids: list[str] = []
        self.out: dict[str, Any] = {"samples": [], "progress": [], "kills": [], "stalls": []}

    # -------------------------------------------------------------- enqueue

    def enqueue(self) -> float:
        """Enqueue the jobs in batches; the seconds it took."""
        from taskgraph.stores.records import NewJob

        job = self.app.JOBS[self.opts.mode]
        queue = self.queue
        options = job.options.stored(queue.serializer.name)
        start = time.perf_counter()
        for first in range(0, self.opts.tasks, ENQUEUE_BATCH):
            batch = [
                NewJob(id=uuid.uuid4().hex, name=job.name, payload=queue.serializer.encode_call(job.name, (n,), {}),
                       options=options, queue=job.options.queue, priority=job.options.priority)
                for n in range(first, min(first + ENQUEUE_BATCH, self.opts.tasks))
            ]
            queue.store.enqueue(batch)
            self.ids.extend(j.id for j in batch)
        return time.perf_counter() - start

    # -------------------------------------------------------------- the run

    def counts(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for by_status in self.queue.stats().values():
            for status, n in by_status.items():
                totals[status] = totals.get(status, 0) + n
        return totals

    def run(self, emit: Any) -> Workers:
        """Start the workers, kill and restart them on schedule until every job is final (or the run is given up);
        ``emit(row)`` gets each progress row as it is made."""
        opts = self.opts
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
               "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "taskgraph", "worker", APP, "--lease", str(opts.lease), "--no-dashboard",
                   *shlex.split(opts.worker_args)]
        execs = Executions(self.record)
        driver = psutil.Process()
        workers = Workers(opts.workers, command, env, self.folder, time.monotonic())
        self.workers = workers
        n = opts.tasks
        kills: list[dict[str, Any]] = self.out["kills"]
        next_kill = opts.kill_every if opts.kill_every > 0 else float("inf")
        victim_slot = 0 if opts.kill_pattern == "alternate" else opts.workers - 1
        next_sample = next_stats = 0.0
        counts: dict[str, int] = {}
        first_exec = last_exec = None
        moved = (0.0, -1, -1)  # (when, executions, DONE) the last time either changed
        mark = 1  # the next tenth of the jobs DONE that makes a progress row
        prev_row = (0.0, 0)
        unexpected: list[WorkerProc] = []
        why_stopped = None
        while True:
            t = workers.now()
            if execs.feed():
                if first_exec is None:
                    first_exec = t
                elif last_exec is not None and t - last_exec >= STALL_MIN:
                    self.out["stalls"].append([round(last_exec, 3), round(t, 3)])
                last_exec = t
            unexpected.extend(workers.check())
            ran_all = execs.lines >= n
            if t >= next_stats or t >= next_sample:
                counts = self.counts()
                next_stats = t + (STATS_EVERY if ran_all else opts.sample)
            done = counts.get("DONE", 0)
            unfinished = sum(counts.get(s, 0) for s in UNFINISHED)
            finished = bool(counts) and unfinished == 0
            if t >= next_sample:
                next_sample = t + opts.sample
                slots = workers.sample(t)
                own = memory(driver.pid) or {"rss": 0.0, "uss": 0.0}
                self.out["samples"].append({"t": round(t, 3), "done": done, "executions": execs.lines,
                                            "driver": {k: round(v, 2) for k, v in own.items()}, "slots": slots})
            while mark <= 10 and done >= n * mark / 10 and self.out["samples"]:
                sample = self.out["samples"][-1]
                rate = (done - prev_row[1]) / max(t - prev_row[0], 1e-9)
                row = {"t": round(t, 2), "done": done, "percent": 100 * done // n, "rate": round(rate),
                       "executions": execs.lines, "kills": len(kills), "driver_mb": sample["driver"]["rss"],
                       "slots_mb": [s["rss"] if s else None for s in sample["slots"]]}
                self.out["progress"].append(row)
                emit(row)
                prev_row = (t, done)
                while mark <= 10 and done >= n * mark / 10:
                    mark += 1
            if finished:
                break
            if t >= next_kill:
                victim = workers.slots[victim_slot]
                if execs.per_pid.keys() & (victim.pids() | set(children(victim.pid))):  # it has been working
                    killed = workers.kill(victim_slot)
                    kills.append({"t": round(t, 3), "slot": victim_slot, "pid": killed.pid,
                                  "job_pids": sorted(killed.job_pids), "done": done})
                    next_kill = t + opts.kill_every
                    if opts.kill_pattern == "alternate":
                        victim_slot = (victim_slot + 1) % opts.workers
            if (execs.lines, done) != moved[1:]:
                moved = (t, execs.lines, done)
            if t > opts.timeout:
                why_stopped = f"timed out after {opts.timeout:g} s"
            elif t - moved[0] > opts.stall:
                why_stopped = f"no job ran or finished for {opts.stall:g} s"
            if why_stopped:
                break
            time.sleep(TICK)
        end = workers.now()
        workers.stop(timeout=60.0)
        self.out.update(
            wall=end, startup=first_exec, last_execution=last_exec, gave_up=why_stopped, final_counts=counts,
            unexpected_exits=[{"slot": w.slot, "pid": w.pid, "code": w.code, "log": tail(w.log)} for w in unexpected],
        )
        self.execs = execs
        return workers

    # -------------------------------------------------------------- the checks

    def analyse(self, enqueue_s: float) -> dict[str, Any]:
        """The figures and the verdict, from the store, the execution file and the samples."""
        opts, out, n = self.opts, self.out, self.opts.tasks
        workers: list[WorkerProc] = self.workers.all
        records = []
        for start in range(0, n, 500):
            records.extend(self.queue.store.get(self.ids[start:start + 500]))
        status = {r.id: r.status for r in records}
        not_done = [i for i, job_id in enumerate(self.ids) if status.get(job_id) != "DONE"]
        runs, malformed = self.execs.read_all(n)
        never = [i for i, pids in enumerate(runs) if not pids]
        lost = sorted(set(not_done) | set(never))
        history = history_counts(self.target, self.ids)
        done_twice = [i for i, job_id in enumerate(self.ids) if history.get(job_id, (0, 0))[0] > 1]
        no_done_event = [i for i in range(n) if status.get(self.ids[i]) == "DONE"
                         and history.get(self.ids[i], (0, 0))[0] == 0]
        leases_lost = sum(lost_leases for _, lost_leases in history.values())
        killed = set().union(*(w.pids() for w in workers if w.end == "killed"))
        again = [(i, pids) for i, pids in enumerate(runs) if len(pids) > 1]
        explained = sum(1 for _, pids in again if sum(p in killed for p in pids) >= len(pids) - 1)
        by_status: dict[str, int] = {}
        for i in not_done:
            s = status.get(self.ids[i], "missing")
            by_status[s] = by_status.get(s, 0) + 1

        wall = out["wall"]
        stalled = sum(b - a for a, b in out["stalls"])
        startup = out["startup"] or 0.0
        busy = max(wall - stalled - startup, 1e-9)
        summary = {
            "tasks": n, "store": self.target.kind, "mode": opts.mode, "workers": opts.workers, "lease": opts.lease,
            "kill_every": opts.kill_every, "kill_pattern": opts.kill_pattern, "load_at_start": out.get("load"),
            "enqueue_s": round(enqueue_s, 3), "enqueue_rate": round(n / max(enqueue_s, 1e-9)),
            "wall_s": round(wall, 3), "startup_s": round(startup, 3), "stalled_s": round(stalled, 3),
            "stalls": len(out["stalls"]),
            "longest_stall_s": round(max((b - a for a, b in out["stalls"]), default=0), 3),
            "throughput": round(n / max(wall, 1e-9)), "throughput_unstalled": round(n / busy),
            "kills": len(out["kills"]), "worker_processes": len(workers),
            "unexpected_exits": len(out["unexpected_exits"]),
            "stopped_cleanly": sum(1 for w in workers if w.end == "stopped" and w.code == 0),
            "stopped_of": sum(1 for w in workers if w.end in ("stopped", "forced")),
            "executions": sum(len(p) for p in runs), "malformed_lines": malformed,
            "executed_again": len(again), "extra_executions": sum(len(p) - 1 for _, p in again),
            "executed_again_on_killed": explained, "leases_expired": leases_lost,
            "not_done": len(not_done), "not_done_by_status": by_status, "never_executed": len(never),
            "lost": len(lost), "lost_sample": lost[:10], "done_twice": len(done_twice), "done_twice_sample":
            done_twice[:10], "done_without_event": len(no_done_event), "gave_up": out["gave_up"],
        }
        summary["memory"] = self.memory_verdict(wall)
        judged = [m["flat"] for m in summary["memory"] if m["flat"] is not None]
        summary["memory_flat"] = all(judged) if judged else None  # None: too short a run to judge
        summary["ok"] = summary["lost"] == 0 and summary["done_twice"] == 0
        out["processes"] = [
            {"slot": w.slot, "generation": w.generation, "pid": w.pid, "started": round(w.started, 3),
             "ended": None if w.ended is None else round(w.ended, 3), "end": w.end, "code": w.code,
             "peak_mb": round(w.peak_mb, 2), "first_mb": w.first_mb, "last_mb": w.last_mb,
             "job_pids": sorted(w.job_pids), "executions": sum(self.execs.per_pid.get(p, 0) for p in w.pids())}
            for w in workers
        ]
        out["summary"] = summary
        return summary

    def memory_verdict(self, wall: float) -> list[dict[str, Any]]:
        """Median RSS (and USS) in the first and last 20 % of the run, per slot, for the driver and for every
        worker process sampled in both windows; with the peaks (``VmHWM``) of the processes behind each row."""
        samples = self.out["samples"]
        early, late = wall * WINDOW, wall * (1 - WINDOW)

        def verdict(name: str, series: list[tuple[float, float, float]], peaks: list[float]) -> dict[str, Any]:
            first = [(rss, uss) for t, rss, uss in series if t <= early]
            last = [(rss, uss) for t, rss, uss in series if t >= late]
            row: dict[str, Any] = {"name": name, "first_mb": None, "last_mb": None, "last_uss_mb": None,
                                   "flat": None, "peaks_mb": sorted(round(p, 2) for p in peaks if p)}
            if len(first) >= MIN_SAMPLES and len(last) >= MIN_SAMPLES:
                a = statistics.median(r for r, _ in first)
                b = statistics.median(r for r, _ in last)
                row.update(first_mb=round(a, 2), last_mb=round(b, 2),
                           last_uss_mb=round(statistics.median(u for _, u in last), 2),
                           flat=b - a <= max(FLAT_MB, FLAT_SHARE * a))
            return row

        rows = [verdict("driver", [(s["t"], s["driver"]["rss"], s["driver"]["uss"]) for s in samples],
                        [max((s["driver"].get("hwm", 0.0) for s in samples), default=0.0)])]
        for slot in range(self.opts.workers):
            series = [(s["t"], s["slots"][slot]["rss"], s["slots"][slot]["uss"]) for s in samples
                      if s["slots"][slot] and not s["slots"][slot]["starting"]]
            procs = [w for w in self.workers.all if w.slot == slot]
            rows.append(verdict(f"slot {slot} ({len(procs)} process{'es' if len(procs) > 1 else ''})", series,
                                [w.peak_mb for w in procs]))
        for w in self.workers.all:
            if w.samples and w.samples[0][0] <= early and w.samples[-1][0] >= late:
                rows.append(verdict(f"worker pid {w.pid} (slot {w.slot}, lived through)", w.samples, [w.peak_mb]))
        return rows


# ------------------------------------------------------------------ output


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def tail(path: str, lines: int = 5) -> str:
    try:
        with open(path, errors="replace") as f:
            text = [line.rstrip() for line in f if line.strip()]
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty log)"


def table(headers: list[str], rows: list[list[str]], markdown: bool) -> str:
    """Rows under headers, the first column left-aligned and the others right-aligned; or a Markdown table."""
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|---|" + "|".join("---:" for _ in headers[1:]) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = []
    for row in [headers, *rows]:
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def progress_headers(workers: int) -> list[str]:
    return ["elapsed", "done", "%", "jobs/s", "executions", "kills", "driver MB",
            *(f"slot {i} MB" for i in range(workers))]


def progress_cells(row: dict[str, Any]) -> list[str]:
    return [f"{row['t']:.1f} s", f"{row['done']:,}", f"{row['percent']}", f"{row['rate']:,}", f"{row['executions']:,}",
            f"{row['kills']}", f"{row['driver_mb']:.1f}", *("-" if v is None else f"{v:.1f}" for v in row["slots_mb"])]


def mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def peaks(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{min(values):.1f}/{statistics.median(values):.1f}/{max(values):.1f}"


MEMORY_WORDS = {True: "flat", False: "NOT flat", None: f"not judged (fewer than {MIN_SAMPLES} samples in a window)"}


def report(s: dict[str, Any], out: dict[str, Any], markdown: bool) -> str:
    """The summary, as text (or Markdown)."""
    lines = []
    if markdown:
        lines += ["### Progress", "", table(progress_headers(s["workers"]),
                                            [progress_cells(r) for r in out["progress"]], True), ""]
    stalls = (f"excluding {s['stalled_s']:.1f} s of {s['stalls']} stall(s), the longest {s['longest_stall_s']:.1f} s"
              if s["stalls"] else "no stalls")
    again = s["executed_again"]
    again_text = f"{again:,} jobs ({s['extra_executions']:,} extra runs)"
    if again:
        unexplained = again - s["executed_again_on_killed"]
        again_text += (", every one on a killed worker" if not unexplained else
                       f", {s['executed_again_on_killed']:,} on a killed worker, {unexplained:,} NOT explained "
                       "by a kill")
    not_done = ", ".join(f"{k} {v}" for k, v in sorted(s["not_done_by_status"].items()))
    facts = [
        ("wall time", f"{s['wall_s']:.1f} s from starting the workers to the last job final "
                      f"(start-up {s['startup_s']:.1f} s until the first execution)"),
        ("throughput", f"{s['throughput']:,} jobs/s overall; {s['throughput_unstalled']:,} jobs/s after start-up "
                       f"and {stalls}"),
        ("enqueue", f"{s['tasks']:,} jobs in {s['enqueue_s']:.1f} s ({s['enqueue_rate']:,} jobs/s, batches of "
                    f"{ENQUEUE_BATCH:,})"),
        ("kills", f"{s['kills']} SIGKILLs; {s['worker_processes']} worker processes; {s['unexpected_exits']} exited "
                  f"by themselves; {s['stopped_cleanly']} of {s['stopped_of']} stopped cleanly at the end"),
        ("executions", f"{s['executions']:,}" + (f" ({s['malformed_lines']} malformed lines)"
                                                   if s["malformed_lines"] else "")),
        ("executed again", again_text),
        ("leases expired", f"{s['leases_expired']:,} (jobs taken back from a killed worker)"),
        ("lost", f"{s['lost']:,}" + (f" (not DONE: {s['not_done']:,}: {not_done}; never executed: "
                                     f"{s['never_executed']:,}; e.g. jobs {s['lost_sample']})" if s["lost"] else "")),
        ("marked DONE twice", f"{s['done_twice']:,}" + (f" (e.g. jobs {s['done_twice_sample']})"
                                                        if s["done_twice"] else "")),
        ("checked", f"every job's status, executions and history in {s.get('check_s', 0):.1f} s"),
    ]
    if s["done_without_event"]:
        facts.append(("DONE, no done event", f"{s['done_without_event']:,}"))
    if s["gave_up"]:
        facts.append(("GAVE UP", s["gave_up"]))
    if markdown:
        lines += ["### Summary", "", "| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in facts), ""]
    else:
        lines += [f"{k + ':':20} {v}" for k, v in facts]
        lines.append("")
    mem_rows = [[m["name"], mb(m["first_mb"]), mb(m["last_mb"]), mb(m["last_uss_mb"]), peaks(m["peaks_mb"]),
                 {True: "flat", False: "GREW", None: "-"}[m["flat"]]] for m in s["memory"]]
    lines += [("### Memory" if markdown else "memory") + f" (MB: median RSS in the first and the last {WINDOW:.0%} "
              "of the run, a slot counting its worker and job processes once it serves; USS in the last; the "
              f"peak RSS (VmHWM) of each process, min/median/max; flat = grew by at most {FLAT_SHARE:.0%} or "
              f"{FLAT_MB:g} MB)", ""]
    lines += [table(["process", "RSS first", "RSS last", "USS last", "peaks", "verdict"], mem_rows, markdown), ""]
    verdict = "OK" if s["ok"] else "FAILED"
    lines.append(f"verdict: {verdict}: {s['lost']:,} lost (target 0), {s['done_twice']:,} marked DONE twice "
                 f"(target 0), memory {MEMORY_WORDS[s['memory_flat']]}")
    for gone in out["unexpected_exits"]:
        lines.append(f"\nworker pid {gone['pid']} (slot {gone['slot']}) exited by itself with {gone['code']}:\n"
                     f"{gone['log']}")
    return "\n".join(lines)


# ------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit status: 0 with no job lost and none marked DONE twice, 1 otherwise, 2 if it could not start.")
    parser.add_argument("--tasks", type=int, default=100_000, help="jobs to run (default 100000)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes at once (default 2)")
    parser.add_argument("--kill-every", type=float, default=3.0, metavar="SECONDS",
                        help="SIGKILL a worker that has run jobs and start a replacement this often; 0 never "
                             "(default 3)")
    parser.add_argument("--kill-pattern", choices=("alternate", "one"), default="alternate",
                        help="alternate: each slot in turn; one: always the last slot, the others live through "
                             "(default alternate)")
    parser.add_argument("--store", default="sqlite", metavar="STORE",
                        help="sqlite (a fresh file, the default), postgresql, redis, or a URL; PostgreSQL and Redis "
                             "get a fresh schema or key prefix, removed at the end")
    parser.add_argument("--lease", type=float, default=5.0, metavar="SECONDS",
                        help="the workers' lease: a killed worker's jobs run again once it runs out (default 5)")
    parser.add_argument("--mode", choices=("thread", "process", "async"), default="thread",
                        help="how the workers run the jobs (default thread)")
    parser.add_argument("--sample", type=float, default=0.5, metavar="SECONDS",
                        help="memory sampling interval (default 0.5)")
    parser.add_argument("--worker-args", default="", metavar="ARGS",
                        help="extra options for each `taskgraph worker`, e.g. --worker-args='--batch 64'")
    parser.add_argument("--timeout", type=float, default=1800.0, metavar="SECONDS",
                        help="give up after this long (default 1800)")
    parser.add_argument("--stall", type=float, default=120.0, metavar="SECONDS",
                        help="give up when no job ran or finished for this long (default 120)")
    parser.add_argument("--json", metavar="PATH", help="write the raw results (samples, kills, processes) here")
    parser.add_argument("--markdown", action="store_true", help="print the report as Markdown")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (store, logs, executions)")
    parser.add_argument("--postgres", default="postgresql://127.0.0.1:5432/test", metavar="URL",
                        help="the server of --store postgresql (default postgresql://127.0.0.1:5432/test)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", metavar="URL",
                        help="the server of --store redis (default redis://127.0.0.1:6379/0)")
    opts = parser.parse_args()
    if opts.tasks < 1 or opts.workers < 1 or opts.sample <= 0 or opts.lease <= 0 or opts.kill_every < 0:
        parser.error("--tasks and --workers must be at least 1; --sample and --lease positive; --kill-every >= 0")

    folder = tempfile.mkdtemp(prefix="taskgraph-soak-")
    target = soak = None
    try:
        target = make_target(opts.store, opts, folder)
        soak = Soak(opts, target, folder)
        soak.out["load"] = round(os.getloadavg()[0], 2)
        kills = (f"one SIGKILLed every {opts.kill_every:g} s ({opts.kill_pattern}) and restarted"
                 if opts.kill_every else "none killed")
        print(f"soak: {opts.tasks:,} {opts.mode} jobs on {target.kind}, {opts.workers} workers, {kills}, lease "
              f"{opts.lease:g} s; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {soak.out['load']}",
              flush=True)
        enqueue_s = soak.enqueue()
        print(f"enqueued {opts.tasks:,} jobs in {enqueue_s:.1f} s; starting the workers\n", flush=True)
        live = sys.stderr if opts.markdown else sys.stdout
        headers = progress_headers(opts.workers)
        widths = [max(len(h), 11) for h in headers]
        print("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)), file=live, flush=True)
        soak.run(lambda row: print("  ".join(c.rjust(w) for c, w in zip(progress_cells(row), widths, strict=True)),
                                   file=live, flush=True))
        started = time.perf_counter()
        summary = soak.analyse(enqueue_s)
        summary["check_s"] = round(time.perf_counter() - started, 2)
        print(("\n" if not opts.markdown else "") + report(summary, soak.out, opts.markdown), flush=True)
        if opts.json:
            os.makedirs(os.path.dirname(os.path.abspath(opts.json)), exist_ok=True)
            with open(opts.json, "w") as f:
                json.dump({"config": vars(opts), "target": {"kind": target.kind, "space": target.space}, **soak.out},
                          f, indent=1)
        return 0 if summary["ok"] else 1
    except SoakError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    finally:
        if soak is not None:
            if hasattr(soak, "workers"):
                soak.workers.cleanup()
            soak.queue.close()
        if target is not None:
            try:
                drop_target(target)
            except Exception as exc:
                print(f"soak: could not remove {target.kind} {target.space}: {first_line(exc)}", file=sys.stderr)
        if opts.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
