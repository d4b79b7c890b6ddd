"""Shell-command tasks: :func:`shell` makes a task that runs a command, with its output captured.

What a command prints is captured, never written to the terminal, so it cannot interleave with a live display.
The task's result is the :class:`subprocess.CompletedProcess`; on a non-zero exit the task fails with a
:class:`~.errors.CommandError` whose message is the command once, then the tail of its stderr, indented.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import describe
from ..task import Task
from .errors import CommandError

if TYPE_CHECKING:
    import subprocess

__all__ = ["shell", "run_command", "command_of", "depfile_of", "quote", "failure_message", "in_brief"]

MOST_COMMAND = 400  # characters of a command shown in a message; a longer one is cut in the middle
TAIL_LINES = 20  # lines of stderr a failure shows
MOST_LINE = 300  # characters of each of those lines
INDENT = "    "


def shell(name: str, command: Sequence[str | os.PathLike[str]] | str, *, inputs: Iterable[Any] = (),
          outputs: Iterable[Any] = (), cwd: str | os.PathLike[str] | None = None,
          env: Mapping[str, str] | None = None, depfile: str | os.PathLike[str] | None = None,
          use_shell: bool = False, **options: Any) -> Task:
    """A task that runs ``command``.

    Args:
        name: the task's name.
        command: the program and its arguments, as a list; a string only with ``use_shell=True``.
        inputs, outputs: the files it reads and writes, as for :class:`~taskgraph.Task`.
        cwd: the folder to run it in; the current one by default.
        env: variables to set for it, over the environment of the process; they are part of what the task does,
            so changing one reruns it.
        depfile: the make rule the command writes listing the files it read (``gcc -MD -MF x.d``): after each
            run, those files become inputs of the task, kept in the build state, so that changing one reruns it.
            A relative path is taken from the current directory, as inputs are; the paths in it from ``cwd``,
            where the command runs. It is removed before the command runs, and must be written by it.
        use_shell: run ``command``, a string, with ``/bin/sh -c``.
        options: other keyword arguments of :class:`~taskgraph.Task` (``track``, ``key``, ...).

    Raises:
        TypeError: ``command`` is a string without ``use_shell=True``, or a list with something not a string; a
            ``depfile`` without ``outputs``.
    """
    if use_shell:
        if not isinstance(command, str):
            raise TypeError(f"task {name!r}: with use_shell=True the command is a string for /bin/sh, not "
                            f"{describe(command)}")
        argv: str | tuple[str, ...] = command
    else:
        if isinstance(command, (str, bytes)):
            raise TypeError(f"task {name!r}: give the command as a list of arguments ({command.split()[:2]!r}...), "
                            "or pass use_shell=True to run a string with /bin/sh")
        argv = tuple(_arg(name, a) for a in command)
        if not argv:
            raise TypeError(f"task {name!r}: the command is empty")
    kwargs: dict[str, Any] = {}
    if cwd is not None:
        kwargs["cwd"] = os.path.abspath(os.fspath(cwd))
    if env:
        kwargs["env"] = {str(k): _arg(name, v) for k, v in env.items()}
    if use_shell:
        kwargs["use_shell"] = True
    if depfile is not None:
        kwargs["depfile"] = os.path.abspath(_arg(name, depfile))
        outputs = tuple(outputs) if not isinstance(outputs, (str, os.PathLike)) else (outputs,)
        if not outputs:
            raise TypeError(f"task {name!r}: a task with a depfile must declare its outputs (outputs=[...]): the "
                            "depfile's files are inputs that decide when they are out of date")
    return Task(name, run_command, args=(argv,), kwargs=kwargs, inputs=inputs, outputs=outputs, **options)


def _arg(name: str, value: Any) -> str:
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    raise TypeError(f"task {name!r}: command arguments and env values must be strings or paths, not "
                    f"{describe(value)}")


def quote(command: Sequence[str] | str) -> str:
    """The command as one shell line (cut in the middle when it is very long)."""
    text = command if isinstance(command, str) else shlex.join(command)
    if len(text) > MOST_COMMAND:
        keep = MOST_COMMAND // 2
        text = f"{text[:keep]} ... {text[-keep:]}"
    return text


def failure_message(command: Sequence[str] | str, returncode: int, stdout: str, stderr: str) -> str:
    """``COMMAND: exit status N``, then the last lines of stderr (or of stdout, if stderr is empty), indented."""
    if returncode < 0:
        import signal

        try:
            how = f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"killed by signal {-returncode}"
    else:
        how = f"exit status {returncode}"
    lines = (stderr if stderr.strip() else stdout).rstrip().splitlines()
    tail = [line if len(line) <= MOST_LINE else line[:MOST_LINE] + " ..." for line in lines[-TAIL_LINES:]]
    if len(lines) > TAIL_LINES:
        tail.insert(0, f"... ({len(lines) - TAIL_LINES} lines before)")
    return "\n".join([f"{quote(command)}: {how}", *(INDENT + line.rstrip() for line in tail)])


def in_brief(error: CommandError) -> str:
    """A failed command in one line, without the command (shown elsewhere): ``exit status 1: x.c:3: error: ...``,
    the first line of its output that says "error" (else its last line)."""
    first = str(error).split("\n", 1)[0]
    prefix = f"{quote(error.command)}: "
    how = first[len(prefix):] if first.startswith(prefix) else first
    lines = [line.strip() for line in (error.stderr if error.stderr.strip() else error.stdout).splitlines()]
    lines = [line for line in lines if line]
    said = next((line for line in lines if "error" in line.lower()), lines[-1] if lines else "")
    if len(said) > MOST_LINE:
        said = said[:MOST_LINE] + "..."
    return f"{how}: {said}" if said else how


def run_command(command: Sequence[str] | str, cwd: str | None = None, env: Mapping[str, str] | None = None,
                use_shell: bool = False, depfile: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a shell task's command, its output captured (the function of every :func:`shell` task); remove its
    ``depfile`` first, so that one the command fails to write is not taken from an earlier run.

    Raises:
        CommandError: it could not start, or exited with a non-zero status.
    """
    import subprocess  # here, not at import: most programs that import taskgraph run no command

    if depfile is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(depfile)
    try:
        done = subprocess.run(command, cwd=cwd, env={**os.environ, **env} if env else None, shell=use_shell,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
    except OSError as exc:
        raise CommandError(f"{quote(command)}: cannot run it: {exc.strerror or exc}", command) from None
    if done.returncode:
        raise CommandError(failure_message(command, done.returncode, done.stdout, done.stderr), command,
                           done.returncode, done.stdout, done.stderr)
    return done


def command_of(task: Task) -> str | None:
    """A shell task's command as one line (with ``cd DIR &&`` when it runs elsewhere); None for other tasks."""
    if task.func is not run_command or not task.args:
        return None
    text = quote(task.args[0])
    cwd = task.kwargs.get("cwd")
    return f"cd {shlex.quote(cwd)} && {text}" if cwd else text


def depfile_of(task: Task) -> str | None:
    """The depfile of a shell task (absolute), or None."""
    if task.func is not run_command:
        return None
    depfile: str | None = task.kwargs.get("depfile")
    return depfile
