"""Small SVG pictures drawn as text, with no library and no browser script: the throughput chart of the overview and
a stored graph's tasks and edges coloured by state. Every label is escaped (XML) after its control characters are."""

from __future__ import annotations

from html import escape
from typing import Any

from ..safetext import shown

__all__ = ["COLOURS", "throughput_svg", "graph_svg"]

#: The fill of each status, shared with the stylesheet's badges.
COLOURS = {
    "PENDING": "#d0d4da", "SCHEDULED": "#c9b6f2", "QUEUED": "#9cc3f5", "RUNNING": "#f5d67b", "DONE": "#8fd19e",
    "FAILED": "#f19a9a", "CANCELLED": "#b7b7b7",
}


def _text(value: Any) -> str:
    return escape(shown(str(value)), quote=True)


def throughput_svg(data: dict[str, Any], width: int = 600, height: int = 120) -> str:
    """Bars of the jobs finished in each minute (DONE stacked under FAILED), oldest on the left."""
    done, failed = data["done"], data["failed"]
    n = max(len(done), 1)
    top = max([d + f for d, f in zip(done, failed, strict=True)] + [1])
    bar = width / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height + 16}" '
             f'width="{width}" height="{height + 16}" role="img" aria-label="jobs finished per minute">']
    for i, (d, f) in enumerate(zip(done, failed, strict=True)):
        x = i * bar
        hd, hf = height * d / top, height * f / top
        if d:
            parts.append(f'<rect x="{x:.1f}" y="{height - hd:.1f}" width="{bar * 0.85:.1f}" height="{hd:.1f}" '
                         f'fill="{COLOURS["DONE"]}"><title>{d} done</title></rect>')
        if f:
            parts.append(f'<rect x="{x:.1f}" y="{height - hd - hf:.1f}" width="{bar * 0.85:.1f}" height="{hf:.1f}" '
                         f'fill="{COLOURS["FAILED"]}"><title>{f} failed</title></rect>')
    parts.append(f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" stroke="#888"/>')
    parts.append(f'<text x="0" y="{height + 13}" font-size="11">-{n} min</text>')
    parts.append(f'<text x="{width}" y="{height + 13}" font-size="11" text-anchor="end">now (max {top}/min)</text>')
    parts.append("</svg>")
    return "".join(parts)


def _layers(nodes: list[dict[str, Any]], edges: list[list[str]]) -> dict[str, int]:
    """Each node's column: the length of the longest path of prerequisites leading to it (0 for a root); nodes of a
    cycle, which a stored graph cannot have, stay where they are reached."""
    after: dict[str, list[str]] = {n["id"]: [] for n in nodes}
    for source, dest in edges:
        if source in after and dest in after:
            after[dest].append(source)
    depth: dict[str, int] = {}
    visiting: set[str] = set()
    for first in after:
        stack = [first]
        while stack:
            node = stack[-1]
            if node in depth:
                stack.pop()
                continue
            visiting.add(node)
            todo = [p for p in after[node] if p not in depth and p not in visiting]
            if todo:
                stack.extend(todo)
                continue
            depth[node] = 1 + max((depth.get(p, -1) for p in after[node]), default=-1)
            visiting.discard(node)
            stack.pop()
    return depth


def graph_svg(graph: dict[str, Any], rows: int = 8) -> str:
    """A stored graph's tasks as boxes filled with their state's colour, in columns by depth (prerequisites on the
    left), with an arrow from each prerequisite to each dependent coloured by the prerequisite's state: green once
    it is DONE, red if it FAILED. Without edges, the tasks are laid out in submission order, ``rows`` a column."""
    nodes = graph["nodes"]
    edges = graph.get("edges", [])
    box_w, box_h, gap_x, gap_y = 170, 44, 50, 14
    if edges:
        depth = _layers(nodes, edges)
        column = [depth[n["id"]] for n in nodes]
    else:
        column = [i // rows for i in range(len(nodes))]
    filled: dict[int, int] = {}
    where: dict[str, tuple[float, float]] = {}
    status = {n["id"]: n["status"] for n in nodes}
    boxes = []
    for node, col in zip(nodes, column, strict=True):
        row = filled.get(col, 0)
        filled[col] = row + 1
        x, y = gap_x / 2 + col * (box_w + gap_x), gap_y + row * (box_h + gap_y)
        where[node["id"]] = (x, y)
        fill = COLOURS.get(node["status"], "#eeeeee")
        name = str(node["name"])
        label = name if len(name) <= 22 else name[:21] + "\u2026"
        boxes.append(
            f'<g class="node" data-status="{_text(node["status"])}"><title>{_text(name)}: {_text(node["status"])}'
            f'</title><rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="6" fill="{fill}" stroke="#555"/>'
            f'<text x="{x + box_w / 2}" y="{y + 18}" text-anchor="middle" font-size="12">{_text(label)}</text>'
            f'<text x="{x + box_w / 2}" y="{y + 34}" text-anchor="middle" font-size="10">'
            f'{_text(node["status"])}</text></g>'
        )
    width = max(filled, default=0) * (box_w + gap_x) + box_w + gap_x
    height = max(filled.values(), default=0) * (box_h + gap_y) + gap_y
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="graph {_text(graph["id"])}"><defs>']
    parts += [f'<marker id="arrow-{name.lower()}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
              f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="{_EDGE[name]}"/></marker>'
              for name in _EDGE]
    parts.append("</defs>")
    for source, dest in edges:
        if source in where and dest in where:
            (x1, y1), (x2, y2) = where[source], where[dest]
            state = status[source] if status[source] in _EDGE else "PENDING"
            x1, y1, x2, y2 = x1 + box_w, y1 + box_h / 2, x2, y2 + box_h / 2
            if x2 - x1 <= gap_x:  # to the next column: straight
                points = f"{x1},{y1} {x2},{y2}"
            else:  # over columns between: along the gap above the higher of the two rows, not through the boxes
                top = min(y1, y2) - box_h / 2 - gap_y / 2
                points = f"{x1},{y1} {x1 + gap_x / 2},{top} {x2 - gap_x / 2},{top} {x2},{y2}"
            parts.append(f'<polyline class="edge" data-status="{_text(state)}" points="{points}" fill="none" '
                         f'stroke="{_EDGE[state]}" stroke-width="1.5" marker-end="url(#arrow-{state.lower()})"/>')
    parts += boxes
    parts.append("</svg>")
    return "".join(parts)


#: The stroke of an edge by its prerequisite's state: darker than the boxes' fills, to be seen on white.
_EDGE = {
    "PENDING": "#8a9099", "SCHEDULED": "#7a5cc4", "QUEUED": "#3f7fd1", "RUNNING": "#c99a12", "DONE": "#2e9a4a",
    "FAILED": "#d04545", "CANCELLED": "#6e6e6e",
}
