"""The store commands (``status``, ``retry``, ``cancel``, ``purge``) and the worker's dashboard, against each store.

Every command runs through click's CliRunner, and the main ones as real subprocesses: ``python -m taskgraph ...``
in the repository root, beside real workers (see tests/test_workers.py). The dashboard is drawn by a worker in a
tmux pane and read back with ``tmux capture-pane``. Nothing sleeps to synchronise: tests poll the store, files or
the screen for what they expect, with a deadline that only stops a broken run from hanging.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid

import pytest
from click.testing import CliRunner

from taskgraph.cli import main
from taskgraph.cli.jobs import parse_duration
from taskgraph.durable.worker import Worker
from taskgraph.stores.records import NewJob
from tests import durable_app, jobs
from tests.conftest import need_binary
from tests.procs import APP, ROOT, job, lines, wait_for, wait_lines, worker_pool

PRIORITIES = itertools.count(1000)
ERROR = {"type": "builtins.ValueError", "message": "boom", "traceback": ""}
BAD_URLS = [
    pytest.param("sqlite:////nonexistent-taskgraph-folder/sub/jobs.db", "/nonexistent-taskgraph-folder/sub",
                 id="sqlite-folder"),
    pytest.param("redis://:secret@127.0.0.1:1/0", "redis://:***@127.0.0.1:1/0", id="redis-password"),
    pytest.param("postgresql://user:secret@127.0.0.1:1/x", "127.0.0.1:1", id="postgresql-password"),
    pytest.param("nosuch://user:secret@host/x", "nosuch", id="unknown-scheme"),
    pytest.param("threads://4", "threads://4", id="not-durable"),
    pytest.param("postgresql://user:secret@[::1/x", "not a valid URL", id="unclosed-bracket"),
    pytest.param("sqlite://user:secret@[::1]/jobs.db", "write sqlite:///relative.db", id="sqlite-host"),
]


# ------------------------------------------------------------------ helpers


@pytest.fixture
def q(store_url):
    queue = durable_app.make_queue(store_url)
    yield queue
    queue.close()


@pytest.fixture
def workers(store_url, tmp_path):
    """``start(*args)`` starts ``taskgraph worker`` on the test's store; killed at teardown, logs printed."""
    with worker_pool(tmp_path) as start:
        yield lambda *args: start(store_url, *args)


def invoke(*args: str):
    """A command through CliRunner."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def cli(*args: str, url: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A command as a real subprocess."""
    env = {k: v for k, v in os.environ.items() if k != "TASKGRAPH_APP_URL"}
    if url is not None:
        env["TASKGRAPH_APP_URL"] = url
    return subprocess.run([sys.executable, "-m", "taskgraph", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def claimed_job(q, func, *args) -> str:
    """A job claimed at once by worker w-test, ahead of any other (its priority is higher than any before)."""
    found = job(q, func)
    [record] = q.store.enqueue([NewJob(
        id=uuid.uuid4().hex, name=found.name, payload=q.serializer.encode_call(found.name, args, {}),
        options=found.options.stored(q.serializer.name), priority=next(PRIORITIES),
    )])
    [claimed] = q.store.claim("w-test", ["default"], 1, 30)
    assert claimed.id == record.id
    return record.id


def failed_job(q, message: str = "boom") -> str:
    """A FAILED job, failed through the store as a worker would."""
    job_id = claimed_job(q, jobs.fail, message)
    assert q.store.fail("w-test", job_id, {**ERROR, "message": message}, None)
    return job_id


def done_job(q) -> str:
    job_id = claimed_job(q, jobs.add, 1, 2)
    assert q.store.complete("w-test", [(job_id, b"3")]) == [job_id]
    return job_id


def depth_row(text: str, queue: str = "default") -> list[int]:
    """The counts on the row of ``queue`` in a table of PENDING QUEUED RUNNING DONE FAILED CANCELLED."""
    for line in text.splitlines():
        found = re.match(rf"\s*[│|]?\s*{re.escape(queue)}\s+((?:\d+\s+){{5}}\d+)", line)
        if found:
            return [int(n) for n in found.group(1).split()]
    raise AssertionError(f"no row for queue {queue!r} in:\n{text}")


def section(text: str, title: str) -> str:
    """The lines of a titled section of the status output, up to the next blank line."""
    out, inside = [], False
    for line in text.splitlines():
        if line.startswith(title):
            inside = True
        elif inside and not line.strip():
            break
        if inside:
            out.append(line)
    assert out, f"no section {title!r} in:\n{text}"
    return "\n".join(out)


# ------------------------------------------------------------------ durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("12h", 43200), ("7d", 604800), ("2w", 1209600), ("90", 90), ("1.5h", 5400),
     ("1h30m", 5400), (" 2D ", 172800), ("0", 0)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "7x", "d7", "-1d", "1 day", "7d3", "inf", "nan", "h"])
