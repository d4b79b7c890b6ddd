"""Task graphs through a store: each task becomes a keyed job, and its state machine follows what workers report.

``make_now(*tasks, queue=q)`` hands each ready task to :meth:`GraphDriver.submit`; ``make_later(q, *tasks)``
hands the whole graph to :meth:`GraphDriver.make_later`, edges included, so that workers release dependents as
prerequisites finish and the graph runs to its end even if this process exits.

A task's job is named by its key (``namespace/key``, the key being the task's name unless given) and gets an id
derived from it, so a rerun of the same graph finds the same jobs: one DONE is not run again, its result comes
back; one FAILED or CANCELLED is queued again.

One follower thread waits on the store for all the jobs of graphs in flight and moves their tasks:
QUEUED -> RUNNING -> DONE / FAILED / CANCELLED, bringing results back.
"""

from __future__ import annotations

import logging
import threading
import uuid
import weakref
from concurrent.futures import Future
from operator import methodcaller
from typing import TYPE_CHECKING, Any

from ..errors import BlockedError, CancelledError, SerializationError, first_line
from ..graph import walk
from ..queues.base import finish, start
from ..states import DONE, FINAL_STATES, PENDING, QUEUED
from ..stores.base import StoreError, StoreUnavailable
from ..stores.records import JobRecord, NewJob
from .handle import cancelled, failure

if TYPE_CHECKING:
    from ..task import Task
    from .queue import DurableQueue

__all__ = ["GraphDriver"]

log = logging.getLogger("taskgraph")
_IDS = uuid.UUID("6f1d5b0e-8f53-4a52-9a35-7c6c1b4f0d11")
_SEND_BATCH = 500  # the most jobs the sender enqueues in one store call


