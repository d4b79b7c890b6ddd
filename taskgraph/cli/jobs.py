"""``taskgraph worker`` and the commands that look after a durable store: ``status``, ``retry``, ``cancel``,
``purge``."""

from __future__ import annotations

import os
import sys

import click

from .app import UserError, levels, main, setup_logging, user_errors, verbosity


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
@verbosity
def worker(app: str, threads: int | None, processes: int | None, concurrency: int, queues: str, lease: float,
           grace: float, batch: int, burst: bool) -> None:
    """Run the jobs of the durable queue MODULE:QUEUE (for instance myapp.jobs:queue)."""
    import logging

    from ..durable.runners import load_queue
    from ..durable.worker import Worker

    verbose, quiet = levels()
    setup_logging(verbose + 1, quiet)  # a worker logs what it does at INFO
    with user_errors():
        queue = load_queue(app)
    names = [q.strip() for q in queues.split(",") if q.strip()]
    if not names:
        raise UserError("--queues names no queue")
    runner = Worker(queue, app=app, threads=threads, processes=processes, concurrency=concurrency, queues=names,
                    lease=lease, grace=grace, batch=batch)
    code = runner.run(burst=burst)
    if runner.threads.busy:  # a job thread that cannot be stopped must not keep the worker alive after it is done
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
