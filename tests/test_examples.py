"""The examples run as real subprocesses, from the repository root, and produce what they claim."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
SVG = "{http://www.w3.org/2000/svg}"
LEGEND = ["PENDING", "QUEUED", "RUNNING", "DONE", "FAILED", "CANCELLED"]


def run(script: str, *args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *map(str, args)],
        cwd=REPO, capture_output=True, text=True, timeout=240, env=env,
    )


def svg_fills(path: Path) -> dict[str, str]:
    """The fill colour of each node of an SVG that tasks_as_svg drew, by label (legend nodes included)."""
    fills = {}
    for g in ET.parse(path).getroot().iter(f"{SVG}g"):
        if g.get("class") == "node":
            label = "".join(text.text or "" for text in g.iter(f"{SVG}text"))
            shape = next(e for e in g.iter() if e.tag in (f"{SVG}path", f"{SVG}polygon", f"{SVG}ellipse"))
            fills[label] = shape.get("fill", "")
    return fills


# ---------------------------------------------------------------- build.py

SUMMARY = re.compile(
    r"^summary: (?P<tasks>\d+) tasks \((?P<todo>\d+) to build, (?P<fresh>\d+) up to date\): "
    r"DONE (?P<done>\d+), FAILED (?P<failed>\d+) in [\d.]+ s on (?P<queue>\S+)$",
    re.MULTILINE,
)


def build(src: Path | None, out: Path, *args: object) -> tuple[subprocess.CompletedProcess[str], dict, dict]:
    """Run build.py; return the process, its summary's numbers, and the tasks it printed (name -> state)."""
    proc = run("build.py", *(["--src", src] if src else []), "--out", out, *args)
    match = SUMMARY.search(proc.stdout)
    assert match, f"no summary in:\n{proc.stdout}\n{proc.stderr}"
    summary = {k: (v if k == "queue" else int(v)) for k, v in match.groupdict().items()}
    lines = re.findall(r"^(DONE|FAILED|CANCELLED) +(.+?): ", proc.stdout, re.MULTILINE)
    printed = {name: state for state, name in lines}
    assert len(printed) == len(lines), f"a task was reported twice:\n{proc.stdout}"
    return proc, summary, printed


def python_files(src: Path) -> dict[str, int]:
    """What build.py should find under ``src``: each .py file's name (relative to src's parent) and line count."""
    return {
        p.relative_to(src.parent).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
        for p in sorted(src.rglob("*.py"))
        if "__pycache__" not in p.parts
    }


def file_report(out: Path, name: str) -> dict:
    """What report.json says of one file."""
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return next(f for p in report["packages"] for f in p["files"] if f["file"] == name)


def touch_after(path: Path, output: Path) -> None:
    """Make ``path`` a millisecond newer than ``output``: stale, yet older than anything a later run writes."""
    later = output.stat().st_mtime_ns + 1_000_000
    os.utime(path, ns=(later, later))


def copy_source(tmp_path: Path) -> Path:
    src = tmp_path / "src" / "taskgraph"
    shutil.copytree(REPO / "taskgraph", src, ignore=shutil.ignore_patterns("__pycache__"))
    return src


