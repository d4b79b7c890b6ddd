"""Drawing task graphs: DOT text through the ``graphviz`` package, and SVG or PNG through Graphviz's ``dot``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, TypedDict

from .errors import RenderError
from .graph import closure
from .safetext import shown

if TYPE_CHECKING:
    import graphviz
    from typing_extensions import Unpack

    from .task import Task

__all__ = ["tasks_as_dot", "tasks_as_svg", "tasks_as_png", "DrawOptions", "STATE_COLOURS", "HIGHLIGHT_COLOUR",
           "INSTALL_GRAPHVIZ"]

#: Fill colour of a node, by the task's state.
STATE_COLOURS: dict[str, str] = {"PENDING": "white", "QUEUED": "lightblue", "RUNNING": "gold", "DONE": "palegreen",
                                  "FAILED": "salmon", "CANCELLED": "lightgrey"}

#: Border and edge colour of the tasks given as ``highlight``.
HIGHLIGHT_COLOUR = "red"

INSTALL_GRAPHVIZ = ("Graphviz's 'dot' program is needed to render SVG and was not found on PATH. Install Graphviz "
                    "(Debian/Ubuntu: sudo apt-get install graphviz; Fedora: sudo dnf install graphviz; macOS: brew "
                    "install graphviz; conda: conda install -c conda-forge graphviz), or write DOT with tasks_as_dot()"
                    " instead")


def _literal(text: str) -> str:
    """``text`` as Graphviz shows it literally: backslash escapes (``C:\\new``) and entities (``&amp;``)
    are Graphviz syntax in labels, so both are escaped; so are control characters (but tab and newline), which
    no SVG may hold."""
    return shown(text, lines=True).replace("\\", "\\\\").replace("&", "&amp;")


class DrawOptions(TypedDict, total=False):
    """The keyword arguments of :func:`tasks_as_dot`, :func:`tasks_as_svg` and :func:`tasks_as_png`."""

    name: str
    legend: bool
    states: Mapping[Task, str] | None
    labels: Mapping[Task, str] | None
    highlight: Sequence[Task]
    reduce: bool


def _digraph(tasks: Iterable[Task], name: str = "tasks", legend: bool = False,
             states: Mapping[Task, str] | None = None, labels: Mapping[Task, str] | None = None,
             highlight: Sequence[Task] = (), reduce: bool = False) -> graphviz.Digraph:
    import graphviz

    nodes = closure(tasks)
    ids = {t: f"t{i}" for i, t in enumerate(nodes)}
    order = list(highlight)
    chain = set(order)
    links = set(zip(order, order[1:], strict=False))
    thick = {"color": HIGHLIGHT_COLOUR, "penwidth": "3"}
    graph = graphviz.Digraph(name=name, graph_attr={"rankdir": "LR"},
                             node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica"})
    for t in nodes:
        state = states.get(t, t.state.value) if states else t.state.value
        extra = labels.get(t) if labels else None
        label = _literal(t.name) + (f"\\n{_literal(extra)}" if extra else "")  # \n: Graphviz's line break
        tooltip = _literal(f"{t.name}: {state}" + (f", {extra}" if extra else ""))
        # nohtml: a name such as "<b>" is text, not an HTML-like label
        graph.node(ids[t], label=graphviz.nohtml(label), fillcolor=STATE_COLOURS.get(state, "white"),
                   tooltip=graphviz.nohtml(tooltip), **(thick if t in chain else {}))
    edges = [(p, t) for t in nodes for p in t.prerequisites]  # prerequisite -> dependent
    if reduce and edges:
        import networkx

        kept = set(networkx.transitive_reduction(networkx.DiGraph(edges)).edges)
        edges = [e for e in edges if e in kept]
    for p, t in edges:
        graph.edge(ids[p], ids[t], **(thick if (p, t) in links else {}))
    if legend:
        with graph.subgraph(name="cluster_legend", graph_attr={"label": "state", "fontname": "Helvetica"}) as key:
            for state, colour in STATE_COLOURS.items():
                key.node(f"legend_{state}", label=state, fillcolor=colour)
    return graph


def tasks_as_dot(tasks: Iterable[Task], **options: Unpack[DrawOptions]) -> str:
    """The DOT text of ``tasks`` and all their prerequisites.

    Nodes are labelled by task name and filled by state (:data:`STATE_COLOURS`); edges run from prerequisite to
    dependent. Works without Graphviz installed.

    Args:
        tasks: the tasks to draw; their prerequisites are drawn too, so every edge joins two named nodes.
        name: the graph's name.
        legend: add a key of the state colours.
        states: the state to colour a task by (a state's name, such as ``"DONE"``), instead of its own state;
            tasks it leaves out are coloured by their own.
        labels: a second line for a task's label (a duration, say); tasks it leaves out have none.
        highlight: tasks to emphasise, in order (a chain such as :func:`taskgraph.review.critical_path` finds):
            each gets a thick :data:`HIGHLIGHT_COLOUR` border, and so does the edge from each to the next where
            that edge is drawn.
        reduce: draw only the edges of the transitive reduction: an edge ``a -> c`` is left out when a longer
            path ``a -> b -> c`` says the same. For big graphs.

    Raises:
        CycleError: the tasks form a cycle.
    """
    return _digraph(tasks, **options).source


def _pipe(graph: graphviz.Digraph, format: str) -> bytes:
    import graphviz

    try:
        return graph.pipe(format=format)
    except graphviz.ExecutableNotFound as exc:
        raise RenderError(INSTALL_GRAPHVIZ) from exc
    except graphviz.CalledProcessError as exc:
        raise RenderError(f"Graphviz's dot failed to render the graph: {exc}") from exc


def tasks_as_svg(tasks: Iterable[Task], **options: Unpack[DrawOptions]) -> str:
    """The SVG of the graph :func:`tasks_as_dot` draws (it takes the same arguments), rendered by Graphviz's ``dot``.

    Raises:
        RenderError: ``dot`` is not installed (the message says how to install it) or failed.
        CycleError: the tasks form a cycle.
    """
    return _pipe(_digraph(tasks, **options), "svg").decode("utf-8")


def tasks_as_png(tasks: Iterable[Task], **options: Unpack[DrawOptions]) -> bytes:
    """The PNG image of the graph :func:`tasks_as_dot` draws (it takes the same arguments), rendered by ``dot``.

    Raises:
        RenderError: ``dot`` is not installed (the message says how to install it) or failed.
        CycleError: the tasks form a cycle.
    """
    return _pipe(_digraph(tasks, **options), "png")
