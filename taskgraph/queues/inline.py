"""The inline queue: runs each task in the thread that called ``make``, one at a time. The default."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import BaseQueue, execute

if TYPE_CHECKING:
    from ..task import Task

__all__ = ["InlineQueue"]


class InlineQueue(BaseQueue):
    """Run tasks in the calling thread, as they are submitted.

    ``make`` moves each task straight from PENDING to RUNNING and hands it over one at a time, so a failure is
    seen, and ``fail_fast`` obeyed, before the next task starts.
    """

    runs_inline = True
    capacity: int | None = 1

    def submit(self, task: Task) -> None:
        execute(task, claimed=True)

    def __repr__(self) -> str:
        return "InlineQueue()"
