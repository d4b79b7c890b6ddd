"""What ``taskgraph run`` shows while it runs (:class:`LiveDisplay` on a terminal, :class:`PlainLines` otherwise)
and when it ends (:func:`summary_lines`), each read from the run's :class:`~.run_progress.RunProgress`; and the
table ``taskgraph list`` prints."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Column, Table
from rich.text import Text

from ..runrecord import describe_error, task_doc
from ..safetext import shown
from ..states import DONE, FAILED, FINAL_STATES, PENDING, RUNNING
from ..task import Task, Transition
from ..timefmt import clock, duration, stopwatch
from .run_progress import RunProgress, Snapshot, TaskView
from .status_view import STATE_STYLES, bare_table

__all__ = ["LiveDisplay", "PlainLines", "render_snapshot", "summary_lines", "status_line", "task_table"]

#: The most running tasks and failures the live display lists; the rest are counted.
MOST_SHOWN = 10
#: Names are padded to the longest up to this width: one very long name must not push every line's columns.
NAME_COLUMN = 40


def render_snapshot(snap: Snapshot, title: str = "") -> RenderableType:
    """The live display of one moment of a run."""
    times = f"   elapsed {stopwatch(snap.elapsed)}   ETA {stopwatch(snap.eta) if snap.eta is not None else '?'}"
    status = Text.assemble((f"{snap.done}/{snap.total} done", "bold"), times)
    head = Table.grid(Column(no_wrap=True), Column(no_wrap=True), padding=(0, 2))
    head.add_row(ProgressBar(total=max(snap.total, 1), completed=snap.finished, width=32), status)
    counts = Text(f"{len(snap.running)} running")
    for count, word, style in ((snap.uptodate, "up to date", STATE_STYLES["DONE"]),
                               (snap.queued, "queued", STATE_STYLES["QUEUED"]),
                               (snap.failed, "failed", STATE_STYLES["FAILED"]),
                               (snap.blocked, "blocked", STATE_STYLES["FAILED"]),
                               (snap.cancelled, "cancelled", STATE_STYLES["CANCELLED"])):
        if count:
            counts.append(", ").append(f"{count} {word}", style=style)
    parts: list[RenderableType] = [Text(title, style="bold", overflow="ellipsis", no_wrap=True)] if title else []
    parts += [head, counts]
    if snap.interrupted:
        parts.append(Text("interrupted: starting nothing more; waiting for the running tasks "
                          "(Ctrl-C again to stop waiting)", style=STATE_STYLES["CANCELLED"]))
    # fixed widths for the label and the names, the rest for the durations and errors: a long error is cut, and
    # never squeezes the names out (rich shrinks every column of a grid that is too wide otherwise)
    names = [name for name, _ in snap.running[:MOST_SHOWN]] + [name for name, _ in snap.failures[-MOST_SHOWN:]]
    rows = Table.grid(Column(no_wrap=True, width=7),
                      Column(no_wrap=True, overflow="ellipsis",
                             width=min(max(map(len, names), default=1), NAME_COLUMN)),
                      Column(overflow="ellipsis", no_wrap=True, ratio=1), padding=(0, 2), expand=True)
    for index, (name, seconds) in enumerate(snap.running[:MOST_SHOWN]):
        rows.add_row(Text("running" if index == 0 else "", style=STATE_STYLES["RUNNING"]), Text(name),
                     duration(seconds))
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
        self.live = Live(console=console, get_renderable=lambda: render_snapshot(progress.snapshot(), title),
                         refresh_per_second=refresh_per_second, transient=True, redirect_stdout=True,
                         redirect_stderr=True)
        self._moved: list[tuple[logging.StreamHandler[Any], Any]] = []

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
        self.width = min(max((len(t.name) for t in progress.order), default=0), NAME_COLUMN)
        self.told_interrupted = False
        progress.listen(self)

    def __call__(self, view: TaskView, move: Transition) -> None:
        if self.progress.interrupted and not self.told_interrupted:
            self.told_interrupted = True
            running = [v.name for v in self.progress.tasks_in(RUNNING)]
            if running:
                self.write(f"{clock(move.when)} interrupted: starting nothing more; waiting for {', '.join(running)} "
                           "(Ctrl-C again to stop waiting)")
        if move.dest is RUNNING or (self.queued and move.dest == "QUEUED"):
            text = f"{clock(move.when)} {move.dest.value:<9} {view.name}"
        elif move.event == "uptodate":
            text = f"{clock(move.when)} {move.dest.value:<9} {view.name:<{self.width}}  up to date"
        elif move.dest in FINAL_STATES:
            text = f"{clock(move.when)} {move.dest.value:<9} {view.name:<{self.width}}  {duration(view.duration)}"
            if move.dest is not DONE and view.reason:
                text += f"  {view.reason}"
        else:
            return
        self.write(text.rstrip())


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
    width = min(max((len(v.name) for v in views), default=0), NAME_COLUMN)
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
            line.append(duration(v.duration) if v.ran else "up to date" if v.uptodate else "-")
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
            line.append(shown(describe_error(v.error) or "", lines=True), style=STATE_STYLES["FAILED"])
            lines.append(line)
            if verbose:
                lines.extend(Text("    " + shown(text, lines=True), style="dim") for text in _error_text(v.error))
    lines.append(status_line(progress, status, targets))
    return lines


MOST_WARNED = 10  # tasks whose stderr the summary shows
WARNING_LINES = 5  # lines of each


def warning_lines(tasks: Sequence[Task]) -> list[Text]:
    """``warnings:``, then each task that ran to DONE but printed on stderr (a compiler's warnings): its name, then
    the last lines it printed, indented. Empty when none did."""
    warned = []
    for t in tasks:
        stderr = getattr(t.result, "stderr", None) if t.state is DONE else None
        if isinstance(stderr, str) and stderr.strip():
            warned.append((t, stderr))
    if not warned:
        return []
    lines = [Text("warnings:", style="bold")]
    for task, stderr in warned[:MOST_WARNED]:
        printed = stderr.rstrip().splitlines()
        cut = f" (last {WARNING_LINES} of {len(printed)} lines)" if len(printed) > WARNING_LINES else ""
        lines.append(Text(f"  {shown(task.name)}: printed on stderr{cut}", style="yellow"))
        lines.extend(Text("    " + shown(line, lines=True)) for line in printed[-WARNING_LINES:])
    if len(warned) > MOST_WARNED:
        lines.append(Text(f"  and {len(warned) - MOST_WARNED} more tasks (their stderr is in the run record)"))
    return lines


def status_line(progress: RunProgress, status: str, targets: Sequence[Task]) -> Text:
    """``done: 9 tasks DONE in 0.41 s``, ``failed: 6 DONE, 1 FAILED, 2 blocked in 0.30 s; not DONE: report``."""
    snap = progress.snapshot()
    skipped = sum(1 for v in progress.views.values() if not v.wanted and v.state is DONE)
    not_run = snap.total - snap.finished - len(snap.running)
    ran = snap.done - snap.uptodate
    parts = [f"{ran} DONE"] + [
        f"{count} {word}" for count, word in ((snap.uptodate, "up to date"), (snap.failed, "FAILED"),
                                              (snap.blocked, "blocked"),
                                              (snap.cancelled, "CANCELLED"), (not_run, "not run"),
                                              (skipped, "already DONE")) if count
    ]
    took = f" in {duration(snap.elapsed)}"
    if status == "done":
        also = f", {skipped} already DONE" if skipped else ""
        if snap.uptodate:  # a build: "done: 12 up to date, 3 ran in 0.41 s"
            return Text(f"done: {snap.uptodate} up to date, {ran} ran{also}{took}", style="bold green")
        return Text(f"done: {snap.done} task{'s' if snap.done != 1 else ''} DONE{also}{took}", style="bold green")
    text = f"{status}: {', '.join(parts)}{took}"
    missing = [shown(t.name) for t in targets if t.state is not DONE]
    if missing:
        text += f"; not DONE: {', '.join(missing)}"
    return Text(text, style="bold red" if status == "failed" else "bold " + STATE_STYLES["CANCELLED"])


MOST_REQUIRES = 4  # prerequisites named per row of ``taskgraph list``


def task_table(tasks: Sequence[Task], plain: bool) -> Table:
    """The table of ``taskgraph list``: each task's name, what it requires and what it does: a shell task's
    command, or the first line of its function's docstring."""
    from ..build import command_of

    table = bare_table(plain)
    table.add_column("TASK", style="" if plain else "bold", no_wrap=True)
    table.add_column("REQUIRES")
    table.add_column("DESCRIPTION")
    for t in tasks:
        names = [shown(p.name) for p in t.prerequisites]
        if len(names) > MOST_REQUIRES:  # a 30-way fan-in must not widen every row
            names[MOST_REQUIRES - 1:] = [f"and {len(names) - MOST_REQUIRES + 1} more"]
        requires = ", ".join(names) or "-"
        command = command_of(t)
        doc = f"$ {command}" if command else task_doc(t)
        table.add_row(Text(shown(t.name)), Text(requires), Text(shown(doc)))  # never markup
    return table
