"""One graph, five ways to run it beyond the calling thread: local processes, Dask, and each durable store.

What it measures: the time ``make_now(*tasks, queue=...)`` takes to run a graph, from the call until every task
is DONE, on three shapes:

* ``independent``: ``--tasks`` no-op tasks (default 2,000), none requiring another;
* ``layered``: ``--tasks`` no-op tasks in layers of 100, each task requiring 2 of the layer before;
* ``cpu``: ``--cpu-tasks`` independent tasks (default 400), each ~10 ms of pure-Python arithmetic.

Each no-op appends one byte to a count file (one ``os.write`` on an ``O_APPEND`` descriptor), and the count is
checked: every task ran exactly once, and every task ended DONE. The runners, each with 2 workers:

* ``processes``: ``processes://2``;
* ``dask``: a ``DaskQueue`` on a ``distributed.LocalCluster`` of 2 worker processes of 1 thread each (the scheduler
  runs in the measuring process, as LocalCluster puts it): ``make_now`` hands Dask the tasks that wait only for
  tasks in Dask, linked to them (up to ``--window`` ahead, the queue's default 500), and Dask releases them on its
  workers; ``dask-nostart`` is the same with ``track_start=False`` (no start event per task);
* ``dask-pertask``: the same ``DaskQueue`` with ``window=0``: each task is handed over once its prerequisites are
  DONE, one round trip through the measuring process per ready frontier (the only way before issue 14);
* ``dask-raw``: the floor for Dask: the same work through Dask's own API, without taskgraph: ``client.map`` and
  one ``gather`` for the independent shapes, ``client.get`` on a dict graph for the layered one;
* ``sqlite``, ``postgresql``, ``redis``: a durable queue on a fresh file, schema or key prefix, drained by 2
  ``taskgraph worker benchmarks.scaling:queue`` processes; every task is a job of the queue.

Workers, pools and clusters are started and warmed up (a 20-task graph) before the clock starts, so the figures
are the cost of running tasks, not of starting workers. Each repetition of each runner is a fresh subprocess; the
table shows medians: tasks/s and microseconds per task for the no-op shapes; for ``cpu``, the wall time and its
overhead over the ideal (the tasks' own CPU time, measured in the subprocess, divided by the 2 workers). With
``--repeat`` above 1 the runners take turns (each repetition runs every runner once), each no-op cell shows the
range beside the median, and the Dask runners' rates are divided by ``dask-raw``'s of the same repetition: the
range of those ratios is printed under the table.

Run it::

    .venv/bin/python benchmarks/scaling.py                  # all runners, repeat 3: about 5 minutes on 2 cores
    .venv/bin/python benchmarks/scaling.py --quick          # 500 tasks, 100 CPU tasks, repeat 1
    .venv/bin/python benchmarks/scaling.py --runners dask,redis --markdown
    .venv/bin/python benchmarks/scaling.py --runners dask,dask-pertask,dask-raw --shapes layered --tasks 20000

Dask is in the ``bench`` extra (``pip install -e '.[bench]'``); servers: PostgreSQL at ``--postgres`` (default
postgresql://127.0.0.1:5432/test) and Redis at ``--redis`` (default redis://127.0.0.1:6379/0). Schemas and key
prefixes are removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNERS = ("processes", "dask", "dask-nostart", "dask-pertask", "dask-raw", "sqlite", "postgresql", "redis")
STORES = ("sqlite", "postgresql", "redis")
SHAPES = ("independent", "layered", "cpu")
WIDTH = 100  # tasks per layer of the layered shape
WORKERS = 2
SPIN = 120_000  # iterations of the CPU task's loop: about 10 ms of pure Python on a 2020s core
STORE_VAR = "SCALING_STORE_URL"
APP = "benchmarks.scaling:queue"


# ------------------------------------------------------------------ the task functions (workers import these)


def tally(path: str) -> None:
    """Count one run: one byte, one atomic append."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, b".")
    finally:
        os.close(fd)


def noop(path: str) -> None:
    tally(path)


def spin(path: str, n: int) -> int:
    """About 10 ms of pure-Python work (``SPIN`` iterations), then count the run."""
    total = 0
    for i in range(n):
        total += i * i % 7
    tally(path)
    return total


queue: Any = None
JOBS: dict[str, Any] = {"noop": noop, "spin": spin}
if os.environ.get(STORE_VAR):  # imported by a store's workers, or by a store runner's subprocess
    from taskgraph import open_queue

    queue = open_queue(os.environ[STORE_VAR])
    JOBS = {"noop": queue.task(noop), "spin": queue.task(spin)}


