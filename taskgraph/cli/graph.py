"""``taskgraph graph``: draw a pipeline's graph as DOT, SVG or PNG, or write an HTML review of it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .app import UserError, defines, load, main, setup_logging, user_errors, verbosity

if TYPE_CHECKING:
    from ..runrecord import RunRecord

#: The formats, by the output file's extension.
FORMATS = {".dot": "dot", ".svg": "svg", ".png": "png", ".html": "html"}

NO_DOT = ("Graphviz's dot is needed to write {ext} files and was not found on PATH: install Graphviz (Debian/Ubuntu: "
          "sudo apt-get install graphviz; Fedora: sudo dnf install graphviz; macOS: brew install graphviz), or write "
          "-o FILE.dot, which needs no Graphviz")


def _output(ctx: click.Context, param: click.Parameter, value: str) -> str:
    extension = os.path.splitext(value)[1].lower()
    if extension not in FORMATS:
        said = f"the extension {extension!r}" if extension else "no extension"
        raise click.BadParameter(f"{value!r} has {said}; the format goes by it: .dot, .svg, .png or .html")
    return value


def _record(path: str) -> RunRecord:
    from ..runrecord import read_record

    try:
        return read_record(path)
    except FileNotFoundError:
        raise UserError(f"no such run record: {path}") from None
    except OSError as exc:
        raise UserError(f"cannot read the run record {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UserError(str(exc)) from None


@main.command("graph")
@click.argument("pipeline")
@click.argument("targets", nargs=-1, metavar="[TARGET]...")
@click.option("-o", "--output", required=True, metavar="FILE", callback=_output,
              help="Where to write; the format goes by the extension: .dot (needs no Graphviz), .svg, .png, or "
                   ".html (a self-contained review page: the graph, the critical path, totals, a table of tasks).")
@click.option("--run", "record", metavar="RECORD",
              help="A run record: colour each task by the state it ended in, and label it with its duration. "
                   "Tasks are matched by name; one the record does not know keeps its own state.")
@click.option("--critical-path", "highlight", is_flag=True,
              help="Highlight the critical path with thick red edges and borders: the chain of prerequisites with "
                   "the longest total duration in --run; without --run, the longest chain by number of tasks.")
@click.option("--reduce", is_flag=True,
              help="Draw the transitive reduction: leave out an edge a -> c that a path a -> b -> c already implies. "
                   "For big graphs.")
@click.option("--legend", is_flag=True, help="Add a key of the state colours.")
@defines
@verbosity
def graph_command(pipeline: str, targets: tuple[str, ...], output: str, record: str | None, highlight: bool,
                  reduce: bool, legend: bool) -> None:
    """Draw the graph of PIPELINE: the TARGETs and their prerequisites, or, without TARGETs, every task.

    PIPELINE is a Python file or an importable module, optionally followed by :OBJECT, as for `taskgraph run`.

    \b
      taskgraph graph pipelines/nightly.py -o nightly.svg
      taskgraph graph pipelines/nightly.py report -o report.png --reduce
      taskgraph graph pipelines/nightly.py --run nightly.jsonl --critical-path -o review.html
    """
    from ..render import tasks_as_dot, tasks_as_png, tasks_as_svg
    from ..review import Review
    from ..timefmt import duration

    _, quiet = setup_logging()
    extension = os.path.splitext(output)[1].lower()
    kind = FORMATS[extension]
    if kind != "dot" and shutil.which("dot") is None:
        raise UserError(NO_DOT.format(ext=extension))

    loaded = load(pipeline)
    with user_errors():
        tasks = loaded.targets(targets) if targets else loaded.tasks
    run = _record(record) if record is not None else None
    review = Review(tasks, run)
    if run is not None and not review.matched:
        click.echo(f"warning: no task of the run record {record} is in {pipeline}; is it the record of another "
                   "pipeline?", err=True)

    with user_errors("rendering the graph"):
        if kind == "html":
            title = " ".join([pipeline, *targets])
            data: str | bytes = review.html(title=title, critical_path=highlight, reduce=reduce, legend=legend)
        else:
            draw: dict[str, Callable[..., str | bytes]] = dict(dot=tasks_as_dot, svg=tasks_as_svg, png=tasks_as_png)
            data = draw[kind](review.tasks, **review.drawing(critical_path=highlight, reduce=reduce, legend=legend))

    path = Path(output)
    try:
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
    except OSError as exc:
        missing = isinstance(exc, FileNotFoundError) and not path.parent.is_dir()
        reason = f"there is no folder {str(path.parent)!r}" if missing else exc.strerror or str(exc)
        raise UserError(f"cannot write {output}: {reason}; create the folder or choose another -o FILE") from None

    if not quiet:
        said = f"wrote {output}: {len(review.tasks)} task{'s' if len(review.tasks) != 1 else ''}"
        if highlight or kind == "html":
            chain = review.critical_path()
            if chain.tasks:
                total = duration(chain.total) if chain.by == "duration" else f"{len(chain.tasks)} tasks"
                said += f"; critical path ({total}): " + " -> ".join(t.name for t in chain.tasks)
        click.echo(said)
