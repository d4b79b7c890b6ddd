"""Job definitions for ``benchmarks/queue_throughput.py``: one importable module per system, so that real worker
processes (``taskgraph worker``, ``huey_consumer``, ``rq worker``, ``procrastinate worker``) find the same no-op
job the benchmark enqueues.

Each module reads its store from environment variables that the benchmark sets for the client and the workers
alike (``BENCH_*``). Every job calls :func:`tally`, which appends one byte to the file ``BENCH_COUNT_FILE`` names:
an execution count kept outside every store, so a job run twice or never is seen whatever the store reports.
"""

from __future__ import annotations

import os

COUNT_FILE = "BENCH_COUNT_FILE"

_fd: tuple[int, int] | None = None  # (pid, file descriptor): a forked child opens its own


def tally() -> None:
    """Count one execution: one byte appended (``O_APPEND``, one ``write``, so concurrent writers never lose one)."""
    global _fd
    path = os.environ.get(COUNT_FILE)
    if not path:
        return
    pid = os.getpid()
    if _fd is None or _fd[0] != pid:
        _fd = (pid, os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    os.write(_fd[1], b".")
