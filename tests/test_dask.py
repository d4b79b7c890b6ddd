"""The Dask queue against a real ``distributed.LocalCluster`` with worker processes.

One cluster (2 worker processes of 2 threads) serves the module; its scheduler lets a task's worker die once
(``allowed-failures`` 0), so that the killed-worker test knows which task the death is charged to. The tests of a
lost scheduler run a scheduler and a worker of their own, as subprocesses. Task functions live in
``tests/jobs.py``, which the workers import; each run that matters appends one line to a file, so runs are
counted without asking Dask. After each test the scheduler must hold no task: the queue releases every future.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

import pytest

from taskgraph import (
    BlockedError,
    RemoteTaskError,
    SerializationError,
    Task,
    TaskError,
    make_later,
    make_now,
    open_queue,
)
from taskgraph.queues import as_queue
from taskgraph.testing import QueueContract
from tests import jobs
from tests.conftest import IN_CI, need_binary
from tests.jobs import lines
from tests.procs import wait_for

try:
    import dask
    import distributed
except ImportError:  # pragma: no cover - the test extra installs it
    if IN_CI:
        raise
    pytest.skip("the Dask tests need the distributed package: pip install -e '.[dask]'", allow_module_level=True)

from taskgraph.queues.dask import DaskQueue

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 100  # tasks per layer of the big graph
LINKED = 1000  # DaskQueue's window, which the tests of the hand-off give explicitly


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 worker processes with 2 threads each, for the whole module."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=2, processes=True, dashboard_address=":0",
            silence_logs=logging.CRITICAL,
        )
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster, set_as_default=False) as client:
        yield client


@pytest.fixture(autouse=True)
def clean_scheduler(request):
    """Every test starts with both workers up, and leaves no task behind in the scheduler."""
    if "client" not in request.fixturenames:
        yield
        return
    client = request.getfixturevalue("client")
    client.wait_for_workers(2, timeout=60)
    yield
    wait_for(lambda: not client.run_on_scheduler(_task_states), 30, "the scheduler to forget every task",
             lambda: str(client.run_on_scheduler(_task_states)))
    wait_for(lambda: not any(client.run(_busy).values()), 60, "the workers to finish what they run",
             lambda: str(client.run(_busy)))


def _task_states(dask_scheduler) -> dict[str, str]:
    return {str(key): ts.state for key, ts in dask_scheduler.tasks.items()}


def _busy(dask_worker) -> int:
    """How many task functions a worker is running, including those Dask no longer wants."""
    return sum(1 for ts in dask_worker.state.tasks.values() if ts.state in ("executing", "cancelled", "resumed"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scheduler_port(client) -> int:
    return int(client.scheduler.address.rsplit(":", 1)[1])


def descendants(task: Task) -> set[Task]:
    found: set[Task] = set()
    stack = list(task.dependents)
    while stack:
        t = stack.pop()
        if t not in found:
            found.add(t)
            stack.extend(t.dependents)
    return found


def started_names(path: str) -> set[str]:
    """The names in a file of ``tests.jobs.wait_for_file``'s ``NAME PID`` lines."""
    return {line.split()[0] for line in lines(path)}


def layered(path: str, layers: int, width: int = WIDTH) -> list[Task]:
    """A layered graph: each task requires 3 of the layer before; task 0 of every 10th layer requires all of it."""
    tasks: list[Task] = []
    for layer in range(layers):
        for j in range(width):
            i = layer * width + j
            base = (layer - 1) * width
            if layer == 0:
                inputs: tuple[int, ...] = ()
            elif j == 0 and layer % 10 == 0:
                inputs = tuple(range(base, base + width))
            else:
                inputs = tuple(sorted({base + j, base + (j + 1) % width, base + (j * 7) % width}))
            task = Task(f"t{i}", jobs.node, args=(path, i, inputs))
            if inputs:
                task.require(*[tasks[p] for p in inputs])
            tasks.append(task)
    return tasks


# ------------------------------------------------------------------ running graphs


@pytest.mark.slow
@pytest.mark.parametrize("window", [0, LINKED])
def test_a_ten_thousand_task_graph_runs_every_task_once_with_its_result(client, tmp_path, window):
    path = str(tmp_path / "runs")
    tasks = layered(path, layers=100)
    assert len(tasks) == 10_000 and max(len(t.prerequisites) for t in tasks) == WIDTH

    with DaskQueue(client, window=window) as queue:
        finished = make_now(*tasks, queue=queue)

    assert len(finished) == 10_000 and {t.state for t in tasks} == {"DONE"}
    runs = Counter(lines(path))
    assert len(runs) == 10_000 and set(runs.values()) == {1}
    for task in tasks:
        _, index, inputs = task.args
        assert task.result == jobs.expected(index, inputs)
        assert [move.event for move in task.history] == ["queue", "dispatch", "done"]


