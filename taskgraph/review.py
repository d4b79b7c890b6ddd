"""Reviewing a graph of tasks: what a run record says of each (:class:`Review`), the critical path
(:func:`critical_path`), and a self-contained HTML page (:meth:`Review.html`).

Each task is told by the record (:func:`taskgraph.runrecord.read_record`) when the record knows it, and by itself
otherwise: its own state, and the times of its own history if it ran in this process. Without a record, tasks
loaded from a pipeline are all PENDING, with no times.
"""

from __future__ import annotations

import html
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from .graph import closure, to_networkx
from .render import STATE_COLOURS, tasks_as_svg
from .runrecord import RunRecord, TaskRecord, describe_error
from .safetext import shown
from .states import State
from .task import Task
from .timefmt import clock, duration

__all__ = ["Review", "Chain", "critical_path", "match_record"]


class Chain(NamedTuple):
    """A chain of tasks, each a prerequisite of the next.

    Attributes:
        tasks: the chain, first to last.
        total: the sum of the weights of its tasks (seconds, or the number of tasks).
        by: ``"duration"`` or ``"count"``: what each task weighed.
    """

    tasks: list[Task]
    total: float
    by: str


def match_record(tasks: Iterable[Task], record: RunRecord) -> dict[Task, TaskRecord]:
    """What ``record`` says of each of ``tasks`` it knows, matched by name; when several tasks share a name, the
    first task with it is paired with the record's first task with it, and so on."""
    by_name: dict[str, list[TaskRecord]] = {}
    for entry in reversed(record.tasks):  # so that pop() takes the first left
        by_name.setdefault(entry.name, []).append(entry)
    return {task: by_name[task.name].pop() for task in tasks if by_name.get(task.name)}


def _own_record(task: Task) -> TaskRecord:
    """What ``task`` says of itself, as a record would."""
    own = TaskRecord(id=-1, name=task.name, key=task.key, state=task.state.value)
    for move in task.history:
        own.moved(move.dest, move.when)
        own.moves.append({"at": move.when, "from": move.source.value, "event": move.event, "to": move.dest.value})
    if task.state in (State.FAILED, State.CANCELLED):
        own.error = describe_error(task.exception)
    return own


def critical_path(tasks: Iterable[Task], durations: dict[Task, float | None] | None = None) -> Chain:
    """The chain of prerequisites among ``tasks`` (and their prerequisites) with the longest total duration.

    Args:
        tasks: the tasks to look at; their prerequisites are looked at too.
        durations: seconds each task took; a task it leaves out, or maps to None, weighs 0. Without it, every task
            weighs 1 and the chain is the longest by number of tasks.

    Returns:
        the chain, without tasks that weigh 0 at either end; empty when no task weighs anything.

    Raises:
        CycleError: the tasks form a cycle.
    """
    import networkx

    def weight(task: Task) -> float:
        return 1.0 if durations is None else float(durations.get(task) or 0.0)

    # On the transitive reduction, so that the chain runs through every step it can (a shortcut edge a -> c is
    # never longer than a -> b -> c). Task weights go on the edges into each task, with a start that leads to all.
    graph = networkx.transitive_reduction(to_networkx(tasks))
    start = object()
    weighted = networkx.DiGraph()
    weighted.add_edges_from((start, t, {"weight": weight(t)}) for t in graph)
    weighted.add_edges_from((p, t, {"weight": weight(t)}) for p, t in graph.edges)
    chain = [t for t in networkx.dag_longest_path(weighted, weight="weight") if t is not start]
    while chain and weight(chain[-1]) == 0:
        chain.pop()
    while chain and weight(chain[0]) == 0:
        chain.pop(0)
    return Chain(chain, sum(weight(t) for t in chain), "count" if durations is None else "duration")


