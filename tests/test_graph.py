"""Pure graph functions: walking in order, cycles, networkx export."""

from __future__ import annotations

import networkx as nx
import pytest

from taskgraph import CycleError, Task, closure, to_networkx
from taskgraph.graph import walk


def diamond():
    a = Task("a")
    b, c = a.then("b"), a.then("c")
    d = Task("d").require(b, c)
    return a, b, c, d


def test_closure_lists_each_task_once_after_its_prerequisites():
    a, b, c, d = diamond()
    order = closure([d, b])
    assert set(order) == {a, b, c, d} and len(order) == 4
    position = {t: i for i, t in enumerate(order)}
    for t in order:
        for p in t.prerequisites:
            assert position[p] < position[t]


def test_walk_follow_leaves_out_tasks_and_their_prerequisites():
    a, b, c, d = diamond()
    assert walk([d], lambda t: t is not c) == [a, b, d]
    assert walk([d], lambda t: t is not d) == []


def test_cycle_error_names_the_cycle_in_edge_direction():
    a = Task("a")
    b = Task("b").require(a)
    c = Task("c").require(b)
    a.require(c)
    with pytest.raises(CycleError) as info:
        closure([c])
    cycle = info.value.cycle
    assert cycle[0] == cycle[-1]
    edges = {(p.name, t.name) for t in (a, b, c) for p in t.prerequisites}
    assert all((x, y) in edges for x, y in zip(cycle, cycle[1:], strict=False))
    assert [t.name for t in info.value.tasks] == cycle[:-1]


def test_to_networkx_carries_tasks_and_prerequisite_edges():
    a, b, c, d = diamond()
    graph = to_networkx([d])
    assert isinstance(graph, nx.DiGraph)
    assert set(graph.nodes) == {a, b, c, d}
    assert set(graph.edges) == {(a, b), (a, c), (b, d), (c, d)}
    assert graph.nodes[d] == {"task": d, "name": "d", "state": "PENDING"}
    assert list(nx.topological_sort(graph))[0] is a
    assert nx.is_directed_acyclic_graph(graph)


def test_to_networkx_refuses_a_cycle():
    a = Task("a")
    b = a.then("b")
    a.require(b)
    with pytest.raises(CycleError):
        to_networkx([a])


def test_deep_graphs_do_not_recurse():
    tasks = [Task("t0")]
    for i in range(1, 20000):
        tasks.append(Task(f"t{i}").require(tasks[-1]))
    assert closure([tasks[-1]]) == tasks
