"""The driver of a ``make_now`` through a store is SIGKILLed in the middle of a 301-task graph, then run again.

The graph has 6 layers of 50 tasks, each after three tasks of the layer before, and a sink after the last layer;
each task records its run in a file and returns its name. Two workers run it. The driver is killed when about half
the tasks have run; what it had handed to the store finishes without it, and nothing else starts. The rerun
resumes: it finds the finished jobs by their keys (no new job, no new event, nothing run again), brings their
results back, and runs the rest, each task once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest

from taskgraph.stores.records import label
from tests.faults import fault_app
from tests.procs import ROOT, lines, logs_of, wait_for, wait_lines

LAYERS, WIDTH, PAUSE = 6, 50, 0.03
TOTAL = LAYERS * WIDTH + 1


def driver_command(url: str, record: str) -> list[str]:
    return [sys.executable, "-c", "from tests.faults import fault_app; fault_app.main()", "drive_layers", url, record,
            str(LAYERS), str(WIDTH), str(PAUSE)]


def ran(path) -> Counter[str]:
    return Counter(line.split()[0] for line in lines(path))


@pytest.mark.slow
def test_killed_driver_reruns_and_resumes_without_running_done_tasks(store_url, spawn, tmp_path):
    record = tmp_path / "record"
    q = fault_app.make_queue(store_url)
    a, b = spawn(store_url, name="a"), spawn(store_url, name="b")
    logs = logs_of(a, b)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = driver_command(store_url, str(record))
    names = [t.name for t in fault_app.layered_graph(str(record), LAYERS, WIDTH, PAUSE)]
    assert len(names) == TOTAL

    first_out = tmp_path / "driver-1.log"
    with open(first_out, "wb") as out:
        driver = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_lines(record, TOTAL // 2, timeout=90, logs=lambda: logs() + "\n" + first_out.read_text())
        assert driver.poll() is None, f"the driver finished before it could be killed\n{first_out.read_text()}"
        driver.kill()
        assert driver.wait(10) == -signal.SIGKILL
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait(10)

    # the jobs it had handed over finish without it; nothing else starts
    def settled() -> bool:
        counts = q.stats().get("default", {})
        return not any(counts.get(s) for s in ("PENDING", "QUEUED", "RUNNING"))

    wait_for(settled, 60, "the jobs in the store to finish", logs)
    before = {label(r.key): r for r in q.list(limit=10 * TOTAL)}  # keys without their digest
    ran_before = ran(record)
    print(f"the driver was killed with {len(ran_before)} of {TOTAL} tasks run")
    assert TOTAL // 2 <= len(before) < TOTAL
    assert {r.status for r in before.values()} == {"DONE"}
    assert set(ran_before) == set(before)  # each job in the store ran, and only those
    assert set(ran_before.values()) == {1}
    histories = {key: q.store.history(r.id) for key, r in before.items()}
    results = {key: q.decode(r, q.store.get([r.id])[0].result) for key, r in before.items()}
    assert all(results[key] == key for key in before)

    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr + "\n" + logs()
    outcome = json.loads(second.stdout.strip().splitlines()[-1])

    # every task DONE with its result, those finished in the first run included
    assert sorted(outcome) == sorted(names)
    wrong = {name: o for name, o in outcome.items() if o[:2] != ["DONE", name]}
    assert wrong == {}

    # each task ran once in all: none of those DONE before the kill ran again
    ran_total = ran(record)
    assert sorted(ran_total) == sorted(names)
    assert set(ran_total.values()) == {1}
    assert set(ran_total) - set(ran_before) == set(names) - set(before)

    # the rerun added no job and touched none of those DONE: the same records, the same history
    after = {label(r.key): r for r in q.list(limit=10 * TOTAL)}  # keys without their digest
    assert sorted(after) == sorted(names)
    assert {(r.status, r.attempts) for r in after.values()} == {("DONE", 1)}
    for key, old in before.items():
        new = after[key]
        assert (new.id, new.finished, new.worker) == (old.id, old.finished, old.worker), key
        assert q.store.history(new.id) == histories[key], key
    for w in (a, b):
        w.signal(signal.SIGTERM)
        assert w.wait(30) == 0, w.log()
    q.close()
