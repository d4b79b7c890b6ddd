"""The store's server is SIGKILLed and started again in the middle of a drain.

Two workers drain 3,000 short jobs from a throwaway Redis (append-only file, fsynced at every write) or
PostgreSQL; across the outage a client waits in ``JobHandle.join`` and a ``make_now`` driver follows a graph
whose middle task is still running. When the server is back: every job is DONE, none twice; every job ran, and
the only jobs that ran twice are jobs in hand around the crash; the workers logged the outage and still serve; the
waiting client got its result and the driver finished its graph.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests import jobs
from tests.faults import fault_app
from tests.procs import ROOT, enqueue_many, lines, logs_of, wait_for, wait_lines

N = 3000
PAUSE = 0.004  # seconds each job takes: the drain lasts a few seconds, so the kill lands in its middle
LEASE = "5"
RETRYING = "trying again in"  # the worker's line: "store URL: Error: reason; trying again in N s"
# A job whose result the crash may have lost ran at most this long before the kill (PostgreSQL workers commit
# without waiting for the disk, and the WAL writer flushes every 200 ms; the rest is jobs in hand and queued
# reports).
LOST_WINDOW = 1.5
# Tries a worker may make while the server is away for a few seconds, backing off 0.5, 1, 2, 4 ... s (generous)
MAX_TRIES = 12


def driver_command(url: str, *args: str) -> list[str]:
    return [sys.executable, "-c", "from tests.faults import fault_app; fault_app.main()", "drive_gated_graph", url,
            *args]


def executions(path: Path) -> list[tuple[str, int, float]]:
    """(name, pid, start time) of each run recorded by ``tests.jobs.note``, in order."""
    return [(name, int(pid), float(at)) for name, pid, at in (line.split() for line in lines(path))]


@pytest.mark.slow
def test_server_sigkilled_mid_drain_loses_nothing_and_everyone_reconnects(server, spawn, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    url = server.url
    bulk, graph_record = tmp_path / "bulk", tmp_path / "graph"
    started, release = tmp_path / "started", tmp_path / "release"
    q = fault_app.make_queue(url)
    waiter_queue = fault_app.make_queue(url)  # the waiting client's own
    a = spawn(url, "--lease", LEASE, name="a")
    b = spawn(url, "--lease", LEASE, name="b")
    logs = logs_of(a, b)

    # a make_now driver, whose graph waits at its gate (after 10 tasks, before 11 more) until after the restart
    driver_out = tmp_path / "driver.log"
    with open(driver_out, "wb") as out:
        driver = subprocess.Popen(driver_command(url, str(graph_record), str(release), str(started)), cwd=ROOT,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=out, stderr=subprocess.STDOUT)
    try:
        # a client blocked in join() on a job that cannot end before the restart
        joined = q.job("tests.jobs:wait_for_file")
        handle = waiter_queue.get(joined.delay(str(release), str(started), "joined", 120.0).id)
        assert handle is not None
        outcome: dict[str, Any] = {}

        def wait_for_it() -> None:
            try:
                outcome["result"] = handle.join(timeout=240)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                outcome["error"] = exc

        waiter = threading.Thread(target=wait_for_it, name="waiting-client", daemon=True)
        waiter.start()
        everyone = lambda: logs() + f"\n----- driver:\n{driver_out.read_text()}"  # noqa: E731
        wait_for(lambda: {line.split()[0] for line in lines(started)} == {"gate", "joined"}, 60,
                 "the gate and the joined job to start", everyone)

        ids = enqueue_many(q, jobs.note, [(str(bulk), f"job{i:04d}", PAUSE) for i in range(N)])
        wait_lines(bulk, N // 3, timeout=60, logs=logs)
        marks = {w.name: len(w.output.read_text(errors="replace")) for w in (a, b)}
        server.kill()
        killed_at = len(lines(bulk))
        kill_time = time.time()
        print(f"killed the {server.kind} after {killed_at} of {N} jobs had started")
        for w in (a, b):  # each worker says the store is away, and stays up
            wait_for(lambda w=w: RETRYING in w.output.read_text(errors="replace")[marks[w.name]:], 30,
                     f"worker {w.name} to say it will try the store again", w.log)
            assert w.proc.poll() is None, w.log()
        server.start()

        checker = fault_app.make_queue(url)
        wait_for(lambda: all(r.status == "DONE" for r in checker.store.get(ids)), 120, "every job DONE", logs)
        release.touch()
        waiter.join(120)
        assert not waiter.is_alive(), "join() still waiting 120 s after the release"
        try:
            driver_done = driver.wait(120)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the driver did not finish in 120 s\n{everyone()}") from None
    finally:
        release.touch()
        if driver.poll() is None:
            driver.kill()
            driver.wait(10)
    driver_log = driver_out.read_text()
    print(f"----- driver (exit {driver.returncode}):\n{driver_log}")

    # every job DONE, each with one transition to DONE, and its own result
    records = checker.store.get(ids)
    assert len(records) == N
    assert [r.status for r in records] == ["DONE"] * N
    assert [checker.decode(r, r.result) for r in records] == [f"job{i:04d}" for i in range(N)]
    twice_done = [r.id for r in records if [e.dest for e in checker.store.history(r.id)].count("DONE") != 1]
    assert twice_done == []

    # every job ran; those that ran twice were in hand around the crash
    runs = executions(bulk)
    counts = Counter(name for name, _, _ in runs)
    assert set(counts) == {f"job{i:04d}" for i in range(N)}
    repeated = sorted(name for name, n in counts.items() if n > 1)
    first_start = {}
    for name, _, at in runs:
        first_start.setdefault(name, at)
    early = [name for name in repeated if first_start[name] < kill_time - LOST_WINDOW]
    print(f"{len(repeated)} of {N} jobs ran more than once ({sum(counts.values()) - N} extra runs): jobs whose "
          f"claim or result the {server.kind} crash lost, run again when their lease ran out")
    assert early == [], f"jobs that ran again though they ended well before the crash: {early[:20]}"
    # at most what the crash could have lost: jobs in hand (claimed in batches of 32 per worker) and those reported
    # in the last moments
    assert len(repeated) <= 400, repeated

    # the workers backed off while the server was away: a few tries, not one per pass of their loop
    for w in (a, b):
        tried = [line for line in w.output.read_text(errors="replace")[marks[w.name]:].splitlines() if RETRYING in line]
        print(f"worker {w.name} tried the store {len(tried)} times while it was away")
        assert len(tried) <= MAX_TRIES, f"worker {w.name} tried the store {len(tried)} times in an outage of " \
            "seconds, not backing off:\n" + "\n".join(tried[:3] + ["..."] + tried[-3:])

    # the workers still serve
    extra = tmp_path / "extra"
    after = checker.job("tests.jobs:note").delay(str(extra), "after")
    assert after.join(60) == "after"
    assert a.proc.poll() is None and b.proc.poll() is None, logs()

    # the waiting client got its result, and logged that it waited for the store
    assert "error" not in outcome, f"join() raised across the restart: {outcome.get('error')!r}"
    assert outcome.get("result") == "released"
    unavailable = [r for r in caplog.records if r.threadName == "waiting-client" and r.name.startswith("taskgraph")
                   and r.levelno >= logging.WARNING]
    assert unavailable, "the waiting client did not log that the store was unavailable"

    # the driver finished its graph, every task with its result
    assert driver_done == 0, driver_log
    expected = ([f"pre{i}=DONE:pre{i}" for i in range(10)] + ["gate=DONE:released"]
                + [f"post{i}=DONE:post{i}" for i in range(10)] + ["final=DONE:final"])
    [result_line] = [line for line in driver_log.splitlines() if line.startswith("pre0=")]
    assert result_line.split() == expected, driver_log
    assert "retrying" in driver_log, "the driver did not log that it waited for the store"
    graph_runs = Counter(name for name, _, _ in executions(graph_record))
    assert set(graph_runs) == {f"pre{i}" for i in range(10)} | {f"post{i}" for i in range(10)} | {"final"}
    assert all(n == 1 for n in graph_runs.values()), graph_runs
    for w in (a, b):
        w.signal(15)
        assert w.wait(30) == 0, w.log()
    for queue in (q, waiter_queue, checker):
        queue.close()
