"""Why a task that declares files would run, or that it is up to date (``taskgraph explain``), and removing what
builds made (``taskgraph clean``).

Both read the state database as a build does (:class:`~.check.FileBuilder`) and change no task.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from ..task import Task
from .check import FileBuilder, prerequisite_outputs, show
from .errors import BuildError
from .shell import command_of, depfile_of

__all__ = ["Explanation", "Explainer", "explain", "clean"]

MOST_LISTED = 10  # paths named per reason; more are counted


class Explanation(NamedTuple):
    """What :func:`explain` found: ``uptodate``, and the reasons it would run (none when up to date), or for an
    up-to-date task what was checked."""

    uptodate: bool
    reasons: list[str]


def _listed(what: str, paths: list[str]) -> str:
    shown = ", ".join(show(p) for p in paths[:MOST_LISTED])
    more = f" and {len(paths) - MOST_LISTED} more" if len(paths) > MOST_LISTED else ""
    return f"{what}: {shown}{more}"


class Explainer:
    """Explains tasks against the state database at ``state`` (None: the default one), read once. Use as a
    context manager, or call :meth:`close`."""

    def __init__(self, state: Any = None) -> None:
        self.builder = FileBuilder(state=state)
        if not self.builder.db.path.exists():  # nothing is known; and explaining must not make the database
            self.builder.files, self.builder.tasks = {}, {}

    def explain(self, task: Task) -> Explanation:
        """Whether ``task`` would run if it were made now, and why. A task that declares no files always runs."""
        if task.files is None:
            return Explanation(False, ["it declares no files (inputs, outputs): it runs every time"])
        return _explain(task, self.builder)

    def close(self) -> None:
        self.builder.db.close()

    def __enter__(self) -> Explainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def explain(task: Task, state: Any = None) -> Explanation:
    """Whether ``task`` would run if it were made now with the state database at ``state`` (None: the default
    one), and why (see :class:`Explainer`, to explain many)."""
    with Explainer(state) as explainer:
        return explainer.explain(task)


def _explain(task: Task, builder: FileBuilder) -> Explanation:
    assert task.files is not None
    unmade = [p for p in prerequisite_outputs(task) if not os.path.exists(p)]
    if unmade:
        return Explanation(False, [_listed("input" + ("s" if len(unmade) > 1 else "") + " that a prerequisite "
                                           "makes, not made yet", unmade)])
    try:
        now, last = builder.states(task)
    except BuildError as exc:
        return Explanation(False, [f"it cannot run: {exc}"])
    reasons: list[str] = []
    missing = [p for p in task.files.outputs if not os.path.exists(p)]
    if last is None:
        where = "" if builder.db.broken else f" (no state for it in {show(str(builder.db.path))})"
        reasons.append(f"it never ran to success here{where}")
    elif last.identity != now.identity:
        what = "its command" if command_of(task) is not None else "its function or its arguments"
        reasons.append(f"{what} changed since its last run")
    if missing:
        reasons.append(_listed(f"missing output{'s' if len(missing) > 1 else ''}", missing))
    if last is not None:
        found = builder.found_now(task, now, last)
        inputs = {**now.inputs, **found}
        changed = [p for p, d in inputs.items() if p in last.inputs and last.inputs[p] != d and d]
        gone = [p for p, d in found.items() if not d]
        new = [p for p in now.inputs if p not in last.inputs]
        dropped = [p for p in last.inputs if p not in inputs]
        for what, paths in (("changed input", changed), ("input its depfile listed, now missing", gone),
                            ("new input", new), ("no longer an input", dropped)):
            if paths:
                reasons.append(_listed(what + ("s" if len(paths) > 1 and what.endswith("input") else ""), paths))
    if reasons:
        return Explanation(False, reasons)
    assert last is not None
    depfile = depfile_of(task)
    count = len(last.inputs)
    said = f"{count} input{'s' if count != 1 else ''} unchanged"
    if depfile:
        said += f" ({len(last.found)} of them listed by its depfile {show(depfile)})"
    count = len(task.files.outputs)
    said += f"; {count} output{'s' if count != 1 else ''} present"
    said += "; the same command" if command_of(task) is not None else "; the same function and arguments"
    return Explanation(True, [said])


def clean(tasks: Iterable[Task], state: Any = None, everything: bool = True) -> tuple[list[str], list[str]]:
    """Remove the outputs (and depfiles) ``tasks`` declare, and their build state: the whole state database when
    ``everything``, else only their entries in it. Returns the files removed and those that could not be.

    Tasks that declare no files are left alone.
    """
    removed: list[str] = []
    failed: list[str] = []
    keys = []
    for task in tasks:
        if task.files is None:
            continue
        keys.append(task.key or task.name)
        depfile = depfile_of(task)
        for path in (*task.files.outputs, *([depfile] if depfile else [])):
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                failed.append(f"{show(path)}: {exc.strerror}")
                continue
            removed.append(path)
    db_path = Path(FileBuilder(state=state).db.path) if state is None else Path(state)
    if everything:
        for suffix in ("", "-wal", "-shm"):
            db_file = Path(f"{db_path}{suffix}")
            try:
                db_file.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                failed.append(f"{show(str(db_file))}: {exc.strerror}")
                continue
            if not suffix:
                removed.append(str(db_file))
    elif db_path.exists():
        builder = FileBuilder(state=db_path)
        try:
            builder.db.forget(keys)
        finally:
            builder.db.close()
    return removed, failed