# ------------------------------------------------------------------ one repetition (in the child)


def graph(shape: str, n: int, path: str, prefix: str, jobs: dict[str, Any]) -> list[Any]:
    from taskgraph import Task

    tasks: list[Task] = []
    for i in range(n):
        if shape == "cpu":
            task = Task(f"{prefix}{i}", jobs["spin"], args=(path, SPIN))
        else:
            task = Task(f"{prefix}{i}", jobs["noop"], args=(path,))
        layer, j = divmod(i, WIDTH)
        if shape == "layered" and layer:
            base = (layer - 1) * WIDTH
            task.require(tasks[base + j], tasks[base + (j + 1) % WIDTH])
        tasks.append(task)
    return tasks


def run_graph(target: Any, shape: str, n: int, tmp: str, jobs: dict[str, Any]) -> float:
    """Make one graph on ``target``; its wall time, after checking every task ran once and ended DONE."""
    from taskgraph import make_now

    path = os.path.join(tmp, f"{shape}-{uuid.uuid4().hex[:8]}.count")
    tasks = graph(shape, n, path, f"{shape}-{uuid.uuid4().hex[:8]}-", jobs)
    start = time.perf_counter()
    make_now(*tasks, queue=target)
    elapsed = time.perf_counter() - start
    states = {t.state.value for t in tasks}
    if states != {"DONE"}:
        bad = next(t for t in tasks if t.state != "DONE")
        raise RuntimeError(f"{shape}: tasks ended {sorted(states)}; {bad.name}: {bad.exception!r}")
    ran = os.stat(path).st_size
    if ran != n:
        raise RuntimeError(f"{shape}: {ran} runs for {n} tasks")
    return elapsed


def passing(path: str, *inputs: Any) -> None:
    """A no-op for a Dask graph: Dask passes it its prerequisites' results, which it ignores."""
    tally(path)


def run_raw(client: Any, shape: str, n: int, tmp: str, app: Any) -> float:
    """Run one shape through Dask's own API; its wall time, after checking every task ran once."""
    path = os.path.join(tmp, f"raw-{shape}-{uuid.uuid4().hex[:8]}.count")
    start = time.perf_counter()
    if shape == "layered":
        prefix = f"raw-{uuid.uuid4().hex[:8]}-"
        dsk: dict[str, Any] = {}
        for i in range(n):
            layer, j = divmod(i, WIDTH)
            base = (layer - 1) * WIDTH
            inputs = [f"{prefix}{base + j}", f"{prefix}{base + (j + 1) % WIDTH}"] if layer else []
            dsk[f"{prefix}{i}"] = (app.passing, path, *inputs)
        client.get(dsk, list(dsk))
    else:
        func, args = (app.spin, [SPIN] * n) if shape == "cpu" else (app.noop, None)
        futures = client.map(func, [path] * n, *([args] if args else []), pure=False)
        client.gather(futures)
        del futures
    elapsed = time.perf_counter() - start
    if os.stat(path).st_size != n:
        raise RuntimeError(f"{shape}: {os.stat(path).st_size} runs for {n} tasks")
    return elapsed


def cpu_seconds_per_task() -> float:
    """The CPU task's own time here, inline: the median of 5."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "count")
        times = []
        for _ in range(5):
            start = time.perf_counter()
            spin(path, SPIN)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


class Workers:
    """``taskgraph worker`` processes for a store, each in its own session, logging to a file."""

    def __init__(self, url: str, tmp: str) -> None:
        env = {**os.environ, STORE_VAR: url,
               "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
        self.procs = []
        for i in range(WORKERS):
            with open(os.path.join(tmp, f"worker-{i}.log"), "wb") as log:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "taskgraph", "worker", APP, "-q"], cwd=ROOT, env=env,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def store_url(runner: str, opts: argparse.Namespace, tmp: str) -> tuple[str, str]:
    """A fresh store of the runner's kind: its URL, and the schema or key prefix to remove afterwards."""
    name = f"tgscale_{uuid.uuid4().hex[:12]}"
    if runner == "sqlite":
        return f"sqlite:///{os.path.join(tmp, 'jobs.db')}", ""
    base = opts.postgres if runner == "postgresql" else opts.redis
    option = "schema" if runner == "postgresql" else "prefix"
    return f"{base}{'&' if '?' in base else '?'}{option}={name}", name


