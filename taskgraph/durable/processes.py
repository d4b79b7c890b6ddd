"""Worker processes for ``process`` jobs: started with ``spawn``, each imports the app and runs one job at a time.

A worker process dies with the worker that started it: if the worker is killed (SIGKILL, an OOM kill), its job's
process ends within a second instead of running on orphaned while the job's lease runs out and another worker runs
it again. On Linux the kernel sends it SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``, through ctypes);
everywhere, a thread of the process also waits on the parent's sentinel (``multiprocessing.parent_process()``) and
ends the process when it fires.

The queue's ``before_run`` and ``after_run`` hooks of a ``process`` job run in its worker process, around the job:
so only hooks the app adds as it is imported (``queue.add_hook`` at module level) are called for those jobs. A
cached ``process`` job's hit starts no worker process: a thread of the worker returns the stored result, and calls
the hooks there (see :mod:`.cache`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
from queue import SimpleQueue
from typing import Any

from ..errors import TaskError
from ..stores.records import encode_error
from .context import JobContext
from .runners import JobRun, _Runner, find_job, load_queue, run_job

__all__ = ["ProcessRunner", "importing_app"]

_PR_SET_PDEATHSIG = 1
_importing_app = False  # True in a worker process while it imports the app


def importing_app() -> bool:
    """Whether this process is a worker process still importing the app, or the main script of the process that
    started it (as ``spawn`` does): no worker may start here then, or each worker process would start another."""
    return _importing_app or bool(getattr(multiprocessing.current_process(), "_inheriting", False))


def _die_with_parent(parent_pid: int) -> None:
    """End this process when the worker that started it dies (see the module docstring)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):  # no libc to be found: the thread below still does it
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # it died before this process could ask to be told
        os._exit(1)
    parent = multiprocessing.parent_process()
    if parent is not None:
        def watch() -> None:
            parent.join()
            os._exit(1)

        threading.Thread(target=watch, daemon=True, name="taskgraph-parent-watch").start()


def _child(spec: str, conn: Any, parent_pid: int) -> None:
    """A worker process: import the app, then run the jobs sent down the pipe, one at a time, and send back what
    a runner posts to the worker's ``events`` (without the run, which the parent knows)."""
    global _importing_app
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what a Ctrl-C stops
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _importing_app = True
    try:
        queue = load_queue(spec)
    finally:
        _importing_app = False

    def report(value: float, text: str | None) -> None:
        conn.send(("progress", value, text))

    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        name, payload, about = message
        try:
            job = find_job(queue, spec, name)
            args, kwargs = queue.serializer.decode_call(payload)
        except Exception as exc:
            conn.send(("done", False, encode_error(exc)))
            continue
        conn.send(("started",))
        ctx = JobContext(_report=report, **about)
        ok, data = run_job(queue, ctx, job.func, args, kwargs)
        conn.send(("done", ok, data))


class _Slot:
    def __init__(self, spec: str, events: SimpleQueue[Any]) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(target=_child, args=(spec, child_conn, os.getpid()), daemon=True)
        self.process.start()
        child_conn.close()
        self.run: JobRun | None = None
        self.began = False  # its run has started: the process imported the app and has the job in hand
        self.outcome: tuple[bool, Any] | None = None  # how its run ended, (ok, data), for the run's ``after``
        self.spec = spec
        self.events = events
        threading.Thread(target=self._read, daemon=True, name=f"taskgraph-slot-{self.process.pid}").start()

    def _read(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                run = self.run
                if run is not None:
                    self.process.join(1)
                    code = self.process.exitcode
                    died = TaskError(f"its worker process died (exit code {code}) while it ran" if self.began else
                                     f"its worker process could not start (exit code {code}): it failed to import "
                                     f"the app {self.spec} (its error is above, on the worker's output); a script "
                                     "that starts a worker itself must do so under `if __name__ == \"__main__\":`, "
                                     "since worker processes import it again")
                    self.outcome = (False, None)
                    self.events.put(("done", run, False, encode_error(died, "")))
                return
            run = self.run
            if run is not None:
                self.began = self.began or message[0] == "started"
                if message[0] == "done":
                    self.outcome = (message[1], message[2])
                self.events.put((message[0], run, *message[1:]))

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)


class ProcessRunner(_Runner):
    """Runs ``process`` jobs in worker processes, one job each at a time, started with ``spawn`` and importing
    the app. A job that times out or is cancelled has its process killed, and a new one takes its slot. A worker
    process is started from the worker's loop thread: on Linux it also dies if that thread ends."""

    def __init__(self, spec: str, processes: int, events: SimpleQueue[Any], worker_id: str) -> None:
        super().__init__(processes, events, worker_id)
        self.spec = spec
        self._idle: list[_Slot] = []

    def start(self, run: JobRun) -> None:
        slot = self._idle.pop() if self._idle else _Slot(self.spec, self.events)
        if not slot.process.is_alive():
            slot = _Slot(self.spec, self.events)
        self.busy += 1
        slot.run, slot.began, slot.outcome = run, False, None
        run.handle = slot
        record = run.record
        about = {"id": record.id, "name": record.name, "attempt": record.attempts, "queue": record.queue,
                 "metadata": record.metadata, "worker_id": self.worker_id}
        slot.conn.send((record.name, record.payload, about))

    def ended(self, run: JobRun) -> None:
        super().ended(run)
        slot: _Slot = run.handle
        if run.after is not None and slot.outcome is not None:
            run.after(*slot.outcome)  # in the worker's thread, with its connection to the store
        slot.run = None
        if slot.process.is_alive():
            self._idle.append(slot)

    def stop(self, run: JobRun) -> None:
        """Kill the process running ``run``; its reader reports the death, which ends the run."""
        slot: _Slot = run.handle
        if slot is not None and slot.run is run:
            slot.kill()

    def close(self) -> None:
        """Stop the idle processes: each is asked to end, and killed if it has not at once."""
        for slot in self._idle:
            with contextlib.suppress(OSError):
                slot.conn.send(None)
        for slot in self._idle:
            slot.process.join(0)
            if slot.process.is_alive():
                slot.kill()
        self._idle.clear()
