"""Many workers on each store: 5,000 jobs drained by four ``taskgraph worker --burst`` processes, with and without
one of them SIGKILLed in the middle.

Workers are ``python -m taskgraph worker tests.scale_app:queue`` subprocesses (see tests/procs.py). Each job is
told its own store id and writes it with the pid that runs it to a file, one ``O_APPEND`` write per line, so
executions are counted by the jobs themselves, independently of the store; the store's records and histories are
then checked against that count. Nothing sleeps to synchronise: the tests wait for log lines, for lines in that
file and for processes to exit, with deadlines that only stop a broken run from hanging.

The jobs are enqueued behind a gate (a prerequisite on a named queue no worker serves) that the test completes by
hand once all four workers are serving, so that they start level: a worker slow to import its app on a loaded
machine is not mistaken for one the others starved.

Each test prints what it measured (drain time and rate, the share of each worker, what the kill cost); run with
``-s`` to see it.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from taskgraph import DurableQueue
from taskgraph.durable.jobs import import_path
from taskgraph.stores.records import JobRecord, NewJob
from tests import jobs, scale_app
from tests.procs import WorkerProcess, alive, enqueue_many, lines, logs_of, wait_for, worker_pool

APP = "tests.scale_app:queue"
GATE_QUEUE = "scale-gate"  # a named queue no worker serves: only the test claims its job
GATE_WORKER = "scale-test:gate"
JOBS = 5000
WORKERS = 4
LEASE = 3.0  # seconds, the shortest allowed: a heartbeat every second keeps the live workers' leases
WORK = 0.005  # seconds each job of the kill test sleeps: each worker has a few running at any moment
DRAIN_LIMIT = 120.0  # seconds: a safety net on a loaded machine; a healthy drain takes a few

pytestmark = pytest.mark.slow


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def sq(store_url: str) -> Iterator[DurableQueue]:
    """The test's own queue on the store, with the jobs of scale_app registered."""
    queue = scale_app.make_queue(store_url)
    yield queue
    queue.close()


@pytest.fixture
def workers(store_url: str, tmp_path: Path) -> Iterator[Callable[..., list[WorkerProcess]]]:
    """Four burst workers on the test's store, started by ``start(*args)``; all killed at teardown (with any job
    processes they started) and their output printed (shown by pytest when the test fails)."""
    with worker_pool(tmp_path, APP) as spawn:

        def start(*args: str) -> list[WorkerProcess]:
            started = [spawn(store_url, "--burst", *args, name=f"w{i}") for i in range(WORKERS)]
            for worker in started:
                worker.wait_log(" serving ", timeout=60)
            return started

        yield start


def enqueue_gated(queue: DurableQueue, func: Callable[..., Any], args: Callable[[str], tuple[Any, ...]]
                  ) -> tuple[str, list[str]]:
    """The gate's id, and the ids of JOBS jobs of ``func`` (called with ``args(their id)``) waiting for it."""
    name = import_path(jobs.note)
    [gate] = queue.store.enqueue([NewJob(id=uuid.uuid4().hex, name=name, queue=GATE_QUEUE,
                                         payload=queue.serializer.encode_call(name, ("", "gate"), {}))])
    ids = [uuid.uuid4().hex for _ in range(JOBS)]
    enqueue_many(queue, func, [args(job_id) for job_id in ids], ids=ids, after=[gate.id])
    assert queue.stats() == {"default": {"PENDING": JOBS}, GATE_QUEUE: {"QUEUED": 1}}
    return gate.id, ids


def open_gate(queue: DurableQueue, gate_id: str) -> None:
    """Complete the gate job by hand: every job waiting for it becomes QUEUED at once, in one transaction."""
    claimed = queue.store.claim(GATE_WORKER, [GATE_QUEUE], 1, 600.0)
    assert [r.id for r in claimed] == [gate_id]
    result = queue.serializer.encode_result(import_path(jobs.note), "gate")
    assert queue.store.complete(GATE_WORKER, [(gate_id, result)]) == [gate_id]


def store_kind(queue: DurableQueue) -> str:
    return queue.url.split(":", 1)[0]


def drain_figures(records: list[JobRecord]) -> tuple[float, float]:
    """Seconds from the first claim to the last result by the store's clock, and jobs per second over them."""
    first = min(r.started for r in records if r.started is not None)
    last = max(r.finished for r in records if r.finished is not None)
    span = max(last - first, 1e-6)
    return span, len(records) / span


def pid_of(worker_id: str | None) -> int | None:
    """The pid in a worker id (``host:pid:random``)."""
    if not worker_id:
        return None
    parts = worker_id.split(":")
    return int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None


# ------------------------------------------------------------------ 1: 5,000 jobs, four workers


