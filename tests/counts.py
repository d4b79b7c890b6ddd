"""Counting executions outside any store: a job appends one line per run to a file, with one ``O_APPEND`` write,
so a test can count what really ran whatever a store or a cluster reports. Imported by worker processes and Dask
workers, so it imports nothing of the test suite."""

from __future__ import annotations

import os
from pathlib import Path


def record(path: str, line: str) -> None:
    """Append one line to a file, atomically (O_APPEND, one write): an execution count no store can fake."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def lines(path: str | Path) -> list[str]:
    """The lines of a record file (none if it does not exist yet)."""
    try:
        return Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
