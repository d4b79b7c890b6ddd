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
median is reported, with its ratio to graphlib's on the same graph), the peak memory is the rise of ``ru_maxrss``
over the subprocess's baseline after its imports, divided by N. Subprocesses run under an address-space cap
(``--memory-limit``) and a ``--timeout``, so a runner that runs out of memory or time is reported as such. Inside
each subprocess the run is checked: the no-op ran exactly once per task and, for taskgraph, every task ended DONE;
a broken run is reported as an error.

Before and after in one run: ``--before DIR`` (another checkout, e.g. a ``git worktree`` of an older commit) adds
the rows ``inline@before`` and ``threads2@before``, whose subprocesses import taskgraph from DIR; the plain rows
import it from ``--after`` (default: this checkout). Each subprocess checks where its taskgraph came from and the
run stops if it is the wrong one. Every repetition measures every row once, each row on --before next to its row
on --after (before first in the 2nd, 4th, ... repetition), so that the machine's moods hit both alike; the output
then compares each pair (ratio of the medians, and the range of the runs).

Run it (``make bench`` does the first)::

    .venv/bin/python benchmarks/dag_overhead.py               # sizes 1000,10000,100000, repeat 3: minutes
    .venv/bin/python benchmarks/dag_overhead.py --quick       # sizes 1000,10000, repeat 1
    .venv/bin/python benchmarks/dag_overhead.py --runners inline,graphlib --shapes layered --markdown
    .venv/bin/python benchmarks/dag_overhead.py --runners inline,threads2,graphlib --shapes layered \
        --sizes 100000 --before ../before                     # ../before: git worktree add --detach ../before main
    .venv/bin/python benchmarks/dag_overhead.py --runners inline,graphlib --shapes layered --sizes 100000 \
        --million --repeat 3                                  # issue 14: a million tasks; "build s" is its own column
    .venv/bin/python benchmarks/dag_overhead.py --runners inline,graphlib --shapes layered --sizes 100000 \
        --million --repeat 3 --gc-paused                      # each graph built inside taskgraph.gc_paused()
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import NamedTuple

import checkouts

RUNNERS = ("inline", "threads2", "graphlib", "dask-sync")
TASKGRAPH = ("inline", "threads2")  # the runners that import taskgraph: measured on --after and --before
WRONG_CHECKOUT = 3  # a child's exit status when taskgraph came from elsewhere than the checkout asked for
SHAPES = ("layered", "fan")
WIDTH = 100  # tasks per layer of the layered shape
MILLION = 1_000_000

# What taskgraph should reach (inline and threads(2), layered, 100,000 tasks), and the issue's peer figures.
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


@contextlib.contextmanager
def peer_pause():
    """--gc-paused for the peers: what ``taskgraph.gc_paused()`` does, written out (they do not import taskgraph)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
            if gc.get_count()[0] > 100_000:
                gc.collect()


def build_pause(taskgraph=None):
    """The block the graph is built in: with --gc-paused, the collector paused (``taskgraph.gc_paused()``)."""
    if not os.environ.get("DAG_OVERHEAD_GC_PAUSED"):
        return contextlib.nullcontext()
    pause = getattr(taskgraph, "gc_paused", None)  # a --before checkout may predate it: the same, written out
    return pause() if pause is not None else peer_pause()


def run_taskgraph(shape: str, n: int, noop, queue: str | None) -> list:
    import taskgraph

    tasks: list[taskgraph.Task] = []
    with build_pause(taskgraph):
        for i in range(n):
            task = taskgraph.Task(f"t{i}", noop)
            deps = prereqs(shape, n, i)
            if deps:
                task.require(*[tasks[j] for j in deps])
            tasks.append(task)
    built = time.perf_counter()
    finished = taskgraph.make_now(*tasks, queue=queue)
    return [len(finished) == n and all(t.state == "DONE" for t in tasks), built, tasks, finished]


def run_graphlib(shape: str, n: int, noop) -> list:
    from graphlib import TopologicalSorter

    sorter: TopologicalSorter[str] = TopologicalSorter()
    with build_pause():
        for i in range(n):
            sorter.add(f"t{i}", *[f"t{j}" for j in prereqs(shape, n, i)])
    built = time.perf_counter()
    sorter.prepare()
    while sorter.is_active():
        for node in sorter.get_ready():
            noop()
            sorter.done(node)
    return [True, built, sorter]


def run_dask(shape: str, n: int, noop) -> list:
    import dask

    with build_pause():
        graph = {f"t{i}": (noop, *[f"t{j}" for j in prereqs(shape, n, i)]) for i in range(n)}
    built = time.perf_counter()
    results = dask.get(graph, list(graph))
    return [len(results) == n, built, graph, results]


def child(runner: str, shape: str, n: int) -> None:
    """Measure one configuration and print it as one JSON line."""
    if runner in TASKGRAPH:
        try:
            checkouts.verify()  # taskgraph from the checkout asked for, or a loud stop
        except checkouts.WrongCheckout as exc:
            print(exc, file=sys.stderr)
            sys.exit(WRONG_CHECKOUT)
    elif runner == "dask-sync":
        import dask  # noqa: F401
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
    if os.environ.get("DAG_OVERHEAD_NO_GC"):  # --no-gc: the cyclic collector off for build and run, in every row
        gc.disable()
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    start = time.perf_counter()
    kept = run()  # kept alive until the peak is read
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ran = next(calls)
    if not kept[0] or ran != n:
        sys.exit(f"broken run: the no-op ran {ran} times for {n} tasks; every task DONE: {kept[0]}")
    print(json.dumps({"seconds": seconds, "build_seconds": kept[1] - start, "peak_bytes": (peak - baseline) * 1024}))


# ------------------------------------------------------------------ the driver (in the parent)


class Config(NamedTuple):
    """One row of the table: a runner, and for taskgraph's runners the checkout it imports taskgraph from."""

    label: str  # "inline", "inline@before", "graphlib", ...
    runner: str
    home: str | None  # None for the peers, which do not import taskgraph


