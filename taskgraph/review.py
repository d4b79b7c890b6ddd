"""Reviewing a graph of tasks: what a run record says of each (:class:`Review`), the critical path
(:func:`critical_path`), and a self-contained HTML page (:meth:`Review.html`, laid out by
:mod:`taskgraph.review_page`, with the timeline of :mod:`taskgraph.review_timeline`).

Each task is told by the record (:func:`taskgraph.runrecord.read_record`) when the record knows it, and by itself
otherwise: its own state, and the times of its own history if it ran in this process. Without a record, tasks
loaded from a pipeline are all PENDING, with no times.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from .errors import RenderError
from .graph import closure, to_networkx
from .render import INSTALL_GRAPHVIZ, tasks_as_dot
from .review_page import page
from .runrecord import RunRecord, TaskRecord, describe_error
from .states import State
from .task import Task
from .timefmt import duration

__all__ = ["Review", "Chain", "critical_path", "match_record", "FAN"]

FAN = 8  # a task with more prerequisites or dependents than this has its graph unflattened (staggered)


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

    def commands(self) -> dict[Task, str]:
        """Each shell task's command: as the record has it, else as the task says."""
        from .build import command_of

        found = {}
        for t, f in self.facts.items():
            command = f.command or command_of(t)
            if command:
                found[t] = command
        return found

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
        dot = tasks_as_dot(self.tasks, name="tasks", **self.drawing(critical_path=critical_path, reduce=reduce,
                                                                    legend=legend))
        return page(self, title, _inline(_svg(dot, self.tasks)))


def _inline(svg: str) -> str:
    """The SVG without the XML declaration and doctype that cannot stand inside HTML."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def _svg(dot: str, tasks: list[Task]) -> str:
    """``dot`` rendered as SVG; when a task has more than :data:`FAN` prerequisites or dependents, unflattened
    first (and its edges concentrated), so that a wide fan-in or fan-out is drawn over several columns instead of
    one very tall one."""
    import graphviz

    dependents: dict[Task, int] = {}
    for t in tasks:
        for p in t.prerequisites:
            dependents[p] = dependents.get(p, 0) + 1
    fan = max([len(t.prerequisites) for t in tasks] + list(dependents.values()) + [0])
    try:
        if fan > FAN:  # leaves staggered over about sqrt(fan) columns, their edges merged as they go
            dot = dot.replace("rankdir=LR", "rankdir=LR concentrate=true", 1)
            dot = graphviz.unflatten(dot, stagger=min(max(round(fan ** 0.5), 2), 8), fanout=True)
        return graphviz.Source(dot).pipe(format="svg").decode("utf-8")
    except graphviz.ExecutableNotFound as exc:
        raise RenderError(INSTALL_GRAPHVIZ) from exc
    except graphviz.CalledProcessError as exc:
        raise RenderError(f"Graphviz failed to render the graph: {exc}") from exc
