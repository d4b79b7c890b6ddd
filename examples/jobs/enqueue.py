"""Enqueue jobs, and a small graph, on the queue of app.py; then wait for the results.

Run a worker in another terminal first (`taskgraph worker app:queue --queues default,mail`), or pass --worker to
start one here for the length of the run:

    python enqueue.py --worker
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from app import HERE, digest, fetch, notify, queue, report

from taskgraph import Task, make_now


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help="start a worker for the length of this run")
    args = parser.parse_args()
    worker = None
    if args.worker:
        worker = subprocess.Popen(
            [sys.executable, "-m", "taskgraph", "worker", "app:queue", "--queues", "default,mail", "-q"], cwd=HERE
        )
    try:
        files = sorted(p for p in HERE.glob("*.py"))
        # 1. background jobs: delay() returns a handle at once; join() waits for the result
        handles = [fetch.delay(path.as_uri()) for path in files]
        for path, handle in zip(files, handles, strict=True):
            print(f"fetched {path.name}: {handle.join(timeout=60)['size']} bytes")
        crunch = digest.delay(str(files[0]))
        print(f"digest of {files[0].name}: {crunch.join(timeout=60)[:16]}..., progress {crunch.progress}")
        print(notify.delay("ops@example.com", "digest ready").join(timeout=60))

        # 2. a graph through the store: the tasks' state machines follow what the workers report
        fetches = [Task(f"fetch {p.name}", fetch, args=(p.as_uri(),)) for p in files]
        summary = Task("report", report, args=([p.stat().st_size for p in files],)).require(*fetches)
        make_now(summary, queue=queue)
        done = [t.state.value for t in fetches].count("DONE")
        print(f"graph: {summary.name} {summary.state}: {summary.result} ({done} fetches DONE)")
        print("queue:", queue.stats())
        return 0 if summary.state == "DONE" else 1
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        queue.close()


if __name__ == "__main__":
    sys.exit(main())