def test_four_workers_drain_5000_jobs_each_exactly_once(sq, workers, tmp_path):
    """Every job runs exactly once (by its own count), is DONE in the store, credited to the worker that ran it;
    every worker does a share and exits 0."""
    path = tmp_path / "executions"
    gate, ids = enqueue_gated(sq, jobs.note, lambda job_id: (str(path), job_id))
    procs = workers()
    open_gate(sq, gate)
    began = time.monotonic()
    for worker in procs:
        assert worker.wait(DRAIN_LIMIT) == 0, worker.log()
    wall = time.monotonic() - began

    # counted by the jobs themselves: every id once, nothing else
    executions = [line.split() for line in lines(path)]  # "JOB_ID PID TIME"
    assert all(len(e) == 3 for e in executions), [e for e in executions if len(e) != 3][:5]
    runs = Counter(job_id for job_id, _, _ in executions)
    repeated = {job_id: n for job_id, n in runs.items() if n > 1}
    missing = set(ids) - set(runs)
    unknown = set(runs) - set(ids)
    assert not repeated and not missing and not unknown, (
        f"{len(repeated)} run more than once (e.g. {list(repeated.items())[:5]}), {len(missing)} never run, "
        f"{len(unknown)} unknown ids"
    )
    assert len(executions) == JOBS

    # ran in the worker processes, each of which did a share
    ran_by = {job_id: int(pid) for job_id, pid, _ in executions}
    pids = {w.pid for w in procs}
    share = Counter(ran_by.values())
    assert set(share) <= pids, f"jobs ran in processes that are not the workers: {set(share) - pids}"
    idle = [w.name for w in procs if share[w.pid] == 0]

    # the store agrees: every job DONE once, by the worker whose process ran it
    records = sq.store.get(ids)
    assert [r.id for r in records] == ids
    assert Counter(r.status for r in records) == {"DONE": JOBS}
    assert Counter(r.attempts for r in records) == {1: JOBS}
    assert all(r.lease_losses == 0 for r in records)
    assert [r.id for r in records if pid_of(r.worker) != ran_by[r.id]] == []
    assert [sq.decode(r, r.result) for r in records[:10]] == ids[:10]
    assert sq.stats() == {"default": {"DONE": JOBS}, GATE_QUEUE: {"DONE": 1}}

    span, rate = drain_figures(records)
    print(f"\n[scale] {store_kind(sq)}: {JOBS} jobs, {WORKERS} workers: drained in {span:.2f} s by the store's "
          f"clock ({rate:,.0f} jobs/s), {wall:.2f} s from opening the gate to the workers' exit; shares "
          f"{sorted(share.values(), reverse=True)}")
    assert not idle, f"workers {idle} did none of the {JOBS} jobs: shares {dict(share)}"


# ------------------------------------------------------------------ 2: one of four SIGKILLed in the middle


