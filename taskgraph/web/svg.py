"""Small SVG pictures drawn as text, with no library and no browser script: the throughput chart of the overview and
a stored graph's tasks coloured by state. Every label is escaped (XML) after its control characters are."""

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


def graph_svg(graph: dict[str, Any], columns: int = 6) -> str:
    """A stored graph's tasks as boxes in submission order, each filled with its state's colour; edges are drawn
    when the graph has them."""
    nodes = graph["nodes"]
    box_w, box_h, gap = 170, 44, 14
    rows = (len(nodes) + columns - 1) // columns
    width = min(len(nodes), columns) * (box_w + gap) + gap
    height = rows * (box_h + gap) + gap
    where: dict[str, tuple[float, float]] = {}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="graph {_text(graph["id"])}">']
    for i, node in enumerate(nodes):
        x = gap + (i % columns) * (box_w + gap)
        y = gap + (i // columns) * (box_h + gap)
        where[node["id"]] = (x + box_w / 2, y + box_h / 2)
        fill = COLOURS.get(node["status"], "#eeeeee")
        name = str(node["name"])
        label = name if len(name) <= 22 else name[:21] + "\u2026"
        parts.append(
            f'<g class="node" data-status="{_text(node["status"])}"><title>{_text(name)}: {_text(node["status"])}'
            f'</title><rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="6" fill="{fill}" stroke="#555"/>'
            f'<text x="{x + box_w / 2}" y="{y + 18}" text-anchor="middle" font-size="12">{_text(label)}</text>'
            f'<text x="{x + box_w / 2}" y="{y + 34}" text-anchor="middle" font-size="10">'
            f'{_text(node["status"])}</text></g>'
        )
    for source, dest in graph.get("edges", []):
        if source in where and dest in where:
            (x1, y1), (x2, y2) = where[source], where[dest]
            parts.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#333" marker-end="url(#a)"/>')
    parts.append("</svg>")
    return "".join(parts)
