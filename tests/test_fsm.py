"""The state machine: its declaration, the compiled table, and agreement with `transitions` itself."""

from __future__ import annotations

import pytest
from transitions import Machine, MachineError

from taskgraph import State, Task, TaskError
from taskgraph._fsm import MACHINE, NEXT, allowed_events
from taskgraph.states import EVENTS, FINAL_STATES, TRANSITIONS


def test_states_are_their_names():
    assert [s.value for s in State] == ["PENDING", "QUEUED", "RUNNING", "DONE", "FAILED", "CANCELLED"]
    assert State.DONE == "DONE"
    assert str(State.FAILED) == "FAILED" and f"{State.QUEUED}" == "QUEUED"
    assert {s for s in State if s.final} == set(FINAL_STATES) == {State.DONE, State.FAILED, State.CANCELLED}


def test_events_as_cs_taskqueue_names_them():
    assert EVENTS == ("queue", "dispatch", "done", "uptodate", "fail", "cancel", "retry")


def test_machine_is_built_from_the_declaration():
    assert isinstance(MACHINE, Machine)
    assert set(MACHINE.states) == {s.value for s in State}
    assert set(MACHINE.events) == set(EVENTS)  # no automatic to_* events


class _Model:
    def __init__(self, state: str) -> None:
        self.state = state


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("event", EVENTS)
def test_compiled_table_agrees_with_transitions(state: State, event: str):
    """Fire every event from every state through transitions' own trigger and through a Task."""
    model = _Model(state.value)
    try:
        MACHINE.events[event].trigger(model)
        expected: str | None = model.state
    except MachineError:
        expected = None

    task = Task("t")
    task.state = state  # place the task in the state under test
    if expected is None:
        with pytest.raises(TaskError, match=rf"^task 't': cannot '{event}' while {state.value} "):
            task._fire(event)
        assert task.state is state
        assert NEXT[event].get(state) is None
    else:
        task._fire(event)
        assert task.state == expected
        assert NEXT[event][state] == expected


def test_allowed_events_follow_the_declaration():
    for state in State:
        expected = [event for event, sources, _ in TRANSITIONS if state in sources]
        assert allowed_events(state) == expected
    assert allowed_events(State.DONE) == []


def test_illegal_event_message_names_task_state_event_and_what_is_allowed():
    task = Task("link")
    with pytest.raises(TaskError) as info:
        task._fire("done")
    assert str(info.value) == ("task 'link': cannot 'done' while PENDING (it allows: queue, dispatch, uptodate, fail, "
                               "cancel)")
    task._fire("dispatch")
    task._fire("done")
    with pytest.raises(TaskError, match=r"cannot .cancel. while DONE \(DONE is final\)"):
        task._fire("cancel")
