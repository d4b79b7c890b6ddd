"""A Dask cluster as a queue: ``dask://HOST:PORT``, ``dask+tls://HOST:PORT``, or a ``distributed.Client``.

Each call becomes one Dask future. Two threads of the queue's own keep ``make``'s thread free:

* ``submit_call`` pickles the call (so that a call that cannot be sent fails only its task) and hands it to the
  *submitter* thread, which sends everything waiting in one ``Client.map`` (one message, one graph update on the
  scheduler) and passes cancellations on;
* the *collector* thread takes the Dask futures as Dask finishes them, gathers the results of all that finished
  together in one round trip, and settles each call's future;
* the worker tells the client when a call starts (an event on the scheduler, see ``track_start``), so a task is
  QUEUED while it waits in Dask and RUNNING while its function runs.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from concurrent.futures import Future
from functools import partial
from queue import Empty, SimpleQueue
from typing import Any

from ...errors import SerializationError, TaskError, describe
from ..base import BaseQueue, Call
from ..futures import settle
from .connect import connect, import_distributed, total_threads
from .events import STARTED_TOPIC, WAITING, subscribe, watch
from .linked import Linked, not_returned
from .outcomes import abandoned, cancellation, exception_of, explain
from .remote import loads, pack, run

__all__ = ["DaskQueue"]

log = logging.getLogger("taskgraph")

_STOP = object()  # wakes the collector to see whether it may end
# The least backlog: a call's round trip through the scheduler takes milliseconds, and fewer calls in flight leave
# workers idle (a 10,000-task graph of short tasks on 4 threads: 170 tasks/s with 8, 450-500 with 64 to 1,024).
_MIN_CAPACITY = 64
_CAPACITY_REFRESH = 1.0  # seconds between looks at the cluster's thread count
_HEALTH_CHECK = 0.5  # seconds the collector waits for a finished future before it checks the client
_GATHER_ONE = 60.0  # seconds to fetch one result, when fetching a batch failed
_CLOSE_TIMEOUT = 10.0  # seconds close() gives an owned client to disconnect
_Pending = tuple[str, Call, bytes]  # key, call (the future make follows), payload
_Sent = tuple[Call, Any]  # the call, its Dask future
_NONE = type(None)  # a Dask future's type once its call returned None
_WINDOW = 500  # tasks make_now may hand to Dask ahead of their prerequisites' ends (see .linked)


class DaskQueue(Linked, BaseQueue):
    """Run calls on a Dask cluster, through a ``distributed.Client``.

    Args:
        client_or_address: a ``distributed.Client``, used as it is and never closed by the queue; or a
            scheduler address (``"tcp://HOST:PORT"``, ``"tls://HOST:PORT"``, ``"HOST:PORT"``), to which the queue
            connects a client of its own that :meth:`close` closes.
        capacity: the most tasks ``make`` keeps handed to Dask and unfinished. None (the default) is twice the
            cluster's total thread count, followed as workers come and go, and at least 64: a task's round trip
            through the scheduler takes milliseconds, and a smaller backlog leaves workers idle between short
            tasks.
        timeout: seconds to wait for the scheduler to answer when connecting to an address.
        track_start: the worker announces each task's start, so that a task is QUEUED while it waits in Dask
            and RUNNING only once its function runs (and stopping early cancels what has not started). False
            saves that message: a task is then RUNNING from the moment it is handed over.
        security: a ``distributed.security.Security`` for a ``tls://`` address.
        window: how many tasks ``make_now`` may hand to Dask ahead, linked to the tasks they wait for, so that
            Dask starts each on its workers once they return, without a round trip through this process (see
            ``docs/scaling.md``, "Dask hand-off"). 0 hands each task over only once its prerequisites are DONE,
            as ``make``, ``make_later``, ``TaskQueue`` and ``fail_fast`` always do.

    Raises:
        ImportError: the ``distributed`` package is not installed.
        ConnectionError: no Dask scheduler answered at the address within ``timeout`` seconds.
        TypeError, ValueError: an argument of the wrong type or value.
    """

    def __init__(
        self,
        client_or_address: Any,
        *,
        capacity: int | None = None,
        timeout: float = 10.0,
        track_start: bool = True,
        security: Any = None,
        window: int = _WINDOW,
    ) -> None:
        distributed = import_distributed()
        if capacity is not None and (not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1):
            raise ValueError(f"a Dask queue's capacity must be a positive whole number or None, not {capacity!r}")
        if not isinstance(window, int) or isinstance(window, bool) or window < 0:
            raise ValueError(f"a Dask queue's window must be a whole number of tasks, 0 or more, not {window!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"a Dask queue's timeout must be a positive number of seconds, not {timeout!r}")
        if isinstance(client_or_address, distributed.Client):
            if security is not None:
                raise TypeError("DaskQueue(client, security=...): security= is for an address; the client has its own")
            if client_or_address.asynchronous:
                raise TypeError("DaskQueue needs a synchronous distributed.Client, not one made with asynchronous=True")
            self.client = client_or_address
            self.owned = False
        elif isinstance(client_or_address, str):
            self.client = connect(client_or_address, timeout, security)
            self.owned = True
        else:
            raise TypeError(
                f"DaskQueue takes a distributed.Client or a scheduler address such as 'tcp://host:8786', "
                f"not {describe(client_or_address)}"
            )
        self.address: str = self.client.scheduler.address if self.client.scheduler else str(client_or_address)
        self.track_start = bool(track_start)
        self.window = window
        self._fixed_capacity = capacity
        self._capacity = capacity or max(_MIN_CAPACITY, 2 * total_threads(self.client, ask=True))
        self._capacity_checked = time.monotonic()
        self._cond = threading.Condition()
        self._pending: list[_Pending] = []  # handed over by make, not yet sent to Dask
        self._cancels: list[Any] = []  # Dask futures of cancelled calls, to cancel in Dask
        self._futures: dict[str, _Sent] = {}  # sent to Dask and not yet collected, by key
        self._linked: list[list[_Pending]] = []  # batches of linked calls, not yet sent (see .linked)
        self._key_of: dict[Call, str] = {}
        self._holds: dict[str, list[Any]] = {}
        self._finished: SimpleQueue[Any] = SimpleQueue()  # futures Dask has finished, for the collector
        self._outstanding = 0  # handed over by make and not yet settled
        self._closed = False  # no more submissions
        self._stopping = False  # the threads may end
        self._abandoned = False  # closed without waiting: cancel instead of sending
        self._threads: list[threading.Thread] = []
        self._token = uuid.uuid4().hex[:16]  # with a counter, makes each Dask key unique
        self._numbers = itertools.count()

    def __repr__(self) -> str:
        return f"DaskQueue({self.address!r})"

    @property
    def capacity(self) -> int:
        """The most tasks ``make`` keeps handed over: as given, or twice the cluster's threads (at least 64)."""
        if self._fixed_capacity is not None:
            return self._fixed_capacity
        now = time.monotonic()
        if now - self._capacity_checked >= _CAPACITY_REFRESH:
            self._capacity_checked = now
            threads = total_threads(self.client, ask=False)
            if threads >= 0:
                self._capacity = max(_MIN_CAPACITY, 2 * threads)
        return self._capacity

    @capacity.setter
    def capacity(self, value: int | None) -> None:
        self._fixed_capacity = value
        if value is not None:
            self._capacity = value

    def _new_key(self, call: Call) -> str:
        return f"{call.name}-{self._token}-{next(self._numbers)}"

    def submit_call(self, call: Call) -> Future[Any]:
        key = self._new_key(call)
        try:
            payload = pack(call, key, STARTED_TOPIC if self.track_start else None)
        except SerializationError as exc:
            call.set_exception(exc)
            return call
        with self._cond:
            if self._closed:
                raise RuntimeError(f"{self!r} is closed")
            if not self._threads:
                self._start_threads()
            if self.track_start:
                WAITING[key] = call
            self._pending.append((key, call, payload))
            self._outstanding += 1
            if len(self._pending) == 1:
                self._cond.notify_all()
        if not self.track_start:
            call.started()
        return call

    def _start_threads(self) -> None:
        if self.track_start:
            subscribe(self.client)
        for target, role in ((self._submitter, "submit"), (self._collector, "collect")):
            thread = threading.Thread(target=target, name=f"taskgraph-dask-{role}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _submitter(self) -> None:
        """Send waiting calls to Dask, all at once, and cancel the Dask futures of cancelled calls."""
        while self._submit_next():
            pass

    def _submit_next(self) -> bool:
        """Wait for work, and do it; False once the queue is stopping and nothing is left to send."""
        with self._cond:
            while not self._pending and not self._linked and not self._cancels and not self._stopping:
                self._cond.wait()
            batch, self._pending = self._pending, []
            linked, self._linked = self._linked, []
            cancels, self._cancels = self._cancels, []
        if cancels:
            self._cancel_in_dask(cancels)
        if batch:
            self._send(batch)
        for calls in linked:
            self._send_linked(calls)
        return bool(batch or linked or cancels)

    def _send(self, batch: list[_Pending]) -> None:
        if self._abandoned:  # close(wait=False) came while this batch was on its way
            for key, call, _ in batch:
                WAITING.pop(key, None)
                settle(call, exception=abandoned(call))
            return
        live = [entry for entry in batch if not entry[1].done()]
        if len(live) < len(batch):  # cancelled before they left
            for key, _, _ in batch:
                WAITING.pop(key, None)
            self._settled(len(batch) - len(live))
        if not live:
            return
        keys = [key for key, _, _ in live]
        try:
            futures = self.client.map(run, [payload for _, _, payload in live], key=keys, pure=False)
        except Exception as exc:
            self._refused([(key, call) for key, call, _ in live], exc)
            return
        self._sent([(key, call) for key, call, _ in live], futures)

    def _refused(self, live: list[tuple[str, Call]], exc: Exception) -> None:
        """The client would not take calls: they fail with its error."""
        for key, call in live:
            WAITING.pop(key, None)
            self._key_of.pop(call, None)
            error = TaskError(f"task {call.name!r}: the Dask client for {self.address} would not take it: {exc}")
            error.__cause__ = exc
            settle(call, exception=error)
        self._settled(len(live))

    def _sent(self, live: list[tuple[str, Call]], futures: list[Any]) -> None:
        """Follow calls sent to Dask as ``futures``."""
        with self._cond:
            for (key, call), future in zip(live, futures, strict=True):
                self._futures[key] = (call, future)
            dropped = self._abandoned
        if dropped:
            for _, call in live:
                settle(call, exception=abandoned(call))
            self._cancel_in_dask(futures)
        watch(self.client, futures, self._finished.put)
        for key, call in live:  # by key: a Dask future held after its end would keep its result in Dask
            call.add_done_callback(partial(self._ended_here, key))

    def _ended_here(self, key: str, call: Future[Any]) -> None:
        """A call's future was settled or cancelled here: if cancelled, have Dask cancel it (the submitter does)."""
        with self._cond:
            self._key_of.pop(call, None)  # type: ignore[call-overload]
            entry = self._futures.get(key)
            if call.cancelled() and entry is not None and not entry[1].done():
                self._cancels.append(entry[1])
                self._cond.notify_all()

    def _cancel_in_dask(self, futures: list[Any]) -> None:
        try:
            self.client.cancel(futures)
        except Exception:  # the client is closing or lost its scheduler: the futures are cancelled anyway
            log.debug("could not cancel %d Dask future(s)", len(futures), exc_info=True)

    def _collector(self) -> None:
        """Record the outcome of each finished future; fail what is left if the client goes away."""
        finished = self._finished
        while True:
            try:
                first = finished.get(timeout=_HEALTH_CHECK)
            except Empty:
                first = None
            if first is None or first is _STOP:
                with self._cond:
                    if self._stopping and not self._futures:
                        return
                if first is None and self.client.status in ("closing", "closed"):
                    self._abandon(f"the Dask client for {self.address} was closed while the call was in Dask")
                continue
            self._collect(first)
            first = None  # a future still referenced keeps its result on its worker

    def _collect(self, first: Any) -> None:
        """Record ``first`` and every other future already finished, as one batch."""
        finished = self._finished
        batch = [first]
        while True:
            try:
                item = finished.get_nowait()
            except Empty:
                break
            if item is _STOP:
                finished.put(_STOP)
                break
            batch.append(item)
        self._record(batch)

    def _record(self, batch: list[Any]) -> None:
        # left in _futures until settled: a linked call handed over meanwhile finds the future there, or its call done
        with self._cond:
            entries = list({f.key: self._futures[f.key] for f in batch if f.key in self._futures}.values())
        values = self._gather([f for call, f in entries
                               if f.status == "finished" and f.type is not _NONE and not call.done()])
        over = []
        for entry in entries:
            try:
                if self._outcome(*entry, values.get(entry[1].key)):
                    over.append(entry[1].key)
            except Exception as exc:  # never leave a call unsettled
                log.exception("taskgraph: recording the outcome of task %r from Dask failed", entry[0].name)
                settle(entry[0], exception=TaskError(
                    f"task {entry[0].name!r}: recording its outcome from Dask failed: {exc}"))
                over.append(entry[1].key)
        with self._cond:
            for key in over:
                self._futures.pop(key, None)
                self._holds.pop(key, None)
        self._settled(len(over))

    def _outcome(self, call: Call, future: Any, gathered: tuple[bool, Any] | None) -> bool:
        """Settle a call's future as its Dask future ended. False if Dask lost the result and computes it again."""
        status = future.status
        if status in ("lost", "pending"):  # a worker holding the result died: Dask runs the task again
            watch(self.client, [future], self._finished.put)
            return False
        WAITING.pop(future.key, None)
        if call.done():
            return True  # cancelled meanwhile: the outcome is dropped
        if status == "finished" and future.type is _NONE:  # told with its end: nothing to fetch
            settle(call, None)
        elif status == "finished" and gathered is not None and gathered[0]:
            try:
                result = None if gathered[1] is None else loads(gathered[1])
            except Exception as exc:
                error = SerializationError(f"task {call.name!r}: its result could not be unpickled here: {exc}")
                error.__cause__ = exc
                settle(call, exception=error)
            else:
                settle(call, result)
        elif status == "finished":
            sent = gathered[1] if gathered else TaskError("Dask sent no result")
            settle(call, exception=explain(call, self.address, sent))
        elif call.after and any(map(not_returned, call.after)):  # Dask did not run it: rule 1 ends its task
            settle(call, exception=TaskError(f"task {call.name!r} was not run: a prerequisite did not return"))
        elif status == "error":
            settle(call, exception=explain(call, self.address, exception_of(future)))
        else:
            settle(call, exception=explain(call, self.address, cancellation(future)))
        return True

    def _gather(self, futures: list[Any]) -> dict[str, tuple[bool, Any]]:
        """The results of finished futures, by key: ``(True, pickled result)`` or ``(False, exception)``.

        One round trip for them all; if that fails, one at a time, leaving out those whose result Dask lost
        meanwhile (it computes them again).
        """
        if not futures:
            return {}
        try:
            return {f.key: (True, value) for f, value in zip(futures, self.client.gather(futures), strict=True)}
        except Exception:
            log.debug("gathering %d Dask results at once failed; one at a time", len(futures), exc_info=True)
        out: dict[str, tuple[bool, Any]] = {}
        for f in futures:
            try:
                out[f.key] = (True, f.result(timeout=_GATHER_ONE))
            except BaseException as exc:
                if f.status == "finished":
                    out[f.key] = (False, exc)
        return out

    def _abandon(self, why: str, keys: list[str] | None = None) -> None:
        """Fail the calls in Dask whose outcome will never come (all of them, or those of ``keys``)."""
        with self._cond:
            chosen = list(self._futures) if keys is None else [k for k in keys if k in self._futures]
            entries = [self._futures.pop(k) for k in chosen]
            for k in chosen:
                self._holds.pop(k, None)
        for call, future in entries:
            WAITING.pop(future.key, None)
            settle(call, exception=TaskError(f"task {call.name!r}: {why}"))
        if entries:
            self._settled(len(entries))

    def _settled(self, n: int) -> None:
        with self._cond:
            self._outstanding -= n
            if self._outstanding <= 0:
                self._cond.notify_all()

    def close(self, wait: bool = True) -> None:
        """Wait for the calls handed to Dask, stop the queue's threads, and close the client if the queue opened it.

        ``wait=False`` cancels the calls still in Dask (Dask drops those not started; a function already running
        on a worker runs to its end, its result dropped) and returns without waiting.
        """
        with self._cond:
            self._closed = True
            if wait:
                while self._outstanding > 0 and self._threads_alive():
                    self._cond.wait(_HEALTH_CHECK)
            else:
                self._abandoned = True
                pending = self._pending + [entry for batch in self._linked for entry in batch]
                self._pending, self._linked = [], []
                live = list(self._futures.values())
            self._stopping = True
            self._cond.notify_all()
        self._finished.put(_STOP)
        if not wait:
            for key, call, _ in pending:
                WAITING.pop(key, None)
                settle(call, exception=abandoned(call))
            for call, future in live:
                WAITING.pop(future.key, None)
                settle(call, exception=abandoned(call))
            if live:
                self._cancel_in_dask([future for _, future in live])
        else:
            for thread in self._threads:
                thread.join()
        if self.owned and self.client.status not in ("closing", "closed"):
            try:
                self.client.close(timeout=_CLOSE_TIMEOUT if wait else 2.0)
            except Exception:
                log.debug("closing the Dask client for %s failed", self.address, exc_info=True)

    def _threads_alive(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)