def configs(runners: list[str], after: str, before: str | None) -> list[Config]:
    """The rows to measure: each taskgraph runner on ``after``, then (with ``before``) on ``before``; the peers."""
    out = []
    for runner in runners:
        if runner not in TASKGRAPH:
            out.append(Config(runner, runner, None))
            continue
        out.append(Config(runner, runner, after))
        if before:
            out.append(Config(runner + checkouts.BEFORE, runner, before))
    return out


def measure(config: Config, shape: str, n: int, memory_limit: int, timeout: float) -> dict:
    """Run one configuration in a fresh subprocess: its figures, or ``{"error": why}``.

    Stops the whole benchmark (``SystemExit``) when the subprocess imported taskgraph from another checkout.
    """

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    command = [sys.executable, os.path.abspath(__file__), "--child", config.runner, shape, str(n)]
    env = checkouts.environ(config.home) if config.home else None
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, preexec_fn=cap, env=env)
    except subprocess.TimeoutExpired:
        return {"error": "timeout"}
    if proc.returncode == 0:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    err = proc.stderr.strip()
    if proc.returncode == WRONG_CHECKOUT:
        raise SystemExit(f"stopped: {config.label} {shape} {n:,}: {err}")
    if "MemoryError" in err or proc.returncode == -9 or "can't start new thread" in err:
        return {"error": "out of memory"}
    last = err.splitlines()[-1] if err else f"exit status {proc.returncode}"
    return {"error": f"error: {last[:80]}"}


def summarize(runs: list[dict], n: int) -> dict:
    failed = [r for r in runs if "error" in r]
    if failed:
        return {"note": failed[0]["error"]}
    per_task = [r["seconds"] / n * 1e6 for r in runs]
    return {
        "us": statistics.median(per_task),
        "build_s": statistics.median(r["build_seconds"] for r in runs),
        "run_us": statistics.median((r["seconds"] - r["build_seconds"]) / n * 1e6 for r in runs),
        "runs_us": per_task,
        "kb": statistics.median(r["peak_bytes"] for r in runs) / n / 1024,
        "mib": statistics.median(r["peak_bytes"] for r in runs) / 2**20,
    }


def floor_ratio(results: dict, label: str, shape: str, n: int) -> float | None:
    """The median time of ``label`` over graphlib's, on the same shape and size; None without both figures."""
    r, floor = results.get((label, shape, n), {}), results.get(("graphlib", shape, n), {})
    return r["us"] / floor["us"] if "us" in r and "us" in floor else None


def table(results: dict, markdown: bool) -> str:
    head = ("runner", "shape", "tasks", "us/task", "x graphlib", "build s", "run us/task", "KB/task", "peak MiB",
            "note")
    body = []
    for (label, shape, n), r in results.items():
        if "note" in r:
            body.append((label, shape, f"{n:,}", "-", "-", "-", "-", "-", "-", r["note"]))
        else:
            ratio = floor_ratio(results, label, shape, n)
            body.append((label, shape, f"{n:,}", f"{r['us']:.1f}", "-" if ratio is None else f"{ratio:.2f}",
                         f"{r['build_s']:.2f}", f"{r['run_us']:.1f}", f"{r['kb']:.2f}", f"{r['mib']:.1f}", ""))
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * 6 + ["---"]) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    fmt = "  ".join(f"{{:{'<' if i < 3 or i == 9 else '>'}{w}}}" for i, w in enumerate(widths))
    return "\n".join(fmt.format(*row).rstrip() for row in [head, *body])


