"""Procrastinate's side: an app on the psycopg 3 connector, connected to ``BENCH_PROCRASTINATE_DSN`` (a database
or a schema of its own, made by the benchmark), and a no-op task (a coroutine: Procrastinate's native kind).

Workers run as ``procrastinate --app=benchmarks.peer_apps.procrastinate_app.app worker``.
"""

from __future__ import annotations

import os

from procrastinate import App, PsycopgConnector

from . import tally

app = App(connector=PsycopgConnector(conninfo=os.environ.get("BENCH_PROCRASTINATE_DSN", "")))


@app.task(name="noop")
async def noop() -> None:
    tally()
