"""What ``taskgraph status`` shows of a store: jobs by status and named queue (SCHEDULED apart from QUEUED), the
live workers, the next runs of recurring jobs (when there are any), the running jobs with their progress, and the
latest failures; and the pieces the worker's dashboard and ``taskgraph run`` share with it (state styles, queue
depths, progress bars).

Everything here renders with rich. On a terminal the tables have rules and colours; otherwise (``plain``) they are
bare aligned columns with no colour, fit for a log or a pipe, one line per row.
"""

from __future__ import annotations

import io
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Column, Table
from rich.text import Text

from ..durable.recurring import SPACE, RecurringInfo, read
from ..safetext import shown as safe
from ..states import State
from ..stores.common import split_scheduled
from ..stores.records import JobRecord
from ..timefmt import clock, duration

__all__ = ["STATUSES", "StoreStatus", "read_status", "render_status", "depth_table", "progress_cell", "error_line",
           "bare_table", "STATE_STYLES", "to_text"]

#: The statuses a store counts, in the order a job goes through them.
STATUSES = tuple(State.__members__)
#: How each state is shown on a terminal.
STATE_STYLES = {"PENDING": "dim", "SCHEDULED": "blue", "QUEUED": "cyan", "RUNNING": "yellow", "DONE": "green",
                "FAILED": "bold red", "CANCELLED": "magenta"}
_RUNNING_SHOWN = 20  # running jobs listed, at most
_FAILURES_SHOWN = 5  # failures listed
_FAILURES_READ = 50  # failed jobs read to find the latest
_RECURRING_SHOWN = 20  # recurring jobs listed, the soonest first


@dataclass
class StoreStatus:
    """What a store held when it was read."""

    url: str
    at: float  # epoch seconds, this machine's clock
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    running: list[JobRecord] = field(default_factory=list)  # the oldest started first
    workers: list[dict[str, Any]] = field(default_factory=list)  # as the store lists them, oldest started first
    failures: list[JobRecord] = field(default_factory=list)  # the latest first
    recurring: list[RecurringInfo] = field(default_factory=list)  # the soonest next run first
    error: str | None = None  # the store could not be read: why

    def total(self, state: str) -> int:
        """Jobs in ``state``, over all named queues."""
        return sum(c.get(state, 0) for c in self.counts.values())


def read_status(store: Any, url: str) -> StoreStatus:
    """Read a store's counts, live workers, running jobs and latest failures (a call for each: the counts may be a
    moment older than the lists). The lists are not asked for when the counts say they are empty: finding jobs by
    status may mean a scan in some stores."""
    status = StoreStatus(url=url, at=time.time())
    status.counts = store.stats()
    if any("QUEUED" in row for row in status.counts.values()):
        status.counts = split_scheduled(status.counts, store.scheduled())
    status.workers = store.list_workers()
    status.recurring = recurring_soonest(store)
    if status.total("RUNNING"):
        status.running = sorted(store.list_jobs(status="RUNNING", limit=_RUNNING_SHOWN),
                                key=lambda r: (r.started or 0.0, r.id))
    failed_count = status.total("FAILED")
    if failed_count:
        failed = store.list_jobs(status="FAILED", limit=min(failed_count, _FAILURES_READ))
        status.failures = sorted(failed, key=lambda r: r.finished or 0.0, reverse=True)[:_FAILURES_SHOWN]
    return status


def recurring_soonest(store: Any, limit: int = _RECURRING_SHOWN) -> list[RecurringInfo]:
    """The first recurring jobs by next run (one read; none for a store without entries)."""
    try:
        entries = store.entry_list(SPACE, limit=limit)
    except NotImplementedError:
        return []
    return [RecurringInfo.from_value(e.key, v) for e in entries if (v := read(e)) is not None]


