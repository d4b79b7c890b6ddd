"""Run records: every transition of every task of a run, as JSON lines, for reviews after the fact.

A record is a text file of JSON objects, one a line:

* first ``{"kind": "run", "version": 1, "pipeline": ..., "targets": [...], "queue": ..., "started": T,
  "tasks": [{"id": 0, "name": ..., "key": ..., "requires": [ids], "doc": ..., "state": ...}, ...]}``: the graph,
  with each task's state when the record began (``"state"`` may be missing: PENDING), and ``"command"`` for a
  shell task (its command as one line);
* then ``{"kind": "transition", "task": ID, "at": T, "from": ..., "event": ..., "to": ...}`` for each transition
  as it happens, with ``"error": "Type: message"`` when a task ends FAILED or CANCELLED with an exception, and
  ``"stderr"`` (its last ``MOST_OUTPUT`` characters) when a shell task that printed on stderr ends. Each
  task's transitions are written in the order they happened, so each one starts from the state the one before it
  reached, even when two threads move a task one right after the other;
* last ``{"kind": "end", "at": T, "status": "done" | "failed" | "interrupted"}``.

Each line is written and flushed as it happens, so a run that is killed leaves a record that reads as far as it
got (without its end line). Times are epoch seconds.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .states import FINAL_STATES, PENDING, RUNNING, State
from .task import Task, Transition

__all__ = ["RunRecorder", "RunRecord", "TaskRecord", "LastRun", "read_record", "RECORD_VERSION", "InOrder",
           "task_doc", "describe_error"]

RECORD_VERSION = 1
MOST_OUTPUT = 20_000  # characters of a command's stderr kept in a record


def task_doc(task: Task) -> str:
    """The first line of the docstring of a task's function (of the function a ``functools.partial`` wraps)."""
    func = task.func
    while isinstance(func, functools.partial):
        func = func.func
    doc = "" if func is None else (getattr(func, "__doc__", None) or "").strip()
    return doc.splitlines()[0].strip() if doc else ""


def describe_error(exc: BaseException | None) -> str | None:
    if exc is None:
        return None
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class InOrder:
    """Pass each task's transitions on in the order they happened, whatever order their callbacks come in.

    A task changes state under a lock but calls its ``track`` callback after releasing it, so when two threads
    move a task one right after the other (``make`` queues it, a worker starts it at once) the second callback
    can run before the first. Each transition names the state it left: one that does not leave the state the
    task was last seen in is held here until the transitions before it have come, then passed on after them.

    Args:
        deliver: called with the task and each transition, in order, one call at a time.
        tasks: the tasks to follow, each in the state it is in now; transitions of other tasks pass straight on.
    """

    def __init__(self, deliver: Callable[[Task, Transition], Any], tasks: Iterable[Task]) -> None:
        self._deliver = deliver
        self._lock = threading.RLock()
        self._seen: dict[Task, State] = {t: t.state for t in tasks}
        self._held: dict[Task, list[Transition]] = {}

    def __call__(self, task: Task, move: Transition) -> None:
        with self._lock:
            seen = self._seen.get(task)
            if seen is None:
                self._deliver(task, move)
                return
            if move.source is not seen:
                self._held.setdefault(task, []).append(move)
                return
            self._pass_on(task, move)
            held = self._held.get(task, [])
            while (following := next((m for m in held if m.source is self._seen[task]), None)) is not None:
                held.remove(following)
                self._pass_on(task, following)
            if not held:
                self._held.pop(task, None)

    def _pass_on(self, task: Task, move: Transition) -> None:
        self._seen[task] = move.dest
        self._deliver(task, move)

    def flush(self) -> None:
        """Pass on whatever is still held (transitions whose predecessors never came), oldest first."""
        with self._lock:
            held, self._held = self._held, {}
            for task, moves in held.items():
                for move in sorted(moves, key=lambda m: m.when):
                    self._pass_on(task, move)


class RunRecorder:
    """Writes the record of one run. Use :attr:`observe` as the tasks' ``track`` callback.

    Args:
        path: where to write (replaced if it exists).
        tasks: every task of the graph, each after its prerequisites.
        pipeline, targets, queue: what the header says of the run.
    """

    def __init__(self, path: str | Path, tasks: Iterable[Task], pipeline: str = "", targets: Iterable[str] = (),
                 queue: str = "") -> None:
        self.path = Path(path)
        self.tasks = list(tasks)
        self.ids = {t: i for i, t in enumerate(self.tasks)}
        self._lock = threading.Lock()
        #: records one transition (thread-safe; transitions that come out of order are put back in order)
        self.observe = InOrder(self._record, self.tasks)
        # a record holds task names, results and errors: created readable by its owner only
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._file: IO[str] | None = os.fdopen(fd, "w", encoding="utf-8")
        from .build import command_of

        graph = []
        for i, t in enumerate(self.tasks):
            entry = {"id": i, "name": t.name, "key": t.key,
                     "requires": [self.ids[p] for p in t.prerequisites if p in self.ids],
                     "doc": task_doc(t), "state": t.state.value}
            command = command_of(t)
            if command is not None:
                entry["command"] = command
            graph.append(entry)
        self._write({"kind": "run", "version": RECORD_VERSION, "pipeline": pipeline, "targets": list(targets),
                     "queue": queue, "started": time.time(), "tasks": graph})

    def _write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False, default=str)
        with self._lock:
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()

    def _record(self, task: Task, move: Transition) -> None:
        task_id = self.ids.get(task)
        if task_id is None:
            return
        entry: dict[str, Any] = {"kind": "transition", "task": task_id, "at": move.when, "from": move.source.value,
                                 "event": move.event, "to": move.dest.value}
        if move.dest in FINAL_STATES and move.dest != "DONE":
            error = describe_error(task.exception)
            if error:
                entry["error"] = error
        if move.dest in FINAL_STATES:
            stderr = _stderr(task)
            if stderr:
                entry["stderr"] = stderr[-MOST_OUTPUT:]
        self._write(entry)

    def close(self, status: str) -> None:
        """Write the end line and close the file."""
        self.observe.flush()
        self._write({"kind": "end", "at": time.time(), "status": status})
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def _stderr(task: Task) -> str:
    """What a shell task printed on stderr (its result's, or its error's), if anything."""
    out = getattr(task.result if task.state == "DONE" else task.exception, "stderr", None)
    return out if isinstance(out, str) else ""