class GraphDriver:
    """Submits graph tasks to a durable queue's store and follows their jobs."""

    def __init__(self, queue: DurableQueue) -> None:
        self.queue = queue
        self._lock = threading.Lock()
        self._watched: dict[str, Task] = {}  # job id -> task
        self._keys: weakref.WeakValueDictionary[str, Task] = weakref.WeakValueDictionary()  # key -> last task
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._outbox: list[tuple[Task, NewJob]] = []  # checked jobs the sender has not enqueued yet
        self._outgoing = threading.Event()
        self._sender: threading.Thread | None = None

    # ------------------------------------------------------------ submitting

    def _job_of(self, task: Task, register: bool = True) -> NewJob:
        """The job for ``task``.

        Raises:
            TypeError: its function is not a job of the queue, or another task in flight has its key.
            SerializationError: an argument cannot be encoded.
        """
        queue = self.queue
        job = queue.job_for(task)
        key = queue.key_of(task)
        with self._lock:
            other = self._keys.get(key)
        if other is not None and other is not task and (other.state not in FINAL_STATES or _connected(task, other)):
            raise TypeError(
                f"task {task.name!r}: task {other.name!r} of the same graph has the key {key!r} too, and a key names "
                "one job in the store; give the tasks distinct names or keys"
            )
        payload = queue.serializer.encode_call(task.name, task.args, dict(task.kwargs))
        if register:
            with self._lock:
                self._keys[key] = task
        options = job.options
        return NewJob(
            id=uuid.uuid5(_IDS, key).hex, name=job.name, payload=payload,
            options=options.stored(queue.serializer.name), queue=options.queue, priority=options.priority, key=key,
        )

    def submit(self, task: Task) -> None:
        """Enqueue a QUEUED task's job and follow it.

        The job is checked here (a function no worker knows, an argument that cannot be encoded, a key another task
        in flight has: the task FAILS at once) and enqueued by a sender thread, which sends all the jobs submitted
        while it was busy in one store call: a layer of a graph costs one round trip, not one per task. While the
        store is unavailable the enqueue is retried (a job's id comes from its key, so a repeat is harmless); when
        the queue's patience runs out, or the store refuses the jobs, their tasks FAIL with the reason.
        """
        try:
            job = self._job_of(task)
        except (TypeError, SerializationError) as exc:
            task._fire("fail", False, None, exc, only_from=QUEUED)
            return
        with self._lock:
            self._outbox.append((task, job))
            if self._sender is None:
                self._sender = threading.Thread(target=self._send, name="taskgraph-sender", daemon=True)
                self._sender.start()
        self._outgoing.set()

    def _send(self) -> None:
        while not self._stopping:
            self._outgoing.wait(1.0)
            self._outgoing.clear()
            while True:
                with self._lock:
                    batch, self._outbox = self._outbox[:_SEND_BATCH], self._outbox[_SEND_BATCH:]
                batch = [(task, job) for task, job in batch if task.state is QUEUED]  # not cancelled meanwhile
                if not batch:
                    break
                jobs = [job for _, job in batch]
                try:
                    records = self.queue.patiently(methodcaller("enqueue", jobs))
                except Exception as exc:  # noqa: BLE001 - the tasks fail with it: nothing is lost silently
                    for task, _ in batch:
                        task._fire("fail", False, None, exc, only_from=QUEUED)
                    continue
                for (task, _), record in zip(batch, records, strict=True):
                    self._follow(task, record)

    def make_later(self, tasks: list[Task]) -> Future[list[Task]]:
        """Enqueue ``tasks`` and their pending prerequisites in one transaction, edges included.

        Raises:
            CycleError: the tasks form a cycle; nothing was enqueued.
            TypeError, SerializationError: a task cannot be stored; nothing was enqueued.
        """
        order = walk(tasks, lambda t: t.state is PENDING)
        jobs: list[NewJob] = []
        ids: dict[Task, str] = {}
        blocked: list[tuple[Task, Task]] = []
        for t in order:
            bad = next((p for p in t._prereqs if p.state is not DONE and p not in ids), None)
            if bad is not None and bad.state in FINAL_STATES:
                blocked.append((t, bad))
                continue
            job = self._job_of(t, register=False)
            twin = next((u for u, j in zip(ids, jobs, strict=True) if j.key == job.key), None)
            if twin is not None:
                raise TypeError(
                    f"task {t.name!r}: task {twin.name!r} of the same graph has the key {job.key!r} too, and a key "
                    "names one job in the store; give the tasks distinct names or keys"
                )
            job.after = [ids[p] for p in t._prereqs if p in ids]
            ids[t] = job.id
            jobs.append(job)
        future: Future[list[Task]] = Future()
        future.set_running_or_notify_cancel()
        claimed = [t for t in ids if t._fire("queue", False, only_from=PENDING)]
        try:
            records = self.queue.store.enqueue([j for j, t in zip(jobs, ids, strict=True) if t in claimed])
        except BaseException as exc:
            for t in claimed:
                t._fire("fail", False, None, exc, only_from=QUEUED)
            raise
        with self._lock:
            for t in claimed:
                self._keys[self.queue.key_of(t)] = t
        for t, record in zip(claimed, records, strict=True):
            self._follow(t, record)
        for t, prereq in blocked:
            event = "fail" if prereq.state == "FAILED" else "cancel"
            error: BaseException = (
                BlockedError(t.name, [(prereq.name, prereq.state.value)]) if event == "fail"
                else CancelledError(f"task {t.name!r} was cancelled: prerequisite {prereq.name!r} was cancelled")
            )
            t._fire(event, False, None, error, only_from=PENDING)
        _resolve_when_final(future, tasks)
        return future

    # ------------------------------------------------------------ following

    def _follow(self, task: Task, record: JobRecord) -> None:
        self._apply(task, record)
        if record.final:
            return
        with self._lock:
            self._watched[record.id] = task
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="taskgraph-follower", daemon=True)
                self._thread.start()
        job_id = record.id
        task.add_done_callback(lambda t: self._local_end(t, job_id))
        self._wake.set()

    def _local_end(self, task: Task, job_id: str) -> None:
        """A followed task was cancelled here (a user, or make stopping): cancel its job too."""
        if task.state == "CANCELLED":
            with self._lock:
                watched = self._watched.pop(job_id, None)
            if watched is not None:
                try:
                    self.queue.store.cancel([job_id])
                except StoreError as exc:
                    log.warning("task %r was cancelled here, but its job %s could not be cancelled in the store: %s",
                                task.name, job_id, exc)

    def _apply(self, task: Task, record: JobRecord) -> None:
        """Move ``task`` to match its job's status."""
        status = record.status
        if status == "RUNNING" or (status in ("DONE", "FAILED") and task.state is QUEUED):
            start(task)
        if status == "DONE":
            try:
                result = self.queue.decode(record, record.result)
            except Exception as exc:
                finish(task, exception=exc)
            else:
                finish(task, result)
        elif status == "FAILED":
            if not finish(task, exception=failure(record)):
                task._fire("fail", False, None, failure(record))
        elif status == "CANCELLED":
            task._fire("cancel", False, None, cancelled(record))

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
                for record in store.get(ids):
                    if seen.get(record.id) == record.status:
                        continue
                    seen[record.id] = record.status
                    with self._lock:
                        task = self._watched.get(record.id)
                        if task is not None and record.final:
                            del self._watched[record.id]
                    if task is not None:
                        self._apply(task, record)
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
        """Stop following; tasks whose jobs were never sent are cancelled (their jobs were not enqueued)."""
        self._stopping = True
        self._wake.set()
        self._outgoing.set()
        for thread in (self._sender, self._thread):
            if thread is not None and thread is not threading.current_thread():
                thread.join(5)
        with self._lock:
            unsent, self._outbox = self._outbox, []
        for task, _ in unsent:
            task._fire("cancel", False, None, CancelledError(f"task {task.name!r} was cancelled: its queue was closed "
                                                             "before its job was sent"), only_from=QUEUED)


def _connected(a: Task, b: Task) -> bool:
    """Whether ``b`` is in ``a``'s graph: reachable through prerequisites and dependents."""
    seen = {a}
    todo = [a]
    while todo:
        t = todo.pop()
        for u in (*t._prereqs, *t._dependents):
            if u is b:
                return True
            if u not in seen:
                seen.add(u)
                todo.append(u)
    return False


def _resolve_when_final(future: Future[list[Task]], tasks: list[Task]) -> None:
    """Resolve ``future`` with ``tasks`` once all of them are final."""
    if not tasks:
        future.set_result([])
        return
    left = [len(set(tasks))]
    lock = threading.Lock()

    def one_done(_: Any) -> None:
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            future.set_result(list(dict.fromkeys(tasks)))

    for t in dict.fromkeys(tasks):
        t.add_done_callback(one_done)

