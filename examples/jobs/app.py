"""The application module: one queue and its jobs. Workers import it; so does every script that enqueues.

Start a worker (from this folder) with:

    taskgraph worker app:queue

The store is a SQLite file next to this module unless JOBS_URL names another one, for instance
``postgresql://localhost/jobs`` or ``redis://localhost:6379/0``.
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.parse
from pathlib import Path

from taskgraph import open_queue, progress

HERE = Path(__file__).resolve().parent
queue = open_queue(os.environ.get("JOBS_URL", f"sqlite:///{HERE / 'jobs.db'}"))


@queue.task(retries=3, backoff=0.5)
def fetch(url: str) -> dict:
    """Read a document; network hiccups are retried three times, backing off from half a second."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme != "file":
        raise ValueError(f"this example reads only file:// URLs, not {url!r}")
    data = Path(parsed.path).read_bytes()
    return {"url": url, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@queue.task(mode="process", timeout=60)
def digest(path: str, rounds: int = 200) -> str:
    """CPU-bound work in a worker process, killed if it runs longer than a minute."""
    value = Path(path).read_bytes()
    for i in range(rounds):
        value = hashlib.sha256(value).digest()
        if i % 50 == 49:
            progress((i + 1) / rounds, f"{i + 1} of {rounds} rounds")
    return value.hex()


@queue.task(priority=10, queue="mail", daemon=True)
def notify(address: str, text: str) -> str:
    """A low-stakes job on its own named queue: a shutting-down worker may stop it at once."""
    time.sleep(0.01)
    return f"to {address}: {text}"


@queue.task
def report(sizes: list) -> str:
    """Fan-in: summarise the fetched documents."""
    return f"{len(sizes)} documents, {sum(sizes)} bytes"
