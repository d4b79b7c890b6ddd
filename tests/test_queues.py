"""The local queues and the URL registry."""

from __future__ import annotations

import asyncio
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import EntryPoint

import pytest

from taskgraph import (
    AsyncioQueue,
    ExecutorQueue,
    InlineQueue,
    ProcessQueue,
    Queue,
    RemoteTaskError,
    SerializationError,
    State,
    Task,
    TaskError,
    ThreadQueue,
    make_later,
    make_now,
    open_queue,
    register_scheme,
)
from taskgraph.durable.queue import DurableQueue
from taskgraph.queues import BaseQueue, Call, known_schemes, redact, registry
from taskgraph.queues.registry import open_store
from taskgraph.stores import StoreError
from taskgraph.stores.sqlite import SQLiteStore, open_sqlite
from taskgraph.urls import secrets

from . import jobs

# ------------------------------------------------------------------ URLs


@pytest.mark.parametrize(
    ("url", "kind", "attrs"),
    [
        ("inline:", InlineQueue, {}),
        ("inline://", InlineQueue, {}),
        ("threads://3", ThreadQueue, {"workers": 3, "capacity": 6}),
        ("threads:3", ThreadQueue, {"workers": 3}),
        ("processes://2", ProcessQueue, {"workers": 2, "start_method": None}),
        ("processes://2?start=spawn", ProcessQueue, {"start_method": "spawn"}),
        ("asyncio:", AsyncioQueue, {"limit": None}),
        ("asyncio:?limit=5", AsyncioQueue, {"limit": 5, "capacity": 5}),
        ("THREADS://1", ThreadQueue, {"workers": 1}),
    ],
)
def test_open_queue(url, kind, attrs):
    queue = open_queue(url)
    try:
        assert type(queue) is kind and isinstance(queue, Queue)
        for name, value in attrs.items():
            assert getattr(queue, name) == value
    finally:
        queue.close()


def test_threads_without_a_count_uses_the_cpu_count():
    import os

    queue = open_queue("threads://")
    assert queue.workers == (os.cpu_count() or 1)
    queue.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nope://1", r"unknown queue URL scheme 'nope' in 'nope://1'; known schemes: asyncio:, dask:, dask\+tls:, "),
        ("just-a-path", r"no scheme in 'just-a-path'; known schemes: "),
        ("threads://many", r"'threads://many': the number of workers must be a positive whole number, like threads://4"),
        ("processes://0", r"must be a positive whole number, like processes://4"),
        ("processes://2?start=teleport", r"unknown process start method 'teleport'"),
        ("processes://2?colour=red", r"unknown option 'colour'; accepted options: start"),
        ("asyncio:?limit=0", r"limit must be a positive whole number, like asyncio:\?limit=100"),
        ("asyncio://8", r"write the asyncio queue as 'asyncio:' or 'asyncio:\?limit=N'"),
        ("inline:extra", r"the inline queue takes nothing after 'inline:'"),
        ("nope://user:secret@host/db", r"'nope://user:\*\*\*@host/db'"),
    ],
)
def test_bad_urls_say_what_and_what_to_do(url, message):
    with pytest.raises(ValueError, match=message) as info:
        open_queue(url)
    assert "secret" not in str(info.value)


def test_open_queue_needs_a_string():
    with pytest.raises(TypeError, match="open_queue\\(\\) takes a URL string, not int"):
        open_queue(3)  # type: ignore[arg-type]


def test_redact_hides_passwords_only():
    assert redact("postgresql://bob:hunter2@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert redact("redis://:pw@localhost:6379/0") == "redis://:***@localhost:6379/0"
    assert redact("redis://localhost:6379/0") == "redis://localhost:6379/0"


def test_register_a_scheme():
    opened = []

    class Recording(BaseQueue):
        runs_inline = True
        capacity = 1

        def submit(self, fn, /, *args, **kwargs):
            opened.append(fn)
            return InlineQueue().submit(fn, *args, **kwargs)

    register_scheme("recording", lambda url: Recording())
    assert "recording" in known_schemes()
    t = Task("t", jobs.square, args=(3,))
    make_now(t, queue="recording:")
    assert t.result == 9 and opened == []  # an inline queue's tasks run in make's thread, without a future
    assert open_queue("recording:").submit(jobs.square, 4).result() == 16 and opened == [jobs.square]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:pw-secret@[::1/db",  # an unclosed IPv6 bracket
        "redis://u:pw-secret@::1]:6379/0",
        "sqlite://u:pw-secret@[not-an-address]/jobs.db",
        "threads://[::1",
    ],
)
def test_a_url_that_cannot_be_split_is_one_clear_value_error_with_the_password_hidden(url):
    for opener in (open_queue, open_store):
        with pytest.raises(ValueError) as info:
            opener(url)
        message = str(info.value)
        assert "not a valid URL" in message and "[::1]" in message, message
        assert "pw-secret" not in "".join(traceback.format_exception(info.value))  # no chained error shows it
        if "@" in url:
            assert "u:***@" in message


