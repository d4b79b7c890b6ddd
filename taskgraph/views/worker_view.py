"""The live dashboard of ``taskgraph worker`` on a terminal.

It runs beside the worker's loop, in two threads of its own, and never touches the loop's state: one thread asks
the worker for a :class:`~taskgraph.durable.snapshot.WorkerSnapshot` (the loop builds it between two steps) and
redraws about three times a second; the other reads the store's counts per named queue every 1.5 seconds on a
connection of its own, so a slow or unreachable store stalls neither the worker nor the drawing. Log records go
through the same console, above the dashboard.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Column, Table
from rich.text import Text

from ..durable.snapshot import WorkerSnapshot
from ..durable.worker import Worker
from ..errors import first_line
from ..safetext import shown as safe
from ..stores.base import close_quietly
from ..timefmt import clock, duration
from .status_view import bare_table, depth_table, error_line, progress_cell, recurring_soonest

__all__ = ["Dashboard", "QueueDepths", "render_dashboard", "ConsoleLogHandler"]

_REDRAW = 0.3  # seconds between redraws
_DEPTHS_EVERY = 1.5  # seconds between reads of the store's counts


class QueueDepths:
    """The store's counts per named queue, read in a thread of its own on its own connection."""

    def __init__(self, connect: Any) -> None:
        self._connect = connect
        #: ``(counts or None, when last read (monotonic), the last error or None)``, replaced whole by the thread
        self.latest: tuple[dict[str, dict[str, int]] | None, float, str | None] = (None, 0.0, None)
        #: the live workers the store lists (each one's registered entry), read with the counts
        self.workers: list[dict[str, Any]] = []
        #: the recurring jobs that run soonest, read with the counts
        self.recurring: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="taskgraph-dashboard-depths", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)  # a store call that hangs is left to its daemon thread

    def _poll(self) -> None:
        store = None
        while not self._stop.is_set():
            try:
                store = store or self._connect()
                self.latest = (store.stats(), time.monotonic(), None)
                self.workers = store.list_workers()
                self.recurring = recurring_soonest(store)
            except Exception as exc:  # shown on the dashboard; the worker reports store trouble itself
                self.latest = (*self.latest[:2], first_line(exc))
                close_quietly(store)
                store = None
            self._stop.wait(_DEPTHS_EVERY)
        close_quietly(store)


def _slots(snap: WorkerSnapshot) -> Text:
    parts: list[str | tuple[str, str]] = []
    for mode, (busy, size) in snap.slots.items():
        parts += [f"{mode} ", (f"{busy}/{size}", "bold yellow" if busy else "bold"), " busy   "]
    if "async" not in snap.slots:
        parts += ["async ", ("-", "dim"), "   "]
    return Text.assemble(*parts, "held ", (str(snap.held), "bold"))


def _totals(snap: WorkerSnapshot) -> Text:
    return Text.assemble(
        (f"{snap.rate:.1f}", "bold"), " jobs/s over the last 10 s   done ", (str(snap.done), "bold green"),
        "   failed ", (str(snap.failed), "bold red" if snap.failed else "bold"),
        "   retried ", (str(snap.retried), "bold yellow" if snap.retried else "bold"),
    )


def _live_workers(workers: list[dict[str, Any]], me: str, width: int) -> Text:
    """One line naming the live workers of the store (this one marked), each with how many jobs it runs."""
    line = Text.assemble(("Live workers", "bold"), f" ({len(workers)}): ")
    for i, w in enumerate(workers):
        running = w.get("running")
        busy = len(running) if isinstance(running, list) else 0
        line.append(", " if i else "")
        line.append(safe(str(w.get("id", "?"))), style="bold" if w.get("id") == me else "")
        line.append(f" ({busy} running)", style="dim")
    line.truncate(max(20, width), overflow="ellipsis")
    return line


def _next_runs(jobs: list[Any], width: int) -> Text:
    """One line naming the recurring jobs that run soonest, with when."""
    now = time.time()
    line = Text.assemble(("Next runs", "bold"), ": ")
    shown_any = False
    for info in jobs:
        if info.paused or info.next_run is None:
            continue
        line.append(", " if shown_any else "")
        line.append(safe(info.id))
        line.append(f" {clock(info.next_run, now)} (in {duration(max(info.next_run - now, 0.0))})", style="dim")
        shown_any = True
    if not shown_any:
        line.append("every recurring job is paused", style="dim")
    line.truncate(max(20, width), overflow="ellipsis")
    return line


