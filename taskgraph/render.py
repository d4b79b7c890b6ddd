"""Drawing task graphs: DOT text through the ``graphviz`` package, and SVG through Graphviz's ``dot``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .errors import RenderError
from .graph import closure

if TYPE_CHECKING:
    import graphviz

    from .task import Task

__all__ = ["tasks_as_dot", "tasks_as_svg", "STATE_COLOURS", "INSTALL_GRAPHVIZ"]

#: Fill colour of a node, by the task's state.
STATE_COLOURS: dict[str, str] = {
    "PENDING": "white",
    "QUEUED": "lightblue",
    "RUNNING": "gold",
    "DONE": "palegreen",
    "FAILED": "salmon",
    "CANCELLED": "lightgrey",
}

INSTALL_GRAPHVIZ = (
    "Graphviz's 'dot' program is needed to render SVG and was not found on PATH. Install Graphviz "
    "(Debian/Ubuntu: sudo apt-get install graphviz; Fedora: sudo dnf install graphviz; macOS: brew install "
    "graphviz; conda: conda install -c conda-forge graphviz), or write DOT with tasks_as_dot() instead"
)


def _literal(text: str) -> str:
    """``text`` as Graphviz shows it literally: backslash escapes (``C:\\new``) and entities (``&amp;``)
    are Graphviz syntax in labels, so both are escaped."""
    return text.replace("\\", "\\\\").replace("&", "&amp;")


def _digraph(tasks: Iterable[Task], name: str, legend: bool) -> graphviz.Digraph:
    import graphviz

    nodes = closure(tasks)
    ids = {t: f"t{i}" for i, t in enumerate(nodes)}
    graph = graphviz.Digraph(
        name=name,
        graph_attr={"rankdir": "LR"},
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica"},
    )
    for t in nodes:
        state = t.state.value
        name = _literal(t.name)
        graph.node(ids[t], label=name, fillcolor=STATE_COLOURS[state], tooltip=f"{name}: {state}")
    for t in nodes:
        for p in t._prereqs:
            graph.edge(ids[p], ids[t])
    if legend:
        with graph.subgraph(name="cluster_legend", graph_attr={"label": "state", "fontname": "Helvetica"}) as key:
            for state, colour in STATE_COLOURS.items():
                key.node(f"legend_{state}", label=state, fillcolor=colour)
    return graph


def tasks_as_dot(tasks: Iterable[Task], *, name: str = "tasks", legend: bool = False) -> str:
    """The DOT text of ``tasks`` and all their prerequisites.

    Nodes are labelled by task name and filled by state (:data:`STATE_COLOURS`); edges run from prerequisite to
    dependent. Works without Graphviz installed.

    Args:
        tasks: the tasks to draw; their prerequisites are drawn too, so every edge joins two named nodes.
        name: the graph's name.
        legend: add a key of the state colours.

    Raises:
        CycleError: the tasks form a cycle.
    """
    return _digraph(tasks, name, legend).source


def tasks_as_svg(tasks: Iterable[Task], *, name: str = "tasks", legend: bool = False) -> str:
    """The SVG of the graph :func:`tasks_as_dot` draws, rendered by Graphviz's ``dot``.

    Raises:
        RenderError: ``dot`` is not installed (the message says how to install it) or failed.
        CycleError: the tasks form a cycle.
    """
    import graphviz

    graph = _digraph(tasks, name, legend)
    try:
        return graph.pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound as exc:
        raise RenderError(INSTALL_GRAPHVIZ) from exc
    except graphviz.CalledProcessError as exc:
        raise RenderError(f"Graphviz's dot failed to render the graph: {exc}") from exc
