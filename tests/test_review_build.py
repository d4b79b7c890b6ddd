"""The review explains a run: the first failure near the top, blocked apart from failed, the queue and its slots,
what set the wall time, a timeline of the tasks on their slots, commands, and a fan-in that stays readable."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from taskgraph import Task, make_now, shell
from taskgraph.review import Review
from taskgraph.review_timeline import bars, slots_of, wall_bound
from taskgraph.runrecord import RunRecorder, TaskRecord, read_record


def nap(seconds: float) -> None:
    """Work that takes ``seconds`` (the tasks' work, not a synchronisation)."""
    time.sleep(seconds)


def recorded(tmp_path: Path, tasks: list[Task], queue: str, **options) -> Review:
    recorder = RunRecorder(tmp_path / "run.jsonl", tasks, pipeline="test", queue=queue)
    for t in tasks:
        t.track = recorder.observe
    make_now(*tasks, queue=queue, state=tmp_path / "state.sqlite", **options)
    recorder.close("done" if all(t.state == "DONE" for t in tasks) else "failed")
    return Review(tasks, read_record(tmp_path / "run.jsonl"))


def sections(page: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)">', page)


def test_a_failure_is_near_the_top_and_blocked_tasks_are_counted_apart(tmp_path, dot):
    bad = shell("bad", [sys.executable, "-c", "import sys; sys.stderr.write('bad.c:3: error: no\\n'); sys.exit(1)"])
    blocked = [Task(f"after{i}", nap, args=(0,)).require(bad) for i in range(3)]
    fine = [shell(f"fine{i}", ["true"]) for i in range(4)]
    review = recorded(tmp_path, [bad, *blocked, *fine], "threads://2", keep_going=True)
    page = review.html(title="build")
    assert sections(page)[:2] == ["first-failure", "totals"]
    first = page[page.index('<section id="first-failure">'):page.index('<section id="totals">')]
    assert "<strong class=\"name\">bad</strong> failed" in first and "bad.c:3: error: no" in first
    assert f"$ {sys.executable} -c" in first
    assert re.search(r'state-FAILED" [^>]*>FAILED</span>&nbsp;4\b', page)
    assert ('<th>Blocked</th><td class="total">3 of the 4 FAILED did not run: a prerequisite failed; 1 ran and '
            "failed") in page
    assert page.count('data-state="FAILED" data-blocked>') == 3 and page.count('data-state="FAILED">') == 1
    assert page.count('<td class="num duration">blocked</td>') == 3
    assert page.count('class="chip state-FAILED blocked"') == 3
    assert "<code>threads://2</code> (2 slots; at most 2 ran at once)" in page
    assert '<td class="command"><code>true</code></td>' in page


def test_every_failure_is_listed_when_there_are_several(tmp_path, dot):
    tasks = [shell(f"bad{i}", ["sh", "-c", f"echo 'bad{i}.c: error' >&2; exit 1"]) for i in range(3)]
    page = recorded(tmp_path, tasks, "threads://2", keep_going=True).html()
    assert "2 more failures: see <a href=\"#failures\">Failures</a>" in page
    listed = page[page.index('<section id="failures">'):page.index('<section id="tasks">')]
    assert all(f"bad{i}.c: error" in listed for i in range(3))


def test_the_timeline_puts_each_task_that_ran_on_a_slot_without_overlap(tmp_path, dot):
    root = Task("root", nap, args=(0.05,))
    middle = [Task(f"m{i}", nap, args=(0.05,)).require(root) for i in range(5)]
    review = recorded(tmp_path, [root, *middle, Task("sink", nap, args=(0,)).require(*middle)], "threads://2")
    page = review.html()
    assert sections(page).index("timeline") == sections(page).index("graph") - 1
    assert '<div class="panes">' in page  # beside the graph
    drawn = re.findall(r'<div class="bar" data-task="([^"]+)" data-slot="(\d)" data-left="([\d.]+)" '
                       r'data-width="([\d.]+)"', page)
    assert sorted(name for name, *_ in drawn) == sorted(["root", "sink", *(f"m{i}" for i in range(5))])
    assert {slot for _, slot, _, _ in drawn} == {"1", "2"}
    for slot in ("1", "2"):
        spans = sorted((float(x), float(x) + float(w)) for _, s, x, w in drawn if s == slot)
        assert all(a[1] <= b[0] + 0.2 for a, b in zip(spans, spans[1:], strict=False)), spans


def test_what_set_the_wall_time_is_said(tmp_path, dot):
    chain = [Task("c0", nap, args=(0.15,))]
    for i in range(1, 3):
        chain.append(Task(f"c{i}", nap, args=(0.15,)).require(chain[-1]))
    (tmp_path / "a").mkdir()
    page = recorded(tmp_path / "a", chain, "threads://4").html()
    assert "was set by the critical path" in page
    spread = [Task(f"s{i}", nap, args=(0.1,)) for i in range(6)]
    (tmp_path / "b").mkdir()
    page = recorded(tmp_path / "b", spread, "threads://1").html()
    assert "was set by the number of slots" in page and "More slots (-j) would make it shorter" in page


def test_wall_bound_and_slots_and_bars_directly():
    assert slots_of("threads://8") == 8 and slots_of("processes://2") == 2 and slots_of("inline:") == 1
    assert slots_of("sqlite:///jobs.db") is None
    assert "critical path" in wall_bound(10.0, 9.5, 12.0, 4)
    assert "number of slots" in wall_bound(10.0, 2.0, 19.0, 2)
    assert "well above both bounds" in wall_bound(10.0, 2.0, 4.0, 2)
    facts = [TaskRecord(id=i, name=f"t{i}", state="DONE", started=s, finished=e)
             for i, (s, e) in enumerate([(0, 2), (0, 1), (1, 3), (2, 4)])]
    assert [(b.name, b.slot) for b in bars(facts, 0.0, None)] == [("t0", 0), ("t1", 1), ("t2", 1), ("t3", 0)]


@pytest.mark.parametrize("fan", [30])
def test_a_30_way_fan_in_is_drawn_over_several_columns(tmp_path, dot, fan):
    sources = [Task(f"source number {i}", nap, args=(0,)) for i in range(fan)]
    sink = Task("sink", nap, args=(0,)).require(*sources)
    page = recorded(tmp_path, [*sources, sink], "threads://2").html()
    graph = page[page.index('<section id="graph">'):]
    width, height = (float(v) for v in re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', graph).groups())
    assert height < 1000 and height < 2.5 * width, (width, height)  # one column of 30 boxes is ~1,900 pt tall
