"""Task calls through a store: each call becomes a keyed job, and one follower thread settles its future from what
workers report.

``make_now(*tasks, queue=q)`` hands each ready task's call to :meth:`JobFollower.submit`; ``make_later(q, *tasks)``
hands the whole graph to :meth:`JobFollower.submit_graph`, edges included, so that workers release dependents as
prerequisites finish and the graph runs to its end even if this process exits.

A call's job is named by its key (``namespace/key``, the key being the task's name unless given) and gets an id
derived from it, so a rerun of the same graph finds the same jobs: one DONE is not run again, its result comes
back; one FAILED or CANCELLED is queued again. Nothing here touches a task: the follower settles futures (and says
when a job starts), and the scheduler moves the tasks.
"""

from __future__ import annotations

import logging
import threading
import uuid
import weakref
from collections.abc import Sequence
from concurrent.futures import Future
from operator import methodcaller
from typing import TYPE_CHECKING, Any

from ..errors import CancelledError, first_line
from ..queues.base import Call
from ..queues.futures import settle
from ..stores.base import StoreError, StoreUnavailable
from ..stores.records import JobRecord, NewJob
from .cache import stored_option
from .handle import cancelled, failure

if TYPE_CHECKING:
    from .queue import DurableQueue

__all__ = ["JobFollower"]

log = logging.getLogger("taskgraph")
_IDS = uuid.UUID("6f1d5b0e-8f53-4a52-9a35-7c6c1b4f0d11")
_SEND_BATCH = 500  # the most jobs the sender enqueues in one store call


