"""Scheduling overhead of taskgraph per task, next to its peers, on graphs of no-op tasks.

What it measures: the time and the peak memory it takes to build N no-op tasks and run them all through
``taskgraph.make_now(*tasks, queue=...)``, per task, on two shapes of N tasks in all:

* ``layered``: layers of 100 tasks; task i of layer L requires tasks (L-1)*100 + i%100 and (L-1)*100 + (i+1)%100;
* ``fan``: one root, N-2 tasks that each require only the root, and one sink that requires all of them.

Runners, on the same shapes in the same run:

* ``inline``: taskgraph, ``queue=None`` (the calling thread);
* ``threads2``: taskgraph, ``queue="threads://2"``;
* ``graphlib``: the floor: :class:`graphlib.TopologicalSorter` (prepare / get_ready / done) calling the no-op;
* ``dask-sync``: Dask's synchronous scheduler, ``dask.get`` on a dict graph of ``(noop, dep1, dep2)`` tuples
  (left out, with a note, when dask is not importable).

Every runner's time includes building its own task objects or graph. Each (runner, shape, N) is measured
``--repeat`` times, each time in a fresh subprocess: the time is ``time.perf_counter()`` around build + run (the
median is reported), the peak memory is the rise of ``ru_maxrss`` over the subprocess's baseline after its
imports, divided by N. Subprocesses run under an address-space cap (``--memory-limit``) and a ``--timeout``, so
a runner that runs out of memory or time is reported as such. Inside each subprocess the run is checked: the
no-op ran exactly once per task and, for taskgraph, every task ended DONE; a broken run is reported as an error.

Run it (``make bench`` does the first)::

    .venv/bin/python benchmarks/dag_overhead.py               # sizes 1000,10000,100000, repeat 3: minutes
    .venv/bin/python benchmarks/dag_overhead.py --quick       # sizes 1000,10000, repeat 1
    .venv/bin/python benchmarks/dag_overhead.py --runners inline,graphlib --shapes layered --markdown
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import time

RUNNERS = ("inline", "threads2", "graphlib", "dask-sync")
SHAPES = ("layered", "fan")
WIDTH = 100  # tasks per layer of the layered shape

# What taskgraph should reach (inline and threads(2), layered, 100,000 tasks), and the peer figures.
TARGETS = """\
Targets (layered, 100,000 tasks; 1 KB = 1024 bytes):
  inline:      <= 20 us per task and <= 1 KB peak memory per task   -> {inline}
  threads(2):  <= 40 us per task                                    -> {threads2}
Reference peer figures from the issue (2 cores): graphlib floor 2.4-4.3 us per task; Dask synchronous 37-88 us
per task (layered 10,000: 88 us and 225 MiB; layered 100,000: out of memory)."""


# ------------------------------------------------------------------ the shapes and the runners (in the subprocess)


def prereqs(shape: str, n: int, i: int) -> list[int]:
    """The indices of the tasks task ``i`` requires, in a graph of ``shape`` with ``n`` tasks."""
    if shape == "layered":
        layer, j = divmod(i, WIDTH)
        if layer == 0:
            return []
        base = (layer - 1) * WIDTH
        return [base + j, base + (j + 1) % WIDTH]
    if i == 0:
        return []
    return [0] if i < n - 1 else list(range(1, n - 1))


def run_taskgraph(shape: str, n: int, noop, queue: str | None) -> list:
    import taskgraph

    tasks: list[taskgraph.Task] = []
    for i in range(n):
        task = taskgraph.Task(f"t{i}", noop)
        deps = prereqs(shape, n, i)
        if deps:
            task.require(*[tasks[j] for j in deps])
        tasks.append(task)
    finished = taskgraph.make_now(*tasks, queue=queue)
    return [len(finished) == n and all(t.state == "DONE" for t in tasks), tasks, finished]


def run_graphlib(shape: str, n: int, noop) -> list:
    from graphlib import TopologicalSorter

    sorter: TopologicalSorter[str] = TopologicalSorter()
    for i in range(n):
        sorter.add(f"t{i}", *[f"t{j}" for j in prereqs(shape, n, i)])
    sorter.prepare()
    while sorter.is_active():
        for node in sorter.get_ready():
            noop()
            sorter.done(node)
    return [True, sorter]


def run_dask(shape: str, n: int, noop) -> list:
    import dask

    graph = {f"t{i}": (noop, *[f"t{j}" for j in prereqs(shape, n, i)]) for i in range(n)}
    results = dask.get(graph, list(graph))
    return [len(results) == n, graph, results]


def child(runner: str, shape: str, n: int) -> None:
    """Measure one configuration and print it as one JSON line."""
    if runner in ("inline", "threads2"):
        import taskgraph  # noqa: F401
    elif runner == "dask-sync":
        import dask  # noqa: F401
    import gc

    calls = itertools.count()  # next() on it is atomic under the GIL, unlike ``x += 1``

    def noop(*args: object) -> None:
        next(calls)

    run = {
        "inline": lambda: run_taskgraph(shape, n, noop, None),
        "threads2": lambda: run_taskgraph(shape, n, noop, "threads://2"),
        "graphlib": lambda: run_graphlib(shape, n, noop),
        "dask-sync": lambda: run_dask(shape, n, noop),
    }[runner]
    gc.collect()
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    start = time.perf_counter()
    kept = run()  # kept alive until the peak is read
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ran = next(calls)
    if not kept[0] or ran != n:
        sys.exit(f"broken run: the no-op ran {ran} times for {n} tasks; every task DONE: {kept[0]}")
    print(json.dumps({"seconds": seconds, "peak_bytes": (peak - baseline) * 1024}))


# ------------------------------------------------------------------ the driver (in the parent)


def measure(runner: str, shape: str, n: int, memory_limit: int, timeout: float) -> dict:
    """Run one configuration in a fresh subprocess: its figures, or ``{"error": why}``."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    command = [sys.executable, os.path.abspath(__file__), "--child", runner, shape, str(n)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, preexec_fn=cap)
    except subprocess.TimeoutExpired:
        return {"error": "timeout"}
    if proc.returncode == 0:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    err = proc.stderr.strip()
    if "MemoryError" in err or proc.returncode == -9 or "can't start new thread" in err:
        return {"error": "out of memory"}
    last = err.splitlines()[-1] if err else f"exit status {proc.returncode}"
    return {"error": f"error: {last[:80]}"}


