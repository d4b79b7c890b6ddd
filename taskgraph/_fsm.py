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

from transitions import Machine

from .states import TRANSITIONS, State

__all__ = ["MACHINE", "NEXT", "allowed_events"]


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
