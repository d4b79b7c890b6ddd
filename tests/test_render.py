"""DOT and SVG rendering."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from taskgraph import RenderError, Task, make_now, tasks_as_dot, tasks_as_svg
from taskgraph.render import INSTALL_GRAPHVIZ, STATE_COLOURS


def pipeline():
    extract = Task("extract", lambda: 1)
    transform = extract.then("transform", lambda: 1 / 0)
    load = transform.then("load")
    report = Task("report \"quoted\" & <odd>").require(extract)
    return extract, transform, load, report


def test_dot_labels_nodes_by_name_colours_by_state_and_draws_prerequisite_edges():
    extract, transform, load, report = pipeline()
    make_now(load, report)
    dot = tasks_as_dot([load, report])
    nodes = dict(re.findall(r"^\s*(t\d+) \[label=(.+?) fillcolor", dot, re.M))
    assert len(nodes) == 4
    fills = re.findall(r"label=(\S+) fillcolor=(\w+)", dot)
    colour = {label.strip('"'): fill for label, fill in fills}
    assert colour["extract"] == STATE_COLOURS["DONE"]
    assert colour["transform"] == STATE_COLOURS["FAILED"]
    assert colour["load"] == STATE_COLOURS["FAILED"]
    ids = {label.strip('"'): node for node, label in nodes.items()}
    assert f"{ids['extract']} -> {ids['transform']}" in dot
    assert f"{ids['transform']} -> {ids['load']}" in dot


def test_dot_works_without_graphviz(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    extract, *_ = pipeline()
    assert tasks_as_dot([extract]).startswith("digraph tasks {")


def test_svg_without_dot_says_how_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    extract, *_ = pipeline()
    with pytest.raises(RenderError) as info:
        tasks_as_svg([extract])
    assert str(info.value) == INSTALL_GRAPHVIZ
    assert "apt-get install graphviz" in str(info.value) and "tasks_as_dot()" in str(info.value)


@pytest.mark.graphviz
def test_svg_has_every_task_and_state_colour(dot):
    extract, transform, load, report = pipeline()
    make_now(load, report)
    svg = tasks_as_svg([load, report], legend=True)
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    texts = {el.text for el in root.iter() if el.tag.endswith("text")}
    assert {"extract", "transform", "load", 'report "quoted" & <odd>'} <= texts
    assert set(STATE_COLOURS) <= texts  # the legend
    assert "palegreen" in svg or "#98fb98" in svg.lower()


def test_legend_is_optional():
    extract, *_ = pipeline()
    assert "legend" not in tasks_as_dot([extract])
    assert "cluster_legend" in tasks_as_dot([extract], legend=True)


@pytest.mark.graphviz
@pytest.mark.parametrize("name", [r"copy C:\new\table.txt", "fish &amp; chips", "tab\there", "ünïcödé ✓"])
def test_names_are_drawn_literally(dot, name):
    svg = tasks_as_svg([Task(name)])
    texts = [el.text for el in ET.fromstring(svg).iter() if el.tag.endswith("text")]
    assert texts == [name]
