"""The task state machine as plain data: its states, its events and which event moves which state where.

This is the one place the machine is declared. :mod:`taskgraph._fsm` builds a `transitions` machine from it,
the docs draw it, and a durable store's ``status`` column speaks the same names, because :class:`State` is a
``str``: ``task.state == "DONE"`` holds.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

__all__ = ["State", "FINAL_STATES", "TRANSITIONS", "EVENTS", "Transition"]


class State(str, Enum):
    """The states of a task. Each member is equal to its own name as a string."""

    PENDING = "PENDING"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def final(self) -> bool:
        """True for DONE, FAILED and CANCELLED: states a task leaves only by ``reset()``."""
        return self in FINAL_STATES


PENDING, QUEUED, RUNNING, DONE, FAILED, CANCELLED = State

FINAL_STATES = frozenset({DONE, FAILED, CANCELLED})

#: ``(event, sources, destination)``, in the order the docs list them.
TRANSITIONS: tuple[tuple[str, tuple[State, ...], State], ...] = (
    # handed to a queue that will start it later
    ("queue", (PENDING,), QUEUED),
    # it starts running, straight from PENDING when run in the calling thread
    ("dispatch", (PENDING, QUEUED), RUNNING),
    # its function returned
    ("done", (RUNNING,), DONE),
    # not run: the files it declares are up to date (taskgraph.build)
    ("uptodate", (PENDING,), DONE),
    # its function raised; or, without running, a prerequisite failed
    ("fail", (PENDING, QUEUED, RUNNING), FAILED),
    # stopped by a user, by Ctrl-C, or because a prerequisite was cancelled
    ("cancel", (PENDING, QUEUED, RUNNING), CANCELLED),
    # repaired: back to PENDING to be made again
    ("retry", (FAILED, CANCELLED), PENDING),
)

EVENTS: tuple[str, ...] = tuple(event for event, _, _ in TRANSITIONS)


class Transition(NamedTuple):
    """One entry of :attr:`Task.history <taskgraph.task.Task.history>`: a move of a task, and when it was made."""

    when: float  #: wall-clock time, as :func:`time.time` gives it
    source: State
    event: str
    dest: State
