"""RQ's side: the no-op job. RQ names jobs by import path, so this module is all a worker needs; the Redis URL
and the queue name are given to ``rq worker`` on its command line, and the benchmark sets ``RQ_KEY_PREFIX`` so
that every key of a run has a fresh prefix.
"""

from __future__ import annotations

from . import tally


def noop() -> None:
    tally()
