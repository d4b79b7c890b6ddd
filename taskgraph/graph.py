"""Pure functions over the prerequisite graph: walking it in order, finding cycles, exporting to networkx.

Nothing here changes a task or does I/O. The edges point from a prerequisite to the task that requires it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from operator import attrgetter
from typing import TYPE_CHECKING

from .errors import CycleError

if TYPE_CHECKING:
    import networkx

    from .task import Task

__all__ = ["walk", "closure", "to_networkx"]


def walk(roots: Iterable[Task], follow: Callable[[Task], bool] | None = None,
         edges: Callable[[Task], Iterable[Task]] = attrgetter("prerequisites")) -> list[Task]:
    """The tasks reachable from ``roots`` through prerequisites, each after all of its prerequisites.

    Args:
        roots: where to start.
        follow: if given, only tasks for which it returns true are entered: the others are left out of the
            result and their prerequisites are not looked at.
        edges: a task's prerequisites (the scheduler reads them without the copy ``prerequisites`` makes).

    Returns:
        the tasks entered, in an order that puts every prerequisite before the tasks that require it.

    Raises:
        CycleError: the tasks entered form a cycle; it names the tasks along it.
    """
    order: list[Task] = []
    # False while a task is on the stack, True once it and its prerequisites are placed (or it is not entered).
    mark: dict[Task, bool] = {}
    for root in roots:
        if root in mark:
            continue
        if follow is not None and not follow(root):
            mark[root] = True
            continue
        mark[root] = False
        stack: list[tuple[Task, Iterator[Task]]] = [(root, iter(edges(root)))]
        while stack:
            node, prereqs = stack[-1]
            for p in prereqs:
                seen = mark.get(p)
                if seen is None:
                    if follow is not None and not follow(p):
                        mark[p] = True
                        continue
                    mark[p] = False
                    stack.append((p, iter(edges(p))))
                    break
                if seen is False:
                    raise _cycle([t for t, _ in stack], p)
            else:
                stack.pop()
                mark[node] = True
                order.append(node)
    return order


def _cycle(path: list[Task], back_to: Task) -> CycleError:
    """The error for the cycle closed by an edge from the top of ``path`` to ``back_to``, in edge direction."""
    on_cycle = list(reversed(path[path.index(back_to) :]))
    names = [t.name for t in on_cycle]
    return CycleError(names + names[:1], on_cycle)


def closure(tasks: Iterable[Task]) -> list[Task]:
    """``tasks`` and all their prerequisites, each after its prerequisites.

    Raises:
        CycleError: they form a cycle.
    """
    return walk(tasks)


def to_networkx(tasks: Iterable[Task]) -> networkx.DiGraph:
    """The graph of ``tasks`` and all their prerequisites as a :class:`networkx.DiGraph`.

    Each node is a :class:`~taskgraph.Task`, carrying the attributes ``task`` (itself), ``name`` and ``state``;
    each edge runs from a prerequisite to a task that requires it.

    Raises:
        CycleError: the tasks form a cycle.
    """
    import networkx

    graph = networkx.DiGraph()
    nodes = closure(tasks)
    graph.add_nodes_from((t, {"task": t, "name": t.name, "state": t.state.value}) for t in nodes)
    graph.add_edges_from((p, t) for t in nodes for p in t.prerequisites)
    return graph