@pytest.mark.graphviz
def test_build_reports_on_taskgraph_source(tmp_path: Path, dot: str) -> None:
    out = tmp_path / "build"
    proc, summary, printed = build(None, out)  # the default: taskgraph's own source, on threads://4
    assert proc.returncode == 0, proc.stderr

    files = python_files(REPO / "taskgraph")
    packages = {name.rsplit("/", 1)[0] for name in files}
    assert summary == {"tasks": len(files) + len(packages) + 2, "todo": summary["tasks"], "fresh": 0,
                       "done": summary["tasks"], "failed": 0, "queue": "threads://4"}
    names = {f"measure {f}" for f in files} | {f"package {p}" for p in packages} | {"index", "check"}
    assert printed == dict.fromkeys(names, "DONE")

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["totals"]["lines"] == sum(files.values())
    assert {f["file"]: f["lines"] for p in report["packages"] for f in p["files"]} == files
    task_py = next(f for p in report["packages"] for f in p["files"] if f["file"] == "taskgraph/task.py")
    assert task_py["classes"] >= 1 and task_py["functions"] >= 10  # Task, and its methods

    cells = {td.text for td in ET.parse(out / "index.html").iter("td")}  # the page is well-formed
    assert set(files) <= cells
    assert (out / "check.ok").read_text() == f"ok: {len(files)} files\n"

    fills = svg_fills(out / "graph.svg")
    assert {name: fills.get(name) for name in names} == dict.fromkeys(names, "palegreen")
    assert set(LEGEND) <= set(fills)
    dot_text = (out / "graph.dot").read_text(encoding="utf-8")
    assert "cluster_legend" in dot_text and '"measure taskgraph/task.py"' in dot_text


@pytest.mark.graphviz
def test_build_second_run_does_nothing_and_an_edit_rebuilds_downstream_only(tmp_path: Path, dot: str) -> None:
    src, out = copy_source(tmp_path), tmp_path / "build"
    first, s1, printed1 = build(src, out)
    assert first.returncode == 0, first.stderr
    assert s1["todo"] == s1["tasks"] == len(printed1) > 0

    page_time = (out / "index.html").stat().st_mtime_ns
    second, s2, printed2 = build(src, out)
    assert second.returncode == 0, second.stderr
    assert (s2["tasks"], s2["todo"], s2["fresh"], s2["done"]) == (s1["tasks"], 0, s1["tasks"], s1["tasks"])
    assert printed2 == {}  # no task had anything to do, so none is reported
    assert (out / "index.html").stat().st_mtime_ns == page_time  # and nothing was rewritten

    # Edit one file: add a documented function and an undocumented one. Its time is set just past its output's,
    # so that the test does not depend on the resolution of the file system's clock.
    before = file_report(out, "taskgraph/queues/inline.py")
    edited = src / "queues" / "inline.py"
    added = '\n\ndef documented():\n    """Yes."""\n\n\ndef bare():\n    pass\n'
    edited.write_text(edited.read_text(encoding="utf-8") + added, encoding="utf-8")
    touch_after(edited, out / "files" / "taskgraph" / "queues" / "inline.py.json")
    third, s3, printed3 = build(src, out)
    assert third.returncode == 0, third.stderr
    rebuilt = {"measure taskgraph/queues/inline.py", "package taskgraph/queues", "index", "check"}
    assert printed3 == dict.fromkeys(rebuilt, "DONE")
    assert (s3["todo"], s3["fresh"], s3["failed"]) == (4, s3["tasks"] - 4, 0)
    after = file_report(out, "taskgraph/queues/inline.py")
    assert {key: after[key] - before[key] for key in ("lines", "functions", "documented", "documentable")} == {
        "lines": added.count("\n"), "functions": 2, "documented": 1, "documentable": 2}
    assert sorted(after["undocumented"]) == sorted([*before["undocumented"], "bare"])

    # Remove a file: no input is newer than the outputs, but the directory's time says that it changed.
    (src / "queues" / "threads.py").unlink()
    touch_after(src / "queues", out / "packages" / "taskgraph.queues.json")
    fourth, s4, printed4 = build(src, out)
    assert fourth.returncode == 0, fourth.stderr
    assert printed4 == dict.fromkeys({"package taskgraph/queues", "index", "check"}, "DONE")
    assert s4["tasks"] == s3["tasks"] - 1
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["totals"]["lines"] == sum(python_files(src).values())


