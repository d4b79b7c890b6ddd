"""Lifecycle hooks (``queue.add_hook``): where each runs, a refusal reaching the caller with nothing stored, and a
failing hook that is logged with its name and never touches the job."""

from __future__ import annotations

import pytest

from taskgraph import open_queue
from taskgraph.durable.hooks import Hooks
from tests import jobs


class Refuse:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_enqueue(self, job):
        self.seen.append(job.name)
        if job.metadata.get("tenant") == "blocked":
            raise PermissionError("tenant blocked may not submit jobs")


@pytest.fixture
def q(in_process_store_url):
    queue = open_queue(in_process_store_url)
    yield queue
    queue.close()


def test_on_enqueue_may_refuse_a_submission_and_nothing_is_stored(q):
    hook = Refuse()
    q.add_hook(hook)
    add = q.task(jobs.add)
    with pytest.raises(PermissionError, match="tenant blocked may not submit jobs"):
        add.enqueue((1, 2), metadata={"tenant": "blocked"})
    assert q.list() == []
    handle = add.enqueue((1, 2), metadata={"tenant": "ok"})
    assert [r.id for r in q.list()] == [handle.id]
    assert hook.seen == ["tests.jobs:add", "tests.jobs:add"]


def test_an_object_without_hook_methods_is_refused_with_the_methods_named(q):
    with pytest.raises(TypeError, match="is not a hook: give it at least one of the methods on_enqueue, "):
        q.add_hook(object())


def test_a_failing_hook_is_logged_with_its_name_and_later_hooks_still_run(caplog):
    calls = []

    class Broken:
        def on_state_change(self, record, old, new):
            raise RuntimeError("boom")

    class Counting:
        def on_state_change(self, record, old, new):
            calls.append((record, old, new))

    hooks = Hooks()
    hooks.add(Broken())
    hooks.add(Counting())
    hooks.call("on_state_change", "r", "QUEUED", "RUNNING")
    assert calls == [("r", "QUEUED", "RUNNING")]
    where = "tests.test_hooks.test_a_failing_hook_is_logged_with_its_name_and_later_hooks_still_run.<locals>"
    assert f"hook {where}.Broken.on_state_change failed: RuntimeError: boom" in caplog.text
