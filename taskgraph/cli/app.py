"""The ``taskgraph`` command group, and how every command reports a user's mistake: one line, exit status 2, no
traceback unless ``-v``."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

try:
    import click
except ImportError:  # pragma: no cover - the console script says what to install
    sys.exit("the taskgraph command needs click and rich: pip install 'taskgraph-fsm[cli]'")

from ..errors import CycleError, RenderError, TaskError
from ..pipeline import PipelineError
from ..safetext import shown
from ..stores.base import StoreError

if TYPE_CHECKING:
    from ..pipeline import Pipeline

__all__ = ["main", "UserError", "user_errors", "verbosity", "setup_logging", "is_verbose", "load", "exit_now"]

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("taskgraph.cli")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: The errors a user can cause (a PipelineError is a ValueError, a CycleError a TaskError); each is one line.
USER_ERRORS: tuple[type[BaseException], ...] = (StoreError, RenderError, TaskError, ValueError, OSError)


class UserError(click.ClickException):
    """A mistake in what the user asked: printed as ``Error: ...``, exit status 2."""

    exit_code = 2


def is_verbose() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().meta.get("taskgraph.verbose", 0) > 0)


@contextlib.contextmanager
def user_errors(doing: str = "") -> Iterator[None]:
    """Turn the errors a user can cause into one line (with ``-v``, the traceback as well)."""
    try:
        yield
    except USER_ERRORS as exc:  # not a click.ClickException (a UserError raised inside): that goes through as is
        if is_verbose():
            logging.getLogger("taskgraph").exception("%s failed", doing or "the command")
        raise UserError(f"{doing}: {exc}" if doing else str(exc)) from None


def log_level(verbose: int, quiet: int) -> int:
    return max(logging.WARNING - 10 * verbose + 10 * quiet, logging.DEBUG)


class SafeFormatter(logging.Formatter):
    """Log lines carry job names and error texts, which any code may set: their control characters are written as
    escapes (``\\x1b``), so that no log line can act on the terminal."""

    def __init__(self) -> None:
        super().__init__(LOG_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return shown(super().format(record), lines=True)


def setup_logging(more: int = 0) -> tuple[int, int]:
    """Log as the ``-v`` and ``-q`` given say, with ``more`` extra ``-v``; return how many of each were given."""
    verbose, quiet = levels()
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter())
    logging.basicConfig(level=log_level(verbose + more, quiet), handlers=[handler])
    return verbose, quiet


def load(spec: str) -> Pipeline:
    """Load ``PIPELINE``; what goes wrong is a one-line user error (the traceback with ``-v``)."""
    from ..pipeline import load_pipeline
    from ..runrecord import describe_error

    try:
        pipeline = load_pipeline(spec)
    except Exception as exc:
        if is_verbose():
            log.exception("loading %s failed", spec)
        if isinstance(exc, (PipelineError, CycleError)):
            raise UserError(str(exc)) from None
        # the pipeline's own code raised as it was imported
        ours = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the pipeline's line, not taskgraph's
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if not f.filename.startswith(("<frozen", ours + os.sep))]
        where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
        hint = "" if is_verbose() else " (-v shows the traceback)"
        raise UserError(f"loading {spec} failed{where}: {describe_error(exc)}{hint}") from None
    log.info("loaded %s: %d tasks", spec, len(pipeline.tasks))
    return pipeline


def exit_now(code: int) -> NoReturn:
    """Exit at once, with what was logged and printed written out: threads or processes that cannot be stopped
    must not keep the command alive."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def defines(func: F) -> F:
    """Add ``-D NAME=VALUE`` (repeatable) to a command: the pipeline reads them from ``taskgraph.params``."""

    def given(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> None:
        from ..pipeline import params

        parsed = {}
        for item in values:
            name, equals, value = item.partition("=")
            if not equals or not name.isidentifier():
                raise click.BadParameter(f"{item!r} is not NAME=VALUE, NAME a Python identifier", param=param)
            parsed[name] = value
        params.given(parsed)

    return click.option("-D", "--define", "defines", multiple=True, metavar="NAME=VALUE", expose_value=False,
                        callback=given, help="A parameter for the pipeline, read as taskgraph.params['NAME'] "
                        "(repeat for more).")(func)


def verbosity(func: F) -> F:
    """Add ``-v``/``-q`` to a command; they add to the group's."""

    def remember(ctx: click.Context, param: click.Parameter, value: int) -> int:
        root = ctx.find_root().meta
        key = "taskgraph.verbose" if param.name == "verbose" else "taskgraph.quiet"
        root[key] = root.get(key, 0) + value
        return value

    func = click.option("-q", "--quiet", count=True, expose_value=False, callback=remember,
                        help="Less output (repeat for less).")(func)
    func = click.option("-v", "--verbose", count=True, expose_value=False, callback=remember,
                        help="More output, and tracebacks (repeat for more).")(func)
    return func


def levels() -> tuple[int, int]:
    meta = click.get_current_context().find_root().meta
    return meta.get("taskgraph.verbose", 0), meta.get("taskgraph.quiet", 0)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="taskgraph-fsm", prog_name="taskgraph")
@verbosity
def main() -> None:
    """Run task graphs, review them, and run and watch the workers of durable queues.

    \b
      taskgraph run PIPELINE [TARGET...]     make the targets, with live progress
      taskgraph list PIPELINE                the tasks and what they require
      taskgraph graph PIPELINE -o FILE       draw the graph (.dot .svg .png .html)
      taskgraph explain PIPELINE TASK...     why a task that declares files would run
      taskgraph clean PIPELINE [TARGET...]   remove declared outputs and the build state
      taskgraph worker MODULE:QUEUE          run the jobs of a durable queue, with a live dashboard
      taskgraph status URL [--watch]         what a store holds: counts, running jobs, failures
      taskgraph retry URL ID...              queue FAILED or CANCELLED jobs again
      taskgraph cancel URL ID...             cancel jobs
      taskgraph purge URL --older-than 7d    delete old finished jobs
    """