def test_parse_duration_refuses_what_is_not_one(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


# ------------------------------------------------------------------ status (CliRunner)


def test_status_shows_counts_running_jobs_and_failures(q):
    job_id = failed_job(q, "it broke")
    running = job(q, jobs.add).delay(5, 6)
    [claimed] = q.store.claim("w-test:42", ["default"], 1, 30)
    assert claimed.id == running.id
    assert q.store.set_progress("w-test:42", running.id, 0.4, "step 2 of 5")
    job(q, jobs.add).delay(1, 2)
    job(q, jobs.add).delay(3, 4)
    mail = q.task(jobs.add, queue="mail")
    mail.delay(1, 1)

    result = invoke("status", q.url)
    assert result.exit_code == 0, result.output
    text = result.output
    assert text.startswith(f"Store {q.url} at ")
    counts = section(text, "Jobs by status and queue")
    assert counts.splitlines()[1].split() == ["queue", "PENDING", "QUEUED", "RUNNING", "DONE", "FAILED", "CANCELLED"]
    assert depth_row(counts) == [0, 2, 1, 0, 1, 0]
    assert depth_row(counts, "mail") == [0, 1, 0, 0, 0, 0]
    assert depth_row(counts, "total") == [0, 3, 1, 0, 1, 0]
    run = section(text, "Running (1)")
    row = next(line for line in run.splitlines() if running.id in line)
    assert "tests.jobs:add" in row and "w-test:42" in row and "40%  step 2 of 5" in row
    assert re.search(r"\d\d:\d\d:\d\d\s+\d+\.\d\d? s\s+1\s", row), row  # started, elapsed, attempt
    failures = section(text, "Latest failures (1 of 1 FAILED)")
    row = next(line for line in failures.splitlines() if job_id in line)
    assert "tests.jobs:fail" in row and "ValueError: it broke" in row
    assert re.match(r"\d\d:\d\d:\d\d\s", row), row


def test_status_of_an_empty_store(q):
    result = invoke("status", q.url)
    assert result.exit_code == 0, result.output
    assert "(no jobs)" in result.output
    assert "Workers (0 live)\n  none" in result.output and "Running (0)\n  none" in result.output
    assert "Latest failures (0 of 0 FAILED)\n  none" in result.output


# ------------------------------------------------------------------ retry, cancel, purge (CliRunner)


def test_retry_requeues_failed_and_cancelled_jobs_and_says_why_not_for_others(q):
    failed = failed_job(q)
    cancelled = job(q, jobs.add).delay(1, 1).id
    q.cancel([cancelled])
    done = done_job(q)
    missing = uuid.uuid4().hex
    result = invoke("retry", q.url, failed, done, missing, cancelled)
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [
        f"{failed}: retried, now QUEUED",
        f"{done}: not retried: it is DONE (only FAILED or CANCELLED jobs are retried; --force runs DONE jobs again)",
        f"{missing}: not retried: no such job in the store",
        f"{cancelled}: retried, now QUEUED",
    ]
    record = q.store.get([failed])[0]
    assert (record.status, record.attempts, record.error) == ("QUEUED", 0, None)
    assert q.store.history(failed)[-1].detail == "retried by hand"
    assert q.store.get([cancelled])[0].status == "QUEUED"

    failed2 = failed_job(q)
    result = invoke("retry", q.url, failed2)
    assert (result.exit_code, result.output) == (0, f"{failed2}: retried, now QUEUED\n")


def test_retry_of_a_blocked_dependent_waits_for_its_prerequisite(q):
    added = job(q, jobs.add)
    payload = q.serializer.encode_call(added.name, (1, 1), {})
    options = added.options.stored(q.serializer.name)
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    q.store.enqueue([NewJob(id=first, name=added.name, payload=payload, options=options),
                     NewJob(id=second, name=added.name, payload=payload, options=options, after=[first])])
    q.store.claim("w-test", ["default"], 1, 30)
    q.store.fail("w-test", first, ERROR, None)
    assert q.store.get([second])[0].status == "FAILED"
    result = invoke("retry", q.url, second, first)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{second}: retried, now PENDING until its 1 unfinished prerequisite(s) are DONE",
        f"{first}: retried, now QUEUED",
    ]


