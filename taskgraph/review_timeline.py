"""The timeline of a run for its review: each task that ran as a bar on the worker slot it ran on (a Gantt chart),
and what set the run's wall time: its critical path, or its number of slots.

Slots are not recorded: each task is put, in the order tasks started, on the lowest slot free at its start. On a
queue of N workers that start the next task as soon as one is free (threads://N, processes://N) this is the slot
picture of the run; no more slots are drawn than the most tasks that ran at once.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from .render import STATE_COLOURS
from .runrecord import TaskRecord
from .safetext import shown
from .timefmt import duration

__all__ = ["Bar", "bars", "slots_of", "wall_bound", "timeline_html", "TIMELINE_CSS"]

WIDTH = 900  # px the time axis is taken to span, to decide which bars are wide enough for their name
SETS_IT = 0.8  # a bound within this fraction of the wall time is what set it


class Bar(NamedTuple):
    """One task's run: its name, state, slot (0 first), and its start and end in seconds from the run's start."""

    name: str
    state: str
    slot: int
    start: float
    end: float


def slots_of(queue: str) -> int | None:
    """How many tasks a queue URL runs at once: ``inline:`` 1, ``threads://N`` and ``processes://N`` N; None
    when the URL does not say."""
    if queue.startswith("inline"):
        return 1
    match = re.match(r"^(?:threads|processes)://(\d+)\b", queue)
    return int(match.group(1)) if match else None


def bars(facts: Iterable[TaskRecord], since: float, until: float | None) -> list[Bar]:
    """The bars of the tasks that ran, on slots given in the order they started (see the module); a task still
    running at the end of the record ends at ``until``."""
    ran = sorted((f for f in facts if f.started is not None), key=lambda f: (f.started, f.name))
    free_at: list[float] = []  # per slot, when its last task ended
    found = []
    for f in ran:
        assert f.started is not None
        end = f.finished if f.finished is not None else until if until is not None else f.started
        slot = next((i for i, t in enumerate(free_at) if t <= f.started + 1e-6), len(free_at))
        if slot == len(free_at):
            free_at.append(end)
        else:
            free_at[slot] = end
        found.append(Bar(f.name, f.state, slot, f.started - since, max(end, f.started) - since))
    return found


def wall_bound(wall: float | None, critical: float, work: float, slots: int | None) -> str:
    """Whether ``wall`` seconds were set by the critical path (``critical`` seconds of chained work) or by the
    slots (``work`` seconds of work over ``slots``), said in a sentence."""
    if wall is None or wall <= 0 or work <= 0:
        return "No task ran to an end: nothing to say of what set the wall time."
    spread = work / slots if slots else None
    by_path = critical >= SETS_IT * wall
    by_slots = spread is not None and spread >= SETS_IT * wall
    path = f"the critical path is {duration(critical)}"
    if spread is not None:
        share = f"{duration(work)} of work over {slots} slot{'s' if slots != 1 else ''} is {duration(spread)}"
    else:
        share = f"{duration(work)} of work (the queue does not say how many slots it has)"
    if by_path and (not by_slots or critical >= (spread or 0)):
        return (f"The wall time, {duration(wall)}, was set by the critical path: {path}; {share}. More slots "
                "would not make it shorter; a shorter chain of prerequisites would.")
    if by_slots:
        return (f"The wall time, {duration(wall)}, was set by the number of slots: {share}, and {path}. More "
                "slots (-j) would make it shorter.")
    return (f"The wall time, {duration(wall)}, is well above both bounds: {path}; {share}. The rest went to "
            "waiting: tasks that were up to date or blocked, the queue's overhead, or a slow start.")


def _esc(value: object) -> str:
    return html.escape(shown(str(value), lines=True), quote=True)


def timeline_html(found: list[Bar], wall: float | None, slots: int | None,
                  commands: Mapping[str, str] | None = None) -> str:
    """``found`` as HTML (no script, no SVG: it scales with the page): a row per slot, time running right, each
    bar coloured by the task's state, titled with its name, duration (and command), and labelled with its name
    where it is wide enough; a scale of seconds below."""
    rows = max((b.slot for b in found), default=-1) + 1
    end = max([b.end for b in found] + [wall or 0.0]) or 1.0
    parts = ['<div class="timeline" role="img" aria-label="timeline of the tasks on their worker slots">']
    for slot in range(rows):
        parts.append(f'<div class="slot"><span class="slot-name">slot {slot + 1}</span><div class="lane">')
        for b in (b for b in found if b.slot == slot):
            left, width = 100 * b.start / end, max(100 * (b.end - b.start) / end, 0.15)
            tip = f"{b.name}: {b.state}, {duration(b.end - b.start)} from +{b.start:.3f} s"
            if commands and b.name in commands:
                tip += f"\n$ {commands[b.name]}"
            colour = STATE_COLOURS.get(b.state, "white")
            label = _esc(b.name) if width * WIDTH / 100 > 7 * min(len(b.name), 40) else ""
            parts.append(f'<div class="bar" data-task="{_esc(b.name)}" data-slot="{slot + 1}" '
                         f'data-left="{left:.3f}" data-width="{width:.3f}" title="{_esc(tip)}" '
                         f'style="left: {left:.3f}%; width: {width:.3f}%; background: {colour}">{label}</div>')
        parts.append("</div></div>")
    ticks = "".join(f'<span style="left: {100 * i / 5:.0f}%">{end * i / 5:.2f} s</span>' for i in range(5))
    ticks += f'<span class="last">{end:.2f} s</span>'  # right-aligned: it must not stick out of the lane
    parts.append(f'<div class="slot axis"><span class="slot-name"></span><div class="lane">{ticks}</div></div>')
    if slots is not None and slots > rows:
        parts.append(f'<p class="note">{slots - rows} of the {slots} slots never ran a task.</p>')
    parts.append("</div>")
    return "".join(parts)


#: the page's CSS for :func:`timeline_html`
TIMELINE_CSS = """
.timeline { font-size: 0.8em; min-width: 24em; }
.timeline .slot { display: flex; align-items: center; border-bottom: 1px solid #eee; }
.timeline .slot-name { flex: 0 0 4em; color: #555; }
.timeline .lane { position: relative; flex: 1 1 auto; height: 1.6em; }
.timeline .bar { position: absolute; top: 0.15em; bottom: 0.15em; border: 1px solid #666; border-radius: 2px;
                 overflow: hidden; white-space: nowrap; padding: 0 2px; box-sizing: border-box; }
.timeline .axis .lane span { position: absolute; transform: translateX(-50%); color: #555; white-space: nowrap; }
.timeline .axis .lane span:first-child { transform: none; }
.timeline .axis .lane span.last { right: 0; transform: none; }
.timeline .axis { border-bottom: none; }
"""
