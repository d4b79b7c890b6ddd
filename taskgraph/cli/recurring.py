"""``taskgraph recurring URL list|trigger ID|pause ID|resume ID|remove ID``: the recurring jobs of a store."""

from __future__ import annotations

import sys
import time

import click

from ..safetext import shown
from .app import main, setup_logging, user_errors, verbosity
from .jobs import _opened


def _when(t: float | None, now: float) -> str:
    if t is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) + (" (due)" if t <= now else "")


def _url() -> str:
    """The store URL given to the group: ``taskgraph recurring URL COMMAND``."""
    return str(click.get_current_context().meta["taskgraph.url"])


@main.group()
@click.argument("url")
@click.pass_context
def recurring(ctx: click.Context, url: str) -> None:
    """Look after the recurring jobs of a durable store (defined in code with queue.recurring(...))."""
    ctx.meta["taskgraph.url"] = url


@recurring.command("list")
@verbosity
def list_recurring() -> None:
    """List the recurring jobs of the store URL: schedule, next run, last run and its status, paused or not."""
    setup_logging()
    with _opened(_url()) as queue, user_errors():
        jobs = queue.recurring_jobs()
    if not jobs:
        click.echo("no recurring jobs")
        return
    now = time.time()
    for info in jobs:
        state = "paused" if info.paused else f"next {_when(info.next_run, now)}"
        if info.error:
            state = f"paused: {info.error}; define it again"
        last = (f"last {_when(info.last_run, now)} {info.last_status or '-'}" if info.last_job is not None
                else "never run")
        click.echo(shown(f"{info.id}  {info.job}  {info.schedule}  {state}  {last}"))


def _act(action: str, rid: str) -> None:
    setup_logging()
    with _opened(_url()) as queue, user_errors():
        try:
            if action == "trigger":
                handle = queue.trigger_recurring(rid)
                click.echo(shown(f"{rid}: triggered: job {handle.id}"))
            elif action == "pause":
                queue.pause_recurring(rid)
                click.echo(shown(f"{rid}: paused"))
            elif action == "resume":
                info = queue.resume_recurring(rid)
                click.echo(shown(f"{rid}: resumed; next run {_when(info.next_run, time.time())}"))
            elif queue.remove_recurring(rid):
                click.echo(shown(f"{rid}: removed (a worker whose code still defines it adds it back)"))
            else:
                raise LookupError(f"no recurring job {rid!r} in {queue.url}")
        except (LookupError, ValueError) as exc:
            click.echo(shown(str(exc).strip("'\"")), err=True)
            sys.exit(1)


@recurring.command()
@click.argument("rid", metavar="ID")
@verbosity
def trigger(rid: str) -> None:
    """Run the recurring job ID now, once; its schedule is kept."""
    _act("trigger", rid)


@recurring.command()
@click.argument("rid", metavar="ID")
@verbosity
def pause(rid: str) -> None:
    """Hold the runs of the recurring job ID until it is resumed."""
    _act("pause", rid)


@recurring.command()
@click.argument("rid", metavar="ID")
@verbosity
def resume(rid: str) -> None:
    """Let the paused recurring job ID run again, from its next due time."""
    _act("resume", rid)


@recurring.command()
@click.argument("rid", metavar="ID")
@verbosity
def remove(rid: str) -> None:
    """Delete the recurring job ID (its runs already enqueued stay)."""
    _act("remove", rid)
