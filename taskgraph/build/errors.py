"""The errors of builds: declarations that cannot work, missing files, failed commands."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import TaskError

__all__ = ["BuildError", "CommandError"]


class BuildError(TaskError, ValueError):
    """Files declared by tasks cannot work as declared (two tasks write one file, an input exists nowhere), or a
    task did not write an output it declared. The message names the task and the path."""


class CommandError(TaskError):
    """A shell task's command failed. The message is the command, once, then the tail of what it printed on
    stderr (stdout if stderr is empty), indented.

    Attributes:
        command: the command, as given.
        returncode: its exit status (negative: the signal that killed it); None if it could not start.
        stdout, stderr: all it printed.
    """

    def __init__(self, message: str, command: Sequence[str] | str = (), returncode: int | None = None,
                 stdout: str = "", stderr: str = "") -> None:
        super().__init__(message)
        self.command = command
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (str(self), self.command, self.returncode, self.stdout, self.stderr)