@pytest.mark.graphviz
def test_build_fails_on_a_syntax_error_on_processes_and_recovers(tmp_path: Path, dot: str) -> None:
    src, out = copy_source(tmp_path), tmp_path / "build"
    broken = src / "queues" / "broken.py"
    broken.write_text("def broken(:\n", encoding="utf-8")
    proc, summary, printed = build(src, out, "--queue", "processes://2")
    assert proc.returncode == 1
    assert summary["queue"] == "processes://2" and summary["failed"] == 4
    failed = {name for name, state in printed.items() if state == "FAILED"}
    assert failed == {"measure taskgraph/queues/broken.py", "package taskgraph/queues", "index", "check"}
    assert re.search(r"^FAILED +measure taskgraph/queues/broken.py: SyntaxError", proc.stdout, re.M)
    assert re.search(r"^FAILED +index: BlockedError: .*'package taskgraph/queues' is FAILED", proc.stdout, re.M)
    assert not (out / "index.html").exists()
    fills = svg_fills(out / "graph.svg")  # the graph is written even when the build fails
    assert fills["measure taskgraph/queues/broken.py"] == fills["index"] == "salmon"
    assert fills["measure taskgraph/task.py"] == fills["package taskgraph"] == "palegreen"

    broken.unlink()  # fixed: what was built stays built
    proc, summary, printed = build(src, out, "--queue", "processes://2")
    assert proc.returncode == 0, proc.stderr
    assert printed == dict.fromkeys({"package taskgraph/queues", "index", "check"}, "DONE")
    assert summary["todo"] == 3 and summary["failed"] == 0


@pytest.mark.graphviz
@pytest.mark.parametrize("queue", ["inline:", "asyncio:", "processes://2?start=spawn"])
def test_build_runs_on_other_queues(tmp_path: Path, dot: str, queue: str) -> None:
    src, out = copy_source(tmp_path), tmp_path / "build"
    proc, summary, printed = build(src, out, "--queue", queue)
    assert proc.returncode == 0, proc.stderr
    assert summary["queue"] == queue and summary["done"] == summary["tasks"] == len(printed)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["totals"]["lines"] == sum(python_files(src).values())


def test_build_without_graphviz_says_how_to_install_it(tmp_path: Path) -> None:
    out = tmp_path / "build"
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = run("build.py", "--src", copy_source(tmp_path), "--out", out, env={**os.environ, "PATH": str(empty)})
    assert proc.returncode == 2
    assert "Install Graphviz" in proc.stderr
    assert SUMMARY.search(proc.stdout) and (out / "graph.dot").exists() and not (out / "graph.svg").exists()


# ---------------------------------------------------------------- dispatch_loop.py

LINE = re.compile(r"^(?P<state>[A-Z]+) +(?P<name>.+?) +(?P<took>not run|[\d.]+ ms) +(?P<sign>->|!!) (?P<outcome>.*)$")


@pytest.mark.parametrize("queue", ["threads://4", "processes://2"])
def test_dispatch_loop_reports_each_task_and_fails_dependents(tmp_path: Path, queue: str) -> None:
    work = tmp_path / "work"
    proc = run("dispatch_loop.py", "--queue", queue, "--work", work)
    assert proc.returncode == 0, proc.stderr
    lines = [m for m in map(LINE.match, proc.stdout.splitlines()) if m]
    order = [m["name"] for m in lines]
    seen = {m["name"]: m for m in lines}

    files = ["build.py", "dispatch_loop.py", "review.py", "README.md", "missing.tar.gz"]
    expected = {f"{step} {f}" for step in ("fetch", "checksum") for f in files}
    expected |= {"manifest", "alert fetch missing.tar.gz"}
    assert Counter(order) == Counter(expected)  # each task reported once, and nothing else
    for f in files:  # in the order they ended: a checksum after its fetch
        assert order.index(f"checksum {f}") > order.index(f"fetch {f}")

    # Only the fetches were put in: the checksums ran because of run_dependent_tasks=True.
    digest = hashlib.sha256((EXAMPLES / "build.py").read_bytes()).hexdigest()
    assert (seen["checksum build.py"]["state"], seen["checksum build.py"]["outcome"]) == ("DONE", digest)
    assert (work / "build.py.sha256").read_text().split()[0] == digest

    missing = seen["fetch missing.tar.gz"]  # it ran, and failed
    assert missing["state"] == "FAILED" and missing["took"].endswith(" ms")
    assert missing["outcome"].startswith("FileNotFoundError")
    for name in ("checksum missing.tar.gz", "manifest"):
        assert (seen[name]["state"], seen[name]["took"], seen[name]["sign"]) == ("FAILED", "not run", "!!")
        assert seen[name]["outcome"].startswith(f"BlockedError: task {name!r} is blocked")
    assert not (work / "MANIFEST").exists()

    assert seen["alert fetch missing.tar.gz"]["state"] == "DONE"  # added by the loop while it ran
    assert "fetch missing.tar.gz failed: " in (work / "ALERTS").read_text()
    assert re.search(
        rf"^summary: 12 tasks, 5 put in and 7 taken in while running: DONE 9, FAILED 3 \(2 without running\) "
        rf"on {re.escape(queue)}$", proc.stdout, re.M)


