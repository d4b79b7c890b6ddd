"""The HTML page of a review (:meth:`taskgraph.review.Review.html`): one self-contained page, no script, nothing
fetched, everything shown escaped.

From the top: what the run was (record, queue, slots); the first failure's error, command and stderr; the
totals (blocked apart from failed, up to date apart from ran, and what set the wall time); the timeline of the
tasks on their worker slots beside the graph; the critical path; every failure; a table of the tasks with their
commands.
"""

from __future__ import annotations

import html
import time
from collections import Counter
from typing import TYPE_CHECKING

from .render import STATE_COLOURS
from .review_timeline import TIMELINE_CSS, bars, slots_of, timeline_html, wall_bound
from .runrecord import TaskRecord
from .safetext import shown
from .timefmt import clock, duration

if TYPE_CHECKING:
    from .review import Review
    from .task import Task

__all__ = ["page", "blocked"]

MOST_ERROR = 4000  # characters of an error or a stderr shown in a cell; the whole is in the record

_CSS = """
body { font-family: Helvetica, Arial, sans-serif; margin: 1.5em auto; max-width: 100em; padding: 0 1em;
       color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; overflow-wrap: anywhere; }
h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.meta { color: #555; margin-top: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; }
th, td { text-align: left; vertical-align: top; padding: 0.3em 0.7em; border-bottom: 1px solid #e4e4e4; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.name, td.error, td.command { overflow-wrap: anywhere; }
td.error, pre { white-space: pre-wrap; font-family: Menlo, Consolas, monospace; font-size: 0.9em; }
td.error, pre.error { color: #8b0000; }
td.command code { font-size: 0.85em; }
pre { margin: 0.3em 0; overflow-wrap: anywhere; }
.chip { display: inline-block; padding: 0.05em 0.5em; border: 1px solid #999; border-radius: 0.6em;
        font-size: 0.85em; white-space: nowrap; }
.chip.blocked { border-style: dashed; }
.critical td.name { font-weight: bold; }
.critical td.name::before { content: "\\25B6\\00A0"; color: red; }
.panes { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
.panes > section { flex: 1 1 38em; min-width: 0; }
.graph, .timeline-box { overflow: auto; max-height: 80vh; border: 1px solid #ddd; padding: 0.5em; }
.graph svg { display: block; }
#first-failure { border-left: 4px solid #c00; padding-left: 0.8em; }
ol.path li { margin: 0.15em 0; }
.note { color: #666; font-size: 0.9em; }
.totals th { background: none; font-weight: normal; color: #555; }
"""

_NONE = "\u2014"  # shown for a time or duration not known


def _esc(value: object) -> str:
    return html.escape(shown(str(value), lines=True), quote=True)


def _cut(text: str) -> str:
    return text if len(text) <= MOST_ERROR else "\u2026" + text[-MOST_ERROR:]


def _duration(seconds: float | None) -> str:
    return _NONE if seconds is None else duration(seconds)


def blocked(fact: TaskRecord) -> bool:
    """FAILED without running, because a prerequisite failed."""
    return fact.state == "FAILED" and fact.started is None


def _chip(state: str, is_blocked: bool = False) -> str:
    """A state's name on its colour; a blocked task's FAILED on a paler red, with a dashed border."""
    style = "background: #fde0e0" if is_blocked else f"background: {STATE_COLOURS.get(state, 'white')}"
    extra = " blocked" if is_blocked else ""
    return f'<span class="chip state-{_esc(state)}{extra}" style="{style}">{_esc(state)}</span>'


def _how_long(fact: TaskRecord) -> str:
    """The duration cell: up to date, blocked, or how long it ran."""
    if fact.uptodate:
        return "up to date"
    if blocked(fact):
        return "blocked"
    return _duration(fact.duration)


def _clock(at: float | None, since: float | None) -> str:
    if at is None:
        return _NONE
    text = clock(at, now=at) + f".{int(at % 1 * 1000):03d}"  # the time of day, whatever the day
    if since is not None:
        text += f' <span class="note">+{at - since:.3f} s</span>'
    return text


def _section(name: str, heading: str, body: str) -> str:
    return f'<section id="{name}">\n<h2>{heading}</h2>\n{body}\n</section>'


def _failure(task: Task, fact: TaskRecord, command: str | None) -> str:
    """A failure: the task, its command, its error; with the stderr the record kept, the error's first line and
    then that stderr (the rest of a command's error repeats it)."""
    parts = [f'<p><strong class="name">{_esc(task.name)}</strong> failed after {_duration(fact.duration)}.</p>']
    if command:
        parts.append(f'<pre class="command">$ {_esc(command)}</pre>')
    error = fact.error or "(no error recorded)"
    if fact.stderr:
        parts.append(f'<pre class="error">{_esc(error.splitlines()[0])}</pre>')
        parts.append(f'<p class="note">stderr:</p><pre class="stderr">{_esc(_cut(fact.stderr))}</pre>')
    else:
        parts.append(f'<pre class="error">{_esc(_cut(error))}</pre>')
    return "\n".join(parts)


def _meta(review: Review) -> str:
    record = review.record
    if record is not None:
        status = record.status or "cut short (the record has no end line)"
        when = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(record.started))
        meta = (f"Run record <code>{_esc(record.path)}</code>: started {_esc(when)}, {_esc(status)}"
                + (f"; targets {_esc(', '.join(record.targets))}" if record.targets else "") + ".")
        if review.unmatched:
            meta += (f" {review.unmatched} of the record's {len(record.tasks)} tasks are not in this graph"
                     + ("; is it the record of another pipeline?" if not review.matched else "."))
        return meta
    if any(f.duration is not None for f in review.facts.values()):
        return "No run record: each task as it is in this process."
    return "No run record: every task as loaded, with no times (give a run record for states and durations)."