@dataclass
class Review:
    """The tasks to review, and what a run record (if any) says of them.

    Attributes:
        tasks: the tasks given and all their prerequisites, each after its prerequisites.
        record: the run record, if any.
        facts: what is known of each task: from the record where it knows the task, from the task otherwise.
        unmatched: how many of the record's tasks are not among ``tasks``.
    """

    tasks: list[Task]
    record: RunRecord | None = None

    def __post_init__(self) -> None:
        self.tasks = closure(self.tasks)
        matched = match_record(self.tasks, self.record) if self.record else {}
        self.facts: dict[Task, TaskRecord] = {t: matched.get(t) or _own_record(t) for t in self.tasks}
        self.unmatched = len(self.record.tasks) - len(matched) if self.record else 0
        self.matched = len(matched)

    def states(self) -> dict[Task, str]:
        return {t: f.state for t, f in self.facts.items()}

    def labels(self) -> dict[Task, str]:
        return {t: duration(f.duration) for t, f in self.facts.items() if f.duration is not None}

    def critical_path(self) -> Chain:
        """By duration; by number of tasks when there is no duration to go by (no record, and no task has run)."""
        durations = {t: f.duration for t, f in self.facts.items()}
        nothing = self.record is None and all(d is None for d in durations.values())
        return critical_path(self.tasks, None if nothing else durations)

    def drawing(self, *, critical_path: bool = False, reduce: bool = False, legend: bool = False) -> dict[str, Any]:
        """Keyword arguments for :func:`~taskgraph.render.tasks_as_dot` and its kin: colours by state, durations
        in labels, and if asked the critical path highlighted, the transitive reduction, a legend."""
        highlight = self.critical_path().tasks if critical_path else ()
        return {"states": self.states(), "labels": self.labels(), "highlight": highlight, "reduce": reduce,
                "legend": legend}

    def wall_time(self) -> float | None:
        """The run's wall time: from the record's start to its end (or its last transition, for a run cut short);
        without a record, from the first start of a task to the last end."""
        if self.record is not None:
            ends = [m["at"] for t in self.record.tasks for m in t.moves if isinstance(m.get("at"), (int, float))]
            end = self.record.ended if self.record.ended is not None else max(ends, default=None)
            return None if end is None else max(end - self.record.started, 0.0)
        starts = [f.started for f in self.facts.values() if f.started is not None]
        ends = [f.finished for f in self.facts.values() if f.finished is not None]
        return max(max(ends) - min(starts), 0.0) if starts and ends else None

    def html(self, *, title: str = "tasks", critical_path: bool = False, reduce: bool = False,
             legend: bool = False) -> str:
        """One self-contained HTML page (inline SVG and CSS, no script, nothing fetched): the graph, the totals,
        the critical path and a table of the tasks. Everything shown is escaped.

        Args:
            title: what is reviewed, for the page's title and heading (the pipeline, say).
            critical_path, reduce, legend: as for :meth:`drawing`; the critical path is listed either way.

        Raises:
            RenderError: Graphviz's ``dot`` is not installed, or failed.
        """
        svg = tasks_as_svg(self.tasks, name="tasks", **self.drawing(critical_path=critical_path, reduce=reduce,
                                                                    legend=legend))
        return _page(self, title, _inline(svg))


_CSS = """
body { font-family: Helvetica, Arial, sans-serif; margin: 1.5em auto; max-width: 80em; padding: 0 1em;
       color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; overflow-wrap: anywhere; }
h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.meta { color: #555; margin-top: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; }
th, td { text-align: left; vertical-align: top; padding: 0.3em 0.7em; border-bottom: 1px solid #e4e4e4; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.name, td.error { overflow-wrap: anywhere; }
td.error { white-space: pre-wrap; font-family: Menlo, Consolas, monospace; font-size: 0.9em; color: #8b0000; }
.chip { display: inline-block; padding: 0.05em 0.5em; border: 1px solid #999; border-radius: 0.6em;
        font-size: 0.85em; white-space: nowrap; }
.critical td.name { font-weight: bold; }
.critical td.name::before { content: "\\25B6\\00A0"; color: red; }
.graph { overflow: auto; border: 1px solid #ddd; padding: 0.5em; }
.graph svg { display: block; }
ol.path li { margin: 0.15em 0; }
.note { color: #666; font-size: 0.9em; }
.totals th { background: none; font-weight: normal; color: #555; }
"""


_NONE = "\u2014"  # shown for a time or duration not known


def _esc(value: object) -> str:
    return html.escape(shown(str(value), lines=True), quote=True)


