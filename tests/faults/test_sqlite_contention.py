"""SQLite under contention: four processes on one file, and a fifth holding the write lock.

Two workers drain while two other processes enqueue 3,000 jobs between them, in transactions of 1 to 4 jobs,
reading (get, list, stats) between them. A fifth process, as another program using the file might, takes the write
lock (``BEGIN IMMEDIATE``) three times for two seconds, far longer than the store's ``busy_timeout`` of 50 ms: the
store retries its writes, then reports the database locked; workers back off and try again, and the enqueuing
processes send the same jobs again (same ids: harmless). No job is lost, none runs twice, none is DONE twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest

from tests.faults import fault_app
from tests.procs import ROOT, lines, logs_of, wait_for

PER_HAMMER = 1500
TOTAL = 2 * PER_HAMMER
HOLD_AT = (300, 1200, 2100)  # jobs enqueued (both hammers together) when the lock is taken
HOLD_SECONDS = 2.0
BUSY_TIMEOUT = 0.05


def program(name: str, *args: object) -> list[str]:
    return [sys.executable, "-c", "from tests.faults import fault_app; fault_app.main()", name, *map(str, args)]


@pytest.mark.slow
def test_sqlite_contention_loses_and_duplicates_nothing(spawn, tmp_path):
    db = tmp_path / "jobs.db"
    url = f"sqlite:///{db}?busy_timeout={BUSY_TIMEOUT}"
    q = fault_app.make_queue(url)  # creates the tables before anyone else opens the file
    record, holds = tmp_path / "record", tmp_path / "holds"
    a, b = spawn(url, name="a"), spawn(url, name="b")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    progress = [tmp_path / f"progress-{tag}" for tag in ("h1", "h2")]
    outputs = [tmp_path / f"{tag}.log" for tag in ("h1", "h2", "holder")]
    commands = [
        program("hammer", url, "h1", PER_HAMMER, record, progress[0]),
        program("hammer", url, "h2", PER_HAMMER, record, progress[1]),
        program("hold_write_lock", db, holds, HOLD_SECONDS, ",".join(map(str, HOLD_AT)), *progress),
    ]
    logs = lambda: logs_of(a, b)() + "".join(f"\n----- {o.name}:\n{o.read_text()}" for o in outputs)  # noqa: E731
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for command, output in zip(commands, outputs, strict=True):
            with open(output, "wb") as out:
                procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))
        for proc, output in zip(procs, outputs, strict=True):
            try:
                status = proc.wait(120)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"{output.name} did not finish in 120 s\n{logs()}") from None
            assert status == 0, logs()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)

    names = [f"{tag}-{i:05d}" for tag in ("h1", "h2") for i in range(PER_HAMMER)]
    ids = [fault_app.hammered_id(n) for n in names]
    wait_for(lambda: all(r.status == "DONE" for r in q.store.get(ids)), 120, "every job DONE", logs)

    # none lost, none run twice, none DONE twice, each with its own result
    runs = Counter(line.split()[0] for line in lines(record))
    assert sorted(runs) == sorted(names)
    assert set(runs.values()) == {1}, [n for n, c in runs.items() if c > 1][:20]
    records = q.store.get(ids)
    assert len(records) == TOTAL
    assert {(r.status, r.attempts) for r in records} == {("DONE", 1)}
    assert [q.decode(r, r.result) for r in records] == names
    assert q.stats() == {"default": {"DONE": TOTAL}}
    sample = records[:: TOTAL // 100]
    assert all([e.event for e in q.store.history(r.id)] == ["queue", "dispatch", "done"] for r in sample)

    # the lock was really held, and the store really found the database locked
    held = [line.split() for line in lines(holds)]
    assert [h[0] for h in held] == ["hold", "free"] * len(HOLD_AT), held
    for taken, freed in zip(held[::2], held[1::2], strict=True):
        assert int(taken[2]) < TOTAL, held  # taken while the hammers were at work
        # nothing was enqueued while it was held (but a transaction of each hammer that committed just before it)
        assert int(freed[2]) - int(taken[2]) <= 8, held
    summaries = [json.loads(o.read_text().strip().splitlines()[-1]) for o in outputs[:2]]
    assert [s["enqueued"] for s in summaries] == [PER_HAMMER, PER_HAMMER]
    errors = [e for s in summaries for e in s["errors"]]
    assert all("locked" in e for e in errors), errors
    worker_locked = sum(w.output.read_text(errors="replace").count("locked") for w in (a, b))
    print(f"database locked: {len(errors)} enqueue(s) sent again, {worker_locked} worker call(s) tried again; "
          f"{sum(s['transactions'] for s in summaries)} enqueue transactions, {sum(s['reads'] for s in summaries)} "
          "reads")
    assert len(errors) + worker_locked >= len(HOLD_AT)

    for w in (a, b):
        assert w.proc.poll() is None, w.log()
        w.signal(signal.SIGTERM)
        assert w.wait(30) == 0, w.log()
    q.close()