def test_cancel_cancels_unfinished_jobs_and_says_why_not_for_others(q):
    done = done_job(q)
    running = claimed_job(q, jobs.add, 2, 2)
    queued = job(q, jobs.add).delay(1, 1).id
    missing = uuid.uuid4().hex
    result = invoke("cancel", q.url, queued, running, done, missing, queued)
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [
        f"{queued}: cancelled (it was QUEUED)",
        f"{running}: cancelled (it was RUNNING; its worker stops it at its next heartbeat)",
        f"{done}: not cancelled: it is DONE already",
        f"{missing}: not cancelled: no such job in the store",
    ]
    assert [r.status for r in q.store.get([queued, running, done])] == ["CANCELLED", "CANCELLED", "DONE"]
    again = invoke("cancel", q.url, queued)
    assert (again.exit_code, again.output) == (1, f"{queued}: not cancelled: it is CANCELLED already\n")
    other = job(q, jobs.add).delay(3, 3).id
    result = invoke("cancel", q.url, other)
    assert (result.exit_code, result.output) == (0, f"{other}: cancelled (it was QUEUED)\n")


def test_status_shows_scheduled_jobs_and_live_workers(q):
    add = job(q, jobs.add)
    add.schedule(3600, 1, 1)
    add.delay(2, 2)
    q.store.register_worker({"id": "host-1:42:ab", "host": "host-1", "pid": 42, "queues": ["mail", "default"],
                             "concurrency": {"thread": 8}, "started": time.time(), "running": ["j1"], "done": 7,
                             "failed": 2}, 30)
    text = invoke("status", q.url).output
    counts = section(text, "Jobs by status and queue")
    assert counts.splitlines()[1].split() == ["queue", "PENDING", "SCHEDULED", "QUEUED", "RUNNING", "DONE", "FAILED",
                                              "CANCELLED"]
    assert re.search(r"default\s+0\s+1\s+1\s+0\s+0\s+0\s+0", counts), counts
    workers = section(text, "Workers (1 live)")
    assert workers.splitlines()[1].split() == ["worker", "host", "pid", "queues", "slots", "running", "done", "failed",
                                               "seen"]
    assert re.search(r"host-1:42:ab\s+host-1\s+42\s+mail,default\s+thread=8\s+1\s+7\s+2\s+[\d.]+ s ago",
                     workers), workers
    q.store.deregister_worker("host-1:42:ab")
    assert "Workers (0 live)\n  none" in invoke("status", q.url).output


def test_retry_force_runs_a_done_job_again_and_ids_may_be_prefixes(q):
    done = done_job(q)
    result = invoke("retry", q.url, "--force", done[:8])
    assert (result.exit_code, result.output) == (0, f"{done}: retried, now QUEUED\n")
    assert q.store.history(done)[-1].detail == "run again by hand"
    result = invoke("cancel", q.url, done[:6])
    assert (result.exit_code, result.output) == (0, f"{done}: cancelled (it was QUEUED)\n")


def test_cancel_of_a_scheduled_job_says_it_was_scheduled(q):
    later = job(q, jobs.add).schedule(3600, 1, 1)
    result = invoke("cancel", q.url, str(uuid.UUID(later.id)))  # the dashed form names it too
    assert (result.exit_code, result.output) == (0, f"{later.id}: cancelled (it was SCHEDULED)\n")


