"""What ``taskgraph run`` shows while it runs and when it ends, and the table ``taskgraph list`` prints.

:class:`RunProgress` is the model: the state of each task of a run, fed by the tasks' ``track`` callbacks from
whatever thread moves them. Three views read it:

* :class:`LiveDisplay`, on a terminal: a rich ``Live`` display redrawn a few times a second with done/total, a
  bar, elapsed time and an estimate of what is left, each running task with how long it has run, and the failures;
* :class:`PlainLines`, otherwise: one line as each task starts and one as it ends (time, state, name, duration,
  and the error of a failure), for logs and pipes;
* :func:`summary_lines`: the summary printed at the end, each task's state and duration and each failure's error.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ..errors import BlockedError, CancelledError
from ..runrecord import InOrder, describe_error, task_doc
from ..states import DONE, FAILED, FINAL_STATES, PENDING, RUNNING, State
from ..task import Task, Transition

__all__ = [
    "RunProgress",
    "TaskView",
    "Snapshot",
    "LiveDisplay",
    "PlainLines",
    "summary_lines",
    "task_table",
    "format_duration",
    "format_clock",
    "STATE_STYLES",
    "was_interrupted",
]

#: How each state is shown on a terminal.
STATE_STYLES: dict[str, str] = {
    "PENDING": "dim",
    "QUEUED": "cyan",
    "RUNNING": "yellow",
    "DONE": "green",
    "FAILED": "bold red",
    "CANCELLED": "magenta",
}

#: The most running tasks and failures the live display lists; the rest are counted.
MOST_SHOWN = 10


def format_duration(seconds: float | None) -> str:
    """A task's duration: ``0.12 s``, ``12.3 s``, ``2m05s``, ``1h02m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    seconds = max(seconds, 0.0)
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_clock(seconds: float) -> str:
    """Elapsed time or an estimate as a clock: ``0:07``, ``12:30``, ``1:02:03``."""
    whole = int(max(seconds, 0.0))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def was_interrupted(error: BaseException | None) -> bool:
    """Whether a task was cancelled by Ctrl-C."""
    if isinstance(error, KeyboardInterrupt):
        return True
    return isinstance(error, CancelledError) and str(error).endswith("was cancelled: interrupted")


def reason(task: Task, state: State, error: BaseException | None) -> str:
    """Why a task that is not DONE ended as it did, in a few words."""
    if state is FAILED and isinstance(error, BlockedError):
        return "blocked: " + ", ".join(f"{name} is {st}" for name, st in error.prerequisites) + error.why
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    if isinstance(error, CancelledError):
        text = str(error)
        prefix = f"task {task.name!r} was cancelled"
        if text.startswith(prefix):
            text = text[len(prefix):].lstrip(": ")
        return text or "cancelled"
    return describe_error(error) or ""


