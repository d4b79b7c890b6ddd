"""Build a static report of a Python source tree, incrementally, with taskgraph's ``make``.

    python examples/build.py --out out/build     # on taskgraph's own source; --src DIR for another tree
    python examples/build.py --out out/build --queue processes://2     # or --jobs 8 for threads://8

The graph (edges run from a prerequisite to the task that requires it):

    measure <file>  one per .py file (fan-out): parse it with ast; count lines, classes, functions, docstrings
    package <dir>   one per directory (fan-in): add up the measures of its files
    index           the site: index.html with a row per package and file, and report.json with every number
    check           a test of the output: the page parses and lists every file, and the totals add up

Tasks hand data on through files under <out>, as a build does; their functions are module-level with picklable
arguments, so any queue runs them: threads://N (the default, N = --jobs), processes://N, asyncio:, inline:.

It is incremental: each task declares the files it reads and writes (``Task(..., inputs=[...], outputs=[...])``),
and ``make`` skips a task whose inputs, arguments and outputs are as they were at its last run (it ends DONE by
the ``uptodate`` event, without running), keeping the state in <out>/.taskgraph/state.sqlite. A second run runs
nothing; after editing one file only its measure, its package, the index and the check run again; a file added
or removed changes its package's arguments, so that package and what follows run again. Editing this script
reruns everything (it is an input of every measure). Delete <out> for a clean build.

It writes <out>/graph.dot and <out>/graph.svg (which needs Graphviz's dot) coloured by state, prints a summary,
and exits 1 if a task failed: a file with a syntax error fails its measure, and what needs it fails unrun.
"""

from __future__ import annotations

import argparse
import ast
import html
import json
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import taskgraph
from taskgraph import RenderError, Task, make, tasks_as_dot, tasks_as_svg

TOTALS = ("lines", "classes", "functions", "documented", "documentable")
PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/><title>{title}</title>
<style>body {{ font-family: sans-serif }} td {{ padding: 0 .6em }} .package {{ font-weight: bold }}</style></head>
<body><h1>{title}</h1><p>{summary} &#8212; <a href="graph.svg">the build graph</a></p>
<table><tr><th>name</th><th>lines</th><th>classes</th><th>functions</th><th>docstrings</th><th>undocumented</th></tr>
{rows}
</table></body></html>
"""


def write(path: Path, text: str) -> None:
    """Write a file whole or not at all, so that a task that fails never leaves a fresh-looking output."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- the task functions: module-level, picklable
def measure(source: Path, name: str, target: Path) -> str:
    """Parse one file; count its lines, classes, functions, and the public ones that have a docstring."""
    text = source.read_text(encoding="utf-8")
    tree = ast.parse(text, filename=name)  # a SyntaxError fails the task
    defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    public = [n for n in defs if not n.name.startswith("_")]
    classes = sum(isinstance(n, ast.ClassDef) for n in defs)
    stats = {"file": name, "lines": len(text.splitlines()), "classes": classes, "functions": len(defs) - classes,
             "documented": sum(ast.get_docstring(n) is not None for n in (tree, *public)),
             "documentable": 1 + len(public),  # the module and its public classes and functions
             "undocumented": [n.name for n in public if ast.get_docstring(n) is None]}
    write(target, json.dumps(stats, indent=1))
    return f"{stats['lines']} lines, {classes} classes, {stats['functions']} functions"


def package(name: str, sources: list[Path], target: Path) -> str:
    """Add up the measures of one directory's files."""
    files = [read_json(p) for p in sources]
    totals = {key: sum(f[key] for f in files) for key in TOTALS}
    write(target, json.dumps({"package": name, **totals, "files": files}, indent=1))
    return f"{len(files)} files, {totals['lines']} lines"


def index(title: str, sources: list[Path], page: Path, report: Path) -> str:
    """Write the site: report.json with every number, and index.html with a row per package and per file."""
    packages = [read_json(p) for p in sources]
    totals = {key: sum(p[key] for p in packages) for key in TOTALS}
    write(report, json.dumps({"totals": totals, "packages": packages}, indent=1))
    rows = []
    for pkg in packages:
        rows.append(_row("package", pkg["package"], pkg, ""))
        rows += [_row("file", f["file"], f, ", ".join(f["undocumented"])) for f in pkg["files"]]
    summary = (f"{totals['lines']} lines in {len(packages)} packages; {totals['documented']} of "
               f"{totals['documentable']} modules and public definitions have a docstring")
    write(page, PAGE.format(title=html.escape(title), summary=summary, rows="\n".join(rows)))
    return summary


def _row(kind: str, name: str, m: dict, undocumented: str) -> str:
    cells = [name, m["lines"], m["classes"], m["functions"], f"{m['documented']}/{m['documentable']}", undocumented]
    return f'<tr class="{kind}">' + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"