def _recurring_table(jobs: list[RecurringInfo], now: float, plain: bool) -> Table:
    """Recurring jobs: id, job, schedule, next run (or paused), last run."""
    table = bare_table(plain, expand=not plain)
    for name in ("recurring", "job", "schedule", "next run", "last run"):
        table.add_column(name, no_wrap=True, overflow="ellipsis", max_width=40)
    for info in jobs:
        upcoming = "paused" if info.paused else (f"{clock(info.next_run, now)} (in "
                                                 f"{duration(max(info.next_run - now, 0.0))})"
                                                 if info.next_run is not None else "-")
        table.add_row(Text(safe(info.id)), Text(safe(info.job)), Text(safe(info.schedule)),
                      Text(upcoming, style="" if plain or not info.paused else "dim"),
                      clock(info.last_run, now) if info.last_run is not None else "-")
    return table


def error_line(kind: str, message: str) -> str:
    """An error on one line, its type as people write it: ``ValueError: boom`` (builtins bare, others with their
    module), control characters written as escapes."""
    kind, message = kind.removeprefix("builtins."), message.strip().replace("\n", " ")
    return safe(f"{kind}: {message}" if message else kind)


def progress_cell(value: float | None, message: str | None, plain: bool, width: int = 10) -> RenderableType:
    """A progress bar with its percentage and message; in plain text, the percentage and message only."""
    text = Text()
    if value is not None:
        text.append(f"{max(0.0, min(value, 1.0)) * 100:3.0f}%")
    if message:
        text.append(f"  {safe(message)}" if value is not None else safe(message))
    if plain or value is None:
        return text if text.plain else Text("-")
    grid = Table.grid(Column(width=width, no_wrap=True), Column(no_wrap=True, overflow="ellipsis"), padding=(0, 1))
    grid.add_row(ProgressBar(total=1.0, completed=max(0.0, min(value, 1.0)), width=width), text)
    return grid


def bare_table(plain: bool, **options: Any) -> Table:
    """A table with no edges: bare columns in plain text, a rule under the bold header on a terminal."""
    if plain:
        return Table(box=None, show_edge=False, pad_edge=False, padding=(0, 2, 0, 0), header_style="", **options)
    return Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold", **options)


def depth_table(counts: Mapping[str, Mapping[str, int]], plain: bool, served: Collection[str] = ()) -> Table:
    """Jobs by named queue and status; the queues in ``served`` come first, shown even when empty."""
    table = bare_table(plain)
    table.add_column("queue", no_wrap=True, overflow="ellipsis", max_width=40)
    statuses = list(STATUSES)
    if any("SCHEDULED" in row for row in counts.values()):  # QUEUED jobs waiting for their time, counted apart
        statuses.insert(statuses.index("QUEUED"), "SCHEDULED")
    for status in statuses:
        table.add_column(status, justify="right", style="" if plain else STATE_STYLES[status])
    names = list(dict.fromkeys([*served, *sorted(counts)]))
    for name in names:
        row = counts.get(name, {})
        label = Text(safe(name), style="" if plain or name in served or not served else "dim")
        table.add_row(label, *(str(row.get(s, 0)) for s in statuses))
    if len(names) > 1:
        totals = [sum(counts.get(n, {}).get(s, 0) for n in names) for s in statuses]
        table.add_row(Text("total", style="" if plain else "bold"), *(str(t) for t in totals))
    if not names:
        table.add_row(Text("(no jobs)", style="" if plain else "dim"), *("0" for _ in statuses))
    return table


def _heading(text: str, plain: bool) -> Text:
    return Text(text, style="" if plain else "bold")