@pytest.mark.parametrize("window", [0, LINKED])
def test_a_failing_task_fails_exactly_its_descendants_as_inline_does(client, tmp_path, window):
    runs = {}
    states = {}
    for where in ("dask", "inline"):
        runs[where] = str(tmp_path / f"runs-{where}")
        tasks = layered(runs[where], layers=6, width=20)
        bad = tasks[45]
        bad.args = (*bad.args, True)  # node(..., fail=True)
        queue = DaskQueue(client, window=window) if where == "dask" else None
        make_now(*tasks, queue=queue)
        if queue is not None:
            queue.close()
        states[where] = {t.name: t.state.value for t in tasks}
        below = descendants(bad)
        assert below and len(below) < len(tasks) - 1
        assert bad.state == "FAILED" and isinstance(bad.exception, ValueError)
        assert str(bad.exception) == "task t45 fails on purpose"
        for task in tasks:
            if task in below:
                assert task.state == "FAILED" and isinstance(task.exception, BlockedError), task
            elif task is not bad:
                assert task.state == "DONE", task
        ran = Counter(lines(runs[where]))
        assert set(ran.values()) == {1} and set(ran) == {t.name for t in tasks if t not in below}
    assert states["dask"] == states["inline"]


def test_results_exceptions_and_remote_tracebacks_come_back(client, tmp_path):
    path = str(tmp_path / "runs")
    ok = Task("ok", jobs.node, args=(path, 1, (2, 3)))
    bad = Task("bad", jobs.node, args=(path, 2, (), True))
    nothing = Task("nothing")
    closure = Task("closure", lambda: 40 + 2)  # pickled by value, as Dask does
    coroutine = Task("coroutine", jobs.async_add, args=(20, 22))
    colliding = Task("colliding", jobs.echo,
                     kwargs={"key": 1, "workers": 2, "retries": 3, "priority": 4, "pure": 5, "func": 6})
    make_now(ok, bad, nothing, closure, coroutine, colliding, queue=client)
    assert (ok.state, ok.result) == ("DONE", jobs.expected(1, (2, 3)))
    assert (nothing.state, nothing.result) == ("DONE", None)
    assert (closure.result, coroutine.result) == (42, 42)
    assert colliding.result == {"args": [], "kwargs": {"key": 1, "workers": 2, "retries": 3, "priority": 4, "pure": 5,
                                                    "func": 6}}
    assert bad.state == "FAILED" and type(bad.exception) is ValueError
    remote = "".join(traceback.format_exception(bad.exception))
    assert "jobs.py" in remote and "in node" in remote and "fails on purpose" in remote


def test_what_cannot_be_pickled_fails_only_its_task(client, tmp_path):
    path = str(tmp_path / "runs")
    lock_arg = Task("lock arg", jobs.node, args=(path, 1, (threading.Lock(),)))
    generator_kwarg = Task("generator kwarg", jobs.echo, kwargs={"values": (i for i in range(3))})
    after = Task("after", jobs.node, args=(path, 2, ())).require(lock_arg)
    raises = Task("raises", jobs.raise_unpicklable)
    returns = Task("returns", jobs.returns_unpicklable)
    good = Task("good", jobs.node, args=(path, 3, ()))

    make_now(after, generator_kwarg, raises, returns, good, queue=client)

    assert good.state == "DONE" and lines(path) == ["t3"]
    assert lock_arg.state == "FAILED" and isinstance(lock_arg.exception, SerializationError)
    assert str(lock_arg.exception).startswith("task 'lock arg': cannot send argument 2 (tuple (<unlocked _thread.lock")
    assert "to a Dask worker" in str(lock_arg.exception)
    assert after.state == "FAILED" and isinstance(after.exception, BlockedError)
    assert isinstance(generator_kwarg.exception, SerializationError)
    assert "task 'generator kwarg': cannot send keyword argument 'values' (generator" in str(generator_kwarg.exception)
    assert isinstance(raises.exception, RemoteTaskError)
    assert raises.exception.type_name == "tests.jobs.Unpicklable"
    assert raises.exception.message == "cannot travel" and "raise_unpicklable" in raises.exception.traceback
    assert isinstance(returns.exception, SerializationError)
    assert str(returns.exception).startswith("task 'returns': its result (lock <unlocked _thread.lock")
    assert "cannot be pickled to send it back from the Dask worker" in str(returns.exception)