def test_a_password_given_as_an_option_is_hidden_too():
    url = "postgresql://bob:hunter2@db/x?sslpassword=s3cret&password=p%40ss&schema=s"
    assert redact(url) == "postgresql://bob:***@db/x?sslpassword=***&password=***&schema=s"
    assert secrets(url) == ["hunter2", "p%40ss", "s3cret", "p@ss"]  # longest first: a part never hides a whole
    with pytest.raises(ValueError, match="unknown queue URL scheme 'nope'") as info:
        open_queue("nope://host/x?password=hunter2")
    assert "hunter2" not in str(info.value)


@pytest.fixture
def schemes(monkeypatch):
    """The scheme registry as it is, restored after the test; ``schemes(group, name, value)`` fakes a plugin's entry
    point."""
    monkeypatch.setattr(registry, "_SCHEMES", dict(registry._SCHEMES))
    plugins: dict[str, list[EntryPoint]] = {}
    monkeypatch.setattr(registry, "entry_points", lambda group: plugins.get(group, []))

    def plugin(group: str, name: str, value: str) -> None:
        plugins.setdefault(group, []).append(EntryPoint(name, value, group))

    return plugin


def _durable_roundtrip(url):
    queue = open_queue(url)
    try:
        assert isinstance(queue, DurableQueue) and isinstance(queue.store, SQLiteStore)
        handle = queue.task(jobs.square).delay(7)
        assert queue.get(handle.id) is not None and queue.stats() == {"default": {"QUEUED": 1}}
        return queue
    finally:
        queue.close()


def test_register_a_store_scheme_gives_a_durable_queue_on_it(schemes, tmp_path):
    register_scheme("mystore", open_sqlite, store=True)
    assert "mystore" in known_schemes()
    queue = _durable_roundtrip(f"mystore:///{tmp_path}/jobs.db?serializer=pickle&namespace=ns&busy_timeout=5")
    assert (queue.serializer.name, queue.namespace, queue.url) == (
        "pickle", "ns", f"mystore:///{tmp_path}/jobs.db?serializer=pickle&namespace=ns&busy_timeout=5"
    )
    with open_store(f"mystore:///{tmp_path}/jobs.db") as store:
        assert store.stats() == {"default": {"QUEUED": 1}}
    with pytest.raises(ValueError, match="'threads' is not the scheme of a store"):
        open_store("threads://2")


def test_plugins_add_queue_and_store_schemes_through_entry_points(schemes, tmp_path):
    schemes("taskgraph.stores", "plugstore", "taskgraph.stores.sqlite:open_sqlite")
    schemes("taskgraph.queues", "plugqueue", "tests.test_queues:open_plugin_queue")
    assert {"plugstore", "plugqueue", "threads", "sqlite"} <= set(known_schemes())
    _durable_roundtrip(f"plugstore:///{tmp_path}/jobs.db")
    with open_queue("plugqueue://3") as queue:
        assert isinstance(queue, ThreadQueue) and queue.workers == 3
    register_scheme("plugqueue", lambda url: InlineQueue())  # registered by hand: takes precedence
    assert isinstance(open_queue("plugqueue:"), InlineQueue)


def open_plugin_queue(url):
    """A plugin's queue factory, for the entry-point test."""
    return ThreadQueue(int(url.netloc))


def test_a_store_whose_package_is_missing_names_the_extra_to_install(schemes, tmp_path):
    registry._SCHEMES["gone"] = registry.Scheme("taskgraph.durable.queue:open_durable", "no_such_module_x:open", "gone")
    with pytest.raises(StoreError) as info:
        open_queue("gone://user:pw-secret@host/db")
    message = str(info.value)
    assert "No module named 'no_such_module_x'" in message and "pip install 'taskgraph-fsm[gone]'" in message
    assert "pw-secret" not in message and "user:***@host" in message


