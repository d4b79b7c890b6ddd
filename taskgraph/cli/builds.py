"""``taskgraph explain`` and ``taskgraph clean``: why a task that declares files would run; remove what builds
made and their state."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .app import defines, load, main, setup_logging, user_errors, verbosity

if TYPE_CHECKING:
    from ..build.explain import Explainer
    from ..pipeline import Pipeline
    from ..task import Task

__all__ = ["explain_command", "clean_command", "state_of"]


def state_of(pipeline: Pipeline) -> Path | None:
    """The state database of ``pipeline``'s builds: ``.taskgraph/state.sqlite`` beside its file; None (the current
    directory's) for a pipeline that is a module without a file."""
    if pipeline.path is None:
        return None
    return Path(pipeline.path).parent / ".taskgraph" / "state.sqlite"


def _say(text: str) -> None:
    from ..safetext import shown

    click.echo(shown(text))


@main.command("explain")
@click.argument("pipeline", metavar="PIPELINE")
@click.argument("names", metavar="TASK...", nargs=-1, required=True)
@defines
@verbosity
def explain_command(pipeline: str, names: tuple[str, ...]) -> None:
    """Say why each TASK of PIPELINE would run, or that it is up to date.

    A task that declares files (inputs, outputs, as shell tasks do) runs when it never ran here, when its command
    (or function and arguments) changed, when an output is missing, or when an input changed: each reason is
    listed, with the paths. Nothing runs and nothing is written. A prerequisite that would run first may change
    the task's inputs: such prerequisites are named too, even for a task that is up to date now.

    Exit status: 0 when every TASK and its prerequisites are up to date, 1 otherwise, 2 for a usage error.

    \b
    Examples:
      taskgraph explain examples/cbuild/build.py "cc src/map.c"
      taskgraph explain examples/cbuild/build.py "link tally" -D out=/tmp/tally
    """
    from ..build.explain import Explainer

    setup_logging()
    loaded = load(pipeline)
    with user_errors():
        tasks = loaded.targets(names)
    fresh = True
    with Explainer(state_of(loaded)) as explainer:
        for task in dict.fromkeys(tasks):
            fresh &= _explain_one(task, explainer)
    sys.exit(0 if fresh else 1)


def _explain_one(task: Task, explainer: Explainer) -> bool:
    """Say why ``task`` would run, or that it is up to date, and which of its prerequisites would run first (they
    may change its inputs); whether it and they are up to date."""
    from ..build.shell import command_of
    from ..graph import closure

    found = explainer.explain(task)
    before = [p.name for p in closure(task.prerequisites) if p.files is not None and not explainer.explain(p).uptodate]
    if found.uptodate:
        _say(f"{task.name}: up to date: {found.reasons[0]}")
    else:
        _say(f"{task.name}: would run")
        for reason in found.reasons:
            _say(f"  {reason}")
        command = command_of(task)
        if command:
            _say(f"  $ {command}")
    if before:
        shown = ", ".join(before[:10]) + (f" and {len(before) - 10} more" if len(before) > 10 else "")
        _say(f"  first, its prerequisite{'s' if len(before) > 1 else ''} {shown} would run, and may change its "
             "inputs")
    return found.uptodate and not before


@main.command("clean")
@click.argument("pipeline", metavar="PIPELINE")
@click.argument("names", metavar="[TARGET]...", nargs=-1)
@click.option("-n", "--dry-run", is_flag=True, help="Print what would be removed; remove nothing.")
@defines
@verbosity
def clean_command(pipeline: str, names: tuple[str, ...], dry_run: bool) -> None:
    """Remove the outputs that the tasks of PIPELINE declare, their depfiles, and the state of their builds.

    With no TARGET, every task's outputs go, and the whole state database (.taskgraph/state.sqlite beside the
    pipeline file): the next run builds everything. With TARGETs, the outputs of those tasks and of what they
    require go, and only their entries in the state. Tasks that declare no files are left alone, and so are
    folders (a build's out/ folder stays, empty of what it made).

    \b
    Examples:
      taskgraph clean examples/cbuild/build.py
      taskgraph clean examples/cbuild/build.py "link tally" --dry-run
    """
    import os

    from ..build.check import show
    from ..build.explain import clean
    from ..build.shell import depfile_of
    from ..graph import closure

    setup_logging()
    loaded = load(pipeline)
    with user_errors():
        tasks = closure(loaded.targets(names)) if names else loaded.tasks
    state = state_of(loaded)
    if dry_run:
        paths = [p for t in tasks if t.files is not None
                 for p in (*t.files.outputs, *filter(None, [depfile_of(t)])) if os.path.exists(p)]
        for path in paths:
            _say(f"would remove {show(path)}")
        what = "the build state" if not names else "their build state"
        _say(f"would remove {len(paths)} file{'s' if len(paths) != 1 else ''} and {what}; removed nothing "
             "(--dry-run)")
        return
    removed, failed = clean(tasks, state, everything=not names)
    for line in failed:
        _say(f"cannot remove {line}")
    files = [p for p in removed if not p.endswith("state.sqlite")]
    said = f"removed {len(files)} file{'s' if len(files) != 1 else ''}"
    if names:
        count = len([t for t in tasks if t.files is not None])
        said += f" and the build state of {count} task{'s' if count != 1 else ''}"
    elif len(files) != len(removed):
        said += " and the build state"
    _say(said)
    sys.exit(1 if failed else 0)