def comparisons(results: dict, runners: list[str]) -> list[str]:
    """One line per taskgraph runner, shape and size: its time after against before, and its memory."""
    lines = []
    for (label, shape, n), after in results.items():
        before = results.get((label + checkouts.BEFORE, shape, n))
        if label not in runners or label not in TASKGRAPH or before is None:
            continue
        if "us" not in after or "us" not in before:
            lines.append(f"  {label:8} {shape:7} {n:>7,}: no comparison ({after.get('note') or before['note']})")
            continue
        lines.append(f"  {label:8} {shape:7} {n:>7,}: us/task "
                     + checkouts.compare(after["runs_us"], before["runs_us"], False, "us", ".1f")
                     + f"; KB/task {after['kb']:.2f} after, {before['kb']:.2f} before")
    return lines


def verdict(results: dict, runner: str, max_us: float, max_kb: float | None) -> str:
    r = results.get((runner, "layered", 100_000))
    if r is None:
        return "not measured (run with layered and 100000 in --sizes)"
    if "note" in r:
        return f"NOT met ({r['note']})"
    ok = r["us"] <= max_us and (max_kb is None or r["kb"] <= max_kb)
    got = f"{r['us']:.1f} us" + ("" if max_kb is None else f", {r['kb']:.2f} KB")
    return ("met" if ok else "NOT met") + f" ({got})"


def floor_verdict(results: dict, label: str, max_ratio: float, max_kb: float) -> str:
    """``label`` on layered 100,000 against graphlib's time (``max_ratio``) and ``max_kb`` per task."""
    key = (label, "layered", 100_000)
    ratio = floor_ratio(results, *key)
    if ratio is None:
        return "not measured (run inline and graphlib with layered and 100000 in --sizes)"
    r = results[key]
    ok = ratio <= max_ratio and r["kb"] <= max_kb
    return (f"{'met' if ok else 'NOT met'} ({ratio:.2f}x graphlib: {r['us']:.1f} vs "
            f"{results['graphlib', 'layered', 100_000]['us']:.1f} us; {r['kb']:.2f} KB)")


def issue_targets(results: dict) -> str:
    """The figures issue 9 asks for: inline against the graphlib floor; threads(2) against the checkout before."""
    lines = ["Issue 9 (layered, 100,000 tasks; 'before' is --before):",
             f"  inline within 2x the graphlib loop, <= 1 KB per task -> {floor_verdict(results, 'inline', 2, 1)}"]
    if ("inline@before", "layered", 100_000) in results:
        lines.append(f"    the same for inline@before                         -> "
                     f"{floor_verdict(results, 'inline@before', 2, 1)}")
    after, before = results.get(("threads2", "layered", 100_000)), results.get(("threads2@before", "layered", 100_000))
    if after is None or before is None:
        shown = "not measured (run threads2 with --before, layered and 100000 in --sizes)"
    elif "us" not in after or "us" not in before:
        shown = f"no figure ({after.get('note') or before['note']})"
    else:
        shown = checkouts.compare(after["runs_us"], before["runs_us"], False, "us", ".1f")
    lines.append(f"  threads(2) no slower than before -> {shown}")
    return "\n".join(lines)