def _inline(svg: str) -> str:
    """The SVG without the XML declaration and doctype that cannot stand inside HTML."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def _duration(seconds: float | None) -> str:
    return _NONE if seconds is None else duration(seconds)


def _chip(state: str) -> str:
    colour = STATE_COLOURS.get(state, "white")
    return f'<span class="chip state-{_esc(state)}" style="background: {colour}">{_esc(state)}</span>'


def _clock(at: float | None, since: float | None) -> str:
    if at is None:
        return _NONE
    text = clock(at, now=at) + f".{int(at % 1 * 1000):03d}"  # the time of day, whatever the day
    if since is not None:
        text += f' <span class="note">+{at - since:.3f} s</span>'
    return text


def _section(name: str, heading: str, body: str) -> str:
    return f'<section id="{name}">\n<h2>{heading}</h2>\n{body}\n</section>'


def _page(review: Review, title: str, svg: str) -> str:
    from . import __version__

    record = review.record
    facts = review.facts
    chain = review.critical_path()
    durations = [f.duration for f in facts.values() if f.duration is not None]
    counts = Counter(f.state for f in facts.values())
    order = [s for s in STATE_COLOURS if s in counts] + sorted(s for s in counts if s not in STATE_COLOURS)
    wall = review.wall_time()
    first_start = min((f.started for f in facts.values() if f.started is not None), default=None)
    since = record.started if record is not None else first_start

    if record is not None:
        status = record.status or "cut short (the record has no end line)"
        when = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(record.started))
        meta = (f"Run record <code>{_esc(record.path)}</code>: started {_esc(when)}, {_esc(status)}"
                + (f"; targets {_esc(', '.join(record.targets))}" if record.targets else "") + ".")
        if review.unmatched:
            meta += (f" {review.unmatched} of the record's {len(record.tasks)} tasks are not in this graph"
                     + ("; is it the record of another pipeline?" if not review.matched else "."))
    elif durations:
        meta = "No run record: each task as it is in this process."
    else:
        meta = "No run record: every task as loaded, with no times (give a run record for states and durations)."

    rows = "\n".join(
        f'<tr class="task{" critical" if t in chain.tasks else ""}" data-state="{_esc(f.state)}">'
        f'<td class="name">{_esc(t.name)}</td><td class="state">{_chip(f.state)}</td>'
        f'<td class="num started">{_clock(f.started, since)}</td>'
        f'<td class="num duration">{"up to date" if f.uptodate else _duration(f.duration)}</td>'
        f'<td class="error">{_esc(f.error or "")}</td></tr>'
        for t, f in ((t, facts[t]) for t in review.tasks)
    )
    if chain.by == "count":
        path_intro = (f"The longest chain of prerequisites by number of tasks ({len(chain.tasks)}): with no "
                      "durations to go by, every task counts 1.")
        path_total = f"{len(chain.tasks)} tasks"
    elif chain.tasks:
        path_intro = (f"The chain of prerequisites with the longest total duration: <strong>{duration(chain.total)}"
                      f"</strong> over {len(chain.tasks)} task{'s' if len(chain.tasks) != 1 else ''}.")
        path_total = duration(chain.total)
    else:
        path_intro = "No task ran to an end, so there is no critical path by duration."
        path_total = _NONE
    steps = []
    for t in chain.tasks:
        d = facts[t].duration
        extra = f' <span class="note">{duration(d)}</span>' if chain.by == "duration" and d is not None else ""
        steps.append(f'<li><span class="name">{_esc(t.name)}</span>{extra}</li>')
    path_list = f'<ol class="path">{"".join(steps)}</ol>' if steps else ""

    totals = [
        ("Tasks", f"{len(review.tasks)}"),
        ("By state", " ".join(f"{_chip(s)}&nbsp;{counts[s]}" for s in order)),
        ("Wall time", _duration(wall)),
        ("Sum of durations", _duration(sum(durations)) if durations else _NONE),
        ("Critical path", path_total),
    ]
    fresh = sum(f.uptodate for f in facts.values())
    if fresh:
        totals.insert(2, ("Up to date", f"{fresh} (DONE without running: their declared files were up to date)"))
    totals_rows = "".join(f'<tr><th>{name}</th><td class="total">{value}</td></tr>' for name, value in totals)
    header = "<thead><tr><th>Task</th><th>State</th><th>Started</th><th>Duration</th><th>Error</th></tr></thead>"
    sections = "\n".join([
        _section("totals", "Totals", f'<table class="totals">{totals_rows}</table>'),
        _section("critical-path", "Critical path", f"<p>{path_intro}</p>\n{path_list}"),
        _section("graph", "Graph", f'<div class="graph">\n{svg}\n</div>'),
        _section("tasks", "Tasks", f'<table id="task-table">\n{header}\n<tbody>\n{rows}\n</tbody>\n</table>'),
    ])
    made = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>taskgraph review: {_esc(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>Review of {_esc(title)}</h1>
<p class="meta">{meta}</p>
{sections}
<p class="note">Made by taskgraph {_esc(__version__)} on {_esc(made)}.</p>
</body>
</html>
"""
