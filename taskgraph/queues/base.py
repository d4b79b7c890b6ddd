"""The queue protocol: what ``make`` asks of a place that runs tasks, and the helpers a queue uses.

``make`` hands a queue one ready task at a time through :meth:`Queue.submit`, after moving it to QUEUED (to
RUNNING when the queue says it runs tasks inline). From then on the task belongs to the queue, which must bring it
to a final state, from whatever thread it likes:

* when the task starts, call :func:`start`; if it returns False the task was cancelled while it waited: skip it;
* run ``task.func(*task.args, **task.kwargs)`` wherever the queue runs things;
* record the outcome with :func:`finish` (``finish(task, result)`` or ``finish(task, exception=exc)``).

:func:`execute` does all three in the calling thread. ``make`` learns that a task finished from the task itself
(its done-callbacks), so a queue has no other duty: no return values, no futures.

A queue also says how many tasks ``make`` may keep submitted and unfinished (:attr:`Queue.capacity`): a queue
with a few workers asks for a small backlog, so that stopping early leaves most tasks untouched in PENDING.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..states import QUEUED, RUNNING

if TYPE_CHECKING:
    from ..task import Task

__all__ = ["Queue", "BaseQueue", "start", "finish", "execute"]


@runtime_checkable
class Queue(Protocol):
    """What ``make`` needs of a queue. Subclass :class:`BaseQueue` or provide these yourself."""

    #: True if :meth:`submit` runs the task before it returns, in the calling thread.
    runs_inline: bool
    #: The most tasks ``make`` keeps submitted and unfinished at once; None for no limit.
    capacity: int | None

    def submit(self, task: Task) -> None:
        """Take a QUEUED task (RUNNING if :attr:`runs_inline`) and see that it reaches a final state."""

    def close(self, wait: bool = True) -> None:
        """Release the queue's resources, first waiting for submitted tasks to finish.

        ``wait=False`` (``make`` after a second Ctrl-C) must return without waiting for running tasks: stop what
        can be stopped and abandon the rest.
        """


class BaseQueue:
    """Defaults for a queue: not inline, no capacity limit, a context manager that closes it."""

    runs_inline: bool = False
    capacity: int | None = None

    def submit(self, task: Task) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self, wait: bool = True) -> None:
        """Release nothing; subclasses with workers override this."""

    def __enter__(self) -> BaseQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start(task: Task) -> bool:
    """Mark a QUEUED task RUNNING, as it starts.

    Returns:
        False if the task is no longer QUEUED (it was cancelled while it waited); the queue must then not run it.
    """
    return task._fire("dispatch", False, only_from=QUEUED)


def finish(task: Task, result: Any = None, exception: BaseException | None = None) -> bool:
    """Record how a RUNNING task ended: DONE with ``result``, or FAILED with ``exception``.

    The task's ``cancel_on_exception`` and ``cancel_on_result`` options may make it CANCELLED instead.

    Returns:
        False if the task had been cancelled while it ran: the outcome is dropped.
    """
    return task._finish(result, exception)


def execute(task: Task, claimed: bool = False) -> None:
    """Run a task handed over by ``make`` here: start it, call its function, record the outcome.

    Args:
        task: the task, QUEUED; it is skipped if it is no longer QUEUED when it starts (cancelled meanwhile).
        claimed: the task arrived RUNNING, because the queue :attr:`~Queue.runs_inline`: run it as it is.

    A ``KeyboardInterrupt`` or ``SystemExit`` from the function cancels the task and propagates.
    """
    if (claimed and task.state is RUNNING) or start(task):
        task._call()
