"""``taskgraph run`` and ``taskgraph list``: make a pipeline's targets with live progress; list its tasks."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from .app import UserError, defines, exit_now, load, log, main, setup_logging, user_errors, verbosity
from .builds import state_of

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from ..pipeline import Pipeline
    from ..queues.base import Queue
    from ..task import Task, Transition

#: The exit status after Ctrl-C, as a shell reports a process SIGINT stopped.
INTERRUPTED = 130


def make_console() -> tuple[Console, bool]:
    """The console to print on, and whether it is a terminal that can show styles and a live display."""
    from rich.console import Console

    console = Console(highlight=False, emoji=False, markup=False)
    return console, console.is_terminal and not console.is_dumb_terminal


@main.command("run")
@click.argument("pipeline", metavar="PIPELINE")
@click.argument("names", metavar="[TARGET]...", nargs=-1)
@click.option("-j", "--jobs", type=click.IntRange(min=1), metavar="N",
              help="Run up to N tasks at once, on threads (the same as --queue threads://N).")
@click.option("--queue", "queue_url", metavar="URL",
              help="Where tasks run: inline: (the default: one at a time, here), threads://N, processes://N, "
                   "asyncio:, or a durable store such as sqlite:///jobs.db (then a worker must run).")
@click.option("--fail-fast", is_flag=True, help="Stop at the first target that fails: start nothing more.")
@click.option("-k", "--keep-going", is_flag=True,
              help="Run every task that is not blocked, even once a failure has doomed the target that needs it; "
                   "the summary lists every failure.")
@click.option("-B", "--force", is_flag=True,
              help="Run every task, even those whose declared files are up to date.")
@click.option("-n", "--dry-run", is_flag=True,
              help="Print what would run, in order; run nothing (and write no record).")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help="Write a run record (JSON lines: every transition of every task) to PATH.")
@defines
@verbosity
def run_command(pipeline: str, names: tuple[str, ...], jobs: int | None, queue_url: str | None, fail_fast: bool,
                keep_going: bool, force: bool, dry_run: bool, record: Path | None) -> None:
    """Make the TARGETs of PIPELINE, with live progress.

    PIPELINE is a Python file or an importable module, optionally with :OBJECT naming a task or a list of
    tasks in it; without :OBJECT, every Task at module level is collected. TARGETs are task names; with none,
    every task that no other task requires is made. Prerequisites run first; a task whose prerequisite failed
    fails without running (blocked).

    A task that declares files (inputs and outputs, as shell tasks do) does not run while they are up to date;
    their state is kept in .taskgraph/state.sqlite beside the pipeline file. -B runs them all.

    On a terminal a live display shows done/total, the running tasks and how long each has run, failures,
    elapsed time and an estimate of what is left; otherwise one line is printed as each task starts and ends.
    With -v, each shell task's command is printed as it starts.
    A summary follows. Ctrl-C starts nothing more and waits for the running tasks; a second Ctrl-C stops
    waiting.

    Exit status: 0 when every target is DONE, 1 otherwise, 2 for a usage error, 130 after Ctrl-C.

    \b
    Examples:
      taskgraph run examples/pipeline.py                  # every final task, one at a time
      taskgraph run examples/pipeline.py report -j 4      # report and what it needs, 4 at once
      taskgraph run examples/pipeline.py --dry-run        # what would run, in order
      taskgraph run examples/pipeline.py -k -j 4          # after a failure, run all that is not blocked
      taskgraph run examples/pipeline.py -B               # run even what is up to date
      taskgraph run myapp.pipelines:nightly --queue processes://8 --record run.jsonl
    """
    verbose, quiet = setup_logging()
    try:
        if fail_fast and keep_going:
            raise click.UsageError("--fail-fast stops at the first failure and --keep-going runs on past it: "
                                   "give one of them")
        rules: dict[str, Any] = {"fail_fast": fail_fast, "keep_going": keep_going, "force": force}
        code = _run(pipeline, names, jobs, queue_url, rules, dry_run, record, verbose, quiet)
    except KeyboardInterrupt:  # before or after the run itself (make handles Ctrl-C while it runs)
        click.echo("interrupted", err=True)
        code = INTERRUPTED
    sys.exit(code)


def _run(spec: str, names: Sequence[str], jobs: int | None, queue_url: str | None, rules: dict[str, Any],
         dry_run: bool, record: Path | None, verbose: int, quiet: int) -> int:
    from ..graph import closure, walk
    from ..queues.registry import open_queue, redact
    from ..scheduler import close_queue
    from ..states import PENDING

    if jobs is not None and queue_url is not None:
        raise UserError("-j and --queue both say where tasks run; give one of them (-j N is --queue threads://N)")
    url = f"threads://{jobs}" if jobs is not None else queue_url if queue_url is not None else "inline:"
    pipeline = load(spec)
    state = state_of(pipeline)
    if state is not None:  # the state of builds lives beside the pipeline
        rules["state"] = state
    with user_errors():
        targets = list(dict.fromkeys(pipeline.targets(names)))
    to_run = walk(targets, lambda t: t.state is PENDING)  # what make will run: the pending tasks the targets need
    shown = closure(targets)
    if dry_run:
        return dry_run_report(targets, to_run, shown)
    with user_errors("bad queue URL"):
        queue = open_queue(url)
    recorder = None
    if record is not None:
        from ..runrecord import RunRecorder

        try:
            with user_errors("cannot write the run record"):
                recorder = RunRecorder(record, pipeline.tasks, pipeline=spec, targets=[t.name for t in targets],
                                       queue=redact(url))
        except BaseException:
            close_queue(queue, False)
            raise
    return run_targets(pipeline, targets, to_run, shown, queue, redact(url), rules, recorder, verbose, quiet)


def dry_run_report(targets: Sequence[Task], to_run: Sequence[Task], shown: Sequence[Task]) -> int:
    from ..build import command_of
    from ..safetext import shown as safe
    from ..states import DONE

    def say(text: str) -> None:  # names and commands may hold any character: shown as escapes
        click.echo(safe(text))

    names = ", ".join(t.name for t in targets)
    if to_run:
        say(f"would run {len(to_run)} task{'s' if len(to_run) != 1 else ''} for {names}, in this order:")
        width = max(len(t.name) for t in to_run)
        digits = len(str(len(to_run)))
        for number, task in enumerate(to_run, 1):
            requires = ", ".join(p.name for p in task.prerequisites)
            line = f"  {number:>{digits}}. {task.name:<{width}}"
            say(f"{line}  requires {requires}" if requires else line.rstrip())
            command = command_of(task)
            if command:
                say(f"  {'':>{digits}}  $ {command}")
    else:
        say(f"nothing to run for {names}")
    skipped = [t for t in shown if t.state is DONE]
    listed = f": {', '.join(t.name for t in skipped)}" if skipped else ""
    say(f"{len(skipped)} already DONE, skipped{listed}")
    other = [t for t in shown if t.state is not DONE and t not in set(to_run)]
    if other:
        say("not run, as they are not PENDING: " + ", ".join(f"{t.name} ({t.state})" for t in other))
    if any(t.files is not None for t in to_run):
        say("tasks that declare files run only if those are out of date")
    say("nothing was run (--dry-run)")
    return 0


@contextlib.contextmanager
def tracking(tasks: Sequence[Task], observer: Callable[[Task, Transition], None]) -> Iterator[None]:
    """Call ``observer`` with each transition of ``tasks`` (after any ``track`` callback they have) while the
    ``with`` block runs."""
    previous = {t: t.track for t in tasks}

    def track(task: Task, move: Transition) -> None:
        own = previous[task]
        try:
            if own is not None:
                own(task, move)
        finally:
            try:
                observer(task, move)
            except Exception:  # a display must never break a run
                log.exception("showing a transition of task %r failed", task.name)

    for t in tasks:
        t.track = track
    try:
        yield
    finally:
        for t in tasks:
            t.track = previous[t]


def make_all(targets: Sequence[Task], rules: dict[str, Any], queue: Queue) -> None:
    """Run ``make`` over ``targets`` to its end, with ``rules`` (``fail_fast``, ``keep_going``, ``force``,
    ``state``)."""
    from ..make import make

    steps = cast("Generator[Task, None, None]", make(*targets, **rules, queue=queue))
    try:
        for _ in steps:
            pass
    except KeyboardInterrupt:
        # Ctrl-C reached this loop between two of make's steps rather than make itself: let make stop as it
        # does on Ctrl-C (cancel what has not started, wait for what runs). A no-op if make raised it.
        with contextlib.suppress(KeyboardInterrupt, StopIteration):
            steps.throw(KeyboardInterrupt())
        raise


def run_targets(pipeline: Pipeline, targets: Sequence[Task], to_run: Sequence[Task], shown: Sequence[Task],
                queue: Queue, queue_name: str, rules: dict[str, Any], recorder: Any, verbose: int, quiet: int) -> int:
    from rich.text import Text

    from ..build import command_of
    from ..scheduler import close_queue
    from ..states import CANCELLED, DONE, RUNNING
    from ..views.run_progress import RunProgress, was_interrupted
    from ..views.run_view import LiveDisplay, PlainLines, summary_lines, warning_lines

    console, terminal = make_console()
    progress = RunProgress(shown, to_run)
    live = terminal and not quiet
    durable = callable(getattr(queue, "submit_graph", None))  # tasks wait in a store for a worker
    if durable:
        log.info("the tasks go to %s: a worker must run them (taskgraph worker MODULE:QUEUE)", queue_name)
    if not live and not quiet:
        PlainLines(progress, click.echo, queued=durable)
    left_running: list[str] = []  # tasks a second Ctrl-C cancelled while their function still ran

    def observe(task: Task, move: Transition) -> None:
        if recorder is not None:
            recorder.observe(task, move)
        progress.observe(task, move)
        if verbose and move.dest is RUNNING:
            command = command_of(task)
            if command:
                click.echo(f"$ {command}")
        if (move.source is RUNNING and move.dest is CANCELLED and not getattr(queue, "runs_inline", False)
                and was_interrupted(task.exception)):
            left_running.append(task.name)

    display: contextlib.AbstractContextManager[Any] = (
        LiveDisplay(progress, console, title=f"taskgraph run {pipeline.spec} on {queue_name}")
        if live else contextlib.nullcontext()
    )
    log.info("making %s on %s: %d tasks to run", ", ".join(t.name for t in targets), queue_name, len(to_run))
    status = "failed"
    try:
        with tracking(pipeline.tasks, observe), display:
            make_all(targets, rules, queue)
        status = "done" if all(t.state is DONE for t in targets) else "failed"
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        progress.finish()
        if recorder is not None:
            recorder.close(status)
        close_queue(queue, status == "interrupted")

    def echo(text: Text) -> None:  # styled on a terminal, plain text (never wrapped) otherwise
        if terminal:
            console.print(text, soft_wrap=True)
        else:
            click.echo(text.plain)

    if status == "interrupted":
        cancelled = [v.name for v in progress.tasks_in(CANCELLED) if not v.ran]
        if cancelled:
            echo(Text(f"interrupted: cancelled {len(cancelled)} task{'s' if len(cancelled) != 1 else ''} that had "
                      f"not started: {', '.join(cancelled)}", style="bold magenta"))
        if left_running:
            stopped = [v.name for v in progress.tasks_in(CANCELLED) if v.name in left_running]
            echo(Text(f"interrupted: stopped waiting for {', '.join(stopped)} (still running when the process "
                      "exits)", style="bold magenta"))
    lines = summary_lines(progress, status, targets, verbose=verbose, quiet=quiet)
    lines[-1:-1] = warning_lines(to_run)
    for line in lines:
        echo(line)
    if recorder is not None:
        log.info("run record written to %s", recorder.path)
    code = {"done": 0, "failed": 1}.get(status, INTERRUPTED)
    if status == "interrupted" and left_running:
        exit_now(code)
    return code


@main.command("list")
@click.argument("pipeline", metavar="PIPELINE")
@defines
@verbosity
def list_command(pipeline: str) -> None:
    """List the tasks of PIPELINE, what each requires and what it does.

    Each task comes after its prerequisites, with the first line of its function's docstring. PIPELINE is a
    Python file or a module[:OBJECT], as for `taskgraph run`.

    \b
    Examples:
      taskgraph list examples/pipeline.py
      taskgraph list myapp.pipelines:nightly
    """
    from ..views.run_view import task_table
    from ..views.status_view import to_text

    setup_logging()
    tasks = load(pipeline).tasks
    console, terminal = make_console()
    if terminal:
        console.print(task_table(tasks, plain=False))
    else:  # wide enough that no line is wrapped
        click.echo(to_text([task_table(tasks, plain=True)], width=100_000), nl=False)


__all__ = ["run_command", "list_command", "load", "INTERRUPTED"]