def page(review: Review, title: str, svg: str) -> str:
    """The page of ``review``, with ``svg`` (the graph, inline) in it."""
    from . import __version__

    record = review.record
    facts = review.facts
    commands = review.commands()
    chain = review.critical_path()
    durations = [f.duration for f in facts.values() if f.duration is not None]
    counts = Counter(f.state for f in facts.values())
    order = [s for s in STATE_COLOURS if s in counts] + sorted(s for s in counts if s not in STATE_COLOURS)
    held = sum(blocked(f) for f in facts.values())
    wall = review.wall_time()
    first_start = min((f.started for f in facts.values() if f.started is not None), default=None)
    since = record.started if record is not None else first_start
    queue = record.queue if record is not None else ""
    slots = slots_of(queue) if queue else None
    found = bars([facts[t] for t in review.tasks], since or 0.0, (since or 0.0) + wall if wall is not None else None)
    busiest = max((b.slot for b in found), default=-1) + 1
    failures = sorted(((t, f) for t, f in facts.items() if f.state == "FAILED" and not blocked(f)),
                      key=lambda tf: (tf[1].finished if tf[1].finished is not None else float("inf"), tf[0].name))

    first = ""
    if failures:
        more = (f'<p class="note">{len(failures) - 1} more failure{"s" if len(failures) > 2 else ""}: see '
                '<a href="#failures">Failures</a>.</p>') if len(failures) > 1 else ""
        task, fact = failures[0]
        first = _section("first-failure", "First failure", _failure(task, fact, commands.get(task)) + more)

    def command_cell(t: Task) -> str:  # a column only when some task has a command
        if not commands:
            return ""
        return f'<td class="command">{f"<code>{_esc(commands[t])}</code>" if t in commands else ""}</td>'

    rows = "\n".join(
        f'<tr class="task{" critical" if t in chain.tasks else ""}" data-state="{_esc(f.state)}"'
        f'{" data-blocked" if blocked(f) else ""}>'
        f'<td class="name">{_esc(t.name)}</td><td class="state">{_chip(f.state, blocked(f))}</td>'
        f'<td class="num started">{_clock(f.started, since)}</td>'
        f'<td class="num duration">{_how_long(f)}</td>'
        f'<td class="error">{_esc(_cut(f.error or ""))}</td>{command_cell(t)}</tr>'
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
    if queue:
        said = f"{slots} slot{'s' if slots != 1 else ''}" if slots is not None else "slots not said by the URL"
        totals.insert(1, ("Queue", f"<code>{_esc(queue)}</code> ({said}; at most {busiest} ran at once)"))
    if held:
        ran_failed = counts["FAILED"] - held
        totals.insert(3, ("Blocked", f"{held} of the {counts['FAILED']} FAILED did not run: a prerequisite failed; "
                                     f"{ran_failed} ran and failed"))
    fresh = sum(f.uptodate for f in facts.values())
    if fresh:
        totals.insert(3, ("Up to date", f"{fresh} (DONE without running: their declared files were up to date)"))
    if chain.by == "duration" and durations:
        totals.append(("What set the wall time", _esc(wall_bound(wall, chain.total, sum(durations),
                                                                 slots or busiest or None))))
    totals_rows = "".join(f'<tr><th>{name}</th><td class="total">{value}</td></tr>' for name, value in totals)
    header = ("<thead><tr><th>Task</th><th>State</th><th>Started</th><th>Duration</th><th>Error</th>"
              f"{'<th>Command</th>' if commands else ''}</tr></thead>")
    if found:
        drawn = timeline_html(found, wall, slots, {t.name: c for t, c in commands.items()})
        skipped = len(facts) - len(found)
        timeline = (f'<div class="timeline-box">{drawn}</div>\n<p class="note">Each task that ran, on the slot '
                    "it ran on (the lowest free when it started), coloured by state; "
                    f"{skipped} tasks did not run (up to date, blocked or not reached).</p>")
    else:
        timeline = '<p class="note">No task ran: there is no timeline.</p>'
    failure_list = ""
    if len(failures) > 1:
        failure_list = _section("failures", f"Failures ({len(failures)})", "\n".join(
            _failure(t, f, commands.get(t)) for t, f in failures))
    sections = "\n".join(filter(None, [
        first,
        _section("totals", "Totals", f'<table class="totals">{totals_rows}</table>'),
        '<div class="panes">\n' + _section("timeline", "Timeline", timeline)
        + "\n" + _section("graph", "Graph", f'<div class="graph">\n{svg}\n</div>') + "\n</div>",
        _section("critical-path", "Critical path", f"<p>{path_intro}</p>\n{path_list}"),
        failure_list,
        _section("tasks", "Tasks", f'<table id="task-table">\n{header}\n<tbody>\n{rows}\n</tbody>\n</table>'),
    ]))
    made = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>taskgraph review: {_esc(title)}</title>
<style>{_CSS}{TIMELINE_CSS}</style>
</head>
<body>
<h1>Review of {_esc(title)}</h1>
<p class="meta">{_meta(review)}</p>
{sections}
<p class="note">Made by taskgraph {_esc(__version__)} on {_esc(made)}.</p>
</body>
</html>
"""