def test_dispatch_loop_cleans_up_its_temporary_work_directory() -> None:
    proc = run("dispatch_loop.py")
    assert proc.returncode == 0, proc.stderr
    match = re.search(r"^work directory: (.+) \(removed\)$", proc.stdout, re.M)
    assert match and not Path(match[1]).exists()


# ---------------------------------------------------------------- review.py

STEPS = ["extract", "validate", "currency", "customers", "regions", "load", "report"]


def review(out: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str], dict[str, str]]:
    """Run review.py; return the process, each step's printed state, and each node's fill in the SVG."""
    proc = run("review.py", "--out", out, *args)
    assert proc.returncode == 0, proc.stderr
    states = {name: state for state, name in re.findall(r"^([A-Z]+) +(\w+)", proc.stdout, re.M)}
    assert f"SVG: {out / 'pipeline.svg'}" in proc.stdout and f"DOT: {out / 'pipeline.dot'}" in proc.stdout
    fills = svg_fills(out / "pipeline.svg")
    assert set(LEGEND) <= set(fills)
    assert "cluster_legend" in (out / "pipeline.dot").read_text(encoding="utf-8")
    return proc, states, {step: fills[step] for step in STEPS}


@pytest.mark.graphviz
def test_review_draws_a_finished_pipeline(tmp_path: Path, dot: str) -> None:
    out = tmp_path / "review"
    proc, states, fills = review(out)
    assert states == dict.fromkeys(STEPS, "DONE")
    assert fills == dict.fromkeys(STEPS, "palegreen")
    assert "9 valid, 3 rejected" in proc.stdout  # three bad rows in data/orders.csv
    assert (out / "work" / "report.txt").read_text().splitlines()[0].startswith("Europe")


@pytest.mark.graphviz
def test_review_draws_what_a_failing_step_takes_down(tmp_path: Path, dot: str) -> None:
    proc, states, fills = review(tmp_path / "review", "--fail", "regions")
    done, failed = ["extract", "validate", "currency", "customers"], ["regions", "load", "report"]
    assert states == {**dict.fromkeys(done, "DONE"), **dict.fromkeys(failed, "FAILED")}
    assert fills == {**dict.fromkeys(done, "palegreen"), **dict.fromkeys(failed, "salmon")}
    assert re.search(r"^FAILED +regions +RuntimeError: step 'regions' is broken", proc.stdout, re.M)
    assert re.search(r"^FAILED +load +BlockedError: .*'regions' is FAILED", proc.stdout, re.M)


@pytest.mark.graphviz
@pytest.mark.parametrize(("args", "ran"), [(["--until", "validate"], ["extract", "validate"]), (["--plan"], [])])
def test_review_draws_a_pipeline_run_partly_or_not_at_all(
    tmp_path: Path, dot: str, args: list[str], ran: list[str]
) -> None:
    out = tmp_path / "review"
    proc, states, fills = review(out, *args)
    assert states == {step: "DONE" if step in ran else "PENDING" for step in STEPS}
    assert fills == {step: "palegreen" if step in ran else "white" for step in STEPS}
    assert (out / "work" / "valid.json").exists() == bool(ran)
