"""Helpers for tests that run real worker subprocesses: waiting without sleeping, a worker process whose output
is kept, and enqueueing many jobs in one store call.

Jobs write lines to files with ``tests.jobs.record`` (one atomic ``O_APPEND`` write each), so executions are
counted independently of the store. Nothing sleeps to synchronise: tests wait for those lines, for the store to
show a status, for log lines or for a process to exit, each with a deadline that only stops a broken run from
hanging.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from taskgraph.durable.jobs import import_path
from taskgraph.stores.records import NewJob
from tests.jobs import lines

ROOT = Path(__file__).resolve().parents[1]
APP = "tests.durable_app:queue"


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, logs: Callable[[], str] | None = None) -> Any:
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` seconds (a safety net)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{logs()}" if logs is not None else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{extra}")
        time.sleep(0.01)


def wait_lines(path: Path, n: int, timeout: float = 20.0, logs: Callable[[], str] | None = None) -> list[str]:
    return wait_for(lambda: len(lines(path)) >= n and lines(path), timeout, f"{n} line(s) in {path.name}", logs)


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):  # gone meanwhile (reading a process being reaped can raise ESRCH)
        return False
    return state not in ("Z", "X")


class WorkerProcess:
    """A ``taskgraph worker`` subprocess, its output (stdout and stderr) in a file.

    ``app`` is the ``MODULE:QUEUE`` it serves (``tests.durable_app:queue`` unless told), reading its store URL
    from ``TASKGRAPH_APP_URL``; ``env`` adds environment variables.
    """

    def __init__(self, url: str, folder: Path, name: str, args: Sequence[str], app: str = APP,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.output = folder / f"worker-{name}.log"
        env = {**os.environ, "TASKGRAPH_APP_URL": url, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.command = [sys.executable, "-m", "taskgraph", "worker", app, *args]
        with open(self.output, "wb") as out:
            # its own session, so that teardown can kill it with the job processes it started
            self.proc = subprocess.Popen(self.command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.pid = self.proc.pid

    def log(self) -> str:
        try:
            text = self.output.read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        return f"----- worker {self.name} (pid {self.pid}, exit {self.proc.returncode}): " \
               f"{' '.join(self.command[2:])}\n{text}-----"

    def wait(self, timeout: float) -> int:
        """Its exit status; fails the test (showing its output) if it has not exited within ``timeout``."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"worker {self.name} did not exit within {timeout} s\n{self.log()}") from None

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def wait_log(self, text: str, timeout: float = 10.0) -> None:
        wait_for(lambda: text in self.output.read_text(errors="replace"), timeout, f"{text!r} in the log of "
                 f"worker {self.name}", self.log)

    def kill(self) -> None:
        """Kill it and whatever it started (teardown)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass


@contextlib.contextmanager
def worker_pool(folder: Path, app: str = APP) -> Iterator[Callable[..., WorkerProcess]]:
    """``start(url, *args, name=...)`` starts a worker serving ``app`` on ``url``, its log in ``folder``; at the
    end every one started is killed, with the job processes it started, and its output printed (pytest shows it
    when the test fails)."""
    started: list[WorkerProcess] = []

    def start(url: str, *args: str, name: str | None = None) -> WorkerProcess:
        worker = WorkerProcess(url, folder, name or f"w{len(started) + 1}", args, app=app)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.kill()
        for worker in started:
            print(worker.log())


def job(queue: Any, func: Any) -> Any:
    """The job of ``queue`` that runs ``func`` (for options set per test, decorate again with queue.task)."""
    found = queue.job(import_path(func))
    assert found is not None, f"{import_path(func)} is not registered on {queue!r}"
    return found


def enqueue_many(queue: Any, func: Any, calls: Iterable[tuple[Any, ...]], ids: Iterable[str] | None = None,
                 after: Sequence[str] = ()) -> list[str]:
    """Enqueue one job of ``func`` per argument tuple, in one store call, PENDING until the jobs ``after`` are
    DONE; their ids (``ids`` if given, else new ones), in order."""
    found = job(queue, func)
    calls = list(calls)
    ids = [uuid.uuid4().hex for _ in calls] if ids is None else list(ids)
    options = found.options.stored(queue.serializer.name)
    records = queue.store.enqueue([
        NewJob(id=job_id, name=found.name, payload=queue.serializer.encode_call(found.name, args, {}),
               options=options, queue=found.options.queue, priority=found.options.priority, after=list(after))
        for job_id, args in zip(ids, calls, strict=True)
    ])
    assert [r.id for r in records] == ids
    return ids


def statuses(queue: Any, ids: Sequence[str]) -> list[str]:
    return [r.status for r in queue.store.get(list(ids))]


def logs_of(*workers: WorkerProcess) -> Callable[[], str]:
    return lambda: "\n".join(w.log() for w in workers)