# ------------------------------------------------------------------ the hand-off: dependents linked in Dask


def _dask_states(client, prefix: str) -> set[str]:
    """The states of the Dask tasks of the tasks named ``prefix...``."""
    return {state for key, state in client.run_on_scheduler(_task_states).items() if key.startswith(prefix)}


def test_make_now_hands_dask_the_dependents_and_dask_releases_them(client, tmp_path):
    release, started, path = str(tmp_path / "release"), str(tmp_path / "started"), str(tmp_path / "runs")
    first = Task("first", jobs.wait_for_file, args=(release, started, "first"))
    chain = [first]
    for i in range(1, 5):
        chain.append(Task(f"link{i}", jobs.node, args=(path, i, (i - 1,))).require(chain[-1]))
    with DaskQueue(client, window=LINKED) as queue:
        future = make_later_now(chain[-1], queue)
        wait_for(lambda: first.state == "RUNNING", 60, "first to start")
        # handed over while first runs: waiting in Dask for it, not in this process
        wait_for(lambda: _dask_states(client, "link") == {"waiting"}, 30, "Dask to hold the links, waiting",
                 lambda: str(client.run_on_scheduler(_task_states)))
        assert {t.state.value for t in chain[1:]} == {"QUEUED"}
        Path(release).touch()
        assert future.result(timeout=60) == [chain[-1]]
    assert [t.result for t in chain[1:]] == [jobs.expected(i, (i - 1,)) for i in range(1, 5)]
    assert lines(path) == ["t1", "t2", "t3", "t4"]  # in order: each started once the one before returned
    for task in chain:
        assert [move.event for move in task.history] == ["queue", "dispatch", "done"]