# ------------------------------------------------------------------ threads


def _call(name, func, *args, started=None):
    """A call whose report (on its start, and on its end) goes to ``started`` while it is not done."""
    return Call(name, name, func, args, {}, report=lambda call: call.done() or started(call))


def test_a_thread_queue_says_when_a_call_starts_and_skips_one_cancelled_while_it_waits():
    started, release = threading.Event(), threading.Event()
    began: list[str] = []
    ran: list[str] = []

    def busy():
        started.set()
        release.wait(10)
        ran.append("busy")

    queue = ThreadQueue(1)
    first = queue.submit_call(_call("first", busy, started=lambda call: began.append(call.name)))
    waiting = queue.submit_call(_call("waiting", ran.append, "waiting", started=lambda call: began.append(call.name)))
    assert started.wait(10)
    assert began == ["first"] and first.running() and not waiting.running()
    assert waiting.cancel()
    release.set()
    queue.close()
    assert ran == ["busy"] and began == ["first"] and first.done() and waiting.cancelled()


def test_a_task_cancelled_while_its_call_waits_for_a_thread_does_not_run():
    release = threading.Event()
    ran: list[str] = []
    busy = Task("busy", release.wait, args=(10,))
    waiting = Task("waiting", ran.append, args=("waiting",))
    queue = ThreadQueue(1)
    future = make_later(queue, busy, waiting)
    while waiting.state is not State.QUEUED or busy.state is not State.RUNNING:
        threading.Event().wait(0.001)
    assert waiting.cancel()
    release.set()
    assert future.result(10) and busy.state is State.DONE and waiting.state is State.CANCELLED
    queue.close()
    assert ran == []


def test_a_closed_thread_queue_refuses_work():
    queue = ThreadQueue(1)
    queue.close()
    t = Task("t")
    out = make_now(t, queue=queue)
    assert out == [t] and t.state is State.FAILED
    assert "failed to take it" in str(t.exception) and "is closed" in str(t.exception)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_bad_worker_counts(workers):
    with pytest.raises(ValueError, match="positive whole number of workers"):
        ThreadQueue(workers)
    with pytest.raises(ValueError, match="positive whole number of workers"):
        ProcessQueue(workers)


# ------------------------------------------------------------------ processes


def test_processes_run_in_other_processes():
    import os

    tasks = [Task(f"p{i}", jobs.pid) for i in range(4)]
    make_now(*tasks, queue="processes://2")
    assert all(t.state is State.DONE for t in tasks)
    assert os.getpid() not in {t.result for t in tasks}


def test_unpicklable_parts_fail_only_their_task_naming_what():
    lock = threading.Lock()
    lam = Task("lam", lambda: 1)
    arg = Task("arg", jobs.square, args=(lock,))
    kwarg = Task("kwarg", jobs.add, args=(1,), kwargs={"b": lock})
    fine = Task("fine", jobs.square, args=(3,))
    out = make_now(lam, arg, kwarg, fine, queue="processes://2")
    assert len(out) == 4 and fine.result == 9
    for task, what in [(lam, "its function <function"), (arg, "argument 0 (lock"), (kwarg, "keyword argument 'b'")]:
        assert task.state is State.FAILED and isinstance(task.exception, SerializationError)
        assert str(task.exception).startswith(f"task {task.name!r}: cannot send {what}")
        assert "use a function defined at module level and picklable arguments" in str(task.exception)


def test_process_exceptions_keep_type_message_and_remote_traceback():
    t = Task("t", jobs.fail, args=("from a child",))
    make_now(t, queue="processes://1")
    assert type(t.exception) is ValueError and str(t.exception) == "from a child"
    assert "jobs.py" in str(t.exception.__cause__) and "raise ValueError" in str(t.exception.__cause__)


def test_an_exception_that_cannot_be_pickled_comes_back_as_remote_task_error():
    t = Task("t", jobs.raise_unpicklable)
    make_now(t, queue="processes://1")
    assert isinstance(t.exception, RemoteTaskError)
    assert t.exception.type_name == "tests.jobs.Unpicklable" and t.exception.message == "cannot travel"
    assert "raise Unpicklable" in t.exception.traceback