class JobFollower:
    """Sends calls to a durable queue's store as jobs, and settles each call (a future) as its job ends."""

    def __init__(self, queue: DurableQueue) -> None:
        self.queue = queue
        self._lock = threading.Lock()
        self._watched: dict[str, Call] = {}  # job id -> its call
        self._keys: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()  # key -> last task token
        self._runs: weakref.WeakKeyDictionary[Any, tuple[int, str]] = weakref.WeakKeyDictionary()  # token -> run, name
        self._busy: dict[str, Call] = {}  # key -> its call in flight
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._outbox: list[tuple[Call, NewJob]] = []  # checked jobs the sender has not enqueued yet
        self._outgoing = threading.Event()
        self._sender: threading.Thread | None = None

    def _job_of(self, call: Call) -> NewJob:
        """The job for ``call``.

        Raises:
            TypeError: its function is not a job of the queue, or another task in flight, or of the same run, has
                its key.
            SerializationError: an argument cannot be encoded.
        """
        queue = self.queue
        job = queue.job_for(call)
        payload = queue.serializer.encode_call(call.name, call.args, dict(call.kwargs))
        key = queue.key_of(call, job.name, payload) if call.token is not None else None
        if key is not None:
            with self._lock:
                other = self._keys.get(key)
                busy = self._busy.get(key)
                run, name = self._runs.get(other, (0, key)) if other is not None else (0, key)
            if other is not None and other is not call.token and ((busy is not None and not busy.done()) or
                                                                  run == call.run):
                raise _taken(call, key, name)
        options = job.options
        stored = options.stored(queue.serializer.name)
        if job.cache is not None:  # its worker uses the result cache (see .cache)
            stored["cache"] = stored_option(queue, job, tuple(call.args), dict(call.kwargs))
        return NewJob(
            id=uuid.uuid5(_IDS, key).hex if key is not None else uuid.uuid4().hex, name=job.name, payload=payload,
            options=stored, queue=options.queue, priority=options.priority, key=key,
        )

    def _claim_key(self, call: Call, job: NewJob) -> None:
        if job.key is not None:
            with self._lock:
                self._keys[job.key] = call.token
                self._runs[call.token] = (call.run, call.name)
                self._busy[job.key] = call
        call.add_done_callback(lambda done: self._ended_here(call, job))

    def submit(self, call: Call) -> Future[Any]:
        """Enqueue ``call``'s job and follow it; the future settles when the job ends.

        The job is checked here (a function no worker knows, an argument that cannot be encoded, a key another task
        in flight has: the future fails at once) and enqueued by a sender thread, which sends all the jobs submitted
        while it was busy in one store call: a layer of a graph costs one round trip, not one per task. While the
        store is unavailable the enqueue is retried (a job's id comes from its key, so a repeat is harmless); when
        the queue's patience runs out, or the store refuses the jobs, their futures fail with the reason.
        """
        try:
            job = self._job_of(call)
            if self.queue.hooks:
                self.queue.hooks.refuse(job)  # an on_enqueue hook may refuse it: the call fails with its error
        except Exception as exc:  # noqa: BLE001 - the call fails with it, before anything is stored
            call.set_exception(exc)
            return call
        self._claim_key(call, job)
        with self._lock:
            self._outbox.append((call, job))
            if self._sender is None:
                self._sender = threading.Thread(target=self._send, name="taskgraph-sender", daemon=True)
                self._sender.start()
        self._outgoing.set()
        return call

    def _send(self) -> None:
        while not self._stopping:
            self._outgoing.wait(1.0)
            self._outgoing.clear()
            while True:
                with self._lock:
                    batch, self._outbox = self._outbox[:_SEND_BATCH], self._outbox[_SEND_BATCH:]
                batch = [entry for entry in batch if not entry[0].done()]  # not cancelled meanwhile
                if not batch:
                    break
                try:
                    records = self.queue.patiently(methodcaller("enqueue", [job for _, job in batch]))
                except Exception as exc:  # noqa: BLE001 - the calls fail with it: nothing is lost silently
                    for call, _ in batch:
                        settle(call, exception=exc)
                    continue
                for (call, _), record in zip(batch, records, strict=True):
                    self._follow(call, record)

    def submit_graph(self, calls: Sequence[Call]) -> list[Future[Any]]:
        """Enqueue the jobs of ``calls`` in one transaction, each waiting for the jobs of its ``after``.

        Raises:
            TypeError, SerializationError: a call cannot be stored; nothing was enqueued.
            Exception: an ``on_enqueue`` hook refused a job, with its error; nothing was enqueued.
        """
        jobs: list[NewJob] = []
        ids: dict[int, str] = {}
        keys: dict[str, Call] = {}
        for call in calls:
            job = self._job_of(call)
            if job.key is not None:
                twin = keys.setdefault(job.key, call)
                if twin is not call:
                    raise _taken(call, job.key, twin.name)
            job.after = [ids[id(c)] for c in call.after]
            ids[id(call)] = job.id
            jobs.append(job)
        if self.queue.hooks:
            for job in jobs:
                self.queue.hooks.refuse(job)  # an on_enqueue hook may refuse one: nothing is stored
        records = self.queue.store.enqueue(jobs)
        for call, job, record in zip(calls, jobs, records, strict=True):
            self._claim_key(call, job)
            self._follow(call, record)
        return list(calls)

    def _follow(self, call: Call, record: JobRecord) -> None:
        self._apply(call, record)
        if record.final or call.done():
            return
        with self._lock:
            self._watched[record.id] = call
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="taskgraph-follower", daemon=True)
                self._thread.start()
        self._wake.set()

    def _ended_here(self, call: Call, job: NewJob) -> None:
        """A followed call is done; if it was cancelled here (a user, or make stopping), cancel its job."""
        with self._lock:
            if job.key is not None and self._busy.get(job.key) is call:
                del self._busy[job.key]
            watched = self._watched.pop(job.id, None) if call.cancelled() else None
        if watched is not None:
            try:
                self.queue.store.cancel([job.id])
            except StoreError as exc:
                log.warning("task %r was cancelled here, but its job %s could not be cancelled in the store: %s",
                            watched.name, job.id, exc)

    def _apply(self, call: Call, record: JobRecord) -> None:
        """Settle ``call`` (and report its start) to match its job's status."""
        status = record.status
        if status in ("RUNNING", "DONE", "FAILED") and not call.running() and not call.done():
            if not call.set_running_or_notify_cancel():
                return
            call.started()
        if status == "DONE":
            try:
                result = self.queue.decode(record, record.result)
            except Exception as exc:  # noqa: BLE001 - a result that cannot be read is the call's outcome
                settle(call, exception=exc)
            else:
                settle(call, result)
        elif status == "FAILED":
            settle(call, exception=failure(record))
        elif status == "CANCELLED":
            settle(call, exception=cancelled(record))

    def _run(self) -> None:
        store = None
        seen: dict[str, str] = {}
        pause = 0.0
        while not self._stopping:
            with self._lock:
                ids = list(self._watched)
            if not ids:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                store = store or self.queue.store
                # the statuses of all (two fields each), then the records of those that moved (results included)
                moved = [i for i, (status, _) in store.status_of(ids).items() if seen.get(i) != status]
                for record in store.get(moved) if moved else ():
                    if seen.get(record.id) == record.status:
                        continue
                    seen[record.id] = record.status
                    with self._lock:
                        call = self._watched.get(record.id)
                        if call is not None and record.final:
                            del self._watched[record.id]
                    if call is not None:
                        self._apply(call, record)
                    if record.final:
                        seen.pop(record.id, None)
                pause = 0.0
                store.wait(0.5)
            except StoreUnavailable as exc:  # a server restarting, a lost connection: reconnect and go on
                pause = min(max(pause * 2, 0.1), 5.0)
                log.warning("following jobs: store unavailable: %s; retrying in %.2g s", first_line(exc), pause)
                store = None
                self.queue.reconnect()
                self._wake.wait(pause)
            except Exception:  # anything else is a bug or a refusal: say so in full, and try again
                log.exception("following jobs in %s failed; retrying", self.queue.url)
                store = None
                self.queue.reconnect()
                self._wake.wait(1.0)

    def stop(self) -> None:
        """Stop following; calls whose jobs were never sent are cancelled (their jobs were not enqueued)."""
        self._stopping = True
        self._wake.set()
        self._outgoing.set()
        for thread in (self._sender, self._thread):
            if thread is not None and thread is not threading.current_thread():
                thread.join(5)
        with self._lock:
            unsent, self._outbox = self._outbox, []
        for call, _ in unsent:
            why = f"task {call.name!r} was cancelled: its queue was closed before its job was sent"
            settle(call, exception=CancelledError(why))


def _taken(call: Call, key: str, other: str) -> TypeError:
    return TypeError(
        f"task {call.name!r}: task {other!r} of the same graph has the key {key!r} too (the same name, function and "
        "arguments), and a key names one job in the store; give the tasks distinct names or keys"
    )
