"""``taskgraph graph``: every format, the run record's colours and durations, the critical path, the transitive
reduction, the errors a user can make, and the HTML review as a headless browser sees it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from taskgraph import Task, make_now
from taskgraph.cli import main
from taskgraph.pipeline import load_pipeline
from taskgraph.render import STATE_COLOURS, tasks_as_dot
from taskgraph.review import Review, critical_path
from taskgraph.runrecord import RunRecorder

from .conftest import need_binary

REPO = Path(__file__).resolve().parent.parent
SVG = "{http://www.w3.org/2000/svg}"

#: A name that is HTML, a Graphviz HTML-like label, an entity, quotes and backslash escapes all at once.
ODD = '<broken & "q" \\ C:\\new &amp;>'

# Two chains from fetch to ship: a1-a2-a3 is the longest by count (5 tasks), slow the longest by duration; the edge
# fetch -> ship is implied by both, so --reduce leaves it out. broken fails, after_broken fails without running,
# flaky is cancelled, and extra is never run (a run record does not know it).
PIPELINE = f"""
import time

from taskgraph import Task


def pause(seconds):
    time.sleep(seconds)


def explode():
    raise RuntimeError('bad <input> & "quotes"')


fetch = Task("fetch", pause, args=(0.01,))
a1 = fetch.then("a1", pause, args=(0.01,))
a2 = a1.then("a2", pause, args=(0.01,))
a3 = a2.then("a3", pause, args=(0.01,))
slow = fetch.then("slow", pause, args=(0.3,))
ship = Task("ship", pause, args=(0.01,)).require(a3, slow, fetch)
broken = fetch.then({ODD!r}, explode)
after_broken = broken.then("after broken")
flaky = fetch.then("flaky", explode, cancel_on_exception=True)
extra = fetch.then("extra")
"""
NAMES = ["fetch", "a1", "a2", "a3", "slow", "ship", ODD, "after broken", "flaky", "extra"]
RAN = {"fetch": "DONE", "a1": "DONE", "a2": "DONE", "a3": "DONE", "slow": "DONE", "ship": "DONE", ODD: "FAILED",
       "after broken": "FAILED", "flaky": "CANCELLED", "extra": "PENDING"}
BY_DURATION = ["fetch", "slow", "ship"]
BY_COUNT = ["fetch", "a1", "a2", "a3", "ship"]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pipeline") / "graphed_pipeline.py"
    path.write_text(PIPELINE, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def record(pipeline: Path) -> Path:
    """The record of a run of every task but extra."""
    loaded = load_pipeline(str(pipeline))
    names = {t.name: t for t in loaded.tasks}
    targets = [names["ship"], names["after broken"], names["flaky"]]
    path = pipeline.with_name("run.jsonl")
    recorder = RunRecorder(path, loaded.tasks, pipeline=str(pipeline), targets=[t.name for t in targets])
    for task in loaded.tasks:
        task.track = recorder.observe
    make_now(*targets)
    recorder.close("failed")
    assert {t.name: t.state.value for t in loaded.tasks} == RAN
    return path


def cli(*args: object, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["graph", *map(str, args)], env=env)


def one_line_error(result: Result) -> str:
    """The error of a command that failed as a user's mistake should: exit 2, one line, no traceback."""
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return lines[0]


# ------------------------------------------------------------------------------------------------ reading DOT


def _unquote(value: str) -> str:
    if not value.startswith('"'):
        return value
    out, chars = [], iter(value[1:-1])
    for char in chars:
        if char == "\\":
            escaped = next(chars)
            out.append("\n" if escaped == "n" else escaped)
        else:
            out.append(char)
    return "".join(out).replace("&amp;", "&")


ATTRIBUTE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s\]]+)')


def dot_graph(text: str) -> tuple[dict[str, dict[str, str]], dict[tuple[str, str], dict[str, str]]]:
    """The nodes (by label, attributes unquoted) and edges (by labels) of DOT that tasks_as_dot wrote."""
    nodes: dict[str, dict[str, str]] = {}
    ids: dict[str, str] = {}
    raw_edges = []
    for line in text.splitlines():
        node = re.match(r"\s*(t\d+) \[(.*)\]$", line)
        edge = re.match(r"\s*(t\d+) -> (t\d+)(?: \[(.*)\])?$", line)
        if edge:
            raw_edges.append((edge[1], edge[2], dict((k, _unquote(v)) for k, v in ATTRIBUTE.findall(edge[3] or ""))))
        elif node:
            attributes = {k: _unquote(v) for k, v in ATTRIBUTE.findall(node[2])}
            ids[node[1]] = attributes["label"].split("\n")[0]
            nodes[ids[node[1]]] = attributes
    return nodes, {(ids[a], ids[b]): attributes for a, b, attributes in raw_edges}


