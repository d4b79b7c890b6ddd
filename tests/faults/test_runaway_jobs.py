"""Runaway jobs in process mode: one that leaks memory fast, one that spins ignoring SIGTERM.

Each is killed at its timeout (2 s): FAILED with a TimeoutError naming the timeout, its process really gone; the
worker's own memory stays where it was, thread jobs go on while the runaways run, and later process jobs run in
new processes.
"""

from __future__ import annotations

import signal

import psutil
import pytest

from tests import jobs
from tests.faults import fault_app
from tests.procs import alive, enqueue_many, wait_for, wait_lines

MB = 1 << 20
TIMEOUT = 2.0  # as fault_app declares leak and hang


def descendants_rss(pid: int) -> dict[int, int]:
    """The resident memory of each process below ``pid``."""
    found = {}
    for child in psutil.Process(pid).children(recursive=True):
        try:
            found[child.pid] = child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return found


@pytest.mark.slow
def test_leaking_and_hanging_process_jobs_are_killed_at_their_timeout(spawn, tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    q = fault_app.make_queue(url)
    w = spawn(url, "--processes", "2", name="w")
    # warm up: the worker has imported and run everything once, so its memory is what serving costs
    assert q.job("tests.jobs:pid").delay().join(60) != w.pid
    assert q.job("tests.jobs:note").delay(str(tmp_path / "warm"), "warm").join(30) == "warm"
    baseline = psutil.Process(w.pid).memory_info().rss

    leak_file, hang_file = tmp_path / "leak", tmp_path / "hang"
    leaking = q.job("tests.jobs:leak").delay(str(leak_file))
    hanging = q.job("tests.jobs:hang").delay(str(hang_file))
    [leak_line] = wait_lines(leak_file, 1, timeout=60, logs=w.log)
    [hang_line] = wait_lines(hang_file, 1, timeout=60, logs=w.log)
    leak_pid, leak_start = int(leak_line.split()[1]), float(leak_line.split()[2])
    hang_pid, hang_start = int(hang_line.split()[1]), float(hang_line.split()[2])
    assert len({leak_pid, hang_pid, w.pid}) == 3

    # thread jobs run while both runaways hold their processes
    record = tmp_path / "record"
    ids = enqueue_many(q, jobs.note, [(str(record), f"t{i}") for i in range(20)])
    # the leak really leaks: watch its memory grow until the kill
    peak = [0]

    def leak_gone() -> bool:
        try:
            peak[0] = max(peak[0], psutil.Process(leak_pid).memory_info().rss)
        except psutil.NoSuchProcess:
            return True
        return not alive(leak_pid)

    wait_for(leak_gone, 30, "the leaking job's process to be killed", w.log)
    assert peak[0] > 60 * MB, f"the leaking job only reached {peak[0] / MB:.0f} MB before it was killed"

    def final(handle):
        return lambda: (r := handle.record()).final and r

    for handle, start, pid in ((leaking, leak_start, leak_pid), (hanging, hang_start, hang_pid)):
        r = wait_for(final(handle), 30, f"job {handle.id} to end", w.log)
        assert r.status == "FAILED", r
        assert r.error["type"] == "builtins.TimeoutError", r.error
        assert f"timeout of {TIMEOUT}" in r.error["message"], r.error
        assert r.attempts == 1
        ran = r.finished - start
        assert TIMEOUT - 0.1 <= ran <= TIMEOUT + 3, f"{r.name} ran {ran:.2f} s for a timeout of {TIMEOUT} s"
        wait_for(lambda pid=pid: not alive(pid), 10, f"process {pid} of {r.name} to be gone", w.log)
        with pytest.raises(TimeoutError, match="timeout of"):
            handle.join(5)
    notes = q.store.get(ids)
    assert {r.status for r in notes} == {"DONE"}
    assert max(r.finished for r in notes) < min(leaking.record().finished, hanging.record().finished)

    # the worker's memory is where it was, and no process below it holds the leak
    grown = psutil.Process(w.pid).memory_info().rss - baseline
    assert grown < 30 * MB, f"the worker grew by {grown / MB:.0f} MB"
    below = descendants_rss(w.pid)
    assert leak_pid not in below and hang_pid not in below
    assert all(rss < 100 * MB for rss in below.values()), below
    print(f"leak peaked at {peak[0] / MB:.0f} MB; the worker grew {grown / MB:+.1f} MB; processes below it: "
          f"{ {pid: f'{rss / MB:.0f} MB' for pid, rss in below.items()} }")

    # the worker goes on: process jobs in new processes, thread jobs
    later = [q.job("tests.jobs:pid").delay() for _ in range(2)]
    pids = {h.join(60) for h in later}
    assert not pids & {leak_pid, hang_pid, w.pid}
    assert q.job("tests.jobs:note").delay(str(record), "after").join(30) == "after"
    assert w.proc.poll() is None
    w.signal(signal.SIGTERM)
    assert w.wait(30) == 0, w.log()
    q.close()