def test_an_ambiguous_id_prefix_lists_the_ids_it_starts(q):
    add = job(q, jobs.add)
    a, b = add.enqueue((1, 1), id="order-17"), add.enqueue((1, 1), id="order-18")
    result = invoke("cancel", q.url, "order-1")
    assert result.exit_code == 2 and a.status() == b.status() == "QUEUED"
    assert "job id 'order-1' is ambiguous: it starts the ids order-17, order-18; give more of the id" in result.output
    result = invoke("cancel", q.url, "order-18", "nothing-here")
    assert result.output.splitlines() == ["order-18: cancelled (it was QUEUED)",
                                          "nothing-here: not cancelled: no such job in the store"]


def test_delete_removes_finished_jobs_and_says_why_not_for_others(q):
    done, failed = done_job(q), failed_job(q)
    queued = job(q, jobs.add).delay(1, 1).id
    missing = uuid.uuid4().hex
    result = invoke("delete", q.url, done[:10], queued, failed, missing)
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [
        f"{done}: deleted",
        f"{queued}: not deleted: it is QUEUED, not finished (cancel it first)",
        f"{failed}: deleted",
        f"{missing}: not deleted: no such job in the store",
    ]
    assert q.store.get([done, failed]) == [] and q.store.get([queued])[0].status == "QUEUED"


@pytest.mark.parametrize("command", ["retry", "cancel", "delete"])
def test_retry_and_cancel_need_ids(q, command):
    result = invoke(command, q.url)
    assert result.exit_code == 2
    assert "Missing argument 'ID...'" in result.output


def test_purge_with_each_duration_unit(q):
    done = [done_job(q) for _ in range(3)]
    waiting = job(q, jobs.add).delay(1, 1).id
    for older_than, shown in (("30s", "30s"), ("15m", "15m"), ("12h", "12h"), ("7d", "7d"), ("2w", "2w"),
                              ("3600", "3600s"), ("1h30m", "1h30m")):
        result = invoke("purge", q.url, "--older-than", older_than)
        assert result.exit_code == 0, result.output
        assert result.output == f"deleted 0 finished jobs that ended more than {shown} ago from {q.url}\n"
    assert len(q.store.get(done)) == 3
    result = invoke("purge", q.url, "--older-than", "0")
    assert result.exit_code == 0, result.output
    assert result.output == f"deleted 3 finished jobs that ended more than 0s ago from {q.url}\n"
    assert q.store.get(done) == [] and q.store.get([waiting])[0].status == "QUEUED"
    one = done_job(q)
    result = invoke("purge", q.url, "--older-than", "0s")
    assert result.output.startswith("deleted 1 finished job that ended")
    assert q.store.get([one]) == []


@pytest.mark.parametrize("older_than", ["7x", "soon", "-3d", ""])
def test_purge_refuses_a_malformed_duration(q, older_than):
    done = done_job(q)
    result = CliRunner().invoke(main, ["purge", q.url, "--older-than", older_than])
    assert result.exit_code == 2, result.output
    assert result.output.splitlines() == [
        next(line for line in result.output.splitlines() if line.startswith("Error: --older-than:"))
    ]
    assert "duration" in result.output
    assert len(q.store.get([done])) == 1


def test_purge_needs_older_than(q):
    result = CliRunner().invoke(main, ["purge", q.url])
    assert result.exit_code == 2 and "--older-than" in result.output


@pytest.mark.parametrize("command", [["status"], ["status", "--watch"], ["retry", "x"], ["cancel", "x"],
                                     ["purge", "--older-than", "7d"]])
@pytest.mark.parametrize(("url", "shown"), BAD_URLS)
def test_a_bad_url_is_one_line_naming_it_without_the_password(command, url, shown):
    started = time.monotonic()
    result = CliRunner().invoke(main, [command[0], url, *command[1:]])
    assert result.exit_code == 2, result.output
    [line] = result.output.splitlines()
    assert line.startswith("Error: ") and shown in line, line
    assert "secret" not in result.output and "Traceback" not in result.output
    assert time.monotonic() - started < 25