@dataclass
class TaskView:
    """What the display knows of one task."""

    task: Task
    state: State
    #: the run is to make it: it was PENDING when the run began and a target needs it
    wanted: bool
    started: float | None = None
    finished: float | None = None
    error: BaseException | None = None
    ran: bool = False

    @property
    def name(self) -> str:
        return self.task.name

    @property
    def duration(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    @property
    def blocked(self) -> bool:
        """FAILED without running, because a prerequisite failed."""
        return self.state is FAILED and isinstance(self.error, BlockedError)

    @property
    def reason(self) -> str:
        return reason(self.task, self.state, self.error)


@dataclass
class Snapshot:
    """The run at one moment, for drawing."""

    total: int
    done: int
    failed: int
    blocked: int
    cancelled: int
    elapsed: float
    eta: float | None
    interrupted: bool
    queued: int = 0
    running: list[tuple[str, float]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.blocked + self.cancelled


class RunProgress:
    """The state of each task of a run, kept up to date by :meth:`observe` (the tasks' ``track`` callback).

    Thread-safe: transitions come from whatever thread moves a task, and out of order when two threads move one
    task in quick succession (:class:`~taskgraph.runrecord.InOrder` puts them back in order).

    Args:
        tasks: every task to show, each after its prerequisites.
        to_run: those the run is to make (the rest are already DONE, or not needed).
        clock: the wall clock, as :func:`time.time`.
    """

    def __init__(self, tasks: Sequence[Task], to_run: Iterable[Task], clock: Callable[[], float] = time.time) -> None:
        wanted = set(to_run)
        self.clock = clock
        self.order = list(tasks)
        self.views = {t: TaskView(t, t.state, t in wanted) for t in self.order}
        self.total = sum(1 for v in self.views.values() if v.wanted)
        self.started = clock()
        self.ended: float | None = None
        self.interrupted = False
        self._lock = threading.Lock()
        self._listeners: list[Callable[[TaskView, Transition], Any]] = []
        self._in_order = InOrder(self._apply, self.order)

    def listen(self, listener: Callable[[TaskView, Transition], Any]) -> None:
        """Call ``listener(view, transition)`` after each transition is taken in, one call at a time."""
        self._listeners.append(listener)

    def observe(self, task: Task, move: Transition) -> None:
        """Take in one transition (a ``track`` callback)."""
        self._in_order(task, move)

    def _apply(self, task: Task, move: Transition) -> None:
        view = self.views.get(task)
        if view is None:
            return
        with self._lock:
            view.state = move.dest
            if move.dest is RUNNING:
                view.started, view.finished, view.ran = move.when, None, True
            elif move.dest in FINAL_STATES:
                view.finished = move.when
                view.error = None if move.dest is DONE else task.exception
                if was_interrupted(view.error):
                    self.interrupted = True
            elif move.dest is PENDING:
                view.started = view.finished = view.error = None
        for listener in self._listeners:
            listener(view, move)

    def finish(self) -> None:
        """Note the end of the run (stops the elapsed clock)."""
        self._in_order.flush()
        self.ended = self.clock()

    @property
    def elapsed(self) -> float:
        return (self.ended if self.ended is not None else self.clock()) - self.started

    def tasks_in(self, *states: State) -> list[TaskView]:
        """The views of the tasks to make that are in one of ``states``, in graph order."""
        with self._lock:
            return [v for v in (self.views[t] for t in self.order) if v.wanted and v.state in states]

    def snapshot(self) -> Snapshot:
        now = self.clock()
        with self._lock:
            views = [self.views[t] for t in self.order if self.views[t].wanted]
            done = sum(v.state is DONE for v in views)
            blocked = sum(v.blocked for v in views)
            failed = sum(v.state is FAILED for v in views) - blocked
            cancelled = sum(v.state == "CANCELLED" for v in views)
            queued = sum(v.state == "QUEUED" for v in views)
            running = sorted(((v.name, now - (v.started or now)) for v in views if v.state is RUNNING),
                             key=lambda item: -item[1])
            failures = [(v.name, v.reason) for v in views if v.state is FAILED and not v.blocked]
            interrupted = self.interrupted
        elapsed = (self.ended if self.ended is not None else now) - self.started
        finished = done + failed + blocked + cancelled
        left = self.total - finished
        eta = None
        if left == 0:
            eta = 0.0
        elif finished and not interrupted:
            eta = elapsed / finished * left
        return Snapshot(self.total, done, failed, blocked, cancelled, elapsed, eta, interrupted, queued, running,
                        failures)


# ------------------------------------------------------------------ on a terminal


def render_snapshot(snap: Snapshot, title: str = "") -> RenderableType:
    """The live display of one moment of a run."""
    status = Text()
    status.append(f"{snap.done}/{snap.total} done", style="bold")
    status.append(f"   elapsed {format_clock(snap.elapsed)}")
    status.append(f"   ETA {format_clock(snap.eta) if snap.eta is not None else '?'}")
    head = Table.grid(padding=(0, 2))
    head.add_column(no_wrap=True)
    head.add_column(no_wrap=True)
    head.add_row(ProgressBar(total=max(snap.total, 1), completed=snap.finished, width=32), status)
    counts = Text(f"{len(snap.running)} running")
    for count, word, style in ((snap.queued, "queued", STATE_STYLES["QUEUED"]),
                               (snap.failed, "failed", STATE_STYLES["FAILED"]),
                               (snap.blocked, "blocked", STATE_STYLES["FAILED"]),
                               (snap.cancelled, "cancelled", STATE_STYLES["CANCELLED"])):
        if count:
            counts.append(", ")
            counts.append(f"{count} {word}", style=style)
    parts: list[RenderableType] = []
    if title:
        parts.append(Text(title, style="bold", overflow="ellipsis", no_wrap=True))
    parts += [head, counts]
    if snap.interrupted:
        parts.append(Text("interrupted: starting nothing more; waiting for the running tasks "
                          "(Ctrl-C again to stop waiting)", style=STATE_STYLES["CANCELLED"]))
    rows = Table.grid(padding=(0, 2))
    rows.add_column(no_wrap=True)
    rows.add_column(no_wrap=True)
    rows.add_column(overflow="ellipsis", no_wrap=True)
    for index, (name, seconds) in enumerate(snap.running[:MOST_SHOWN]):
        rows.add_row(Text("running" if index == 0 else "", style=STATE_STYLES["RUNNING"]), Text(name),
                     format_duration(seconds))
    if len(snap.running) > MOST_SHOWN:
        rows.add_row("", f"... and {len(snap.running) - MOST_SHOWN} more", "")
    if len(snap.failures) > MOST_SHOWN:
        rows.add_row(Text("failed", style=STATE_STYLES["FAILED"]), f"{len(snap.failures) - MOST_SHOWN} more", "")
    for index, (name, why) in enumerate(snap.failures[-MOST_SHOWN:]):
        first = index == 0 and len(snap.failures) <= MOST_SHOWN
        rows.add_row(Text("failed" if first else "", style=STATE_STYLES["FAILED"]), Text(name), Text(why))
    if snap.running or snap.failures:
        parts.append(rows)
    return Group(*parts)


class LiveDisplay:
    """A live display of a run on a terminal, redrawn a few times a second while the ``with`` block runs.

    What the tasks print, and log lines written to the terminal, appear above the display.
    """

    def __init__(self, progress: RunProgress, console: Console, title: str = "", refresh_per_second: float = 8):
        self.progress = progress
        self.console = console
        self.title = title
        self.live = Live(console=console, get_renderable=self.render, refresh_per_second=refresh_per_second,
                         transient=True, redirect_stdout=True, redirect_stderr=True)
        self._moved: list[tuple[logging.StreamHandler[Any], Any]] = []

    def render(self) -> RenderableType:
        return render_snapshot(self.progress.snapshot(), self.title)

    def __enter__(self) -> LiveDisplay:
        terminal = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
        self.live.start()
        for handler in logging.getLogger().handlers:  # log lines go above the display, not through it
            if isinstance(handler, logging.StreamHandler) and handler.stream in terminal:
                self._moved.append((handler, handler.setStream(sys.stderr)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handler, stream in reversed(self._moved):
            handler.setStream(stream)
        self._moved.clear()
        self.live.stop()


# ------------------------------------------------------------------ elsewhere


class PlainLines:
    """One line as each task starts and one as it ends, for a log or a pipe: ``time state name duration``.

    Args:
        progress: the run, whose views give durations and errors.
        write: prints one line.
        queued: print a line as each task is queued too (on a durable queue, where tasks wait for a worker).
    """

    def __init__(self, progress: RunProgress, write: Callable[[str], Any], queued: bool = False) -> None:
        self.progress = progress
        self.write = write
        self.queued = queued
        self.width = max((len(t.name) for t in progress.order), default=0)
        self.told_interrupted = False
        progress.listen(self)

    def __call__(self, view: TaskView, move: Transition) -> None:
        if self.progress.interrupted and not self.told_interrupted:
            self.told_interrupted = True
            running = [v.name for v in self.progress.tasks_in(RUNNING)]
            if running:
                self.write(f"{_clock(move.when)} interrupted: starting nothing more; waiting for {', '.join(running)} "
                           "(Ctrl-C again to stop waiting)")
        if move.dest is RUNNING or (self.queued and move.dest == "QUEUED"):
            text = f"{_clock(move.when)} {move.dest.value:<9} {view.name}"
        elif move.dest in FINAL_STATES:
            duration = format_duration(view.duration)
            text = f"{_clock(move.when)} {move.dest.value:<9} {view.name:<{self.width}}  {duration}"
            if move.dest is not DONE and view.reason:
                text += f"  {view.reason}"
        else:
            return
        self.write(text.rstrip())


def _clock(when: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when))


# ------------------------------------------------------------------ at the end


def _error_text(error: BaseException) -> list[str]:
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    remote = getattr(error, "traceback", "")
    if isinstance(remote, str) and remote.strip() and error.__traceback__ is None:
        lines = [remote]
    return "".join(lines).rstrip().splitlines()


def summary_lines(progress: RunProgress, status: str, targets: Sequence[Task], *, verbose: int = 0,
                  quiet: int = 0) -> list[Text]:
    """The summary of a run: each task's state and duration, each failure's error (with ``verbose``, its
    traceback), and a last line that says how it went. ``quiet`` leaves out the tasks that are DONE.

    Args:
        status: ``done``, ``failed`` or ``interrupted``.
        targets: the tasks the run was to make.
    """
    views = [progress.views[t] for t in progress.order]
    width = max((len(v.name) for v in views), default=0)
    lines: list[Text] = []
    for v in views:
        if quiet and (v.state is DONE or not v.wanted):
            continue
        line = Text("  ")
        line.append(f"{v.state.value:<9}", style=STATE_STYLES.get(v.state.value, ""))
        line.append(f" {v.name:<{width}}  ")
        if not v.wanted:
            line.append("already DONE, skipped" if v.state is DONE else "not needed", style="dim")
        elif v.state is PENDING:
            line.append("not run", style="dim")
        else:
            line.append(format_duration(v.duration) if v.ran else "-")
            if v.state is not DONE and v.reason:
                line.append(f"  {v.reason}", style="dim" if v.blocked or v.state != "FAILED" else "")
        lines.append(line)
    if lines:
        lines.insert(0, Text("summary:", style="bold"))
    failures = [v for v in views if v.wanted and v.state is FAILED and not v.blocked and v.error is not None]
    if failures:
        lines.append(Text("errors:", style="bold"))
        for v in failures:
            assert v.error is not None
            line = Text(f"  {v.name}: ")
            line.append(describe_error(v.error) or "", style=STATE_STYLES["FAILED"])
            lines.append(line)
            if verbose:
                lines.extend(Text("    " + text, style="dim") for text in _error_text(v.error))
    lines.append(status_line(progress, status, targets))
    return lines


def status_line(progress: RunProgress, status: str, targets: Sequence[Task]) -> Text:
    """``done: 9 tasks DONE in 0.41 s``, ``failed: 6 DONE, 1 FAILED, 2 blocked in 0.30 s; not DONE: report``."""
    snap = progress.snapshot()
    skipped = sum(1 for v in progress.views.values() if not v.wanted and v.state is DONE)
    not_run = snap.total - snap.finished - len(snap.running)
    parts = [f"{snap.done} DONE"] + [
        f"{count} {word}" for count, word in ((snap.failed, "FAILED"), (snap.blocked, "blocked"),
                                              (snap.cancelled, "CANCELLED"), (not_run, "not run"),
                                              (skipped, "already DONE")) if count
    ]
    took = f" in {format_duration(snap.elapsed)}"
    if status == "done":
        also = f", {skipped} already DONE" if skipped else ""
        return Text(f"done: {snap.done} task{'s' if snap.done != 1 else ''} DONE{also}{took}", style="bold green")
    text = f"{status}: {', '.join(parts)}{took}"
    missing = [t.name for t in targets if t.state is not DONE]
    if missing:
        text += f"; not DONE: {', '.join(missing)}"
    return Text(text, style="bold red" if status == "failed" else "bold " + STATE_STYLES["CANCELLED"])


def task_table(tasks: Sequence[Task]) -> list[tuple[str, str, str]]:
    """The rows of ``taskgraph list``: name, prerequisites and the first line of the function's docstring."""
    return [(t.name, ", ".join(p.name for p in t.prerequisites) or "-", task_doc(t)) for t in tasks]
