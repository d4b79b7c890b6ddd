"""The task state machine, built with `transitions` from the declaration in :mod:`taskgraph.states`.

`transitions` holds the machine: it checks the declaration (every source and destination a known state, no
automatic ``to_*`` events), answers which events a state allows, and draws the diagram in the docs. Tasks do
not call its ``Event.trigger`` on the hot path: that generic path builds an ``EventData``, walks nine callback
lists and logs each step, and costs about 8 µs per event here, where a make fires two or three events per task
against a budget of 20 µs per task. Our transitions have no conditions and no callbacks, so firing one is a
dictionary lookup: :data:`NEXT` is compiled from the machine's own events, and a test fires every event from
every state through both `transitions` and :class:`~taskgraph.task.Task` and checks they agree.

One machine serves every task (the "class-level machine" pattern of the transitions FAQ): a task holds only its
state, so it costs no memory for the machine and nothing to create.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from transitions import Machine

from .states import EVENTS, FINAL_STATES, PENDING, RUNNING, TRANSITIONS, State, Transition

__all__ = ["MACHINE", "NEXT", "ENTRY", "allowed_events", "decode_history", "run_time"]

#: one transition in a task's packed history: when, the event's index in EVENTS
ENTRY = struct.Struct("<dB")


def _build() -> Machine:
    return Machine(
        model=None,
        states=[s.value for s in State],
        transitions=[
            {"trigger": event, "source": [s.value for s in sources], "dest": dest.value}
            for event, sources, dest in TRANSITIONS
        ],
        initial=None,
        auto_transitions=False,
        name="Task",
    )


MACHINE: Machine = _build()

#: event name -> {source state: destination state}, compiled from :data:`MACHINE`.
NEXT: dict[str, dict[State, State]] = {
    name: {State(source): State(moves[0].dest) for source, moves in event.transitions.items()}
    for name, event in MACHINE.events.items()
}


def allowed_events(state: State) -> list[str]:
    """The events the machine accepts in ``state``, in declaration order."""
    return list(MACHINE.get_triggers(state.value))


def decode_history(entries: bytes) -> list[Transition]:
    """A task's packed history (:data:`ENTRY` after :data:`ENTRY`, from PENDING) as transitions."""
    moves = []
    state = PENDING
    for when, code in ENTRY.iter_unpack(entries):
        event = EVENTS[code]
        dest = NEXT[event][state]
        moves.append(Transition(when, state, event, dest))
        state = dest
    return moves


def run_time(moves: Iterable[Transition]) -> float | None:
    """Seconds from the last start to its end in ``moves``, or None if there is no run to an end."""
    started = ended = None
    for move in moves:
        if move.dest is RUNNING:
            started, ended = move.when, None
        elif started is not None and move.dest in FINAL_STATES:
            ended = move.when
        elif move.dest is PENDING:  # reset: a run that starts later is the one to measure
            started = ended = None
    return None if started is None or ended is None else ended - started