def test_a_result_that_cannot_be_pickled_fails_its_task():
    t = Task("t", jobs.returns_unpicklable)
    make_now(t, queue="processes://1")
    assert isinstance(t.exception, SerializationError)
    assert str(t.exception).startswith("task 't': its result (lock <unlocked _thread.lock")


def test_a_dead_worker_fails_its_task_and_the_queue_goes_on():
    queue = ProcessQueue(1)
    try:
        crash = Task("crash", jobs.crash)
        make_now(crash, queue=queue)
        assert crash.state is State.FAILED and isinstance(crash.exception, TaskError)
        assert "a worker process died" in str(crash.exception)
        after = Task("after", jobs.square, args=(6,))
        make_now(after, queue=queue)
        assert after.result == 36
    finally:
        queue.close()


# ------------------------------------------------------------------ asyncio


def test_async_functions_wait_together_on_one_loop():
    count = 50
    arrived: list[int] = []
    everyone = asyncio.Event()

    async def meet(i):
        arrived.append(i)
        if len(arrived) == count:
            everyone.set()
        await asyncio.wait_for(everyone.wait(), 10)
        return i

    tasks = [Task(f"a{i}", meet, args=(i,)) for i in range(count)]
    make_now(*tasks, queue="asyncio:")
    assert [t.result for t in tasks] == list(range(count))


def test_asyncio_queue_runs_plain_functions_and_failures():
    tasks = [Task("sync", jobs.square, args=(4,)), Task("async", jobs.async_add, args=(20, 5)),
             Task("bad", jobs.async_fail), Task("none")]
    make_now(*tasks, queue="asyncio:")
    assert [t.state for t in tasks] == ["DONE", "DONE", "FAILED", "DONE"]
    assert tasks[0].result == 16 and tasks[1].result == 25 and str(tasks[2].exception) == "async boom"


def test_cancelling_a_running_coroutine_stops_it():
    started = threading.Event()
    stopped: list[str] = []

    async def forever():
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            stopped.append("cancelled")
            raise

    queue = AsyncioQueue()
    t = Task("forever", forever)
    future = make_later(queue, t)
    assert started.wait(10)
    assert t.cancel()
    assert future.result(10) == [t]
    queue.close()  # returns once the coroutine has ended
    assert stopped == ["cancelled"] and t.state is State.CANCELLED


def test_asyncio_limit_caps_concurrency():
    running = 0
    peak = 0

    async def step():
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001)
        running -= 1

    tasks = [Task(f"s{i}", step) for i in range(30)]
    make_now(*tasks, queue="asyncio:?limit=3")
    assert all(t.state is State.DONE for t in tasks) and 1 <= peak <= 3


# ------------------------------------------------------------------ executors


def test_loky_executor_runs_lambdas_through_cloudpickle():
    loky = pytest.importorskip("loky")
    executor = loky.get_reusable_executor(max_workers=2)
    tasks = [Task("lam", lambda: 7), Task("sq", jobs.square, args=(8,))]
    make_now(*tasks, queue=executor)
    assert [t.result for t in tasks] == [7, 64]


def test_an_executor_that_cannot_pickle_says_which_task():
    loky = pytest.importorskip("loky")
    executor = loky.get_reusable_executor(max_workers=1)
    t = Task("locked", jobs.square, args=(threading.Lock(),))
    make_now(t, queue=executor)
    assert t.state is State.FAILED
    assert str(t.exception).startswith("task 'locked': could not be sent to")


def test_executor_queue_capacity_follows_the_worker_count():
    with ThreadPoolExecutor(3) as pool:
        assert ExecutorQueue(pool).capacity == 6
        assert ExecutorQueue(pool, capacity=1).capacity == 1
    with pytest.raises(TypeError, match="ExecutorQueue needs a concurrent.futures.Executor"):
        ExecutorQueue(object())  # type: ignore[arg-type]


def test_a_submit_that_returns_no_future_fails_its_task_saying_what_a_queue_must_do():
    class Old:  # the queue protocol before futures: submit(task) -> None
        def submit(self, task):
            return None

    t = Task("t")
    make_now(t, queue=Old())
    assert t.state is State.FAILED and isinstance(t.exception, TaskError)
    assert "its submit returned NoneType None, not a concurrent.futures.Future" in str(t.exception)
