"""Recurring jobs: the schedule functions, refusals at the call, and real worker processes on every store enqueuing
each due time exactly once (counted by the runs' O_APPEND file, not by the store)."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from taskgraph import DurableQueue, RecurringInfo, open_queue
from taskgraph.durable.recurring import SPACE, tick
from taskgraph.durable.schedules import make_schedule
from taskgraph.durable.worker import Worker
from tests import jobs
from tests.jobs import lines
from tests.procs import WorkerProcess, logs_of, wait_for
from tests.recurring_app import stamp

APP = "tests.recurring_app:queue"
BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*parts: int) -> float:
    return datetime(*parts, tzinfo=BERLIN).timestamp()  # type: ignore[misc]


# ------------------------------------------------------------------ schedules


def test_next_run_across_daylight_saving_changes():
    nightly = make_schedule("30 2 * * *", tz="Europe/Berlin")
    # 2026-03-29: clocks go from 02:00 to 03:00; 02:30 does not exist and runs at 03:00, then 02:30 again
    first = nightly.next_after(berlin(2026, 3, 28, 12))
    assert datetime.fromtimestamp(first, BERLIN) == datetime(2026, 3, 29, 3, 0, tzinfo=BERLIN)
    assert nightly.next_after(first) == berlin(2026, 3, 30, 2, 30)
    # 2026-10-25: clocks go from 03:00 back to 02:00; 02:30 happens twice, and croniter runs it at both
    october = nightly.next_after(berlin(2026, 10, 24, 12))
    assert datetime.fromtimestamp(october, BERLIN).utcoffset() == timedelta(hours=2)
    again = nightly.next_after(october)
    assert again - october == 3600 and datetime.fromtimestamp(again, BERLIN).utcoffset() == timedelta(hours=1)
    assert nightly.next_after(again) == berlin(2026, 10, 26, 2, 30)
    hourly_utc = make_schedule("0 * * * *")
    assert hourly_utc.next_after(berlin(2026, 3, 29, 1, 30)) - berlin(2026, 3, 29, 1, 30) == 1800


def test_six_fields_put_seconds_first_and_every_is_aligned_to_the_epoch():
    seconds = make_schedule("*/15 * * * * *")
    assert seconds.next_after(1_000_000_000.5) == 1_000_000_005.0  # :45 is a multiple of 15 s
    assert make_schedule(every=timedelta(minutes=1)).next_after(119.0) == 120.0
    assert make_schedule(every=60).latest(0.0, 250.0, 2) == [180.0, 240.0]
    assert make_schedule("* * * * * *").latest(10.0, 13.5, 100) == [10.0, 11.0, 12.0, 13.0]


@pytest.mark.parametrize(("call", "message"), [
    (dict(cron="61 * * * *"), "invalid cron expression '61 * * * *': give 5 fields (minute hour day month weekday), "
                              "or 6 with seconds first, such as '*/5 * * * *'"),
    (dict(cron="* * * * *", tz="Mars/Olympus"), "unknown time zone 'Mars/Olympus': give an IANA name such as 'UTC' "
                                                "or 'Europe/Berlin'"),
    (dict(every=-5), "every must be a finite number of seconds > 0 or a timedelta, not -5"),
    (dict(rid="no spaces!", every=5), "recurring id must be 1 to 100 letters, digits or _ . : - (starting with a "
                                      "letter or digit), such as 'nightly-report', not 'no spaces!'"),
    (dict(cron="* * * * *", every=5), "give a schedule: either cron='MIN HOUR DAY MONTH WEEKDAY' or every=SECONDS, "
                                      "not both"),
    (dict(every=5, catch_up="some"), "catch_up must be 'skip' or 'all', not 'some' (recurring job 'r1')"),
])
def test_bad_definitions_are_refused_at_the_call_and_nothing_is_stored(in_process_store_url, call, message):
    queue = open_queue(in_process_store_url)
    assert isinstance(queue, DurableQueue)
    job = queue.task(stamp)
    call = dict(call)
    rid = call.pop("rid", "r1")
    with pytest.raises(ValueError) as caught:
        queue.recurring(rid, job, args=("x",), **call)
    assert str(caught.value) == message
    assert queue.recurring_jobs() == [] and queue.store.entry_list(SPACE) == []
    queue.close()


# ------------------------------------------------------------------ in this process, every store


@contextlib.contextmanager
def serving(queue: DurableQueue) -> Iterator[Worker]:
    worker = Worker(queue, threads=2, lease=3)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(20)
    assert not thread.is_alive()


def test_pause_resume_trigger_remove_and_listing(in_process_store_url, tmp_path):
    queue = open_queue(in_process_store_url)
    assert isinstance(queue, DurableQueue)
    job = queue.task(stamp)
    path = str(tmp_path / "runs")
    info = queue.recurring("beat", job, every=1, args=(path,))
    assert isinstance(info, RecurringInfo) and info.schedule == "every 1 s" and not info.paused
    assert info.next_run is not None and info.next_run > time.time() - 1
    assert queue.recurring("beat", job, every=1, args=(path,)) == info  # the same definition: nothing changes
    with serving(queue):
        wait_for(lambda: len(lines(path)) >= 2, 20, "two scheduled runs")
        paused = queue.pause_recurring("beat")
        assert paused.paused and queue.recurring_jobs()[0].paused
        time.sleep(0.2)  # a run enqueued just before the pause may still be running; let it finish
        held = len(lines(path))
        handle = queue.trigger_recurring("beat")
        assert handle.join(timeout=20) == "now"  # a triggered run, schedule kept
        until = time.monotonic() + 2.5
        while time.monotonic() < until:  # paused: no scheduled run for 2.5 s
            assert len(lines(path)) == held + 1
            time.sleep(0.05)
        [listed] = queue.recurring_jobs()
        assert listed.last_job == handle.id and listed.last_status == "DONE"
        assert queue.resume_recurring("beat").paused is False
        wait_for(lambda: len(lines(path)) >= held + 3, 20, "runs after resuming")
        assert queue.remove_recurring("beat") and not queue.remove_recurring("beat")
        assert queue.recurring_jobs() == []
    runs = queue.list(metadata={"recurring": "beat"}, limit=1000)
    assert {r.status for r in runs} == {"DONE"} and len(runs) == len(lines(path))
    with pytest.raises(LookupError, match="no recurring job 'beat'"):
        queue.pause_recurring("beat")
    queue.close()


def test_a_recurring_job_whose_function_is_gone_fails_clearly_and_the_others_run(in_process_store_url, tmp_path):
    queue = open_queue(in_process_store_url)
    assert isinstance(queue, DurableQueue)
    job = queue.task(stamp)
    path = str(tmp_path / "runs")
    queue.recurring("fine", job, every=1, args=(path,))
    gone = {"job": "tests.jobs:no_such_function", "cron": None, "every": 1.0, "tz": "UTC", "args": [], "kwargs": {},
            "queue": "default", "catch_up": "skip", "options": {"serializer": "json"}, "next_run": time.time()}
    queue.store.entry_put(SPACE, "gone", json.dumps(gone).encode(), gone["next_run"], version=0)
    with serving(queue):
        wait_for(lambda: len(lines(path)) >= 3, 20, "three runs of the job that exists")
        failed = wait_for(lambda: [r for r in queue.list(metadata={"recurring": "gone"}) if r.status == "FAILED"],
                          20, "the run of the gone function to fail")
    assert "no job named 'tests.jobs:no_such_function'" in failed[0].error["message"]
    assert {r.id for r in queue.recurring_jobs()} == {"fine", "gone"}
    queue.close()


def test_each_due_time_is_enqueued_once_by_racing_ticks(in_process_store_url):
    queue = open_queue(in_process_store_url)
    assert isinstance(queue, DurableQueue)
    queue.task(jobs.count)
    queue.recurring("race", jobs.count, every=1, args=("unused", "x"), catch_up="all")
    start = time.time()
    stores = [queue._connect() for _ in range(4)]
    at = [start + 3.2 + i * 0.01 for i in range(4)]
    threads = [threading.Thread(target=tick, args=(s, queue.serializer.encode_call, t))
               for s, t in zip(stores, at, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    runs = queue.list(metadata={"recurring": "race"})
    due = sorted(r.metadata["due"] for r in runs)
    assert len(due) == len(set(due)) and 3 <= len(due) <= 4
    assert all(b - a == 1.0 for a, b in zip(due, due[1:], strict=False))
    for store in stores:
        store.close()
    queue.close()


# ------------------------------------------------------------------ real worker processes


@pytest.fixture
def workers(tmp_path) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.kill()
    for worker in started:
        print(worker.log())


def start(workers: list[WorkerProcess], url: str, folder: Path, path: Path, catch_up: str = "skip") -> WorkerProcess:
    worker = WorkerProcess(url, folder, f"w{len(workers) + 1}", ["--lease", "3", "-q"], app=APP,
                           env={"RECUR_PATH": str(path), "RECUR_CATCH_UP": catch_up})
    workers.append(worker)
    return worker


def stop(worker: WorkerProcess) -> None:
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0


def dues(path: Path) -> list[int]:
    return [int(line) for line in lines(path)]


def test_three_workers_run_an_every_second_job_once_per_due_time(store_url, tmp_path, workers):
    path = tmp_path / "runs"
    # catch_up="all": a tick late by more than a second (a loaded machine) still enqueues every due time, so each
    # second of the window must show exactly one run
    trio = [start(workers, store_url, tmp_path, path, "all") for _ in range(3)]
    wait_for(lambda: len(lines(path)) >= 10, 40, "ten runs", logs_of(*trio))
    for worker in trio:
        stop(worker)
    seen = dues(path)
    assert len(seen) == len(set(seen)), f"a due time ran twice: {seen}"
    assert sorted(seen) == list(range(min(seen), max(seen) + 1)), f"a due time was missed: {seen}"
    queue = open_queue(store_url)
    assert isinstance(queue, DurableQueue)
    runs = queue.list(metadata={"recurring": "every-second"}, limit=1000)
    assert len(runs) == len({r.id for r in runs}) and {int(r.metadata["due"]) for r in runs} >= set(seen)
    queue.close()


def test_catch_up_after_every_worker_stopped_for_five_seconds(store_url, tmp_path, workers):
    """One recurring job of each catch_up mode through the same five seconds without a worker."""
    path = tmp_path / "runs"
    record = {mode: Path(f"{path}.{mode}") for mode in ("skip", "all")}
    first = start(workers, store_url, tmp_path, path, "both")
    wait_for(lambda: all(len(lines(p)) >= 2 for p in record.values()), 40, "two runs of each", logs_of(first))
    stop(first)
    queue = open_queue(store_url)
    assert isinstance(queue, DurableQueue)
    # the last due time enqueued before the stop (a run enqueued just before may run only after the restart)
    last = {mode: int(max(r.metadata["due"] for r in queue.list(metadata={"recurring": f"every-second-{mode}"},
                                                                limit=1000)))
            for mode in record}
    queue.close()
    stopped = time.time()
    wait_for(lambda: time.time() >= stopped + 5, 10, "five seconds without a worker")
    restarted = time.time()
    second = start(workers, store_url, tmp_path, path, "both")
    wait_for(lambda: all(dues(p) and max(dues(p)) >= int(restarted) + 2 for p in record.values()), 40,
             "runs after the restart", logs_of(second))
    stop(second)
    for mode, runs in record.items():
        seen = dues(runs)
        assert len(seen) == len(set(seen)), f"{mode}: a due time ran twice: {seen}"
        if mode == "all":
            missed = list(range(last[mode] + 1, int(restarted) + 1))
            caught = sorted(d for d in seen if last[mode] < d <= int(restarted))
            assert caught == missed, f"every missed time runs: {seen}"
        else:  # the first run after the restart is the latest missed time: the earlier ones were skipped
            first_after = min(d for d in seen if d > last[mode])
            assert first_after >= int(restarted) and first_after - last[mode] >= 5, \
                f"one run for the latest missed: {seen}"


def test_damaged_definitions_are_held_and_the_others_still_run(in_process_store_url):
    queue = open_queue(in_process_store_url)
    assert isinstance(queue, DurableQueue)
    queue.task(jobs.count)
    queue.recurring("good", jobs.count, every=1, args=("unused", "x"))
    store, now = queue.store, time.time()
    store.entry_put(SPACE, "junk", b"\xff not json", now - 5, version=0)
    bad = {"job": "tests.jobs:count", "cron": "not a cron", "every": None, "tz": "UTC", "args": [], "kwargs": {},
           "queue": "default", "catch_up": "skip", "options": {}, "next_run": now - 5}
    store.entry_put(SPACE, "badcron", json.dumps(bad).encode(), now - 5, version=0)
    tick(store, queue.serializer.encode_call, now + 2)
    assert len(queue.list(metadata={"recurring": "good"})) == 1
    assert queue.list(metadata={"recurring": "badcron"}) == []
    listed = {info.id: info for info in queue.recurring_jobs()}
    assert listed["badcron"].paused and not listed["good"].paused and "junk" not in listed
    assert listed["badcron"].error is not None and "not a cron" in listed["badcron"].error
    tick(store, queue.serializer.encode_call, now + 3)  # held ones are not due again; the good one goes on
    assert len(queue.list(metadata={"recurring": "good"})) == 2
    queue.close()
