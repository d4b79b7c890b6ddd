"""Task functions for the property tests, importable so that a process queue can pickle them by reference.

Each call records that it ran in a log file shared by every task of one example: the line ``start NAME`` when it
begins and ``end NAME`` when its work is done, each written by a single ``os.write`` to a descriptor opened with
``O_APPEND``. On a local file system such a write appends the whole line at the end of the file atomically, whatever
thread or process makes it, so the order of the lines in the file is the order in which the writes happened. A
prerequisite's ``end`` line is written before its function returns, hence before the task can become DONE, hence
before any dependent can start; so in a correct run it always comes before the dependent's ``start`` line.
"""

from __future__ import annotations

import asyncio
import os


class Boom(Exception):
    """What a task chosen to fail raises; its only argument is the task's name."""


def _write(fd: int, line: str) -> None:
    data = line.encode()
    written = os.write(fd, data)
    if written != len(data):  # pragma: no cover - a short write to a regular file means the disk is full
        raise OSError(f"short write to the task log: {written} of {len(data)} bytes")


def record(path: str, name: str, fail: bool = False) -> str:
    """Log ``start name`` and ``end name`` to ``path``; then raise :class:`Boom` if ``fail``, else return ``name``."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        _write(fd, f"start {name}\n")
        _write(fd, f"end {name}\n")
    finally:
        os.close(fd)
    if fail:
        raise Boom(name)
    return name


async def arecord(path: str, name: str, fail: bool = False) -> str:
    """:func:`record` as a coroutine, to run on the asyncio queue's event loop itself."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        _write(fd, f"start {name}\n")
        await asyncio.sleep(0)  # let other coroutines interleave; not a wait for anything
        _write(fd, f"end {name}\n")
    finally:
        os.close(fd)
    if fail:
        raise Boom(name)
    return name
