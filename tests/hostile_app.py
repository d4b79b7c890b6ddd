"""The app of the hostile-input tests: a queue with jobs of :mod:`tests.jobs` registered, and the two jobs only
these tests have.

A worker is started as ``taskgraph worker tests.hostile_app:queue`` with ``TASKGRAPH_APP_URL`` naming the store; a
test opens its own queue on the same store with :func:`make_queue`, which registers the same functions, so both
sides know the same jobs by the same names.

The strings that are hard on stores (quotes, SQL comment and statement separators, placeholders of each driver,
NUL bytes, non-ASCII, very long text) live here too, so that tests and jobs agree on them.
"""

from __future__ import annotations

import os

from taskgraph import DurableQueue, Task, open_queue
from tests import jobs

#: Strings that an SQL statement built by formatting, a placeholder substituted twice, a text column that truncates
#: or an encoding that is not UTF-8 throughout would damage. None holds a NUL byte: those are in :data:`NUL_STRINGS`.
HOSTILE_STRINGS: dict[str, str] = {
    "single quote": "it's",
    "double quote": 'say "hi"',
    "statement": "x'); DROP TABLE jobs; --",
    "comment": "a -- b /* c */",
    "percent placeholders": "%s %(name)s %% %d",
    "dollar placeholders": "$1 $$ $2::text",
    "qmark placeholders": "? :name ?1",
    "braces": "{} {0} {s} {now}",
    "lua and redis": "]] .. redis.call('FLUSHALL') .. [[ \\ \r\n\t",
    "non-ascii": "Grüße, 日本語, ελληνικά, עברית",
    "emoji": "🙂 👩‍👩‍👧 🏳️‍🌈",
    "surrogate-free astral": "\U0001f600\U00010348",
    "control characters": "\x01\x02\x1b[31m\x7f",
    "long": "0123456789abcdef" * 12_500,  # 200,000 characters
}

#: Strings with NUL bytes, which some text columns cannot hold.
NUL_STRINGS: dict[str, str] = {
    "nul inside": "a\x00b",
    "nul at the end": "end\x00",
    "only nul": "\x00",
}

#: A named queue whose name is as hostile as a worker's command line allows (no comma, no NUL, no outer spaces).
HOSTILE_QUEUE = "q'\";--%s$1{}é🙂"

#: Tasks a job may reach while it runs in the same process as the driver (an in-process worker): see close_cycle.
GRAPH: dict[str, Task] = {}


def close_cycle() -> str:
    """Make task ``b`` of :data:`GRAPH` require task ``c``, which requires ``b``: a cycle made while a make runs."""
    GRAPH["b"].require(GRAPH["c"])
    return "closed"


def on_hostile_queue(value: str) -> str:
    """Return ``value``; registered on :data:`HOSTILE_QUEUE`."""
    return value


def make_queue(url: str) -> DurableQueue:
    """A queue on ``url`` with the jobs of the hostile-input tests registered."""
    queue = open_queue(url)
    assert isinstance(queue, DurableQueue)
    for func in (jobs.add, jobs.count, jobs.echo, jobs.fail, jobs.say, close_cycle):
        queue.task(func)
    queue.task(on_hostile_queue, queue=HOSTILE_QUEUE)
    return queue


queue = make_queue(os.environ["TASKGRAPH_APP_URL"]) if os.environ.get("TASKGRAPH_APP_URL") else None