class LastRun:
    """What is known of a task's last run, kept up to date by :meth:`moved` from its transitions (a run record's,
    a task's own history, or a live run's)."""

    started: float | None
    finished: float | None
    error: Any

    @property
    def duration(self) -> float | None:
        """Seconds from its last start to its end, if it ran to an end."""
        return None if self.started is None or self.finished is None else max(self.finished - self.started, 0.0)

    def moved(self, dest: str, at: float | None, error: Any = None) -> None:
        """Take in a transition to ``dest`` at ``at``: RUNNING starts a run, a final state ends it with ``error``,
        PENDING (a retry) forgets it."""
        if dest == RUNNING:
            self.started, self.finished = at, None
        elif dest in FINAL_STATES:
            self.finished, self.error = at, error
        elif dest == PENDING:
            self.started = self.finished = self.error = None


@dataclass
class TaskRecord(LastRun):
    """What a record says of one task."""

    id: int
    name: str
    key: str | None = None
    requires: list[int] = field(default_factory=list)
    doc: str = ""
    state: str = "PENDING"
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    command: str | None = None  #: a shell task's command
    stderr: str | None = None  #: the tail of what a shell task printed on stderr
    moves: list[dict[str, Any]] = field(default_factory=list)

    @property
    def uptodate(self) -> bool:
        """DONE by the ``uptodate`` event: not run, its declared files were up to date."""
        return bool(self.moves) and self.moves[-1].get("event") == "uptodate"


@dataclass
class RunRecord:
    """A run as its record tells it."""

    path: Path
    pipeline: str
    targets: list[str]
    queue: str
    started: float
    tasks: list[TaskRecord]
    ended: float | None = None
    status: str | None = None  # None: the record has no end line (the run was killed)

    def by_name(self) -> dict[str, TaskRecord]:
        """The tasks by name; a name several tasks share maps to the first."""
        return {t.name: t for t in reversed(self.tasks)}


def read_record(path: str | Path) -> RunRecord:
    """Read a run record; a record cut short (a killed run, a last line half written) reads as far as it got.

    Raises:
        ValueError: the file is not a run record, or of a version this taskgraph does not read.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a taskgraph run record (it is not UTF-8 text)") from None
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break  # written as the run was killed
            raise ValueError(f"{path}:{number}: not a JSON line; is this a taskgraph run record?") from None
    if not entries or not isinstance(entries[0], dict) or entries[0].get("kind") != "run":
        raise ValueError(f"{path} is not a taskgraph run record (it does not start with a run line)")
    try:
        return _parse(path, entries)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ValueError(f"{path} is not a taskgraph run record (malformed: {type(exc).__name__}: {exc})") from None


def _parse(path: Path, entries: list[Any]) -> RunRecord:
    head = entries[0]
    version = head.get("version", 0)
    if not isinstance(version, int):
        raise TypeError(f"its version is {version!r}, not a number")
    if version > RECORD_VERSION:
        raise ValueError(f"{path} is a version {head['version']} record; this taskgraph reads up to {RECORD_VERSION}")
    tasks = [TaskRecord(id=t["id"], name=t["name"], key=t.get("key"), requires=list(t.get("requires", [])),
                        doc=t.get("doc", ""), state=t.get("state", "PENDING"), command=t.get("command"))
             for t in head.get("tasks", [])]
    record = RunRecord(path, head.get("pipeline", ""), list(head.get("targets", [])), head.get("queue", ""),
                       float(head.get("started", 0.0)), tasks)
    for entry in entries[1:]:
        kind = entry.get("kind")
        if kind == "transition" and 0 <= entry.get("task", -1) < len(tasks):
            task = tasks[entry["task"]]
            task.moves.append(entry)
            task.state = entry["to"]
            task.moved(entry["to"], entry.get("at"), entry.get("error"))
            if entry.get("stderr"):
                task.stderr = entry["stderr"]
        elif kind == "end":
            record.ended, record.status = entry.get("at"), entry.get("status")
    return record
