"""Looking after a durable queue, against each store (memory:// too): listing pages and ages, deleting single jobs,
running a DONE job again, scheduled jobs, live workers, hooks on a caller's changes, and custom exceptions."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from taskgraph import RemoteTaskError, SerializationError
from taskgraph.durable.admin import WorkerInfo
from tests import jobs
from tests.durable_app import make_queue
from tests.procs import job, wait_for
from tests.test_durable import burst, serving


@pytest.fixture
def q(in_process_store_url):
    queue = make_queue(in_process_store_url)
    yield queue
    queue.close()


def test_list_pages_newest_first_and_filters_by_age(q):
    add = job(q, jobs.add)
    old = add.delay(0, 0)
    time.sleep(0.4)  # ages are times: a time-based contract, not synchronisation
    handles = [add.delay(i, i) for i in range(1, 5)]
    ids = [h.id for h in reversed([old, *handles])]
    assert [r.id for r in q.list(limit=2)] == ids[:2]
    assert [r.id for r in q.list(limit=2, offset=2)] == ids[2:4]
    assert [r.id for r in q.list(offset=4)] == ids[4:]
    assert [r.id for r in q.list(older_than=0.2)] == [old.id]
    assert [r.id for r in q.list(older_than=timedelta(seconds=0.2))] == [old.id]
    assert [r.id for r in q.list(newer_than=timedelta(seconds=0.2), limit=10)] == ids[:4]
    since = datetime.fromtimestamp(q.store.get([handles[0].id])[0].created - 0.05)
    assert [r.id for r in q.list(newer_than=since)] == ids[:4]  # created after that moment
    assert [r.id for r in q.list(older_than=since)] == [old.id]


@pytest.mark.parametrize(("options", "message"), [
    ({"offset": -1}, "offset must be a whole number >= 0, not -1"),
    ({"offset": 1.5}, "offset must be a whole number >= 0, not 1.5"),
    ({"limit": True}, "limit must be a whole number >= 0, not True"),
    ({"older_than": "1h"}, "older_than must be seconds >= 0, a timedelta or a datetime, not '1h'"),
    ({"newer_than": -5}, "newer_than must be seconds >= 0, a timedelta or a datetime, not -5"),
    ({"newer_than": float("nan")}, "newer_than must be seconds >= 0, a timedelta or a datetime, not nan"),
    ({"status": "waiting"}, "unknown status 'WAITING'; the statuses are PENDING, QUEUED, RUNNING, DONE, FAILED, "
                            "CANCELLED, SCHEDULED"),
])
def test_list_refuses_bad_filters(q, options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        q.list(**options)


def test_delete_removes_finished_jobs_only(q):
    add, fail = job(q, jobs.add), job(q, jobs.fail)
    done, failed = add.delay(1, 2), fail.delay("no")
    burst(q)
    waiting = add.schedule(3600, 1, 1)
    assert q.delete([waiting.id, done.id, "missing", failed.id]) == [done.id, failed.id]
    assert q.get(done.id) is None and q.get(failed.id) is None
    assert waiting.status() == "SCHEDULED"
    with pytest.raises(TypeError, match=r"delete\(\) takes a list of ids, not one id as a string: delete\(\['x'\]\)"):
        q.delete("x")
    with pytest.raises(TypeError, match=r"cancel\(\): a job id is a string, not 7"):
        q.cancel([7])


def test_retry_with_force_runs_a_done_job_again(q):
    h = job(q, jobs.add).delay(2, 3)
    burst(q)
    assert h.join(timeout=5) == 5
    assert q.retry([h.id]) == []  # DONE: only when asked
    assert q.retry([h.id], force=True) == [h.id]
    assert h.status() == "QUEUED" and h.record().result is None
    burst(q)
    assert h.join(timeout=5) == 5 and h.record().attempts == 1
    assert [(e.event, e.detail) for e in h.history()][-3:] == [
        ("retry", "run again by hand"), ("dispatch", None), ("done", None)
    ]


def test_a_delayed_job_is_scheduled_until_its_time(q):
    add = job(q, jobs.add)
    later = add.schedule(3600, 1, 1)
    soon = add.schedule(0.3, 2, 2)
    now = add.delay(3, 3)
    assert (later.status(), soon.status(), now.status()) == ("SCHEDULED", "SCHEDULED", "QUEUED")
    assert q.stats() == {"default": {"SCHEDULED": 2, "QUEUED": 1}}
    assert [r.id for r in q.list(status="SCHEDULED")] == [soon.id, later.id]
    assert [r.id for r in q.list(status="scheduled", offset=1)] == [later.id]
    wait_for(lambda: soon.status() == "QUEUED", 10, "the delayed job to become QUEUED")
    assert q.stats() == {"default": {"SCHEDULED": 1, "QUEUED": 2}}
    assert q.store.stats() == {"default": {"QUEUED": 3}}  # the store itself counts them QUEUED


def test_a_failure_waiting_for_its_retry_is_scheduled(q):
    h = job(q, jobs.add).delay(1, 1)
    assert [r.id for r in q.store.claim("w", ["default"], 1, 30)] == [h.id]  # as a worker would, by hand
    assert q.store.fail("w", h.id, {"type": "builtins.ValueError", "message": "x", "traceback": ""}, 3600)
    assert h.status() == "SCHEDULED" and q.stats() == {"default": {"SCHEDULED": 1}}


def test_workers_are_listed_while_registered(q):
    assert q.workers() == []
    info = {"id": "host-1:42:ab", "host": "host-1", "pid": 42, "queues": ["mail", "default"],
            "concurrency": {"thread": 8, "process": 2, "async": 100}, "started": 1000.0, "running": ["j1", "j2"],
            "done": 10, "failed": 1}
    q.store.register_worker(info, 30)
    [worker] = q.workers()
    assert isinstance(worker, WorkerInfo)
    assert (worker.id, worker.host, worker.pid, worker.queues, worker.concurrency) == (
        "host-1:42:ab", "host-1", 42, ("mail", "default"), {"thread": 8, "process": 2, "async": 100})
    assert (worker.started, worker.running, worker.done, worker.failed) == (1000.0, ("j1", "j2"), 10, 1)
    assert worker.heartbeat is not None and worker.expires is not None and worker.expires > worker.heartbeat
    q.store.register_worker({"id": "odd", "pid": "not a number", "queues": "mail"}, 30)  # read as far as it goes
    odd = next(w for w in q.workers() if w.id == "odd")
    assert (odd.pid, odd.queues, odd.host) == (None, (), "")
    assert q.store.deregister_worker("host-1:42:ab") and [w.id for w in q.workers()] == ["odd"]


def test_hooks_hear_of_a_callers_cancels_and_retries(q):
    heard: list[tuple[str, str | None, str]] = []

    class Watch:
        def on_state_change(self, record, old, new):
            heard.append((record.id, old, new))

    add = job(q, jobs.add)
    a, b = add.delay(1, 1), add.delay(2, 2)
    q.cancel([a.id])  # before any hook: nothing heard, nothing read for it
    q.add_hook(Watch())
    assert b.cancel() is True
    assert q.retry([a.id, b.id]) == [a.id, b.id]
    assert q.cancel([a.id, "missing"]) == [a.id]
    assert heard == [(b.id, "QUEUED", "CANCELLED"), (a.id, "CANCELLED", "QUEUED"), (b.id, "CANCELLED", "QUEUED"),
                     (a.id, "QUEUED", "CANCELLED")]


def test_a_hook_that_fails_on_a_state_change_does_not_stop_the_cancel(q, caplog):
    class Broken:
        def on_state_change(self, record, old, new):
            raise RuntimeError("hook broke")

    q.add_hook(Broken())
    h = job(q, jobs.add).delay(1, 1)
    assert h.cancel() is True and h.status() == "CANCELLED"
    assert "on_state_change failed: RuntimeError: hook broke" in caplog.text


def test_a_custom_exception_with_its_own_arguments_comes_back_as_itself(q):
    h = job(q, jobs.fail_custom).delay()
    burst(q)
    with pytest.raises(jobs.Custom) as info:
        h.join(timeout=5)
    assert str(info.value) == "code 7 at the worker" and info.value.code == 7
    assert "raise Custom(7" in str(info.value.__cause__)


def test_an_exception_type_not_found_here_is_a_remote_task_error(q):
    h = job(q, jobs.add).delay(1, 1)
    q.store.claim("w", ["default"], 1, 30)
    error = {"type": "nowhere_module.Missing", "message": "gone", "traceback": "Traceback...", "args": ["gone"],
             "attrs": {"code": 1}}
    assert q.store.fail("w", h.id, error, None)
    with pytest.raises(RemoteTaskError) as info:
        h.join(timeout=5)
    assert (info.value.type_name, info.value.message) == ("nowhere_module.Missing", "gone")


def test_a_result_json_cannot_encode_fails_saying_what_to_do(q):
    h = job(q, jobs.unencodable_result).delay()
    burst(q)
    with pytest.raises(SerializationError) as info:
        h.join(timeout=5)
    message = str(info.value)
    assert "its result (set {1, 2, 3}) cannot be encoded as json" in message
    assert "Object of type set is not JSON serializable" in message
    assert "Return JSON values" in message and "?serializer=pickle" in message


class Refuse:
    """Refuses the jobs of tests.jobs:fail."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, list[str]]] = []

    def on_enqueue(self, new):
        self.seen.append((new.name, list(new.after)))
        if new.name == "tests.jobs:fail":
            raise PermissionError("no failing jobs here")


