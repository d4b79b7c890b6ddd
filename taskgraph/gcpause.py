"""Pausing Python's cyclic garbage collector while a large graph is built.

CPython collects cycles in generations: each time the objects that survived young collections grow by a quarter
of the old ones, it walks every tracked object. Building a graph of a million tasks (three million objects:
each task, its prerequisites, its dependents) triggers thirteen such walks of a growing heap, which cost more
than the building itself, and find nothing: every task is still referenced by the graph. :func:`gc_paused` holds
the collector off while the graph is built and, when the block made many objects, runs one full collection at its
end, which leaves the collector where it would have been (the graph counted as old objects) for the price of one
walk. Mercurial's ``util.nogc`` does the same around its large parses.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]

#: Objects made in a pause above which its end runs a full collection (below, young collections take them as usual).
COLLECT_ABOVE = 100_000

_lock = threading.Lock()
_depth = 0  # pauses entered and not yet left, in every thread
_paused_by_us = False  # whether the outermost pause found the collector on, and turned it off


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector in the block: for building a large graph of tasks.

    Use it around the loop that makes the tasks and calls ``require``; not around a run (a run's functions may
    make garbage cycles, and the run already gives the collector little to do). Pauses nest, and may be taken by
    several threads at once: the collector is turned back on when the last one ends, and only if it was on when
    the first began. If the objects made in the pause exceed ``COLLECT_ABOVE``, its end runs one full collection.
    Reference counting frees everything else as usual inside the block: only cycles wait.

    Also a decorator: ``@taskgraph.gc_paused()``.
    """
    global _depth, _paused_by_us
    with _lock:
        if _depth == 0:
            _paused_by_us = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            resume = _depth == 0 and _paused_by_us
            if resume:
                _paused_by_us = False
                gc.enable()
        if resume and gc.get_count()[0] > COLLECT_ABOVE:
            gc.collect()
