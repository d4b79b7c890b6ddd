"""``taskgraph dashboard``: serve the web dashboard and the JSON API of a durable store (the web extra)."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

import click

from .app import UserError, main, setup_logging, user_errors, verbosity

if TYPE_CHECKING:
    from ..durable.queue import DurableQueue

__all__ = ["dashboard", "is_loopback"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine."""
    if host.strip("[]").lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@main.command()
@click.argument("url")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option("--token", envvar="TASKGRAPH_DASHBOARD_TOKEN", show_envvar=True,
              help="A secret: the API wants 'Authorization: Bearer TOKEN', the pages a sign-in with it.")
@click.option("--read-only", is_flag=True, help="Refuse every action (enqueue, retry, cancel, delete, purge).")
@click.option("--root-path", default="", help="The path prefix a proxy serves the dashboard under (/jobs).")
@click.option("--app", "app", metavar="MODULE:QUEUE",
              help="Take the jobs registered on this queue (as the workers do), so that POST /api/tasks can enqueue "
                   "them.")
@click.option("--insecure-no-auth", is_flag=True,
              help="Serve on an address other machines reach without a token: anyone who reaches it can act.")
@verbosity
def dashboard(url: str, host: str, port: int, token: str | None, read_only: bool, root_path: str, app: str | None,
              insecure_no_auth: bool) -> None:
    """Serve the dashboard and the JSON API (under /api, its schema at /api/openapi.json) of the store at URL."""
    if token is not None and not token.strip():
        raise UserError("--token is empty: give a secret, or leave it out on 127.0.0.1")
    if not is_loopback(host) and token is None and not insecure_no_auth:
        raise UserError(
            f"--host {host} is reachable from other machines, and without a token anyone there could retry, cancel "
            "and delete jobs: add --token SECRET (or set TASKGRAPH_DASHBOARD_TOKEN), or serve on 127.0.0.1 "
            "behind a proxy that checks who comes in; --insecure-no-auth serves it open anyway")
    if root_path and (not root_path.startswith("/") or root_path.endswith("/")):
        raise UserError(f"--root-path must start with / and not end with one, like /jobs, not {root_path!r}")
    try:
        import uvicorn

        from ..web import create_app
    except ImportError as exc:
        raise UserError(f"the dashboard needs the web extra ({exc.name} is missing): "
                        "pip install 'taskgraph-fsm[web]'") from None
    from .jobs import _opened

    verbose, _ = setup_logging()
    with _opened(url) as queue:
        with user_errors():
            if app is not None:
                _take_jobs(queue, app)
            web_app = create_app(queue, token=token, read_only=read_only)
        click.echo(f"taskgraph dashboard of {queue.url} on http://{host}:{port}{root_path}/"
                   f"{' (read-only)' if read_only else ''}", err=True)
        uvicorn.run(web_app, host=host, port=port, root_path=root_path, log_level="info" if verbose else "warning",
                    server_header=False)


def _take_jobs(queue: DurableQueue, spec: str) -> None:
    """Register on ``queue`` the jobs of the queue ``spec`` names, with their options.

    Raises:
        ValueError: ``spec`` does not name a durable queue.
    """
    from dataclasses import asdict

    from ..durable.jobs import NOOP_NAME
    from ..durable.runners import load_queue

    source = load_queue(spec)
    for name, job in source._jobs.items():  # the queue's registry; no public listing of it yet
        if name != NOOP_NAME:
            queue.task(job.func, **asdict(job.options))
