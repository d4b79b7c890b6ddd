"""``taskgraph cache URL list|clear [JOB]``: the result cache of a store."""

from __future__ import annotations

import time

import click

from ..safetext import shown
from .app import main, setup_logging, user_errors, verbosity
from .jobs import _opened


def _url() -> str:
    """The store URL given to the group: ``taskgraph cache URL COMMAND``."""
    return str(click.get_current_context().meta["taskgraph.url"])


@main.group()
@click.argument("url")
@click.pass_context
def cache(ctx: click.Context, url: str) -> None:
    """Look after the result cache of a durable store (jobs declared with @queue.task(cache=...))."""
    ctx.meta["taskgraph.url"] = url


@cache.command("list")
@click.argument("job", required=False, metavar="[JOB]")
@verbosity
def list_cache(job: str | None) -> None:
    """List the cached results of the store URL (of JOB, module:qualname, only), most recently used first, and
    each job's hits and misses."""
    setup_logging()
    with _opened(_url()) as queue, user_errors():
        entries = queue.cache_entries(job)
        stats = queue.cache_stats()
    now = time.time()
    for name, counts in stats.items():
        if job is None or name == job:
            click.echo(shown(f"{name}: {counts.hits} hits, {counts.misses} misses"))
    if not entries:
        click.echo("no cached results")
    for entry in entries:
        expires = ("never" if entry.expires is None else
                   "expired" if entry.expires <= now else f"in {entry.expires - now:.0f} s")
        click.echo(shown(f"{entry.job}  {entry.key[:12]}  {entry.state}  from {entry.origin}  "
                         f"expires {expires}"))


@cache.command()
@click.argument("job", required=False, metavar="[JOB]")
@verbosity
def clear(job: str | None) -> None:
    """Delete the cached results of JOB (module:qualname), or of every job; the next calls run again."""
    setup_logging()
    with _opened(_url()) as queue, user_errors():
        gone = queue.clear_cache(job)
    click.echo(f"{gone} cached result{'s' if gone != 1 else ''} deleted")
