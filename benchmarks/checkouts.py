"""Which checkout of taskgraph a benchmark's subprocess measures: this one, or another one beside it.

``dag_overhead.py`` and ``queue_throughput.py`` take ``--before DIR`` (and ``--after DIR``, by default the checkout
that holds these benchmarks) to measure two versions of taskgraph side by side in one run, e.g. a ``git worktree``
of an older commit against the working tree. Each measurement already runs in a fresh subprocess; :func:`environ`
makes that subprocess (and every worker process it starts) import ``taskgraph`` from the chosen directory, by
putting it first on ``PYTHONPATH``, and names it in ``BENCH_TASKGRAPH_HOME``; :func:`verify`, called in the
subprocess, checks that ``taskgraph.__file__`` really is under it and fails loudly otherwise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from typing import TypeVar

BENCH = os.path.dirname(os.path.abspath(__file__))  # benchmarks/: the benchmarks' own modules and peer_apps
ROOT = os.path.dirname(BENCH)  # the checkout that holds these benchmarks
HOME = "BENCH_TASKGRAPH_HOME"  # the checkout a subprocess must import taskgraph from
BEFORE = "@before"  # the suffix of the label of a row measured on --before
T = TypeVar("T")


class WrongCheckout(ImportError):
    """taskgraph was imported from somewhere else than the checkout asked for."""


def resolve(path: str) -> str:
    """The absolute, symlink-free path of a checkout of taskgraph (an ``argparse`` type).

    Raises:
        argparse.ArgumentTypeError: ``path`` holds no ``taskgraph`` package (argparse shows the message).
    """
    home = os.path.realpath(os.path.expanduser(path))
    if not os.path.isfile(os.path.join(home, "taskgraph", "__init__.py")):
        raise argparse.ArgumentTypeError(
            f"{path}: not a checkout of taskgraph (no taskgraph/__init__.py in it); give the top directory of one, "
            "e.g. made with `git worktree add --detach ../before main`")
    return home


def add_options(parser: argparse.ArgumentParser, before_rows: str, after_rows: str) -> None:
    """Add ``--before DIR`` (which adds ``before_rows``) and ``--after DIR`` (for ``after_rows``) to ``parser``."""
    parser.add_argument("--before", type=resolve, metavar="DIR",
                        help=f"another checkout of taskgraph (e.g. a `git worktree` of an older commit): adds "
                        f"{before_rows} importing its taskgraph package, each measured beside its row on --after in "
                        "every repetition")
    parser.add_argument("--after", type=resolve, default=ROOT, metavar="DIR",
                        help=f"the checkout the plain {after_rows} import taskgraph from (default: the one holding "
                        f"these benchmarks, {ROOT})")


def describe(home: str) -> str:
    """``DIR (commit abc1234)``, with ``+ uncommitted changes`` when its taskgraph/ differs from that commit."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", home, *args], capture_output=True, text=True, timeout=30).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "taskgraph")
    except (OSError, subprocess.SubprocessError):
        commit = dirty = ""
    if not commit:
        return f"{home} (not a git checkout)"
    return f"{home} (commit {commit}{' + uncommitted changes' if dirty else ''})"


def environ(home: str, *paths: str) -> dict[str, str]:
    """This process's environment, set up to import taskgraph from ``home``, then anything else from ``paths``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([home, *paths, *filter(None, [env.get("PYTHONPATH")])])
    env[HOME] = home
    return env


def verify() -> None:
    """Import taskgraph; check it came from the checkout ``BENCH_TASKGRAPH_HOME`` names, if it names one.

    Raises:
        WrongCheckout: it came from somewhere else, with both places in the message.
    """
    import taskgraph

    where = os.path.dirname(os.path.realpath(taskgraph.__file__))
    home = os.environ.get(HOME)
    if home and os.path.commonpath([where, home]) != home:
        raise WrongCheckout(f"taskgraph was imported from {where}, not from the checkout {home} "
                            f"(sys.path starts {sys.path[:3]}); is something earlier on sys.path shadowing it?")


def compare(after: Sequence[float], before: Sequence[float], higher_is_better: bool, unit: str, fmt: str) -> str:
    """One line comparing the runs of two checkouts: the ratio of their medians and whether their ranges overlap.

    Overlapping ranges (the lowest of one at most the highest of the other) are reported as within noise; ranges
    apart say by how much after is better or worse. Two identical checkouts measured 3 times each have ranges apart
    one time in ten by chance alone; with one run a side there is no range to judge by, and the line says so.
    """
    a, b = statistics.median(after), statistics.median(before)
    a_lo, a_hi, b_lo, b_hi = min(after), max(after), min(before), max(before)
    if min(len(after), len(before)) < 2:
        verdict = "one run a side: use --repeat 3 or more to judge noise"
    elif a_lo <= b_hi and b_lo <= a_hi:
        verdict = "ranges overlap: within noise"
    else:
        better = (a > b) == higher_is_better
        verdict = f"ranges apart: after {abs(a / b - 1):.0%} {'better' if better else 'WORSE'}"
    return (f"after/before {a / b:.2f}x  (after {a:{fmt}} [{a_lo:{fmt}}-{a_hi:{fmt}}] {unit}, "
            f"before {b:{fmt}} [{b_lo:{fmt}}-{b_hi:{fmt}}] {unit}; {verdict})")


def interleaved(rows: list[T], repetition: int) -> list[T]:
    """The order of one repetition of ``rows`` (each with a ``label``), in which every row measured on --before
    directly follows its row on --after: that order when ``repetition`` (counted from 0) is even, each such pair
    swapped when it is odd."""
    out = list(rows)
    if repetition % 2:
        for i in range(1, len(out)):
            if out[i].label.endswith(BEFORE) and not out[i - 1].label.endswith(BEFORE):
                out[i - 1], out[i] = out[i], out[i - 1]
    return out