def render_dashboard(snap: WorkerSnapshot, depths: tuple[dict[str, dict[str, int]] | None, float, str | None],
                     now: float | None = None, height: int = 40, width: int = 120,
                     workers: list[dict[str, Any]] | None = None, recurring: list[Any] | None = None,
                     ) -> RenderableType:
    """The dashboard for one snapshot, the latest queue depths, the store's live workers and the recurring jobs
    that run soonest, for a terminal of
    ``height`` lines (which bounds the rows of running jobs) and ``width`` columns (which sizes the progress bars)."""
    now = time.monotonic() if now is None else now
    summary = Table.grid(Column(style="bold", no_wrap=True, min_width=10), Column(no_wrap=True, overflow="ellipsis"),
                         padding=(0, 2))
    summary.add_row("slots", _slots(snap))
    summary.add_row("throughput", _totals(snap))
    if snap.stopped:
        state = Text.assemble(("stopped", "bold"))
    elif snap.stopping:
        state = Text.assemble(("stopping: finishing the running jobs, then exiting (Ctrl-C again to exit at once)",
                               "bold yellow"))
    elif snap.store_error:
        state = Text.assemble((f"store failing: {snap.store_error}; trying again", "bold red"))
    else:
        state = Text.assemble(("serving ", "green"), (", ".join(snap.queues), "bold"), f" on {snap.url}")
    summary.add_row("state", state)
    title = Text.assemble(("taskgraph worker ", "bold"), snap.id, "  ", (snap.app or "", "cyan"),
                          f"  up {duration(now - snap.since)}")
    parts: list[RenderableType] = [Panel(summary, title=title, title_align="left", box=box.ROUNDED)]

    counts, read_at, error = depths
    served = len(counts) if counts else len(snap.queues)
    fixed = 16 + min(len(snap.failures), 5) + served  # the other sections, in lines
    room = max(3, height - fixed)
    running = bare_table(False, expand=True)
    names = max(16, min(44, width // 3))
    running.add_column("job", no_wrap=True, overflow="ellipsis", min_width=12, max_width=names)
    running.add_column("id", no_wrap=True, min_width=8)
    running.add_column("mode", no_wrap=True, min_width=7)
    running.add_column("elapsed", justify="right", no_wrap=True, min_width=7)
    running.add_column("progress", no_wrap=True, overflow="ellipsis", ratio=1)
    bar = 20 if width >= 120 else 8
    shown = snap.running[:room] if len(snap.running) <= room else snap.running[: room - 1]
    for job in shown:
        attempt = f" (try {job.attempt})" if job.attempt > 1 else ""
        running.add_row(Text(safe(job.name) + attempt), Text(safe(job.id[:8])), job.mode, duration(now - job.began),
                        progress_cell(job.progress, job.message, plain=False, width=bar))
    if len(shown) < len(snap.running):
        running.add_row(Text(f"... and {len(snap.running) - len(shown)} more", style="dim"), "", "", "", "")
    busy = sum(b for b, _ in snap.slots.values())
    size = sum(s for _, s in snap.slots.values())
    count = f"{len(snap.running)} job{'s' if len(snap.running) != 1 else ''}"
    parts.append(Text.assemble(("Running", "bold"), f" ({count}; {busy} of {size} slots busy)"))
    parts.append(running if snap.running else Text("  none", style="dim"))

    parts.append(Text.assemble(("Recent failures", "bold"), f" (the last {len(snap.failures)})"
                               if snap.failures else ""))
    if snap.failures:
        failures = bare_table(False, expand=True)
        failures.add_column("time", no_wrap=True, min_width=8)
        failures.add_column("job", no_wrap=True, overflow="ellipsis", min_width=12, max_width=names)
        failures.add_column("id", no_wrap=True, min_width=8)
        failures.add_column("error", no_wrap=True, overflow="ellipsis", ratio=1)
        for failure in reversed(snap.failures):
            what = error_line(failure.error, failure.message)
            if failure.retry_in is not None:
                what += f" (will retry in {failure.retry_in:.3g} s)"
            failures.add_row(clock(failure.at), Text(safe(failure.name)), Text(safe(failure.id[:8])),
                             Text(what, style="yellow" if failure.retry_in is not None else "red"))
        parts.append(failures)
    else:
        parts.append(Text("  none", style="dim"))

    if counts is None:
        age = Text(f" (cannot read the store: {safe(str(error))})" if error else " (reading the store...)", style="dim")
    else:
        age = Text(f" (read from the store {duration(now - read_at)} ago)", style="dim")
        if error:
            age.append(f"; now failing: {error}", style="red")
    parts.append(Text.assemble(("Queue depths", "bold"), age))
    if counts is not None:
        parts.append(depth_table(counts, plain=False, served=snap.queues))
    if workers:
        parts.append(_live_workers(workers, snap.id, width))
    if recurring:
        parts.append(_next_runs(recurring, width))
    return Group(*parts)


class ConsoleLogHandler(logging.Handler):
    """Log records printed through a rich console, so that they appear above its live display."""

    def __init__(self, console: Console, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            style = "red" if record.levelno >= logging.ERROR else "yellow" if record.levelno >= logging.WARNING \
                else "dim"
            self.console.print(Text(text, style=style), soft_wrap=True)
        except Exception:  # never let a log line take the worker down
            self.handleError(record)


def _show_cursor() -> None:
    """Show the cursor the live display hid (a second Ctrl-C ends the worker without stopping the display)."""
    with contextlib.suppress(OSError, ValueError):
        os.write(sys.__stdout__.fileno() if sys.__stdout__ is not None else 1, b"\x1b[?25h\n")


class Dashboard:
    """Draws a worker's dashboard on ``console`` while it runs: ``start()`` before ``worker.run()``, ``stop()``
    after (it draws a last frame, which stays on the screen)."""

    def __init__(self, worker: Worker, console: Console) -> None:
        self.worker = worker
        self.console = console
        self.depths = QueueDepths(worker.queue._connect)
        # what job threads print goes above the dashboard too
        self._live = Live(console=console, auto_refresh=False, transient=False, vertical_overflow="crop")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._draw_loop, name="taskgraph-dashboard", daemon=True)

    def frame(self) -> RenderableType:
        size = self.console.size
        return render_dashboard(self.worker.snapshot(), self.depths.latest, height=size.height, width=size.width,
                                workers=self.depths.workers, recurring=self.depths.recurring)

    def start(self) -> None:
        self.depths.start()
        self._live.start()
        self.worker.on_exit_now = _show_cursor
        self._thread.start()

    def _draw_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._live.update(self.frame(), refresh=True)
            except Exception as exc:  # a drawing bug must not stop the worker: say so once, and stop drawing
                logging.getLogger("taskgraph.worker").warning("the dashboard stopped: %s: %s",
                                                              type(exc).__name__, exc)
                return
            self._stop.wait(_REDRAW)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self.depths.stop()
        try:
            self._live.update(self.frame(), refresh=True)
        finally:
            self._live.stop()