def check(report: Path, page: Path, names: list[str], target: Path) -> str:
    """Test the output: the page is well-formed XHTML listing every file, and the report's totals add up."""
    listed = {td.text for td in ET.parse(page).iter("td")}  # ET.parse fails if the page is not well-formed
    data = read_json(report)
    files = [f for p in data["packages"] for f in p["files"]]
    if sorted(f["file"] for f in files) != sorted(names) or not listed.issuperset(names):
        raise ValueError(f"{report} or {page} does not list exactly the files of the source tree")
    for key in TOTALS:
        if sum(f[key] for f in files) != data["totals"][key]:
            raise ValueError(f"{report}: the {key} of the files do not add up to the total")
    write(target, f"ok: {len(files)} files\n")
    return f"{len(files)} files listed, totals add up"


# ---------------------------------------------------------------- the graph
SCRIPT = Path(__file__).resolve()


def plan(src: Path, out: Path) -> list[Task]:
    """The tasks of the build, each declaring the files it reads and writes."""
    tasks: list[Task] = []

    def step(name, func, outputs: list[Path], prereqs: list[Task], args: tuple, inputs: tuple = ()) -> Task:
        tasks.append(Task(name, func, args=args, inputs=inputs, outputs=outputs).require(*prereqs))
        return tasks[-1]

    root = src.parent
    groups: dict[str, list[Path]] = {}
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(root)
        if not any(part.startswith(".") for part in rel.parts):  # skip .venv, .git and the like
            groups.setdefault(rel.parent.as_posix(), []).append(path)
    names: list[str] = []
    packages: list[Task] = []
    package_outputs: list[Path] = []
    for pkg, paths in groups.items():
        measures, outputs = [], []
        for path in paths:
            name = path.relative_to(root).as_posix()
            target = out / "files" / f"{name}.json"
            measures.append(step(f"measure {name}", measure, [target], [], (path, name, target), (path, SCRIPT)))
            outputs.append(target)
            names.append(name)
        target = out / "packages" / f"{pkg.replace('/', '.')}.json"  # its inputs: the outputs of its measures
        packages.append(step(f"package {pkg}", package, [target], measures, (pkg, outputs, target)))
        package_outputs.append(target)
    page, report, ok = out / "index.html", out / "report.json", out / "check.ok"
    args = (f"Report on {src.name}", package_outputs, page, report)
    site = step("index", index, [page, report], packages, args)
    step("check", check, [ok], [site], (report, page, names, ok))
    return tasks


def up_to_date(task: Task) -> bool:
    """DONE without running: its declared files were up to date."""
    return [move.event for move in task.history] == ["uptodate"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build a static report of a Python source tree with taskgraph.")
    parser.add_argument("--src", type=Path, default=Path(taskgraph.__file__).parent,
                        help="the source tree to report on (default: taskgraph's own source)")
    parser.add_argument("--out", type=Path, default=Path("out/build"), help="where to write (default: out/build)")
    parser.add_argument("-j", "--jobs", type=int, default=4, help="threads to run tasks on (default: 4)")
    parser.add_argument("--queue", help="where tasks run, as a queue URL (default: threads://JOBS)")
    args = parser.parse_args(argv)
    if not args.src.is_dir():
        parser.error(f"--src {args.src}: not a directory")
    queue = args.queue or f"threads://{args.jobs}"
    tasks = plan(args.src.resolve(), args.out.resolve())
    started = time.perf_counter()
    for task in make(*tasks, queue=queue, keep_going=True, state=args.out / ".taskgraph" / "state.sqlite"):
        if not up_to_date(task):  # yielded once, when final; say nothing of those that had nothing to do
            outcome = task.result if task.state == "DONE" else f"{type(task.exception).__name__}: {task.exception}"
            print(f"{task.state:<9} {task.name}: {outcome}")
    elapsed = time.perf_counter() - started
    failed = [t for t in tasks if t.state != "DONE"]
    todo = sum(not up_to_date(t) for t in tasks)
    print(f"summary: {len(tasks)} tasks ({todo} to build, {len(tasks) - todo} up to date): "
          f"DONE {len(tasks) - len(failed)}, FAILED {len(failed)} in {elapsed:.2f} s on {queue}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "graph.dot").write_text(tasks_as_dot(tasks, name="build", legend=True), encoding="utf-8")
    try:
        (args.out / "graph.svg").write_text(tasks_as_svg(tasks, name="build", legend=True), encoding="utf-8")
    except RenderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"graph: {args.out / 'graph.svg'}" + ("" if failed else f"; site: {args.out / 'index.html'}"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