def test_on_enqueue_hears_of_a_graph_handed_to_the_store_and_may_refuse_it(q):
    from taskgraph import Task, make_later

    hook = Refuse()
    q.add_hook(hook)
    a = Task("a", jobs.add, args=(1, 2))
    b = Task("b", jobs.add, args=(3, 4)).require(a)
    with serving(q):
        make_later(q, b).result(timeout=30)
    assert [name for name, _ in hook.seen] == ["tests.jobs:add", "tests.jobs:add"]
    assert hook.seen[1][1] == [r.id for r in q.list() if r.key.startswith("a@")]  # with its prerequisites
    bad = Task("bad", jobs.fail, args=("x",))
    with pytest.raises(PermissionError, match="no failing jobs here"):
        make_later(q, Task("c", jobs.add, args=(5, 6)).require(bad)).result(timeout=30)
    assert len(q.list()) == 2 and b.result == 7  # nothing of the refused graph was stored


def test_on_enqueue_may_refuse_a_task_of_a_graph_run_here(q):
    from taskgraph import Task, make_now

    q.add_hook(Refuse())
    bad = Task("bad", jobs.fail, args=("x",))
    good = Task("good", jobs.add, args=(1, 1))
    with serving(q):
        make_now(bad, good, queue=q)
    assert good.result == 2 and bad.state == "FAILED"
    with pytest.raises(PermissionError, match="no failing jobs here"):
        bad.join(0)
    assert [r.name for r in q.list()] == ["tests.jobs:add"]
