"""``taskgraph worker`` and the commands that look after a durable store: ``status``, ``retry``, ``cancel``,
``delete``, ``purge``."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from ..durable.heartbeat import MIN_LEASE
from .app import (
    SafeFormatter,
    UserError,
    exit_now,
    levels,
    log,
    log_level,
    main,
    setup_logging,
    user_errors,
    verbosity,
)

if TYPE_CHECKING:
    from ..durable.queue import DurableQueue

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)([smhdw])")


def _terminal() -> bool:
    """Whether standard output is a terminal that can draw a live display."""
    return sys.stdout.isatty() and os.environ.get("TERM", "") != "dumb"


@main.command()
@click.argument("app", metavar="MODULE:QUEUE")
@click.option("--threads", "-t", type=click.IntRange(min=1), help="Threads for thread jobs [2 x CPUs].")
@click.option("--processes", "-p", type=click.IntRange(min=1), help="Processes for process jobs [CPUs].")
@click.option("--concurrency", type=click.IntRange(min=1), default=100, show_default=True,
              help="Coroutines at once for async jobs.")
@click.option("--queues", "-Q", default="default", show_default=True, help="Named queues to serve, comma-separated.")
@click.option("--lease", type=click.FloatRange(min=MIN_LEASE), default=30.0, show_default=True,
              help="Seconds a claim lasts without a heartbeat; after a crash, jobs run again once it runs out.")
@click.option("--grace", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds to let running jobs finish after SIGTERM or SIGINT.")
@click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True, help="Most jobs claimed at once.")
@click.option("--burst", is_flag=True, help="Exit once the served queues hold no unfinished job.")
@click.option("--no-dashboard", is_flag=True,
              help="Log lines even on a terminal, instead of the live dashboard.")
@verbosity
def worker(app: str, threads: int | None, processes: int | None, concurrency: int, queues: str, lease: float,
           grace: float, batch: int, burst: bool, no_dashboard: bool) -> None:
    """Run the jobs of the durable queue MODULE:QUEUE (for instance myapp.jobs:queue).

    On a terminal it draws a live dashboard: busy slots, running jobs with their progress, throughput, recent
    failures and the depth of each named queue; log lines (warnings, or more with -v) appear above it.
    Elsewhere, or with --no-dashboard, it logs what it does, one line per event. Ctrl-C (or SIGTERM) lets the
    running jobs finish, up to --grace seconds; a second one exits at once.
    """
    from ..durable.runners import load_queue
    from ..durable.worker import Worker

    verbose, quiet = levels()
    dashboard = not no_dashboard and _terminal()
    if not dashboard:
        setup_logging(more=1)  # a worker logs what it does at INFO
    with user_errors():
        queue = load_queue(app)
    if queue.url.startswith("memory:"):
        raise UserError(f"{app} is a queue on {queue.url}, a store in the memory of one process: a worker started "
                        "here would serve an empty store of its own. Run Worker(queue) in a thread of the process "
                        "that enqueues (docs/queues.md, 'The in-memory store'), or use a store other processes "
                        "reach, like sqlite:///jobs.db")
    names = [q.strip() for q in queues.split(",") if q.strip()]
    if not names:
        raise UserError("--queues names no queue")
    runner = Worker(queue, app=app, threads=threads, processes=processes, concurrency=concurrency, queues=names,
                    lease=lease, grace=grace, batch=batch)
    if not dashboard:
        code = runner.run(burst=burst)
    else:
        from rich.console import Console

        from ..views.worker_view import ConsoleLogHandler, Dashboard

        console = Console(highlight=False)
        handler = ConsoleLogHandler(console)  # instead of any there are: log lines go above the dashboard
        handler.setFormatter(SafeFormatter())
        logging.basicConfig(level=log_level(verbose, quiet), handlers=[handler], force=True)
        board = Dashboard(runner, console)
        board.start()
        try:
            code = runner.run(burst=burst)
        finally:
            board.stop()
        done, failed, retried = runner.tally.finished.values()
        console.print(f"worker {runner.id} stopped: {done} done, {failed} failed, {retried} retried")
    if runner.runners.threads.busy:  # a job thread that cannot be stopped
        exit_now(code)
    sys.exit(code)


@contextlib.contextmanager
def _opened(url: str) -> Iterator[DurableQueue]:
    """The durable queue a store URL names, closed after the ``with`` block; a bad URL, a store that cannot be
    reached or refuses the credentials is a user error naming the URL (password hidden)."""
    from .. import open_queue
    from ..durable.queue import DurableQueue
    from ..scheduler import close_queue
    from ..urls import file_path, redact, split

    shown = redact(url)
    with user_errors():
        parts = split(url.strip())
        if parts.scheme.lower() == "memory":
            raise UserError(f"{shown}: an in-memory store lives in the memory of one process, and this command runs "
                            "in another, where it is empty: read it from that process (queue.list(), "
                            "queue.stats()), or use a store other processes reach, like sqlite:///jobs.db")
        if parts.scheme.lower() == "sqlite" and not parts.netloc:
            path = file_path(parts)  # a store that is not there is a typo here, not a store to create
            if not os.path.exists(path):
                raise UserError(f"{shown}: no store there: the file {path!r} does not exist")
        queue = open_queue(url)
    if not isinstance(queue, DurableQueue):
        close_queue(queue, False)
        raise UserError(f"{shown}: not the URL of a durable store; give sqlite:///PATH, postgresql://... or "
                        "redis://...")
    try:
        yield queue
    finally:
        queue.close()


@main.command()
@click.argument("url")
@click.option("--watch", "-w", is_flag=True, help="Keep showing it, refreshed every --interval seconds; Ctrl-C ends.")
@click.option("--interval", "-n", type=click.FloatRange(min=0.05), default=2.0, show_default=True,
              help="Seconds between refreshes with --watch.")
@verbosity
def status(url: str, watch: bool, interval: float) -> None:
    """Show what the store URL holds: jobs by status and named queue, the running jobs with their worker and
    progress, and the latest failures.

    On a terminal, --watch redraws it in place; elsewhere it prints it again every --interval seconds.
    """
    from ..views.status_view import read_status

    setup_logging()
    with _opened(url) as queue:
        with user_errors():
            first = read_status(queue.store, queue.url)
        if not watch:
            _show(first)
            return
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends --watch: that is how it is used
            _watch(queue, first, interval)


def _read(queue: DurableQueue) -> Any:
    """What the store holds now; when it cannot be read, a status that says why (a watch goes on)."""
    from ..errors import first_line
    from ..views.status_view import StoreStatus, read_status

    try:
        return read_status(queue.store, queue.url)
    except Exception as exc:
        log.debug("reading %s failed", queue.url, exc_info=True)
        queue.reconnect()
        return StoreStatus(url=queue.url, at=time.time(), error=first_line(exc))


def _show(state: Any) -> None:
    from rich.console import Console

    from ..views.status_view import render_status, to_text

    if _terminal():
        Console(highlight=False).print(render_status(state))
    else:
        click.echo(to_text([render_status(state, plain=True)]), nl=False)
        sys.stdout.flush()


def _watch(queue: DurableQueue, state: Any, interval: float) -> None:
    """Show the status again every ``interval`` seconds: redrawn in place on a terminal, printed again elsewhere."""
    from rich.console import Console, Group
    from rich.live import Live
    from rich.text import Text

    from ..views.status_view import render_status

    if not _terminal():
        while True:
            _show(state)
            time.sleep(interval)
            click.echo("")
            state = _read(queue)
    console = Console(highlight=False)
    footer = Text(f"refreshed every {interval:g} s; Ctrl-C to stop", style="dim")
    with Live(console=console, auto_refresh=False, transient=False, vertical_overflow="crop") as live:
        while True:
            live.update(Group(render_status(state), Text(""), footer), refresh=True)
            time.sleep(interval)
            state = _read(queue)


_MATCHES_SHOWN = 10  # ids listed when a prefix is ambiguous


def resolve_ids(queue: DurableQueue, given: tuple[str, ...]) -> list[str]:
    """The job ids ``given`` names: each a whole id (a UUID in any spelling) or the start of exactly one stored id;
    one that names no job is kept as given (reported as not in the store), in order, once each.

    Raises:
        UserError: a prefix starts several ids; the message lists them.
    """
    from ..durable.options import canonical_id
    from ..safetext import shown

    wanted = [canonical_id(i.strip()) for i in given]
    found = {r.id for r in queue.store.get(wanted)}
    ids = []
    for job_id in wanted:
        if job_id not in found and job_id:
            matches = queue.store.match_ids(job_id, _MATCHES_SHOWN + 1)
            if len(matches) > 1:
                listed = ", ".join(shown(m) for m in matches[:_MATCHES_SHOWN])
                more = " and more" if len(matches) > _MATCHES_SHOWN else ""
                raise UserError(f"job id {shown(job_id)!r} is ambiguous: it starts the ids {listed}{more}; give "
                                "more of the id")
            job_id = matches[0] if matches else job_id
        ids.append(job_id)
    return list(dict.fromkeys(ids))


@main.command()
@click.argument("url")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@click.option("--force", is_flag=True, help="Run DONE jobs again too.")
@verbosity
def retry(url: str, ids: tuple[str, ...], force: bool) -> None:
    """Queue FAILED or CANCELLED jobs of the store URL again, as new (attempts back to 0, error cleared); with
    --force, DONE jobs too (each runs again).

    An ID may be the start of a job's id, if it starts only one. A job whose prerequisites are not all DONE waits
    for them (PENDING); retry a failed prerequisite too. Prints one line per ID; exits 1 if some could not be
    retried (not FAILED or CANCELLED, or not in the store).
    """
    setup_logging()
    with _opened(url) as queue, user_errors():
        wanted = resolve_ids(queue, ids)
        retried = set(queue.retry(wanted, force=force))
        found = {r.id: r for r in queue.store.get(wanted)}
    for job_id in wanted:
        record = found.get(job_id)
        if job_id in retried:
            now = "purged meanwhile" if record is None else record.status
            if record is not None and record.status == "PENDING":
                now = f"PENDING until its {record.waiting} unfinished prerequisite(s) are DONE"
            click.echo(f"{job_id}: retried, now {now}")
        elif record is None:
            click.echo(f"{job_id}: not retried: no such job in the store")
        else:
            also = "; --force runs DONE jobs again" if record.status == "DONE" else ""
            click.echo(f"{job_id}: not retried: it is {record.shown_status()} (only FAILED or CANCELLED jobs are "
                       f"retried{also})")
    if set(wanted) - retried:
        sys.exit(1)


@main.command()
@click.argument("url")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@verbosity
def cancel(url: str, ids: tuple[str, ...]) -> None:
    """Cancel jobs of the store URL that are not finished, with their PENDING dependents.

    A waiting job will not run; a running one is stopped by its worker at its next heartbeat (a process is killed,
    a coroutine cancelled; a thread runs on and its result is dropped). Prints one line per ID; exits 1 if some
    could not be cancelled (already finished, or not in the store). An ID may be the start of a job's id, if it
    starts only one.
    """
    setup_logging()
    with _opened(url) as queue, user_errors():
        wanted = resolve_ids(queue, ids)
        before = {r.id: r.shown_status() for r in queue.store.get(wanted)}
        cancelled = set(queue.cancel(wanted))
        after = {r.id: r.status for r in queue.store.get([i for i in wanted if i not in cancelled])}
    for job_id in wanted:
        if job_id in cancelled:
            was = before.get(job_id)
            note = "; its worker stops it at its next heartbeat" if was == "RUNNING" else ""
            click.echo(f"{job_id}: cancelled (it was {was or 'unfinished'}{note})")
        elif job_id not in after:
            click.echo(f"{job_id}: not cancelled: no such job in the store")
        else:
            click.echo(f"{job_id}: not cancelled: it is {after[job_id]} already")
    if set(wanted) - cancelled:
        sys.exit(1)


@main.command()
@click.argument("url")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@verbosity
def delete(url: str, ids: tuple[str, ...]) -> None:
    """Delete finished jobs (DONE, FAILED, CANCELLED) of the store URL, with their history. An ID may be the start
    of a job's id, if it starts only one. Prints one line per ID; exits 1 if some could not be deleted (not
    finished, or not in the store)."""
    setup_logging()
    with _opened(url) as queue, user_errors():
        wanted = resolve_ids(queue, ids)
        deleted = set(queue.delete(wanted))
        left = {r.id: r for r in queue.store.get([i for i in wanted if i not in deleted])}
    for job_id in wanted:
        if job_id in deleted:
            click.echo(f"{job_id}: deleted")
        elif job_id in left:
            click.echo(f"{job_id}: not deleted: it is {left[job_id].shown_status()}, not finished (cancel it first)")
        else:
            click.echo(f"{job_id}: not deleted: no such job in the store")
    if set(wanted) - deleted:
        sys.exit(1)


def parse_duration(text: str) -> float:
    """Seconds from ``30s``, ``15m``, ``12h``, ``7d``, ``2w``, ``1h30m`` or a plain number of seconds.

    Raises:
        ValueError: it is none of those.
    """
    compact = text.strip().lower().replace(" ", "")
    try:
        seconds = float(compact)
    except ValueError:
        parts = _DURATION_PART.findall(compact)
        if not compact or "".join(n + u for n, u in parts) != compact:
            raise ValueError(f"{text!r} is not a duration; write it like 30s, 15m, 12h, 7d, 2w or 1h30m, or a "
                             "number of seconds") from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"{text!r} is not a duration: it must be 0 or more, and finite")
    return seconds


@main.command()
@click.argument("url")
@click.option("--older-than", "older_than", required=True, metavar="DURATION",
              help="Delete jobs that ended more than this long ago: 30s, 15m, 12h, 7d, 2w, or seconds.")
@verbosity
def purge(url: str, older_than: str) -> None:
    """Delete the finished jobs (DONE, FAILED, CANCELLED) of the store URL that ended more than --older-than ago,
    with their history. Waiting and running jobs are never deleted."""
    setup_logging()
    with user_errors("--older-than"):
        seconds = parse_duration(older_than)
    with _opened(url) as queue, user_errors():
        deleted = queue.purge(seconds)
    shown = older_than.strip()
    if re.fullmatch(r"[\d.]+", shown):
        shown += "s"  # a plain number is seconds
    click.echo(f"deleted {deleted} finished job{'s' if deleted != 1 else ''} that ended more than {shown} ago "
               f"from {queue.url}")
