"""Lifecycle hooks (``queue.add_hook``): where each runs, a refusal reaching the caller with nothing stored, and a
failing hook that is logged with its name and never touches the job."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

from taskgraph import current_job, open_queue
from taskgraph.durable.hooks import Hooks
from taskgraph.durable.jobs import import_path
from taskgraph.durable.worker import Worker
from tests import context_app, jobs
from tests.context_app import named
from tests.jobs import lines
from tests.procs import wait_for


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


# ------------------------------------------------------------------ the job context and the worker-side hooks


@pytest.fixture
def cq(in_process_store_url, monkeypatch):
    """A queue of tests.context_app on the test's store (its worker processes read the URL from the environment)."""
    monkeypatch.setenv("TASKGRAPH_APP_URL", in_process_store_url)
    monkeypatch.delenv("TASKGRAPH_HOOK_LOG", raising=False)
    queue = context_app.make_queue(in_process_store_url)
    yield queue
    queue.close()




def test_current_job_is_none_outside_a_job():
    assert current_job() is None
    assert context_app.plain_int(1) == 2  # a job function called directly is no job


@pytest.mark.parametrize("func", [context_app.whoami, context_app.awhoami, context_app.whoami_in_process])
def test_current_job_tells_a_running_job_who_it_is_in_each_mode(cq, func):
    h = named(cq, func).enqueue(metadata={"tenant": "acme"})
    worker = Worker(cq, app=context_app.APP, threads=1, processes=1).start()
    try:
        about = h.join(30)
    finally:
        assert worker.stop().wait(30) == 0
    in_process = func is context_app.whoami_in_process
    assert about == {"id": h.id, "name": import_path(func), "attempt": 1, "queue": "default",
                     "metadata": {"tenant": "acme"}, "worker_id": worker.id,
                     "pid": about["pid"] if in_process else os.getpid()}
    assert (about["pid"] != os.getpid()) is in_process
    assert h.record().worker == worker.id
    assert h.progress is not None and h.progress.message == "half way"  # ctx.progress went through the store
    assert current_job() is None


class Recorder:
    """Records every worker-side hook call, with what current_job() said in the run hooks."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.lock = threading.Lock()

    def _add(self, *call: Any) -> None:
        with self.lock:
            self.calls.append(call)

    def before_run(self, ctx):
        self._add("before_run", ctx.id, ctx.attempt, current_job() is ctx)

    def after_run(self, ctx, outcome):
        self._add("after_run", ctx.id, ctx.attempt, outcome[0], type(outcome[1]).__name__)

    def on_state_change(self, record, old, new):
        self._add("state", record.id, old, new)

    def of(self, job_id: str) -> list[tuple[Any, ...]]:
        with self.lock:
            return [c for c in self.calls if c[1] == job_id]


def test_run_and_state_hooks_are_called_in_order_around_each_run(cq):
    hook = Recorder()
    cq.add_hook(hook)
    ok = named(cq, context_app.whoami).delay()
    aok = named(cq, context_app.awhoami).delay()
    bad = named(cq, context_app.boom).enqueue(retries=1, backoff=0.01)
    worker = Worker(cq, threads=2).start()
    try:
        ok.join(15)
        aok.join(15)
        with pytest.raises(Exception, match="boom in the job"):
            bad.join(15)
        wait_for(lambda: len(hook.of(bad.id)) == 8, 10, "the hooks of the failed job")
    finally:
        worker.stop().wait(15)
    for h in (ok, aok):
        assert hook.of(h.id) == [("state", h.id, "QUEUED", "RUNNING"), ("before_run", h.id, 1, True),
                                 ("after_run", h.id, 1, "DONE", "dict"), ("state", h.id, "RUNNING", "DONE")]
    assert hook.of(bad.id) == [
        ("state", bad.id, "QUEUED", "RUNNING"), ("before_run", bad.id, 1, True),
        ("after_run", bad.id, 1, "FAILED", "ValueError"), ("state", bad.id, "RUNNING", "QUEUED"),
        ("state", bad.id, "QUEUED", "RUNNING"), ("before_run", bad.id, 2, True),
        ("after_run", bad.id, 2, "FAILED", "ValueError"), ("state", bad.id, "RUNNING", "FAILED"),
    ]


def test_run_hooks_of_a_process_job_run_in_its_worker_process(cq, tmp_path, monkeypatch):
    log = tmp_path / "hooks.log"
    monkeypatch.setenv("TASKGRAPH_HOOK_LOG", str(log))  # the worker process adds the hook as it imports the app
    h = named(cq, context_app.whoami_in_process).delay()
    worker = Worker(cq, app=context_app.APP, threads=1, processes=1).start()
    try:
        child = h.join(30)["pid"]
    finally:
        worker.stop().wait(30)
    name = import_path(context_app.whoami_in_process)
    assert lines(log) == [f"before_run {name} {child}", f"after_run {name} DONE {child}"]
    assert child != os.getpid()


class Hostile:
    """Every worker-side hook fails, one of them with SystemExit."""

    def before_run(self, ctx):
        raise RuntimeError("before_run broke")

    def after_run(self, ctx, outcome):
        raise SystemExit(3)

    def on_state_change(self, record, old, new):
        raise ValueError(f"state hook broke at {new}")


def test_failing_hooks_are_logged_and_never_lose_block_or_repeat_a_job(cq, caplog):
    cq.add_hook(Hostile())
    counted = Recorder()
    cq.add_hook(counted)  # a later hook still runs
    handles = [named(cq, context_app.whoami).delay() for _ in range(5)] + [named(cq, context_app.awhoami).delay()]
    worker = Worker(cq, threads=2).start()
    try:
        results = [h.join(15) for h in handles]
    finally:
        assert worker.stop().wait(15) == 0
    assert [r["attempt"] for r in results] == [1] * 6
    for h in handles:
        record = h.record()
        assert (record.status, record.attempts) == ("DONE", 1)
        assert [e.event for e in h.history()].count("dispatch") == 1
        assert [c[0] for c in counted.of(h.id)] == ["state", "before_run", "after_run", "state"]
    where = "tests.test_hooks.Hostile"
    assert f"hook {where}.before_run failed: RuntimeError: before_run broke" in caplog.text
    assert f"hook {where}.after_run failed: SystemExit: 3" in caplog.text
    assert f"hook {where}.on_state_change failed: ValueError: state hook broke at RUNNING" in caplog.text
    assert f"hook {where}.on_state_change failed: ValueError: state hook broke at DONE" in caplog.text


def test_job_context_progress_checks_its_value_and_reports_through_the_worker():
    import taskgraph

    reported: list[tuple[float, str | None]] = []
    ctx = taskgraph.JobContext("id1", "m:f", 1, "default", {}, "w1", lambda v, t: reported.append((v, t)))
    ctx.progress(1, 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="progress must be a number from 0 to 1, not 1.5"):
        ctx.progress(1.5)
    with pytest.raises(ValueError, match="progress must be a number from 0 to 1, not 'half'"):
        ctx.progress("half")  # type: ignore[arg-type]
    assert reported == [(1.0, "42")]
    assert taskgraph.current_job is current_job
