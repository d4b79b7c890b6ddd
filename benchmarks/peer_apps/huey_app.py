"""Huey's side: ``BENCH_HUEY_STORE`` is ``sqlite`` or ``redis``; ``BENCH_HUEY_NAME`` names the queue (its own
keys in Redis), ``BENCH_HUEY_FILE`` the SQLite file, ``BENCH_HUEY_REDIS`` the Redis URL.

Results are stored even though the job returns None (``store_none=True``), so a client can wait for one and the
benchmark can count finished jobs in the result store. With Redis, a waiting client is woken through a list
(``notify_result=True``, Huey's own low-latency result wait); with SQLite it polls, as Huey does.

Consumers run as ``huey_consumer benchmarks.peer_apps.huey_app.huey -w 2 -k process``.
"""

from __future__ import annotations

import os

from huey import RedisHuey, SqliteHuey

from . import tally

_name = os.environ.get("BENCH_HUEY_NAME", "bench")
if os.environ.get("BENCH_HUEY_STORE", "sqlite") == "redis":
    huey = RedisHuey(_name, url=os.environ["BENCH_HUEY_REDIS"], store_none=True, notify_result=True)
else:
    huey = SqliteHuey(_name, filename=os.environ.get("BENCH_HUEY_FILE", "huey-bench.db"), store_none=True)


@huey.task()
def noop() -> None:
    tally()