def test_a_sqlite_store_that_does_not_exist_is_not_created(tmp_path):
    path = tmp_path / "typo.db"
    result = CliRunner().invoke(main, ["status", f"sqlite:///{path}"])
    assert result.exit_code == 2
    assert result.output == f"Error: sqlite:///{path}: no store there: the file '{path}' does not exist\n"
    assert not path.exists()


def test_help_lists_the_commands_and_the_worker_dashboard_switch():
    result = invoke("--help")
    for command in ("worker", "status", "retry", "cancel", "delete", "purge"):
        assert command in result.output
    assert "--no-dashboard" in invoke("worker", "--help").output
    assert "--interval" in invoke("status", "--help").output


# ------------------------------------------------------------------ Worker.snapshot


def test_worker_snapshot_follows_the_loop_from_another_thread(q, tmp_path):
    import threading

    release, started = tmp_path / "release", tmp_path / "started"
    worker = Worker(q, threads=2, lease=5)
    before = worker.snapshot()
    assert (before.running, before.done, before.stopped, before.slots) == ((), 0, False, {"threads": (0, 2)})
    blocked = job(q, jobs.progress_then_wait).delay(str(release), 0.4, "step 2 of 5", str(started))
    quick = [job(q, jobs.add).delay(i, i) for i in range(3)]
    failing = job(q, jobs.fail).delay("boom")
    thread = threading.Thread(target=worker.run, name="test-worker")
    thread.start()
    try:
        def settled():
            snap = worker.snapshot()
            return snap if snap.done == 3 and snap.failed == 1 and snap.running and \
                snap.running[0].progress == 0.4 else None

        snap = wait_for(settled, 20, "a snapshot with 3 done, 1 failed and the job's progress")
        [running] = snap.running
        assert (running.id, running.name, running.mode, running.message, running.attempt) == (
            blocked.id, "tests.jobs:progress_then_wait", "thread", "step 2 of 5", 1)
        assert snap.slots["threads"] == (1, 2) and snap.held == 0 and snap.queues == ("default",)
        assert snap.rate > 0 and snap.taken >= running.began >= snap.since
        [failure] = snap.failures
        assert (failure.id, failure.error, failure.message, failure.retry_in) == (
            failing.id, "builtins.ValueError", "boom", None)
        assert not snap.stopping and not snap.stopped and snap.store_error is None
        assert all(h.status() == "DONE" for h in quick)
        release.touch()
        wait_for(lambda: worker.snapshot().done == 4, 20, "the blocked job DONE")
        worker.stop()
        thread.join(20)
        assert not thread.is_alive()
        last = worker.snapshot()
        assert last.stopped and last.running == () and (last.done, last.failed) == (4, 1)
    finally:
        release.touch()
        worker.stop()
        thread.join(20)


# ------------------------------------------------------------------ real processes


def test_status_shows_what_a_real_worker_runs_and_a_failure(q, workers, tmp_path):
    release, started = tmp_path / "release", tmp_path / "started"
    blocked = job(q, jobs.progress_then_wait).delay(str(release), 0.4, "step 2 of 5", str(started))
    failing = job(q, jobs.fail).delay("boom")
    w = workers("--threads", "2")
    try:
        wait_lines(started, 1, logs=w.log)
        wait_for(lambda: blocked.progress == (0.4, "step 2 of 5") and failing.status() == "FAILED", 20,
                 "the progress stored and the failure", w.log)
        done = cli("status", q.url)
        assert done.returncode == 0, done.stderr
        text = done.stdout
        assert depth_row(section(text, "Jobs by status and queue")) == [0, 0, 1, 0, 1, 0]
        row = next(line for line in section(text, "Running (1)").splitlines() if blocked.id in line)
        assert "tests.jobs:progress_then_wait" in row and f":{w.pid}:" in row
        assert "40%  step 2 of 5" in row
        row = next(line for line in section(text, "Latest failures").splitlines() if failing.id in line)
        assert "tests.jobs:fail" in row and "ValueError: boom" in row
    finally:
        release.touch()
    assert blocked.join(20) == "released"
    w.signal(signal.SIGTERM)
    assert w.wait(20) == 0


