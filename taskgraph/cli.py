"""The ``taskgraph`` command. It parses arguments and calls the library; nothing else lives here."""

from __future__ import annotations

import logging
import os
import sys

try:
    import click
except ImportError:  # pragma: no cover - the console script says what to install
    sys.exit("the taskgraph command needs click: pip install 'taskgraph-fsm[cli]'")

from .stores import StoreError

__all__ = ["main"]


def _logging(verbose: int, quiet: int) -> None:
    level = logging.INFO - 10 * verbose + 10 * quiet
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="taskgraph-fsm", prog_name="taskgraph")
def main() -> None:
    """Run dependency graphs of tasks, and the workers of durable queues."""


@main.command()
@click.argument("app", metavar="MODULE:QUEUE")
@click.option("--threads", "-t", type=click.IntRange(min=1), help="Threads for thread jobs [2 x CPUs].")
@click.option("--processes", "-p", type=click.IntRange(min=1), help="Processes for process jobs [CPUs].")
@click.option("--concurrency", type=click.IntRange(min=1), default=100, show_default=True,
              help="Coroutines at once for async jobs.")
@click.option("--queues", "-Q", default="default", show_default=True, help="Named queues to serve, comma-separated.")
@click.option("--lease", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds a claim lasts without a heartbeat; after a crash, jobs run again once it runs out.")
@click.option("--grace", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds to let running jobs finish after SIGTERM or SIGINT.")
@click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True, help="Most jobs claimed at once.")
@click.option("--burst", is_flag=True, help="Exit once the served queues hold no unfinished job.")
@click.option("-v", "--verbose", count=True, help="More log lines (-vv for each job).")
@click.option("-q", "--quiet", count=True, help="Fewer log lines.")
def worker(app: str, threads: int | None, processes: int | None, concurrency: int, queues: str, lease: float,
           grace: float, batch: int, burst: bool, verbose: int, quiet: int) -> None:
    """Run the jobs of the durable queue MODULE:QUEUE (for instance myapp.jobs:queue)."""
    from .durable.runners import load_queue
    from .durable.worker import Worker

    _logging(verbose, quiet)
    try:
        queue = load_queue(app)
    except (ValueError, StoreError) as exc:
        raise click.UsageError(str(exc)) from None
    names = [q.strip() for q in queues.split(",") if q.strip()]
    if not names:
        raise click.UsageError("--queues names no queue")
    runner = Worker(queue, app=app, threads=threads, processes=processes, concurrency=concurrency, queues=names,
                    lease=lease, grace=grace, batch=batch)
    code = runner.run(burst=burst)
    if runner.threads.busy:  # a job thread that cannot be stopped must not keep the worker alive after it is done
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