def render_status(status: StoreStatus, plain: bool = False) -> RenderableType:
    """The status of a store as rich renderables: counts, running jobs, latest failures (ids are always shown
    whole: they are what ``retry`` and ``cancel`` take)."""
    now = status.at
    parts: list[RenderableType] = [_heading(f"Store {status.url} at {clock(now, now)}", plain)]
    if status.error is not None:
        parts.append(Text(f"cannot read the store: {safe(str(status.error))}", style="" if plain else "bold red"))
        return Group(*parts)
    parts += [Text(""), _heading("Jobs by status and queue", plain), depth_table(status.counts, plain)]

    parts += [Text(""), _heading(f"Workers ({len(status.workers)} live)", plain)]
    parts.append(_workers_table(status.workers, now, plain) if status.workers
                 else Text("  none", style="" if plain else "dim"))

    if status.recurring:
        parts += [Text(""), _heading("Recurring jobs (next runs)", plain),
                  _recurring_table(status.recurring, now, plain)]

    total = status.total("RUNNING")
    shown = len(status.running)
    more = f", the {shown} that started first shown" if total > shown and shown else ""
    parts += [Text(""), _heading(f"Running ({total}{more})", plain)]
    if status.running:
        table = bare_table(plain, expand=not plain)
        table.add_column("job", no_wrap=True, overflow="ellipsis", min_width=12, max_width=40)
        table.add_column("id", no_wrap=True, min_width=32)  # whole: it is what retry and cancel take
        table.add_column("worker", no_wrap=True, overflow="ellipsis", min_width=8, max_width=30)
        table.add_column("started", no_wrap=True, min_width=8)
        table.add_column("elapsed", justify="right", no_wrap=True, min_width=7)
        table.add_column("attempt", justify="right", no_wrap=True, min_width=7)
        table.add_column("progress", no_wrap=True, overflow="ellipsis", ratio=None if plain else 1, min_width=12)
        for record in status.running:
            started = record.started
            table.add_row(Text(safe(record.name)), Text(safe(record.id)), Text(safe(record.worker or "-")),
                          clock(started, now) if started else "-", duration(now - started) if started else "-",
                          str(record.attempts), progress_cell(record.progress, record.progress_message, plain))
        parts.append(table)
    else:
        parts.append(Text("  none", style="" if plain else "dim"))

    parts += [Text(""), _heading(f"Latest failures ({len(status.failures)} of {status.total('FAILED')} FAILED)", plain)]
    if status.failures:
        table = bare_table(plain, expand=not plain)
        table.add_column("when", no_wrap=True, min_width=8)
        table.add_column("job", no_wrap=True, overflow="ellipsis", min_width=12, max_width=40)
        table.add_column("id", no_wrap=True, min_width=32)
        table.add_column("error", overflow="fold" if plain else "ellipsis", no_wrap=not plain,
                         ratio=None if plain else 1)
        for record in status.failures:
            error = record.error or {}
            text = error_line(str(error.get("type", "Exception")), str(error.get("message", "")))
            table.add_row(clock(record.finished, now) if record.finished else "-", Text(safe(record.name)),
                          Text(safe(record.id)),
                          Text(text, style="" if plain else "red"))
        parts.append(table)
    else:
        parts.append(Text("  none", style="" if plain else "dim"))
    return Group(*parts)


def _workers_table(workers: list[dict[str, Any]], now: float, plain: bool) -> Table:
    """The live workers: id, host and pid, queues, concurrency, jobs running, done and failed, last heartbeat."""
    table = bare_table(plain, expand=not plain)
    for name, justify in (("worker", "left"), ("host", "left"), ("pid", "right"), ("queues", "left"),
                          ("slots", "left"), ("running", "right"), ("done", "right"), ("failed", "right"),
                          ("seen", "right")):
        table.add_column(name, justify=justify, no_wrap=True, overflow="ellipsis",  # type: ignore[arg-type]
                         max_width=40 if name in ("worker", "host", "queues") else None)
    for info in workers:
        def text(name: str, info: dict[str, Any] = info) -> str:
            value = info.get(name)
            return "-" if value is None else safe(str(value))

        queues = info.get("queues")
        concurrency = info.get("concurrency")
        running = info.get("running")
        heartbeat = info.get("heartbeat")
        table.add_row(
            Text(text("id")), Text(text("host")), text("pid"),
            Text(safe(",".join(map(str, queues))) if isinstance(queues, list) else "-"),
            Text(safe(" ".join(f"{k}={v}" for k, v in concurrency.items())) if isinstance(concurrency, dict) else "-"),
            str(len(running)) if isinstance(running, list) else "-", text("done"),
            Text(text("failed"), style="" if plain or not info.get("failed") else STATE_STYLES["FAILED"]),
            f"{duration(max(now - heartbeat, 0.0))} ago" if isinstance(heartbeat, (int, float)) else "-",
        )
    return table


def to_text(renderables: Iterable[RenderableType], width: int = 240) -> str:
    """Render without a terminal: no colour, no trailing spaces, wide enough that nothing is cut."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False, highlight=False,
                      emoji=False, soft_wrap=False)
    for renderable in renderables:
        console.print(renderable)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"