def make_later_now(task: Task, queue):
    """``make_now(task, queue=queue)`` in a thread, as a future of its list (make_later is not make_now)."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1)
    future = pool.submit(make_now, task, queue=queue)
    pool.shutdown(wait=False)
    return future


def test_handed_over_dependents_of_a_failure_fail_blocked_without_running_and_keep_going_runs_the_rest(
        client, tmp_path):
    path = str(tmp_path / "runs")
    bad = Task("bad", jobs.node, args=(path, 1, (), True))
    blocked = [Task("b2", jobs.node, args=(path, 2, ())).require(bad)]
    blocked.append(Task("b3", jobs.node, args=(path, 3, ())).require(blocked[0]))
    good = [Task("g4", jobs.node, args=(path, 4, ()))]
    good.append(Task("g5", jobs.node, args=(path, 5, ())).require(good[0]))
    top = Task("top", jobs.node, args=(path, 6, ())).require(blocked[-1], good[-1])

    with DaskQueue(client, window=LINKED) as queue:
        assert make_now(top, queue=queue, keep_going=True) == [top]

    assert bad.state == "FAILED" and str(bad.exception) == "task t1 fails on purpose"
    for task, prerequisite in ((blocked[0], bad), (blocked[1], blocked[0]), (top, blocked[1])):
        assert task.state == "FAILED" and isinstance(task.exception, BlockedError), task
        assert task.exception.__cause__ is prerequisite.exception
    assert [move.event for move in blocked[0].history] == ["queue", "fail"]  # handed over, never started
    assert {t.state.value for t in good} == {"DONE"}
    assert sorted(lines(path)) == ["t1", "t4", "t5"]
    for task in blocked + [top]:  # reset() follows the blocked ones back from the failure, as on any queue
        assert task.exception is not None
    bad.reset()
    assert {t.state.value for t in [bad, *blocked, top]} == {"PENDING"}


def test_a_cancelled_task_in_dask_cancels_what_was_handed_over_with_it(client, tmp_path):
    release, started, path = str(tmp_path / "release"), str(tmp_path / "started"), str(tmp_path / "runs")
    gate = Task("gate", jobs.wait_for_file, args=(release, started, "gate"))
    middle = Task("middle", jobs.node, args=(path, 1, ())).require(gate)
    below = [Task(f"below{i}", jobs.node, args=(path, 10 + i, ())).require(middle) for i in range(3)]
    other = Task("other", jobs.node, args=(path, 2, ())).require(gate)
    with DaskQueue(client, window=LINKED) as queue:
        future = make_later_now(Task("all").require(*below, other), queue)
        wait_for(lambda: _dask_states(client, "below") == {"waiting"}, 60, "the graph to be in Dask")
        assert middle.state == "QUEUED" and middle.cancel()
        wait_for(lambda: not _dask_states(client, "middle") and not _dask_states(client, "below"), 30,
                 "Dask to drop middle and what waits for it")
        Path(release).touch()
        future.result(timeout=60)
    assert middle.state == "CANCELLED"
    for task in below:
        assert task.state == "CANCELLED" and [move.event for move in task.history] == ["queue", "cancel"]
        assert str(task.exception) == f"task {task.name!r} was cancelled: prerequisite 'middle' was cancelled"
    assert other.state == "DONE" and lines(path) == ["t2"]


def test_the_run_record_of_a_handed_over_graph_reads_as_any_run(client, tmp_path):
    from taskgraph.runrecord import RunRecorder, read_record
    from tests.test_cli_run import assert_consistent

    path = str(tmp_path / "runs")
    tasks = layered(path, layers=4, width=10)
    tasks[13].args = (*tasks[13].args, True)
    recorder = RunRecorder(tmp_path / "run.jsonl", tasks)
    for task in tasks:
        task.track = recorder.observe
    with DaskQueue(client, window=LINKED) as queue:
        make_now(*tasks, queue=queue)
    recorder.close("failed")
    record = read_record(tmp_path / "run.jsonl")
    assert_consistent(record)
    by_name = record.by_name()
    assert {t.name: t.state for t in record.tasks} == {t.name: t.state.value for t in tasks}
    assert by_name["t13"].error == "ValueError: task t13 fails on purpose"
    assert all(by_name[t.name].error.startswith("BlockedError: ") for t in descendants(tasks[13]))
    assert sum(t.state == "DONE" for t in record.tasks) == len(tasks) - 1 - len(descendants(tasks[13]))


def test_tasks_final_at_admission_and_edges_added_during_the_run_follow_the_rules(client, tmp_path):
    path = str(tmp_path / "runs")
    done, failed = Task("done", jobs.node, args=(path, 1, ())), Task("failed", jobs.node, args=(path, 2, (), True))
    make_now(done, failed)
    assert (done.state, failed.state) == ("DONE", "FAILED")
    after_done = Task("after done", jobs.node, args=(path, 3, ())).require(done)
    after_failed = Task("after failed", jobs.node, args=(path, 4, ())).require(failed)
    # a chain longer than the window: its end is handed over only once the tasks before it are DONE
    chain = [Task("c0", jobs.node, args=(path, 10, ()))]
    for i in range(1, 6):
        chain.append(Task(f"c{i}", jobs.node, args=(path, 10 + i, ())).require(chain[-1]))
    late = Task("late", jobs.node, args=(path, 99, ()))  # not in the run until an edge brings it in
    chain[0].add_done_callback(lambda _: chain[4].require(late))  # in make's thread, as c0 ends
    with DaskQueue(client, window=2) as queue:
        make_now(after_done, after_failed, chain[-1], queue=queue)
    assert after_done.state == "DONE" and done.history[-1].event == "done"
    assert after_failed.state == "FAILED" and isinstance(after_failed.exception, BlockedError)
    assert [move.event for move in after_failed.history] == ["fail"]  # failed at admission, as on any queue
    assert {t.state.value for t in chain} == {"DONE"} and late.state == "DONE"
    ran = lines(path)
    assert ran.index("t99") < ran.index("t14")  # the edge added during the run held c4 back
    assert "t4" not in ran and ran.count("t3") == 1


def test_window_zero_hands_each_task_over_once_ready(client, tmp_path):
    release, started, path = str(tmp_path / "release"), str(tmp_path / "started"), str(tmp_path / "runs")
    first = Task("first", jobs.wait_for_file, args=(release, started, "first"))
    second = Task("second", jobs.node, args=(path, 1, ())).require(first)
    with DaskQueue(client, window=0) as queue:
        future = make_later_now(second, queue)
        wait_for(lambda: first.state == "RUNNING", 60, "first to start")
        assert second.state == "PENDING" and not _dask_states(client, "second")
        Path(release).touch()
        future.result(timeout=60)
    assert second.result == jobs.expected(1, ())
    with pytest.raises(ValueError, match="window must be a whole number of tasks, 0 or more, not -1"):
        DaskQueue(client, window=-1)


# ------------------------------------------------------------------ URLs, clients and capacity


def test_open_queue_connects_to_the_scheduler_and_closes_its_client(client, tmp_path):
    port = scheduler_port(client)
    queue = open_queue(f"dask://127.0.0.1:{port}?timeout=20&capacity=7&track_start=false&window=0")
    assert isinstance(queue, DaskQueue) and queue.owned
    assert repr(queue) == f"DaskQueue('tcp://127.0.0.1:{port}')"
    assert (queue.capacity, queue.track_start, queue.window) == (7, False, 0)
    task = Task("one", jobs.node, args=(str(tmp_path / "runs"), 1, ()))
    make_now(task, queue=queue)
    queue.close()
    assert task.result == 7 and queue.client.status == "closed"
    with DaskQueue(client) as default:
        assert default.capacity == 64  # twice the 4 threads is less than the least backlog


def test_make_now_with_a_url_opens_and_closes_a_client_of_its_own(client, tmp_path):
    before = set(client.run_on_scheduler(_clients))
    task = Task("one", jobs.node, args=(str(tmp_path / "runs"), 2, (1,)))
    make_now(task, queue=f"dask://localhost:{scheduler_port(client)}")
    assert task.result == 15
    wait_for(lambda: set(client.run_on_scheduler(_clients)) == before, 30, "make's client to disconnect")


def _clients(dask_scheduler) -> list[str]:
    return list(dask_scheduler.clients)


def test_a_client_is_wrapped_and_left_open(client, tmp_path):
    queue, owned = as_queue(client)
    assert isinstance(queue, DaskQueue) and queue.client is client and not queue.owned
    assert owned  # make closes the wrapper it made; the client stays the caller's
    queue.close()
    task = Task("one", jobs.node, args=(str(tmp_path / "runs"), 3, ()))
    make_now(task, queue=client)
    assert task.result == 21 and client.status == "running"
    with pytest.raises(TypeError, match="security= is for an address"):
        DaskQueue(client, security=object())


def test_no_scheduler_at_the_address_says_so_quickly_and_leaves_no_thread(tmp_path):
    port = free_port()
    threads = threading.active_count()
    start = time.monotonic()
    with pytest.raises(ConnectionError) as caught:
        open_queue(f"dask://127.0.0.1:{port}?timeout=0.5")
    assert time.monotonic() - start < 10
    message = str(caught.value)
    assert message.startswith(f"no Dask scheduler answered at tcp://127.0.0.1:{port} within 0.5 s")
    assert "start one with `dask scheduler`" in message and "check the host and port" in message
    wait_for(lambda: threading.active_count() <= threads, 10, "the failed client's threads to end")
    with pytest.raises(ConnectionError, match="no Dask scheduler answered"):
        make_now(Task("never"), queue=f"dask://127.0.0.1:{port}?timeout=0.5")


@pytest.mark.parametrize("url, message", [
    ("dask://127.0.0.1", "'dask://127.0.0.1': say the scheduler's port, like dask://127.0.0.1:8786 (Dask's default)"),
    ("dask://:8786", "'dask://:8786': say the scheduler's host and port, like dask://127.0.0.1:8786"),
    ("dask://host:http", "'dask://host:http': the port must be a whole number from 1 to 65535"),
    ("dask://host:70000", "'dask://host:70000': the port must be a whole number from 1 to 65535"),
    ("dask://host:8786/db", "'dask://host:8786/db': a Dask scheduler address is a host and a port, nothing after"),
    ("dask://me:secret@host:8786", "'dask://me:***@host:8786': a Dask scheduler address takes no user name or "
                                   "password"),
    ("dask://host:8786?workers=4", "'dask://host:8786?workers=4': unknown option 'workers'; accepted options: "
                                   "capacity, timeout, track_start, window"),
    ("dask+tls://host:8786?cafile=x", "unknown option 'cafile'; accepted options: ca, capacity, cert, key, "
                                      "timeout, track_start, window"),
    ("dask://host:8786?window=-1", "window must be a whole number of tasks, 0 or more, not '-1'"),
    ("dask://host:8786?timeout=soon", "timeout must be a positive number of seconds, not 'soon'"),
    ("dask://host:8786?capacity=0", "capacity must be a positive whole number, not '0'"),
    ("dask://host:8786?track_start=maybe", "track_start must be true or false, not 'maybe'"),
    ("dask+ssl://host:8786", "unknown queue URL scheme 'dask+ssl' in 'dask+ssl://host:8786'; known schemes: "
                             "asyncio:, dask:, dask+tls:, "),
])
def test_a_malformed_url_is_refused_with_what_is_wrong(url, message):
    with pytest.raises(ValueError) as caught:
        open_queue(url)
    assert message in str(caught.value)


def test_dask_tls_connects_with_the_certificates_the_url_names(tmp_path):
    need_binary("openssl", "the TLS test makes a certificate with openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    files = {f"tls_{role}_{part}": str(path) for role in ("scheduler", "worker", "client")
             for part, path in (("cert", cert), ("key", key))}
    security = distributed.Security(tls_ca_file=str(cert), require_encryption=True, **files)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, security=security,
                                  protocol="tls://", host="127.0.0.1", dashboard_address=":0",
                                  silence_logs=logging.CRITICAL) as cluster:
        port = cluster.scheduler_address.rsplit(":", 1)[1]
        queue = open_queue(f"dask+tls://127.0.0.1:{port}?ca={cert}&cert={cert}&key={key}&timeout=10")
        assert repr(queue) == f"DaskQueue('tls://127.0.0.1:{port}')"
        task = Task("square", pow, args=(3, 2))
        make_now(task, queue=queue)
        queue.close()
        assert task.result == 9
        with pytest.raises(ValueError, match=r"the cert file '/nonexistent/cert.pem' does not exist"):
            open_queue(f"dask+tls://127.0.0.1:{port}?ca={cert}&cert=/nonexistent/cert.pem")
        with pytest.raises(ValueError, match=r"say where the certificates are, like dask\+tls://127.0.0.1:\d+\?ca="):
            open_queue(f"dask+tls://127.0.0.1:{port}")
        with pytest.raises(ConnectionError, match="dask\\+tls:// for a scheduler that requires TLS"):
            open_queue(f"dask://127.0.0.1:{port}?timeout=0.5")


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="DaskQueue takes a distributed.Client or a scheduler address"):
        DaskQueue(8786)
    with pytest.raises(ValueError, match="capacity must be a positive whole number or None, not 0"):
        DaskQueue("tcp://127.0.0.1:1", capacity=0)
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds, not -1"):
        DaskQueue("tcp://127.0.0.1:1", timeout=-1)


def test_without_distributed_the_error_names_the_extra_to_install(tmp_path):
    script = (
        "import sys\n"
        "sys.modules['distributed'] = None  # as if it were not installed\n"
        "from taskgraph import Task, make_now, open_queue\n"
        "make_now(Task('local'), queue='threads://1')\n"
        "try:\n"
        "    open_queue('dask://127.0.0.1:8786')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "the Dask queue needs the distributed package: pip install 'taskgraph-fsm[dask]'"


# ------------------------------------------------------------------ states, cancelling, stopping


@pytest.mark.parametrize("track_start", [True, False])
def test_a_task_is_queued_while_it_waits_in_dask_and_running_once_it_starts(client, tmp_path, track_start):
    release, started = str(tmp_path / "release"), str(tmp_path / "started")
    busy = [Task(f"busy{i}", jobs.wait_for_file, args=(release, started, f"busy{i}")) for i in range(4)]
    waiting = [Task(f"waiting{i}", jobs.wait_for_file, args=(release, started, f"waiting{i}")) for i in range(3)]
    with DaskQueue(client, track_start=track_start) as queue:
        future = make_later(queue, *busy, *waiting)
        wait_for(lambda: len(lines(started)) == 4, 60, "4 tasks to fill the 4 threads")
        running = {t.name for t in busy + waiting if t.name in started_names(started)}
        if track_start:
            wait_for(lambda: {t.name for t in busy + waiting if t.state == "RUNNING"} == running, 30,
                     "the start events")
            held = [t for t in busy + waiting if t.name not in running]
            assert {t.state.value for t in held} == {"QUEUED"}
            assert held[0].cancel()
            wait_for(lambda: not any(k.startswith(f"{held[0].name}-") for k in client.run_on_scheduler(_task_states)),
                     30, "Dask to drop the cancelled task")  # else a worker may start it before it hears
        else:
            assert {t.state.value for t in busy + waiting} == {"RUNNING"}
        Path(release).touch()
        future.result(timeout=60)
    if track_start:
        assert held[0].state == "CANCELLED" and held[0].name not in started_names(started)
        assert {t.state.value for t in busy + waiting if t is not held[0]} == {"DONE"}
        assert len(lines(started)) == 6
    else:
        assert {t.state.value for t in busy + waiting} == {"DONE"} and len(lines(started)) == 7


def test_fail_fast_cancels_what_has_not_started_in_dask(client, tmp_path):
    go, release, started = str(tmp_path / "go"), str(tmp_path / "release"), str(tmp_path / "started")
    bad = Task("bad", jobs.fail_when, args=(go,))
    others = [Task(f"other{i}", jobs.wait_for_file, args=(release, started, f"other{i}")) for i in range(23)]
    names = {t.name for t in others}

    def steer() -> None:
        """Fail bad once the other 3 threads run tasks; release those once Dask holds nothing else."""
        wait_for(lambda: sum(t.state == "RUNNING" for t in others) == 3, 60, "3 tasks to run beside bad")
        Path(go).touch()
        wait_for(lambda: bad.state == "FAILED" and all(t.state != "QUEUED" for t in others), 60, "the stop")
        running = {t.name for t in others if t.state == "RUNNING"}
        wait_for(lambda: {k.rsplit("-", 2)[0] for k in client.run_on_scheduler(_task_states)} & names <= running,
                 60, "Dask to drop the cancelled tasks")
        Path(release).touch()

    helper = threading.Thread(target=steer, daemon=True)
    helper.start()
    with DaskQueue(client) as queue:
        finished = make_now(bad, *others, fail_fast=True, queue=queue)
    helper.join(10)
    assert finished == [bad] and str(bad.exception) == "failing as told"
    ran = [t for t in others if t.name in started_names(started)]
    # 3 held the threads; the thread bad left may have started 1 or 2 more (one sent ahead to its worker) before
    # the cancellation reached Dask. Everything else was cancelled without running.
    assert 3 <= len(ran) <= 5
    assert all(t.state in ("DONE", "CANCELLED") for t in ran)
    for task in others:
        if task not in ran:
            assert task.state == "CANCELLED", task
            assert str(task.exception) == f"task {task.name!r} was cancelled: the run stopped before it started"


def test_close_without_waiting_cancels_what_is_in_dask_and_returns_promptly(client, tmp_path):
    release, started = str(tmp_path / "release"), str(tmp_path / "started")
    tasks = [Task(f"held{i}", jobs.wait_for_file, args=(release, started, f"held{i}")) for i in range(10)]
    queue = DaskQueue(client)
    future = make_later(queue, *tasks)
    wait_for(lambda: len(lines(started)) == 4, 60, "4 tasks to start")
    begin = time.monotonic()
    queue.close(wait=False)
    assert time.monotonic() - begin < 5
    assert {t.state.value for t in future.result(timeout=30)} == {"CANCELLED"}
    assert all("closed without waiting" in str(t.exception) for t in tasks)
    wait_for(lambda: not client.run_on_scheduler(_task_states), 30, "Dask to drop the cancelled tasks")
    Path(release).touch()  # the 4 running functions end (clean_scheduler waits for them); the 6 others never ran
    assert len(lines(started)) == 4


CTRL_C_SCRIPT = """
import json, sys
from taskgraph import Task, make_now
from tests import jobs

