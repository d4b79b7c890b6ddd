"""``handle.then(job, *args, on=...)``: continuations kept by the store, against each store (memory:// too), run by a
worker in this process; and one enqueued by a process that exits before its parent ends."""

from __future__ import annotations

import subprocess
import sys

import pytest

from taskgraph import BlockedError, CancelledError
from tests import jobs
from tests.durable_app import make_queue
from tests.procs import ROOT, job
from tests.test_durable import burst


@pytest.fixture
def q(in_process_store_url):
    queue = make_queue(in_process_store_url)
    yield queue
    queue.close()


def test_a_success_runs_the_success_and_any_continuations(q):
    add = job(q, jobs.add)
    parent = add.delay(1, 2)
    ok = parent.then(add, 10, b=20)
    bad = parent.then(add, 0, 0, on="failure")
    whatever = parent.then(add, 1, 1, on="any")
    after_bad = bad.then(add, 5, 5)
    assert (ok.status(), bad.status(), whatever.status()) == ("PENDING", "PENDING", "PENDING")
    burst(q)
    assert (parent.join(5), ok.join(5), whatever.join(5)) == (3, 30, 2)
    assert bad.status() == after_bad.status() == "CANCELLED"
    with pytest.raises(CancelledError):
        bad.join(5)
    assert [(e.event, e.dest, e.detail) for e in bad.history()][-1] == (
        "cancel", "CANCELLED", "prerequisite 'tests.jobs:add' is DONE")


def test_a_failure_runs_the_failure_and_any_continuations(q):
    add, fail = job(q, jobs.add), job(q, jobs.fail)
    parent = fail.delay("it broke")
    ok = parent.then(add, 1, 1)
    bad = parent.then(add, 2, 2, on="failure")
    whatever = parent.then(add, 3, 3, on="any")
    chained = bad.then(add, 4, 4)
    burst(q)
    assert (bad.join(5), whatever.join(5), chained.join(5)) == (4, 6, 8)
    with pytest.raises(BlockedError, match="prerequisite 'tests.jobs:fail' is FAILED"):
        ok.join(5)
    assert [(e.event, e.detail) for e in bad.history()][:2] == [
        ("queue", None), ("release", "prerequisite 'tests.jobs:fail' is FAILED")]


def test_a_cancel_runs_only_the_any_continuation(q):
    add = job(q, jobs.add)
    parent = add.schedule(3600, 1, 1)
    ok, bad, whatever = (parent.then(add, 2, 2, on=on) for on in ("success", "failure", "any"))
    assert parent.cancel()
    burst(q)
    assert (ok.status(), bad.status()) == ("CANCELLED", "CANCELLED") and whatever.join(5) == 4


def test_a_continuation_of_a_finished_job_is_decided_at_once(q):
    add = job(q, jobs.add)
    parent = add.delay(1, 1)
    burst(q)
    assert parent.then(add, 1, 1, on="failure").status() == "CANCELLED"
    assert parent.then(add, 1, 1).status() == "QUEUED"


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda h, add: h.then(add, 1, 1, on="sometimes"), ValueError,
     "on must be one of 'success', 'failure', 'any', not 'sometimes'"),
    (lambda h, add: h.then(print, 1), TypeError, "then\\(\\) takes a job of DurableQueue"),
    (lambda h, add: h.then(add, 1), TypeError, "job tests.jobs:add: .*'b'"),
    (lambda h, add: h.then(add.func, 1, 1), TypeError, "then\\(\\) takes a job of DurableQueue"),
])
def test_then_refuses_bad_input_before_storing_anything(q, call, error, message):
    add = job(q, jobs.add)
    parent = add.delay(1, 1)
    with pytest.raises(error, match=message):
        call(parent, add)
    assert [r.id for r in q.list()] == [parent.id]


def test_a_continuation_holds_when_the_caller_exits(store_url):
    script = (
        "import sys\n"
        "from tests import jobs\n"
        "from tests.durable_app import make_queue\n"
        "q = make_queue(sys.argv[1])\n"
        "parent = q.job('tests.jobs:fail').delay('gone')\n"
        "handler = parent.then(q.job('tests.jobs:add'), 40, 2, on='failure')\n"
        "print(parent.id, handler.id)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, store_url], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    parent_id, handler_id = done.stdout.split()
    q = make_queue(store_url)
    try:
        burst(q)
        parent, handler = q.get(parent_id), q.get(handler_id)
        assert parent is not None and handler is not None
        assert parent.status() == "FAILED" and handler.join(5) == 42
    finally:
        q.close()
