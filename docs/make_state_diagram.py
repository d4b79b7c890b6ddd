"""Draw the task state machine as docs/state-machine.svg.

The diagram is drawn by `transitions` itself (its diagrams extension, graphviz backend) from the declaration in
:data:`taskgraph.states.TRANSITIONS`, so it cannot drift from the machine tasks run on. Each state is filled with
the colour task graphs use for it (:data:`taskgraph.render.STATE_COLOURS`); PENDING, where every task starts,
has a double border.

Run it from the repository root after changing the machine, and commit the SVG:

    .venv/bin/python docs/make_state_diagram.py

Needs Graphviz's ``dot`` on PATH.
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

from transitions.extensions.diagrams import GraphMachine

from taskgraph.render import STATE_COLOURS
from taskgraph.states import PENDING, TRANSITIONS, State

OUT = Path(__file__).resolve().parent / "state-machine.svg"


class _Diagram:
    """A model for the machine to draw: it only holds the state the drawing starts from."""


def build() -> GraphMachine:
    """The task machine as a GraphMachine, styled with taskgraph's state colours."""
    model = _Diagram()
    machine = GraphMachine(
        model=model,
        states=[s.value for s in State],
        transitions=[
            {"trigger": event, "source": [s.value for s in sources], "dest": dest.value}
            for event, sources, dest in TRANSITIONS
        ],
        initial=PENDING.value,
        auto_transitions=False,
        graph_engine="graphviz",
        title="Task state machine",
    )
    # One named node style per state, each a fill colour; the class-level defaults stay untouched.
    styles = copy.deepcopy(GraphMachine.style_attributes)
    for state, colour in STATE_COLOURS.items():
        styles["node"][state] = {"fillcolor": colour, "color": "black", "peripheries": "1"}
    styles["node"][PENDING.value]["peripheries"] = "2"
    styles["graph"]["default"]["fontname"] = "Helvetica"
    machine.style_attributes = styles
    graph = machine.model_graphs[id(model)]
    for state in State:
        graph.set_node_style(state.value, state.value)
    return machine


def main() -> int:
    machine = build()
    dot = machine.get_combined_graph()
    dot.node_attr["fontname"] = "Helvetica"
    dot.edge_attr["fontname"] = "Helvetica"
    svg = dot.pipe(format="svg", encoding="utf-8")
    OUT.write_text(svg, encoding="utf-8")
    print(f"wrote {os.path.relpath(OUT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