def test_status_watch_prints_again_until_ctrl_c(q, tmp_path):
    job(q, jobs.add).delay(1, 1)
    output = tmp_path / "watch.out"
    env = {k: v for k, v in os.environ.items() if k != "TASKGRAPH_APP_URL"}
    with open(output, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "taskgraph", "status", q.url, "--watch", "--interval", "0.2"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        def text() -> str:
            return output.read_text(errors="replace")

        wait_for(lambda: text().count(f"Store {q.url} at ") >= 2, 30, "two printings", text)
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0, text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    printed = text()
    assert "Traceback" not in printed and "Aborted" not in printed
    for block in printed.split(f"Store {q.url} at ")[1:]:
        assert depth_row(block) == [0, 1, 0, 0, 0, 0]


def test_retry_of_a_failed_job_then_a_burst_worker_runs_it_to_done(q, workers, tmp_path):
    calls = tmp_path / "calls"
    handle = job(q, jobs.flaky).delay(str(calls), 4)  # fails its 4 attempts (retries=3), then would succeed
    first = workers("--burst")
    assert first.wait(30) == 0, first.log()
    assert handle.status() == "FAILED" and len(lines(calls)) == 4

    done = cli("retry", q.url, handle.id)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{handle.id}: retried, now QUEUED\n", "")
    record = handle.record()
    assert (record.status, record.attempts, record.error) == ("QUEUED", 0, None)

    second = workers("--burst")
    assert second.wait(30) == 0, second.log()
    assert handle.join(5) == 5
    assert handle.record().attempts == 1
    assert [(e.event, e.detail) for e in handle.history() if e.detail == "retried by hand"] == [
        ("retry", "retried by hand")
    ]


def test_retry_of_a_done_job_exits_1_saying_why(q, workers):
    handle = job(q, jobs.add).delay(2, 3)
    w = workers("--burst")
    assert w.wait(30) == 0, w.log()
    assert handle.join(5) == 5
    done = cli("retry", q.url, handle.id)
    assert done.returncode == 1, done.stderr
    assert done.stdout == (f"{handle.id}: not retried: it is DONE (only FAILED or CANCELLED jobs are retried; "
                           "--force runs DONE jobs again)\n")
    assert handle.status() == "DONE"


def test_cancel_of_a_queued_job(q):
    handle = job(q, jobs.add).delay(2, 3)
    done = cli("cancel", q.url, handle.id)
    assert (done.returncode, done.stdout) == (0, f"{handle.id}: cancelled (it was QUEUED)\n")
    assert handle.status() == "CANCELLED"


def test_purge_in_a_subprocess(q):
    handle = job(q, jobs.add).delay(2, 3)
    q.store.claim("w-test", ["default"], 1, 30)
    q.store.complete("w-test", [(handle.id, b"5")])
    kept = cli("purge", q.url, "--older-than", "1d")
    assert (kept.returncode, kept.stdout) == (0, f"deleted 0 finished jobs that ended more than 1d ago from {q.url}\n")
    gone = cli("purge", q.url, "--older-than", "0s")
    assert (gone.returncode, gone.stdout) == (0, f"deleted 1 finished job that ended more than 0s ago from {q.url}\n")
    bad = cli("purge", q.url, "--older-than", "7 days")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.splitlines() == [
        "Error: --older-than: '7 days' is not a duration; write it like 30s, 15m, 12h, 7d, 2w or 1h30m, or a "
        "number of seconds"
    ]


@pytest.mark.parametrize(("url", "shown"), BAD_URLS[:3])
def test_a_bad_url_in_a_subprocess(url, shown):
    for args in (["status", url], ["retry", url, "x"]):
        done = cli(*args)
        assert done.returncode == 2, done.stderr
        [line] = done.stderr.splitlines()
        assert line.startswith("Error: ") and shown in line
        assert "secret" not in done.stdout + done.stderr and done.stdout == ""
    if url.startswith("sqlite"):
        return  # refused before any store is opened: there is no traceback to show
    verbose = cli("status", url, "-v")  # with -v, the traceback as well
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr and "secret" not in verbose.stderr


# ------------------------------------------------------------------ the dashboard, in tmux


class Tmux:
    """A private tmux server (its own socket) with one pane of a given size."""

    def __init__(self, width: int = 140, height: int = 45) -> None:
        self.socket = f"taskgraph-test-{uuid.uuid4().hex[:8]}"
        self.width, self.height = width, height

    def run(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20)
        assert done.returncode == 0, f"tmux {' '.join(args)}: {done.stderr}"
        return done.stdout

    def start(self, command: str, env: dict[str, str]) -> None:
        extra = [part for name, value in env.items() for part in ("-e", f"{name}={value}")]
        self.run("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", str(self.width), "-y", str(self.height),
                 "-c", str(ROOT), *extra, command)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "t")

    def wait_screen(self, *texts: str, pattern: str | None = None, timeout: float = 30) -> str:
        def shows() -> str | None:
            text = self.screen()
            ok = all(t in text for t in texts) and (pattern is None or re.search(pattern, text) is not None)
            return text if ok else None

        return wait_for(shows, timeout, f"{texts} {pattern or ''} on the screen", self.screen)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=20)