def summarize(runs: list[dict], n: int) -> dict:
    failed = [r for r in runs if "error" in r]
    if failed:
        return {"note": failed[0]["error"]}
    return {
        "us": statistics.median(r["seconds"] for r in runs) / n * 1e6,
        "kb": statistics.median(r["peak_bytes"] for r in runs) / n / 1024,
        "mib": statistics.median(r["peak_bytes"] for r in runs) / 2**20,
    }


def table(rows: list[tuple[str, str, int, dict]], markdown: bool) -> str:
    head = ("runner", "shape", "tasks", "us/task", "KB/task", "peak MiB", "note")
    body = []
    for runner, shape, n, r in rows:
        if "note" in r:
            body.append((runner, shape, f"{n:,}", "-", "-", "-", r["note"]))
        else:
            body.append((runner, shape, f"{n:,}", f"{r['us']:.1f}", f"{r['kb']:.2f}", f"{r['mib']:.1f}", ""))
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * 3 + ["---"]) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    fmt = "  ".join(f"{{:{'<' if i < 3 or i == 6 else '>'}{w}}}" for i, w in enumerate(widths))
    return "\n".join(fmt.format(*row).rstrip() for row in [head, *body])


def verdict(results: dict, runner: str, max_us: float, max_kb: float | None) -> str:
    r = results.get((runner, "layered", 100_000))
    if r is None:
        return "not measured (run with layered and 100000 in --sizes)"
    if "note" in r:
        return f"NOT met ({r['note']})"
    ok = r["us"] <= max_us and (max_kb is None or r["kb"] <= max_kb)
    got = f"{r['us']:.1f} us" + ("" if max_kb is None else f", {r['kb']:.2f} KB")
    return ("met" if ok else "NOT met") + f" ({got})"


def csv(choices: tuple[str, ...] | None = None, kind=str):
    def parse(text: str) -> list:
        items = [kind(item.strip()) for item in text.split(",") if item.strip()]
        bad = [i for i in items if choices is not None and i not in choices]
        if not items or bad:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(choices or ['numbers'])}")
        return items

    return parse


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] + " Each configuration runs in its own subprocess; "
        "the table gives the median time per task and the peak memory per task.",
        epilog=f"runners: {', '.join(RUNNERS)}; shapes: {', '.join(SHAPES)}. `make bench` runs it with the defaults.",
    )
    parser.add_argument("--sizes", type=csv(kind=int), default=[1_000, 10_000, 100_000],
                        help="numbers of tasks per graph, comma-separated (default: 1000,10000,100000)")
    parser.add_argument("--repeat", type=int, default=3, help="subprocesses per configuration; median time (default 3)")
    parser.add_argument("--runners", type=csv(RUNNERS), default=list(RUNNERS),
                        help=f"comma-separated subset of {','.join(RUNNERS)} (default: all)")
    parser.add_argument("--shapes", type=csv(SHAPES), default=list(SHAPES),
                        help=f"comma-separated subset of {','.join(SHAPES)} (default: both)")
    parser.add_argument("--quick", action="store_true", help="sizes 1000,10000 and repeat 1")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--memory-limit", type=float, default=6.0, metavar="GIB",
                        help="address-space cap of each subprocess, in GiB (default 6)")
    parser.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                        help="time limit of each subprocess (default 300)")
    parser.add_argument("--child", nargs=3, metavar=("RUNNER", "SHAPE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    if args.quick:
        args.sizes, args.repeat = [1_000, 10_000], 1
    if args.repeat < 1 or min(args.sizes) < 3:
        parser.error("--repeat must be at least 1 and every size at least 3")
    notes = []
    if "dask-sync" in args.runners and importlib.util.find_spec("dask") is None:
        args.runners.remove("dask-sync")
        notes.append("dask-sync skipped: dask is not importable (pip install dask)")

    results: dict[tuple[str, str, int], dict] = {}
    rows = []
    for shape, n, runner in itertools.product(args.shapes, args.sizes, args.runners):
        runs: list[dict] = []
        for _ in range(args.repeat):
            runs.append(measure(runner, shape, n, int(args.memory_limit * 2**30), args.timeout))
            if "error" in runs[-1]:  # one failure is enough to report; do not repeat it
                break
        results[runner, shape, n] = summary = summarize(runs, n)
        rows.append((runner, shape, n, summary))
        shown = summary.get("note") or f"{summary['us']:.1f} us/task, {summary['kb']:.2f} KB/task"
        print(f"  {runner:9} {shape:7} {n:>7,}: {shown}", file=sys.stderr, flush=True)

    print(f"\nPython {sys.version.split()[0]}, {os.cpu_count()} CPUs; median of {args.repeat} subprocess(es) "
          f"per row; cap {args.memory_limit:g} GiB, timeout {args.timeout:g} s\n")
    print(table(rows, args.markdown))
    print()
    for note in notes:
        print(note)
    print(TARGETS.format(inline=verdict(results, "inline", 20, 1), threads2=verdict(results, "threads2", 40, None)))


if __name__ == "__main__":
    main()
