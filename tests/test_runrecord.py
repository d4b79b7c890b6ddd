"""Run records: written as a run goes, read back even when cut short, refused clearly when they are not records."""

from __future__ import annotations

import json

import pytest

from taskgraph import Task, make_now
from taskgraph.runrecord import RunRecorder, read_record


def test_a_record_reads_back_states_durations_and_errors(tmp_path):
    a = Task("a", lambda: 1)
    b = Task("b", lambda: 1 / 0).require(a)
    c = Task("c", lambda: 2).require(b)
    recorder = RunRecorder(tmp_path / "run.jsonl", [a, b, c], pipeline="p.py", targets=["c"], queue="inline:")
    for t in (a, b, c):
        t.track = recorder.observe
    make_now(c)
    recorder.close("failed")
    record = read_record(tmp_path / "run.jsonl")
    states = {t.name: t.state for t in record.tasks}
    assert states == {"a": "DONE", "b": "FAILED", "c": "FAILED"}
    by_name = record.by_name()
    assert by_name["a"].duration is not None and by_name["a"].duration >= 0
    assert by_name["b"].error == "ZeroDivisionError: division by zero"
    assert by_name["c"].requires == [by_name["b"].id]
    assert (record.pipeline, record.targets, record.queue, record.status) == ("p.py", ["c"], "inline:", "failed")


def test_a_record_cut_short_reads_as_far_as_it_got(tmp_path):
    a = Task("a", lambda: 1)
    path = tmp_path / "run.jsonl"
    recorder = RunRecorder(path, [a])
    a.track = recorder.observe
    make_now(a)
    with path.open("a") as f:
        f.write('{"kind": "transition", "task": 0, "at": 1')  # the run was killed mid-line
    record = read_record(path)
    assert record.tasks[0].state == "DONE" and record.status is None


@pytest.mark.parametrize(
    "content",
    [
        "[1]",
        '{"kind": "run", "tasks": [{"name": "a"}]}',
        '{"kind": "run", "version": "2"}',
        '{"kind": "run", "version": 1, "tasks": []}\n[2]',
        "not json at all\nnor this",
        "",
    ],
)
def test_anything_else_is_refused_with_a_value_error(tmp_path, content):
    path = tmp_path / "bad.jsonl"
    path.write_text(content + "\n")
    with pytest.raises(ValueError, match="bad.jsonl"):
        read_record(path)


def test_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "new.jsonl"
    path.write_text(json.dumps({"kind": "run", "version": 99, "tasks": []}) + "\n")
    with pytest.raises(ValueError, match="version 99 record"):
        read_record(path)