def test_worker_dashboard_on_a_terminal(q, tmp_path):
    need_binary("tmux", "the worker's dashboard is tested in a tmux pane")
    release, started = tmp_path / "release", tmp_path / "started"
    blocked = job(q, jobs.progress_then_wait).delay(str(release), 0.4, "step 2 of 5", str(started))
    for i in range(3):
        job(q, jobs.add).delay(i, i)
    job(q, jobs.fail).delay("boom")
    tmux = Tmux()
    # the pane's shell may export COLUMNS and LINES as the pane was for a moment (80x24), and rich obeys them
    command = (f"env -u COLUMNS -u LINES {shlex.quote(sys.executable)} -m taskgraph worker {APP} --threads 4; "
               "echo worker-exit=$?; sleep 600")
    try:
        tmux.start(command, {"TASKGRAPH_APP_URL": q.url, "PYTHONUNBUFFERED": "1"})
        screen = tmux.wait_screen(
            "taskgraph worker", "threads 1/4 busy", "held 0",  # the slots
            "tests.jobs:progress_then_wait", blocked.id[:8], "40%  step 2 of 5",  # the running job
            "jobs/s over the last 10 s", "done 3", "failed 1", "retried 0",  # throughput and totals
            "Recent failures", "tests.jobs:fail", "ValueError: boom",  # the failure
            "Queue depths", "read from the store",
            pattern=r"default\s+0\s+0\s+1\s+3\s+1\s+0",  # the queue's depths, as the store has them
        )
        assert "━" in screen  # a progress bar
        assert "Traceback" not in screen
        print(screen)  # shown when the test fails

        release.touch()
        tmux.wait_screen("threads 0/4 busy", "done 4", pattern=r"default\s+0\s+0\s+0\s+4\s+1\s+0")
        assert blocked.status() == "DONE"
        tmux.run("send-keys", "-t", "t", "C-c")
        final = tmux.wait_screen("worker-exit=0", "stopped: 4 done, 1 failed, 0 retried")
        assert "Traceback" not in final
    finally:
        release.touch()
        tmux.close()


def test_worker_without_a_terminal_or_with_no_dashboard_logs_lines(q, workers):
    job(q, jobs.add).delay(1, 1)
    w = workers("--burst", "--no-dashboard")
    assert w.wait(30) == 0, w.log()
    log = w.output.read_text()
    assert "INFO taskgraph.worker: worker" in log and "stopped: 1 done, 0 failed, 0 retried" in log
    assert "╭" not in log and "Queue depths" not in log


def test_worker_no_dashboard_in_tmux_logs_lines(q, tmp_path):
    need_binary("tmux", "the worker's dashboard is tested in a tmux pane")
    job(q, jobs.add).delay(1, 1)
    tmux = Tmux()
    command = (f"{shlex.quote(sys.executable)} -m taskgraph worker {APP} --burst --no-dashboard; "
               "echo worker-exit=$?; sleep 600")
    try:
        tmux.start(command, {"TASKGRAPH_APP_URL": q.url})
        screen = tmux.wait_screen("worker-exit=0")
        assert "stopped: 1 done, 0 failed, 0 retried" in screen and "Queue depths" not in screen
    finally:
        tmux.close()