def remove_store(runner: str, opts: argparse.Namespace, name: str) -> None:
    if runner == "postgresql":
        import psycopg

        with psycopg.connect(opts.postgres, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    elif runner == "redis":
        import redis

        client = redis.Redis.from_url(opts.redis)
        try:
            keys = list(client.scan_iter(match=f"{name}:*", count=1000))
            for i in range(0, len(keys), 1000):
                client.delete(*keys[i:i + 1000])
        finally:
            client.close()


def measure(runner: str, opts: argparse.Namespace, tmp: str) -> dict[str, float]:
    """Set the runner up, warm it up, and time each shape once."""
    sizes = {"independent": opts.tasks, "layered": opts.tasks, "cpu": opts.cpu_tasks}
    out: dict[str, float] = {"cpu_task_s": cpu_seconds_per_task()}

    def each_shape(target: Any, jobs: dict[str, Any]) -> None:
        run_graph(target, "independent", 20, tmp, jobs)  # warm-up: start workers, connect, import
        for shape in opts.shapes:
            out[shape] = run_graph(target, shape, sizes[shape], tmp, jobs)

    if runner in STORES:
        url, name = store_url(runner, opts, tmp)
        os.environ[STORE_VAR] = url
    from benchmarks import scaling as app  # this file as a module, so that workers find the functions by name

    if runner == "processes":
        from taskgraph import ProcessQueue

        with ProcessQueue(WORKERS) as pool:
            each_shape(pool, app.JOBS)
    elif runner == "dask-raw":
        import distributed

        with distributed.LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                                      dashboard_address=":0", silence_logs=logging.CRITICAL) as cluster, \
                distributed.Client(cluster, set_as_default=False) as client:
            run_raw(client, "independent", 20, tmp, app)
            for shape in opts.shapes:
                out[shape] = run_raw(client, shape, sizes[shape], tmp, app)
    elif runner.startswith("dask"):
        import distributed

        from taskgraph import DaskQueue

        with distributed.LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                                      dashboard_address=":0", silence_logs=logging.CRITICAL) as cluster, \
                distributed.Client(cluster, set_as_default=False) as client, \
                DaskQueue(client, track_start=runner != "dask-nostart",
                          window=0 if runner == "dask-pertask" else opts.window) as dask_queue:
            each_shape(dask_queue, app.JOBS)
    else:
        workers = Workers(url, tmp)
        try:
            each_shape(app.queue, app.JOBS)
        finally:
            workers.stop()
            app.queue.close()
            remove_store(runner, opts, name)
    return out


def child(runner: str, opts: argparse.Namespace) -> None:
    """One repetition of one runner; prints one JSON line: the seconds of each shape, or ``{"error": why}``."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    with tempfile.TemporaryDirectory(prefix="scaling-bench-") as tmp:
        try:
            out: dict[str, Any] = measure(runner, opts, tmp)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            out = {"error": f"{type(exc).__name__}: {first}"[:200]}
    print(json.dumps(out), flush=True)


# ------------------------------------------------------------------ the driver (in the parent)


def run_child(runner: str, opts: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, os.path.abspath(__file__), "--child", runner, "--tasks", str(opts.tasks),
               "--cpu-tasks", str(opts.cpu_tasks), "--window", str(opts.window), "--shapes", ",".join(opts.shapes),
               "--postgres", opts.postgres,
               "--redis", opts.redis]
    env = {k: v for k, v in os.environ.items() if k != STORE_VAR}
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=opts.timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {opts.timeout:g} s"}
    lines = done.stdout.strip().splitlines()
    if lines:
        try:
            return json.loads(lines[-1])
        except ValueError:
            pass
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit status {done.returncode}"
    return {"error": last[:200]}


def cells(runner: str, runs: list[dict[str, Any]], opts: argparse.Namespace) -> list[str]:
    failed = next((r["error"] for r in runs if "error" in r), None)
    if failed:
        return [runner] + ["-"] * len(opts.shapes) + [failed]
    row = [runner]
    for shape in opts.shapes:
        seconds = statistics.median(r[shape] for r in runs)
        if shape == "cpu":
            ideal = statistics.median(r["cpu_task_s"] for r in runs) * opts.cpu_tasks / WORKERS
            row.append(f"{seconds:.2f} s (+{(seconds - ideal) / opts.cpu_tasks * 1e3:.1f} ms/task)")
        else:
            n = opts.tasks
            spread = ""
            if len(runs) > 1:
                spread = f" [{n / max(r[shape] for r in runs):,.0f}-{n / min(r[shape] for r in runs):,.0f}]"
            row.append(f"{n / seconds:,.0f}/s{spread} ({seconds / n * 1e6:,.0f} us)")
    return row + [""]


def ratios(results: dict[str, list[dict[str, Any]]], opts: argparse.Namespace) -> list[str]:
    """For each Dask runner, the range of its rate over dask-raw's in the same repetition, per no-op shape."""
    raw = results.get("dask-raw", [])
    out = []
    for runner, runs in results.items():
        if not runner.startswith("dask") or runner == "dask-raw" or not raw:
            continue
        for shape in opts.shapes:
            pairs = [b[shape] / a[shape] for a, b in zip(runs, raw, strict=False) if shape in a and shape in b]
            if shape != "cpu" and pairs:
                out.append(f"{runner} / dask-raw, {shape}: {min(pairs):.2f}-{max(pairs):.2f}x "
                           f"(median {statistics.median(pairs):.2f}x, {len(pairs)} pairs)")
    return out