def test_one_of_four_workers_sigkilled_mid_drain_only_its_running_jobs_repeat(sq, workers, tmp_path):
    """A worker SIGKILLed a third of the way, in the middle of jobs: every job still ends DONE; the only repeats
    are jobs it had started and not reported (each run once more elsewhere), and each job it held shows the lost
    lease in its history; the others run exactly once and the surviving workers exit 0."""
    path, freeze, thaw = tmp_path / "executions", tmp_path / "freeze", tmp_path / "thaw"
    gate, ids = enqueue_gated(sq, jobs.work, lambda job_id: (str(path), job_id, WORK, str(freeze), str(thaw)))
    procs = workers("--lease", str(LEASE))
    victim, survivors = procs[0], procs[1:]
    logs = logs_of(*procs)
    open_gate(sq, gate)
    began = time.monotonic()

    # a third of the way, hold every job that starts from now on, until the victim is seen holding one: it is
    # killed in the middle of that job for certain (and of whatever else it had started)
    wait_for(lambda: sum(line.startswith("end ") for line in lines(path)) >= JOBS // 3, DRAIN_LIMIT,
             "a third of the jobs done", logs)
    freeze.touch()
    wait_for(lambda: any(line.startswith("held ") and line.endswith(f" {victim.pid}") for line in lines(path)),
             60, "the victim holding a job", logs)
    victim.signal(signal.SIGKILL)
    killed_at = time.monotonic()
    assert victim.wait(10) == -signal.SIGKILL
    thaw.touch()
    for worker in survivors:
        assert worker.wait(DRAIN_LIMIT) == 0, worker.log()
    wall = time.monotonic() - began
    recovered_in = time.monotonic() - killed_at

    # what the jobs themselves saw: per job, the pids that started it and the pids that ended it
    starts: dict[str, list[int]] = defaultdict(list)
    ends: dict[str, list[int]] = defaultdict(list)
    for line in lines(path):
        kind, job_id, pid = line.split()
        if kind != "held":
            (starts if kind == "start" else ends)[job_id].append(int(pid))
    assert set(starts) == set(ids) and set(ends) == set(ids), "some jobs never ran to their end"
    pids = {w.pid for w in procs}
    assert {p for ps in [*starts.values(), *ends.values()] for p in ps} <= pids
    on_victim = {job_id for job_id, ps in starts.items() if victim.pid in ps}
    cut_short = {job_id for job_id in on_victim if victim.pid not in ends[job_id]}
    assert cut_short, "the victim was running nothing when it was killed"
    repeats = {job_id for job_id, ps in starts.items() if len(ps) > 1}

    # the store: every job DONE; the only lost leases are the victim's, one each, recorded in the history
    records = {r.id: r for r in sq.store.get(ids)}
    assert Counter(r.status for r in records.values()) == {"DONE": JOBS}
    assert sq.stats() == {"default": {"DONE": JOBS}, GATE_QUEUE: {"DONE": 1}}
    lost = {job_id for job_id, r in records.items() if r.lease_losses}
    assert {records[j].lease_losses for j in lost} <= {1}
    victim_ids = set()
    for job_id in lost:
        requeues = [e for e in sq.store.history(job_id) if e.event == "requeue"]
        assert len(requeues) == 1, (job_id, requeues)
        event = requeues[0]
        assert (event.source, event.dest) == ("RUNNING", "QUEUED"), event
        assert "expired" in (event.detail or ""), event
        assert pid_of(event.worker) == victim.pid, f"{job_id}: a lease lost by a live worker: {event}"
        assert event.worker in (event.detail or ""), event
        victim_ids.add(event.worker)
    assert len(victim_ids) == 1, victim_ids
    assert cut_short <= lost, "jobs cut short on the victim have no lost lease in their history"

    # the repeats: exactly the victim's started jobs whose lease was lost, each run once more elsewhere
    assert cut_short <= repeats, "jobs cut short on the victim were not run again"
    assert repeats == on_victim & lost, (
        f"repeated but not lost on the victim: {sorted(repeats - (on_victim & lost))[:5]}; "
        f"lost on the victim after starting there but not repeated: {sorted((on_victim & lost) - repeats)[:5]}"
    )
    for job_id in repeats:
        assert len(starts[job_id]) == 2 and starts[job_id][0] == victim.pid, (job_id, starts[job_id])
        assert starts[job_id][1] != victim.pid
        assert ends[job_id][-1] == starts[job_id][1]
        assert records[job_id].attempts == 2

    # every other job ran exactly once, start to end in one process, and the store says so
    for job_id in set(ids) - repeats:
        assert len(starts[job_id]) == 1 and ends[job_id] == starts[job_id], (job_id, starts[job_id], ends[job_id])
    assert [j for j, r in records.items() if r.attempts != 1 + r.lease_losses] == []
    # the store credits each job to the worker whose process last ran it
    assert [j for j, r in records.items() if pid_of(r.worker) != ends[j][-1]] == []
    assert not alive(victim.pid)

    prefetched = lost - on_victim  # claimed by the victim but not started: back after the lease, run once
    finished_unreported = repeats - cut_short  # ended on the victim, but killed before it told the store
    share = Counter(ps[-1] for ps in ends.values())
    span, rate = drain_figures(list(records.values()))
    print(f"\n[scale] {store_kind(sq)}: {JOBS} jobs of {WORK * 1000:.0f} ms, {WORKERS} workers, one SIGKILLed "
          f"after {len(on_victim)} starts there: {len(cut_short)} cut short, {len(finished_unreported)} finished "
          f"but unreported, {len(prefetched)} claimed but not started; {len(repeats)} repeats, {len(lost)} lost "
          f"leases (lease {LEASE} s); survivors done {recovered_in:.2f} s after the kill; drained in {span:.2f} s "
          f"by the store's clock ({rate:,.0f} jobs/s), {wall:.2f} s wall; shares {sorted(share.values())}")


# ------------------------------------------------------------------ the gate itself: one completion, 5,000 released


def test_one_completion_releases_5000_dependents_promptly(sq):
    """What the gate of the tests above costs: completing one job whose 5,000 dependents then become QUEUED, in
    one transaction. SQLite and Redis take about 0.1 s here; 5 s is a safety margin for a loaded machine, not a
    target."""
    gate, ids = enqueue_gated(sq, jobs.note, lambda job_id: ("/dev/null", job_id))
    began = time.monotonic()
    open_gate(sq, gate)
    took = time.monotonic() - began
    assert sq.stats() == {"default": {"QUEUED": JOBS}, GATE_QUEUE: {"DONE": 1}}
    released = [e for e in sq.store.history(ids[-1]) if e.event == "release"]
    assert [(e.source, e.dest) for e in released] == [("PENDING", "QUEUED")]
    print(f"\n[scale] {store_kind(sq)}: one completion released {JOBS} dependents in {took:.2f} s")
    assert took < 5.0, f"completing one job with {JOBS} dependents took {took:.1f} s"