def thick(attributes: dict[str, str]) -> bool:
    return attributes.get("color") == "red" and attributes.get("penwidth") == "3"


# ------------------------------------------------------------------------------------------------ each format


def test_dot_draws_every_task_without_graphviz(pipeline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    out = tmp_path / "graph.dot"
    result = cli(pipeline, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {out}: 10 tasks\n"
    nodes, edges = dot_graph(out.read_text(encoding="utf-8"))
    assert sorted(nodes) == sorted(NAMES)
    assert {n["fillcolor"] for n in nodes.values()} == {STATE_COLOURS["PENDING"]}
    assert ("fetch", "ship") in edges and ("slow", "ship") in edges and ("fetch", ODD) in edges
    assert len(edges) == 11
    assert not any(thick(a) for a in [*nodes.values(), *edges.values()])


def test_targets_select_what_is_drawn(pipeline: Path, tmp_path: Path):
    out = tmp_path / "graph.dot"
    result = cli(pipeline, "a2", "flaky", "-o", out)
    assert result.exit_code == 0, result.output
    nodes, edges = dot_graph(out.read_text(encoding="utf-8"))
    assert sorted(nodes) == ["a1", "a2", "fetch", "flaky"]
    assert sorted(edges) == [("a1", "a2"), ("fetch", "a1"), ("fetch", "flaky")]


def svg_nodes(svg: str) -> dict[str, dict[str, Any]]:
    """Each node of an SVG that tasks_as_svg drew, by the first line of its label: its lines, fill and border."""
    found = {}
    for g in ET.fromstring(svg).iter(f"{SVG}g"):
        if g.get("class") == "node":
            lines = [t.text or "" for t in g.iter(f"{SVG}text")]
            shape = next(e for e in g.iter() if e.tag in (f"{SVG}path", f"{SVG}polygon"))
            found[lines[0]] = {"lines": lines, "fill": shape.get("fill"), "stroke": shape.get("stroke"),
                               "width": shape.get("stroke-width")}
    return found


@pytest.mark.graphviz
def test_svg_has_every_task_label(pipeline: Path, tmp_path: Path, dot: str):
    out = tmp_path / "graph.svg"
    result = cli(pipeline, "-o", out)
    assert result.exit_code == 0, result.output
    nodes = svg_nodes(out.read_text(encoding="utf-8"))
    assert sorted(nodes) == sorted(NAMES)
    assert all(node["lines"] == [name] for name, node in nodes.items())


@pytest.mark.graphviz
def test_png_is_a_png(pipeline: Path, tmp_path: Path, dot: str):
    out = tmp_path / "graph.png"
    result = cli(pipeline, "--legend", "--critical-path", "-o", out)
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000


@pytest.mark.graphviz
def test_html_is_one_self_contained_escaped_file(pipeline: Path, record: Path, tmp_path: Path, dot: str):
    out = tmp_path / "review.html"
    result = cli(pipeline, "--run", record, "-o", out)
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 1 and "<?xml" not in page
    for resource in ("<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import", "http:", "https:"):
        assert resource not in page.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
            'xmlns:xlink="http://www.w3.org/1999/xlink"', ""), resource
    assert ODD not in page and "<broken" not in page and "<input>" not in page
    assert '&lt;broken &amp; &quot;q&quot; \\ C:\\new &amp;amp;&gt;' in page  # the table, HTML-escaped
    assert "RuntimeError: bad &lt;input&gt; &amp; &quot;quotes&quot;" in page


# ------------------------------------------------------------------------------------------------ --run


def test_run_colours_by_the_state_each_task_ended_in_and_labels_durations(pipeline: Path, record: Path,
                                                                             tmp_path: Path):
    out = tmp_path / "graph.dot"
    result = cli(pipeline, "--run", record, "-o", out)
    assert result.exit_code == 0, result.output
    nodes, _ = dot_graph(out.read_text(encoding="utf-8"))
    assert {name: node["fillcolor"] for name, node in nodes.items()} == {
        name: STATE_COLOURS[state] for name, state in RAN.items()}
    for name in ["fetch", "a1", "slow", "ship", ODD, "flaky"]:  # they ran to an end
        first, second = nodes[name]["label"].split("\n")
        assert first == name and re.fullmatch(r"\d+\.\d\d s", second), nodes[name]["label"]
    assert float(nodes["slow"]["label"].split("\n")[1][:-2]) >= 0.29
    assert nodes["after broken"]["label"] == "after broken"  # failed without running: no duration
    assert nodes["extra"]["label"] == "extra"  # not in the record: as loaded
    assert nodes["flaky"]["tooltip"].startswith("flaky: CANCELLED, ")


@pytest.mark.graphviz
def test_run_in_svg(pipeline: Path, record: Path, tmp_path: Path, dot: str):
    out = tmp_path / "graph.svg"
    result = cli(pipeline, "--run", record, "-o", out)
    assert result.exit_code == 0, result.output
    nodes = svg_nodes(out.read_text(encoding="utf-8"))
    assert sorted(nodes) == sorted(NAMES)
    hex_of = {"palegreen": "#98fb98", "salmon": "#fa8072", "lightgrey": "#d3d3d3", "white": "#ffffff"}
    for name, state in RAN.items():  # Graphviz writes colour names, or their hex values
        assert nodes[name]["fill"].lower() in {STATE_COLOURS[state], hex_of[STATE_COLOURS[state]]}, name
    assert re.fullmatch(r"\d\.\d\d s", nodes[ODD]["lines"][1])
    assert nodes["extra"]["lines"] == ["extra"]


def test_a_record_of_another_pipeline_warns(record: Path, tmp_path: Path):
    other = tmp_path / "other.py"
    other.write_text("from taskgraph import Task\nsolo = Task('solo')\n", encoding="utf-8")
    result = cli(other, "--run", record, "-o", tmp_path / "g.dot")
    assert result.exit_code == 0
    assert "warning: no task of the run record" in result.stderr


# ------------------------------------------------------------------------------------------------ --critical-path


def highlighted(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    nodes, edges = dot_graph(text)
    return [n for n in nodes if thick(nodes[n])], [e for e in edges if thick(edges[e])]


def test_critical_path_by_duration_from_the_run(pipeline: Path, record: Path, tmp_path: Path):
    out = tmp_path / "graph.dot"
    result = cli(pipeline, "--run", record, "--critical-path", "-o", out)
    assert result.exit_code == 0, result.output
    assert "critical path (0.3" in result.output and "fetch -> slow -> ship" in result.output
    nodes, edges = highlighted(out.read_text(encoding="utf-8"))
    assert nodes == BY_DURATION
    assert edges == [("fetch", "slow"), ("slow", "ship")]


def test_critical_path_without_a_run_is_the_longest_chain_by_count(pipeline: Path, tmp_path: Path):
    out = tmp_path / "graph.dot"
    result = cli(pipeline, "--critical-path", "-o", out)
    assert result.exit_code == 0, result.output
    assert "critical path (5 tasks): fetch -> a1 -> a2 -> a3 -> ship" in result.output
    nodes, edges = highlighted(out.read_text(encoding="utf-8"))
    assert nodes == BY_COUNT
    assert edges == list(zip(BY_COUNT, BY_COUNT[1:], strict=False))


def test_critical_path_function():
    a = Task("a")
    b = a.then("b")
    c = b.then("c")
    d = Task("d").require(a)
    e = Task("e").require(c, d, a)
    assert critical_path([e]).tasks == [a, b, c, e]
    chain = critical_path([e], {a: 1.0, b: 1.0, c: 1.0, d: 5.0, e: None})
    assert chain.tasks == [a, d] and chain.total == 6.0 and chain.by == "duration"  # e weighs 0: left off
    assert critical_path([e], {}).tasks == []


def test_a_review_of_tasks_run_in_process_uses_their_own_times():
    slow = Task("slow", lambda: __import__("time").sleep(0.05))
    quick = Task("quick")
    last = Task("last").require(slow, quick)
    make_now(last)
    review = Review([last])
    assert review.critical_path().tasks[:1] == [slow] and review.critical_path().by == "duration"
    assert review.labels()[slow].endswith(" s") and review.states()[last] == "DONE"


# ------------------------------------------------------------------------------------------------ --reduce


def test_reduce_drops_the_implied_edge(pipeline: Path, tmp_path: Path):
    full, reduced = tmp_path / "full.dot", tmp_path / "reduced.dot"
    assert cli(pipeline, "-o", full).exit_code == 0
    assert cli(pipeline, "--reduce", "-o", reduced).exit_code == 0
    _, full_edges = dot_graph(full.read_text(encoding="utf-8"))
    _, reduced_edges = dot_graph(reduced.read_text(encoding="utf-8"))
    assert set(full_edges) - set(reduced_edges) == {("fetch", "ship")}
    assert set(reduced_edges) < set(full_edges)


def test_render_options_default_to_the_old_drawing():
    a = Task("a")
    b = a.then("b")
    c = Task("<c>").require(a, b)
    assert tasks_as_dot([c], states={}, labels={}, highlight=(), reduce=False) == tasks_as_dot([c])
    reduced = tasks_as_dot([c], reduce=True, states={c: "FAILED"}, labels={c: "x \\ y"}, highlight=[a, c])
    nodes, edges = dot_graph(reduced)
    assert sorted(edges) == [("a", "b"), ("b", "<c>")]
    assert nodes["<c>"]["label"] == "<c>\nx \\ y" and nodes["<c>"]["fillcolor"] == "salmon"
    assert [n for n in nodes if thick(nodes[n])] == ["a", "<c>"]
    assert not any(thick(e) for e in edges.values())  # a -> <c> is not drawn


# ------------------------------------------------------------------------------------------------ mistakes


def test_unknown_extension_is_a_usage_error_listing_the_formats(pipeline: Path, tmp_path: Path):
    result = cli(pipeline, "-o", tmp_path / "graph.jpg")
    assert result.exit_code == 2
    assert "Usage:" in result.output
    error = result.output.strip().splitlines()[-1]
    assert ".jpg" in error and all(ext in error for ext in (".dot", ".svg", ".png", ".html"))
    assert cli(pipeline, "-o", tmp_path / "graph").exit_code == 2


def test_no_such_pipeline(tmp_path: Path):
    assert "no such file" in one_line_error(cli(tmp_path / "nope.py", "-o", tmp_path / "g.dot"))


def test_unknown_target(pipeline: Path, tmp_path: Path):
    error = one_line_error(cli(pipeline, "shipp", "-o", tmp_path / "g.dot"))
    assert "no task named 'shipp'" in error and "did you mean 'ship'?" in error


def test_a_pipeline_that_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    bad = tmp_path / "bad.py"
    bad.write_text("import nosuchmodule_xyz\n", encoding="utf-8")
    error = one_line_error(cli(bad, "-o", tmp_path / "g.dot"))
    assert "ModuleNotFoundError: No module named 'nosuchmodule_xyz'" in error and "-v" in error
    assert not caplog.records
    verbose = cli(bad, "-v", "-o", tmp_path / "g.dot")
    assert verbose.exit_code == 2
    assert caplog.records and caplog.records[-1].exc_info is not None  # -v logs the traceback


@pytest.mark.parametrize("content", ["hello\n", "[1, 2]\n", '{"kind": "run", "tasks": [{"name": "x"}]}\n', "",
                                     '{"kind": "transition"}\n', "\x89PNG\x00\xff"])
def test_a_record_that_is_not_a_record(pipeline: Path, tmp_path: Path, content: str):
    path = tmp_path / "not-a-record.jsonl"
    path.write_bytes(content.encode("latin-1"))
    error = one_line_error(cli(pipeline, "--run", path, "-o", tmp_path / "g.dot"))
    assert "not a taskgraph run record" in error


def test_no_such_record(pipeline: Path, tmp_path: Path):
    assert "no such run record" in one_line_error(cli(pipeline, "--run", tmp_path / "nope", "-o", tmp_path / "g.dot"))
    assert "directory" in one_line_error(cli(pipeline, "--run", tmp_path, "-o", tmp_path / "g.dot")).lower()


@pytest.mark.parametrize("suffix", [".svg", ".png", ".html"])
def test_no_dot_for_what_needs_it(pipeline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str):
    monkeypatch.setenv("PATH", "/nonexistent")
    out = tmp_path / f"graph{suffix}"
    error = one_line_error(cli(pipeline, "-o", out))
    assert "apt-get install graphviz" in error and "FILE.dot" in error and suffix in error
    assert not out.exists()


def test_unwritable_output(pipeline: Path, tmp_path: Path):
    assert "there is no folder" in one_line_error(cli(pipeline, "-o", tmp_path / "missing" / "g.dot"))
    (tmp_path / "taken.dot").mkdir()
    assert "directory" in one_line_error(cli(pipeline, "-o", tmp_path / "taken.dot")).lower()
    (tmp_path / "file").write_text("x")
    assert "cannot write" in one_line_error(cli(pipeline, "-o", tmp_path / "file" / "g.dot"))


# ------------------------------------------------------------------------------------------------ a real process


def taskgraph(*args: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "taskgraph", "graph", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.graphviz
def test_subprocess_writes_svg_with_the_critical_path(pipeline: Path, record: Path, tmp_path: Path, dot: str):
    out = tmp_path / "graph.svg"
    done = taskgraph(pipeline, "--run", record, "--critical-path", "--reduce", "-o", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {out}: 10 tasks; critical path (0.3")
    nodes = svg_nodes(out.read_text(encoding="utf-8"))
    assert sorted(n for n in nodes if nodes[n]["stroke"] == "red") == sorted(BY_DURATION)


def test_subprocess_error_is_one_line_and_v_adds_the_traceback(pipeline: Path, tmp_path: Path):
    done = taskgraph(pipeline, "nope", "-o", tmp_path / "g.dot")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: no task named 'nope'"), done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    verbose = taskgraph(pipeline, "nope", "-v", "-o", tmp_path / "g.dot")
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1].startswith("Error: no task named 'nope'")


# ------------------------------------------------------------------------------------------------ in a browser


class Dom(HTMLParser):
    """A minimal tree of a page: each element a dict of tag, attrs, children (elements and strings)."""

    VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "wbr", "source"}

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root: dict[str, Any] = {"tag": "#root", "attrs": {}, "children": []}
        self.stack = [self.root]
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = {"tag": tag, "attrs": dict(attrs), "children": []}
        self.stack[-1]["children"].append(element)
        if tag not in self.VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1]["children"].append({"tag": tag, "attrs": dict(attrs), "children": []})

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth]["tag"] == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1]["children"].append(data)

    @staticmethod
    def iter(element: dict[str, Any], tag: str | None = None):
        if tag is None or element["tag"] == tag:
            yield element
        for child in element["children"]:
            if isinstance(child, dict):
                yield from Dom.iter(child, tag)

    @staticmethod
    def text(element: dict[str, Any]) -> str:
        return "".join(c if isinstance(c, str) else Dom.text(c) for c in element["children"])

    def find(self, **attrs: str) -> dict[str, Any]:
        return next(e for e in self.iter(self.root) if all(e["attrs"].get(k) == v for k, v in attrs.items()))