url, release, started = sys.argv[1:4]
tasks = [Task(f"held{i}", jobs.wait_for_file, args=(release, started, f"held{i}")) for i in range(12)]
try:
    make_now(*tasks, queue=url)
except KeyboardInterrupt:
    print(json.dumps({t.name: t.state.value for t in tasks}), flush=True)
"""


def test_ctrl_c_cancels_what_waits_in_dask_and_waits_for_what_runs(client, tmp_path):
    release, started = str(tmp_path / "release"), str(tmp_path / "started")
    url = f"dask://127.0.0.1:{scheduler_port(client)}"
    proc = subprocess.Popen([sys.executable, "-c", CTRL_C_SCRIPT, url, release, started], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: len(lines(started)) == 4, 60, "4 tasks to fill the 4 threads")
        proc.send_signal(signal.SIGINT)
        wait_for(lambda: sum(k.startswith("held") for k in client.run_on_scheduler(_task_states)) <= 4, 60,
                 "Dask to drop the 8 waiting tasks")
        Path(release).touch()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out.strip(), f"make_now did not raise KeyboardInterrupt: {err}"  # the script prints only then
    states = json.loads(out.strip().splitlines()[-1])
    ran = started_names(started)
    assert len(ran) == 4, err
    for name, state in states.items():
        assert state in (("DONE", "CANCELLED") if name in ran else ("CANCELLED",)), (name, state)
    assert list(states.values()).count("CANCELLED") >= 8
    wait_for(lambda: not any(client.run(_busy).values()), 60, "the workers to finish")
    assert len(lines(started)) == 4  # the cancelled tasks never ran


# ------------------------------------------------------------------ failures of the cluster


@pytest.mark.slow
def test_a_worker_that_dies_fails_its_task_and_the_rest_of_the_graph_goes_on(client, tmp_path):
    started, dead = str(tmp_path / "started"), str(tmp_path / "dead")
    others = [Task(f"other{i}", jobs.node, args=(started, i, ())) for i in range(12)]
    killer = Task("killer", jobs.die_alone, args=(started, len(others), dead))
    after = [killer.then(f"after{i}", jobs.node, args=(started, 100 + i, ())) for i in range(3)]
    last = Task("last", jobs.node, args=(started, 200, ())).require(*others)

    make_now(*after, last, *others, queue=client)

    assert killer.state == "FAILED" and isinstance(killer.exception, TaskError)
    assert str(killer.exception).startswith("task 'killer': the Dask worker running it died (killed, out of memory, "
                                            "or crashed)")
    assert type(killer.exception.__cause__).__name__ == "KilledWorker"
    assert {t.state.value for t in after} == {"FAILED"} and all(isinstance(t.exception, BlockedError) for t in after)
    assert {t.state.value for t in others + [last]} == {"DONE"}
    assert len(lines(dead)) == 1 and sorted(lines(started)) == sorted([f"t{i}" for i in range(12)] + ["t200"])
    client.wait_for_workers(2, timeout=60)  # the nanny starts a new worker
    again = Task("again", jobs.node, args=(started, 300, ()))
    make_now(again, queue=client)
    assert again.result == 2100


@pytest.fixture
def lone_cluster(tmp_path):
    """A scheduler and one worker of 2 threads, as subprocesses, for a test that kills the scheduler."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    commands = [["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                ["worker", f"tcp://127.0.0.1:{port}", "--nthreads", "2", "--no-dashboard", "--no-nanny"]]
    procs = []
    try:
        for i, args in enumerate(commands):
            with open(tmp_path / f"dask-{i}.log", "wb") as log:
                procs.append(subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=ROOT, env=env, stdout=log,
                                              stderr=subprocess.STDOUT, start_new_session=True))
        yield port, procs
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(30)


