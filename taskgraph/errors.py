"""The exceptions taskgraph raises. Every one a user can cause says what happened and what to do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .safetext import shown

__all__ = [
    "TaskError",
    "BlockedError",
    "CycleError",
    "CancelledError",
    "RemoteTaskError",
    "SerializationError",
    "RefusedJob",
    "RenderError",
]


class TaskError(Exception):
    """Base class of the errors about tasks: an illegal event, a blocked run, a cycle."""


class BlockedError(TaskError):
    """A task cannot run because a prerequisite is not DONE.

    Attributes:
        task: the blocked task's name.
        prerequisites: each unfinished prerequisite's name and state, in the order they were required.
    """

    def __init__(self, task: str, prerequisites: Sequence[tuple[str, str]], why: str = "") -> None:
        self.task = task
        self.prerequisites = list(prerequisites)
        self.why = why
        listed = ", ".join(f"{name!r} is {state}" for name, state in self.prerequisites)
        super().__init__(f"task {task!r} is blocked: prerequisite {listed}{why}")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.task, self.prerequisites, self.why)


class CycleError(TaskError, ValueError):
    """The prerequisites form a cycle, so no order can satisfy them.

    Attributes:
        cycle: the names along one cycle, first name repeated at the end (``['a', 'b', 'a']``).
    """

    def __init__(self, cycle: Sequence[str], tasks: Sequence[Any] = ()) -> None:
        self.cycle = list(cycle)
        #: the tasks along the cycle, when they are at hand
        self.tasks = list(tasks)
        path = " -> ".join(self.cycle)
        super().__init__(
            f"tasks form a cycle: {path} (each is a prerequisite of the next); remove one of these requirements"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.cycle,)


class CancelledError(TaskError):
    """Raised by ``join()`` on a task that was cancelled."""


class RemoteTaskError(TaskError):
    """A task failed somewhere its exception could not be rebuilt: this carries what is known of it.

    Attributes:
        type_name: the qualified name of the original exception's type.
        message: ``str()`` of the original exception.
        traceback: the remote traceback as text.
    """

    def __init__(self, type_name: str, message: str, traceback: str = "") -> None:
        self.type_name = type_name
        self.message = message
        self.traceback = traceback
        super().__init__(f"{type_name}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.type_name, self.message, self.traceback)


class SerializationError(TaskError, TypeError):
    """A task's function, an argument or a result cannot be sent where the task runs."""


class RefusedJob(TaskError, ValueError):
    """A worker refused a stored job record it cannot use (a damaged or hand-written field, a mode that is not its
    function's): the job FAILED without running, and is not retried. The message names the field."""


class RenderError(RuntimeError):
    """A graph cannot be rendered, most often because Graphviz's ``dot`` is missing."""


def describe(obj: Any) -> str:
    """A short description of a value for error messages: its type and a clipped repr (control characters
    escaped), or what can be said of a value whose repr fails (an int past Python's digit limit)."""
    try:
        text = shown(repr(obj))
    except Exception as exc:  # noqa: BLE001 - the message must still be made
        if isinstance(obj, int):
            return f"{type(obj).__name__} of {obj.bit_length()} bits, too long to show"
        return f"{type(obj).__name__} whose repr raised {type(exc).__name__}"
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(obj).__name__} {text}"


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for a log line; its type's name when it has no message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