def table(rows: list[list[str]], shapes: list[str], markdown: bool) -> str:
    names = {"independent": "independent no-ops", "layered": "layered no-ops", "cpu": "CPU tasks: wall (overhead)"}
    head = ["runner", *[names[s] for s in shapes], "note"]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * len(shapes) + "---|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) if i in (0, len(head) - 1) else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
                     for r in [head, *rows])


def csv(choices: tuple[str, ...]):
    def parse(text: str) -> list[str]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        bad = [i for i in items if i not in choices]
        if not items or bad:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(choices)}")
        return items

    return parse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runners", type=csv(RUNNERS), default=list(RUNNERS),
                        help=f"comma-separated subset of {','.join(RUNNERS)} (default: all)")
    parser.add_argument("--shapes", type=csv(SHAPES), default=list(SHAPES),
                        help=f"comma-separated subset of {','.join(SHAPES)} (default: all)")
    parser.add_argument("--tasks", type=int, default=2000, help="no-op tasks per graph (default 2000)")
    parser.add_argument("--cpu-tasks", type=int, default=400, help="CPU tasks of ~10 ms (default 400)")
    parser.add_argument("--window", type=int, default=1000,
                        help="the window of the dask and dask-nostart runners (default 1000, the queue's)")
    parser.add_argument("--repeat", type=int, default=3, help="subprocesses per runner; medians (default 3)")
    parser.add_argument("--quick", action="store_true", help="500 tasks, 100 CPU tasks, repeat 1")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--timeout", type=float, default=600.0, help="limit of one subprocess, s (default 600)")
    parser.add_argument("--postgres", default="postgresql://127.0.0.1:5432/test", metavar="URL")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", metavar="URL")
    parser.add_argument("--child", metavar="RUNNER", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        child(opts.child, opts)
        return
    if opts.quick:
        opts.tasks, opts.cpu_tasks, opts.repeat = 500, 100, 1
    if min(opts.tasks, opts.cpu_tasks, opts.repeat) < 1:
        parser.error("--tasks, --cpu-tasks and --repeat must be at least 1")
    load = os.getloadavg()[0]
    results: dict[str, list[dict[str, Any]]] = {runner: [] for runner in opts.runners}
    for turn in range(opts.repeat):  # the runners take turns, so that a change of load hits them alike
        for runner, runs in results.items():
            if runs and "error" in runs[-1]:
                continue
            runs.append(run_child(runner, opts))
            print(f"  {turn + 1}/{opts.repeat} {runner}: {json.dumps(runs[-1])}", file=sys.stderr, flush=True)
    rows = [cells(runner, runs, opts) for runner, runs in results.items()]
    runs = [r for rs in results.values() for r in rs]
    cpu_ms = next((r["cpu_task_s"] * 1e3 for r in runs if "cpu_task_s" in r), float("nan"))
    print(f"\nPython {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load:.2f} at the start; "
          f"{WORKERS} workers each; {opts.tasks:,} no-op tasks, {opts.cpu_tasks:,} CPU tasks of {cpu_ms:.1f} ms; "
          f"median of {opts.repeat} run(s)\n")
    print(table(rows, opts.shapes, opts.markdown))
    for line in ratios(results, opts):
        print(line)


if __name__ == "__main__":
    main()
