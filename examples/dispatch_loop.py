"""A dispatch loop: ``TaskQueue(...).run()`` hands tasks to a queue as they become ready, and reports each one.

    python examples/dispatch_loop.py                          # on threads://4, in a temporary directory
    python examples/dispatch_loop.py --queue processes://2 --work out/dispatch

Where ``make`` builds targets and everything they need, a TaskQueue is a loop over work: it runs the tasks put in
it, yields each one once it is final, and lets the loop add more while it runs. Here each file of a "mirror" (this
examples directory) is fetched into a work directory, then checksummed; a manifest needs every checksum:

    fetch <file>  ->  checksum <file>  ->  manifest  (one manifest, for all files)

Only the fetch tasks are put in the queue. With ``run_dependent_tasks=True`` the queue takes in a task's
dependents once it completes, so the checksums and the manifest follow by themselves; without it the loop would
stop after the fetches. One file is missing from the mirror: its fetch fails, and its checksum and the manifest
fail without running (a BlockedError naming the failed prerequisite). The loop reacts to the failure by adding an
``alert`` task while it runs. It exits 0: the failures are the point of the demonstration.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

from taskgraph import Task, TaskQueue

MIRROR = Path(__file__).resolve().parent
FILES = ["build.py", "dispatch_loop.py", "review.py", "README.md", "missing.tar.gz"]  # the last is not there


# The task functions are module-level and take paths, so that processes:// queues can pickle them.
def fetch(source: Path, work: Path) -> str:
    """Copy a file from the mirror into the work directory."""
    work.mkdir(parents=True, exist_ok=True)
    copy = shutil.copyfile(source, work / source.name)  # FileNotFoundError for a missing file
    return f"{Path(copy).stat().st_size} bytes"


def checksum(path: Path) -> str:
    """Write the file's SHA-256 next to it, and return it."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n", encoding="utf-8")
    return digest


def manifest(work: Path, names: list[str]) -> str:
    """Gather every checksum into one MANIFEST file."""
    lines = [(work / f"{name}.sha256").read_text(encoding="utf-8") for name in names]
    (work / "MANIFEST").write_text("".join(lines), encoding="utf-8")
    return f"{len(lines)} checksums"


def alert(work: Path, message: str) -> str:
    """Record a problem where an operator will see it."""
    with open(work / "ALERTS", "a", encoding="utf-8") as alerts:
        alerts.write(message + "\n")
    return "alert recorded"


def report(task: Task) -> None:
    """One line per final task: state, name, how long it ran, and its result or its error."""
    ran = task.duration
    took = f"{ran * 1000:7.1f} ms" if ran is not None else f"{'not run':>10}"
    error = task.exception
    outcome = f"-> {task.result}" if task.state == "DONE" else f"!! {type(error).__name__}: {error}"
    print(f"{task.state:<9} {task.name:<26} {took}  {outcome}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch and checksum files in a TaskQueue dispatch loop.")
    parser.add_argument("--queue", default="threads://4", help="where tasks run, as a queue URL (default: threads://4)")
    parser.add_argument("--work", type=Path, help="the work directory (default: a temporary one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        work = (args.work or Path(scratch)).resolve()

        fetches, checksums = [], []
        for name in FILES:
            fetches.append(Task(f"fetch {name}", fetch, args=(MIRROR / name, work)))
            checksums.append(fetches[-1].then(f"checksum {name}", checksum, args=(work / name,)))
        Task("manifest", manifest, args=(work, FILES)).require(*checksums)

        queue = TaskQueue(*fetches, run_dependent_tasks=True, queue=args.queue)
        for task in queue.run():  # each task once, as it becomes final, in the order they end
            report(task)
            if task in fetches and task.state == "FAILED":
                queue.add(Task(f"alert {task.name}", alert, args=(work, f"{task.name} failed: {task.exception}")))

        states = [t.state.value for t in queue.tasks]
        unrun = sum(t.state == "FAILED" and t.duration is None for t in queue.tasks)
        print(f"summary: {len(queue.tasks)} tasks, {len(fetches)} put in and {len(queue.tasks) - len(fetches)} "
              f"taken in while running: DONE {states.count('DONE')}, FAILED {states.count('FAILED')} "
              f"({unrun} without running) on {args.queue}")
        print(f"work directory: {work}" + (" (removed)" if args.work is None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