def million_targets(results: dict) -> str:
    """The figures issue 14 asks of inline on layered 1,000,000: build <= 3 s, <= 1 KB per task, and a per-task
    cost within 1.3x the 100,000-task figure."""
    big, small = results.get(("inline", "layered", MILLION)), results.get(("inline", "layered", 100_000))
    lines = ["Issue 14 (inline, layered 1,000,000 tasks; --million):"]
    if big is None or "note" in big:
        lines.append("  not measured" + (f" ({big['note']})" if big else " (run with --million)"))
        return "\n".join(lines)
    floor = results.get(("graphlib", "layered", MILLION), {})
    beside = f" (graphlib builds its graph in {floor['build_s']:.2f} s)" if "build_s" in floor else ""
    how = "; built inside taskgraph.gc_paused()" if os.environ.get("DAG_OVERHEAD_GC_PAUSED") else ""
    lines.append(f"  build <= 3 s                 -> {'met' if big['build_s'] <= 3 else 'NOT met'} "
                 f"({big['build_s']:.2f} s{how}){beside}")
    lines.append(f"  <= 1 KB per task             -> {'met' if big['kb'] <= 1 else 'NOT met'} ({big['kb']:.2f} KB)")
    if small is None or "note" in small:
        lines.append("  per task within 1.3x 100,000 -> not measured (add 100000 to --sizes)")
    else:
        ratio = big["us"] / small["us"]
        verdict = "met" if ratio <= 1.3 else "NOT met"
        lines.append(f"  per task within 1.3x 100,000 -> {verdict} ({big['us']:.1f} against {small['us']:.1f} us: "
                     f"{ratio:.2f}x)")
    return "\n".join(lines)


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
        "the table gives the median time per task, its ratio to the graphlib floor and the peak memory per task.",
        epilog=f"runners: {', '.join(RUNNERS)}; shapes: {', '.join(SHAPES)}. `make bench` runs it with the defaults.",
    )
    parser.add_argument("--sizes", type=csv(kind=int), default=[1_000, 10_000, 100_000],
                        help="numbers of tasks per graph, comma-separated (default: 1000,10000,100000)")
    parser.add_argument("--repeat", type=int, default=3, help="subprocesses per configuration; median time (default 3)")
    parser.add_argument("--runners", type=csv(RUNNERS), default=list(RUNNERS),
                        help=f"comma-separated subset of {','.join(RUNNERS)} (default: all)")
    parser.add_argument("--shapes", type=csv(SHAPES), default=list(SHAPES),
                        help=f"comma-separated subset of {','.join(SHAPES)} (default: both)")
    checkouts.add_options(parser, "rows inline@before and threads2@before", "inline and threads2 rows")
    parser.add_argument("--quick", action="store_true", help="sizes 1000,10000 and repeat 1")
    parser.add_argument("--no-gc", action="store_true",
                        help="turn Python's cyclic garbage collector off in every row's subprocess (gc.disable()), "
                        "to see what its full collections cost on big graphs")
    parser.add_argument("--gc-paused", action="store_true",
                        help="build each graph inside taskgraph.gc_paused() (the peers inside the same pause, "
                        "written out): the collector off while building, one full collection at the end")
    parser.add_argument("--million", action="store_true",
                        help="add 1,000,000 tasks to --sizes (minutes per row; about 1.5 GiB per subprocess)")
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
    if args.no_gc:
        os.environ["DAG_OVERHEAD_NO_GC"] = "1"  # read by each row's subprocess
    if args.gc_paused:
        os.environ["DAG_OVERHEAD_GC_PAUSED"] = "1"
    if args.million and MILLION not in args.sizes:
        args.sizes.append(MILLION)
    if args.repeat < 1 or min(args.sizes) < 3:
        parser.error("--repeat must be at least 1 and every size at least 3")
    notes = []
    if "dask-sync" in args.runners and importlib.util.find_spec("dask") is None:
        args.runners.remove("dask-sync")
        notes.append("dask-sync skipped: dask is not importable (pip install dask)")

    rows = configs(args.runners, args.after, args.before)
    results: dict[tuple[str, str, int], dict] = {}
    for shape, n in itertools.product(args.shapes, args.sizes):
        runs: dict[str, list[dict]] = {row.label: [] for row in rows}
        for repetition in range(args.repeat):  # every row once per repetition, so noise hits them alike
            for row in checkouts.interleaved(rows, repetition):
                if not runs[row.label] or "error" not in runs[row.label][-1]:  # one failure is enough to report
                    runs[row.label].append(measure(row, shape, n, int(args.memory_limit * 2**30), args.timeout))
        for row in rows:
            results[row.label, shape, n] = summary = summarize(runs[row.label], n)
            shown = summary.get("note") or f"{summary['us']:.1f} us/task, {summary['kb']:.2f} KB/task"
            print(f"  {row.label:15} {shape:7} {n:>7,}: {shown}", file=sys.stderr, flush=True)

    print(f"\nPython {sys.version.split()[0]}, {os.cpu_count()} CPUs; median of {args.repeat} subprocess(es) "
          f"per row, the rows interleaved in each repetition; cap {args.memory_limit:g} GiB, timeout "
          f"{args.timeout:g} s" + ("; garbage collector OFF in every row (--no-gc)" if args.no_gc else "")
          + ("; every graph built inside taskgraph.gc_paused() (--gc-paused)" if args.gc_paused else ""))
    if any(runner in TASKGRAPH for runner in args.runners):
        print(f"taskgraph: {checkouts.describe(args.after)}")
        if args.before:
            print(f"taskgraph@before: {checkouts.describe(args.before)}")
    print()
    print(table(results, args.markdown))
    print()
    for note in notes:
        print(note)
    if args.before and (lines := comparisons(results, args.runners)):
        print("After against before (median time per task, [lowest-highest] of the runs):")
        print("\n".join(lines))
        print()
    print(TARGETS.format(inline=verdict(results, "inline", 20, 1), threads2=verdict(results, "threads2", 40, None)))
    print(issue_targets(results))
    if args.million:
        print(million_targets(results))


if __name__ == "__main__":
    main()