@pytest.mark.slow
def test_a_lost_scheduler_fails_the_tasks_in_dask_and_make_does_not_hang(lone_cluster, tmp_path):
    port, procs = lone_cluster
    release, started = str(tmp_path / "release"), str(tmp_path / "started")
    wait_for(lambda: _answers(port), 60, "the scheduler to listen")
    queue = open_queue(f"dask://127.0.0.1:{port}?timeout=3")  # also how long the client tries to reconnect
    queue.client.wait_for_workers(1, timeout=60)
    tasks = [Task(f"held{i}", jobs.wait_for_file, args=(release, started, f"held{i}")) for i in range(6)]
    outcome: list[list[Task]] = []
    runner = threading.Thread(target=lambda: outcome.append(make_now(*tasks, queue=queue)), daemon=True)
    runner.start()
    wait_for(lambda: len(lines(started)) == 2, 60, "2 tasks to start")
    procs[0].kill()  # the scheduler
    runner.join(60)
    assert not runner.is_alive() and len(outcome[0]) == 6
    assert {t.state.value for t in tasks} == {"FAILED"}
    for task in tasks:
        assert str(task.exception) == (
            f"task {task.name!r}: the connection to the Dask scheduler at tcp://127.0.0.1:{port} was lost; the task's "
            "outcome is unknown"
        )
    begin = time.monotonic()
    queue.close()
    assert time.monotonic() - begin < 30
    with pytest.raises(RuntimeError, match="is closed"):
        queue.submit(pow, 2, 3)
    Path(release).touch()


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


class TestDaskQueueContract(QueueContract):
    """The queue conformance suite on the module's cluster."""

    @pytest.fixture
    def queue(self, client):
        with DaskQueue(client) as queue:
            yield queue
