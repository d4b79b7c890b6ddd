"""taskgraph.gc_paused: the cyclic collector paused while a graph is built, and left as it was found."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator

import pytest

import taskgraph
from taskgraph.gcpause import COLLECT_ABOVE


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    assert gc.isenabled(), "a pause was left on"
    if not was:
        gc.disable()


@pytest.fixture
def full_collections() -> Iterator[list[int]]:
    """The generations collected, in order, while the test runs."""
    seen: list[int] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            seen.append(info["generation"])

    gc.callbacks.append(watch)
    yield seen
    gc.callbacks.remove(watch)


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_the_collector_is_off_in_the_block_and_on_after() -> None:
    with taskgraph.gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_pauses_nest_and_the_outermost_turns_it_back_on() -> None:
    with taskgraph.gc_paused():
        with taskgraph.gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_turned_off_by_the_program_stays_off() -> None:
    gc.disable()
    try:
        with taskgraph.gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_error_in_the_block_turns_it_back_on_and_goes_through() -> None:
    with pytest.raises(KeyError), taskgraph.gc_paused():
        raise KeyError("x")
    assert gc.isenabled()


def test_a_decorated_function_runs_paused() -> None:
    @taskgraph.gc_paused()
    def build() -> bool:
        return gc.isenabled()

    assert build() is False and gc.isenabled()


def test_two_threads_pausing_at_once_keep_it_off_until_both_are_done() -> None:
    entered, release_first, first_done = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def first() -> None:
        with taskgraph.gc_paused():
            entered.set()
            release_first.wait(10)
        first_done.set()

    thread = threading.Thread(target=first)
    thread.start()
    assert entered.wait(10)
    with taskgraph.gc_paused():
        release_first.set()
        assert first_done.wait(10)
        seen["after the first left"] = gc.isenabled()
    thread.join(10)
    assert seen == {"after the first left": False} and gc.isenabled()


def test_a_large_block_ends_with_one_full_collection_that_frees_its_cycles(full_collections: list[int]) -> None:
    with taskgraph.gc_paused():
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: only the collector frees it
        gone = weakref.ref(a)
        del a, b
        tasks = [taskgraph.Task(f"t{i}") for i in range(COLLECT_ABOVE // 2)]
        for i in range(1, len(tasks)):
            tasks[i].require(tasks[i - 1])
        assert full_collections == [] and gone() is not None  # nothing collected in the block
    assert full_collections == [2] and gone() is None


def test_a_small_block_leaves_its_objects_to_the_young_collections(full_collections: list[int]) -> None:
    with taskgraph.gc_paused():
        tasks = [taskgraph.Task(f"t{i}") for i in range(100)]
    assert 2 not in full_collections and len(tasks) == 100