@pytest.mark.graphviz
def test_html_review_in_a_headless_browser(pipeline: Path, record: Path, tmp_path: Path, dot: str):
    need_binary("chromium", "a headless browser opens the HTML review")
    out = tmp_path / "review.html"
    result = cli(pipeline, "--run", record, "--critical-path", "-o", out)
    assert result.exit_code == 0, result.output
    chromium = shutil.which("chromium")
    assert chromium is not None
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", out.resolve().as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    dom = Dom(done.stdout)

    svgs = list(dom.iter(dom.root, "svg"))
    assert len(svgs) == 1
    labels = [Dom.text(t) for t in dom.iter(svgs[0], "text")]
    for name in NAMES:
        assert name in labels, name

    table = dom.find(id="task-table")
    rows = {}
    for tr in dom.iter(table, "tr"):
        cells = [Dom.text(td).strip() for td in dom.iter(tr, "td")]
        if cells:
            rows[cells[0]] = cells
    assert {name: cells[1] for name, cells in rows.items()} == RAN
    assert rows[ODD][4] == 'RuntimeError: bad <input> & "quotes"'
    assert re.fullmatch(r"0\.3\d s", rows["slow"][3]) and rows["extra"][2:4] == ["\u2014", "\u2014"]

    section = dom.find(id="critical-path")
    assert [Dom.text(s) for s in dom.iter(section, "span") if s["attrs"].get("class") == "name"] == BY_DURATION
    assert re.search(r"longest total duration: 0\.3\d s over 3 tasks", Dom.text(section))

    totals = Dom.text(dom.find(id="totals"))
    assert "Tasks10" in totals and "DONE\xa06" in totals and "FAILED\xa02" in totals and "CANCELLED\xa01" in totals
    assert "PENDING\xa01" in totals and "Wall time" in totals and "Sum of durations" in totals
    for element in dom.iter(dom.root):
        for attribute in ("src", "href"):
            assert attribute not in element["attrs"], element


@pytest.mark.graphviz
def test_html_review_without_a_run(pipeline: Path, tmp_path: Path, dot: str):
    out = tmp_path / "plan.html"
    result = cli(pipeline, "--reduce", "-o", out)
    assert result.exit_code == 0, result.output
    dom = Dom(out.read_text(encoding="utf-8"))
    rows = [[Dom.text(td).strip() for td in dom.iter(tr, "td")] for tr in dom.iter(dom.find(id="task-table"), "tr")]
    assert {cells[0]: cells[1:] for cells in rows if cells} == {
        name: ["PENDING", "\u2014", "\u2014", ""] for name in NAMES}
    section = dom.find(id="critical-path")
    assert [Dom.text(s) for s in dom.iter(section, "span") if s["attrs"].get("class") == "name"] == BY_COUNT
    assert "by number of tasks" in Dom.text(section)
    assert "no times" in Dom.text(dom.root) and "Wall time\u2014" in Dom.text(dom.find(id="totals"))
