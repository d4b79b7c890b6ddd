"""A Dask cluster as a queue: ``dask://HOST:PORT``, ``dask+tls://HOST:PORT``, or a ``distributed.Client``.

Each task becomes one Dask future. Two threads of the queue's own keep ``make``'s thread free:

* ``submit`` pickles the task's call (so that a call that cannot be sent fails only its task) and hands it to the
  *submitter* thread, which sends everything waiting in one ``Client.map`` (one message, one graph update on the
  scheduler) and passes cancellations on;
* the *collector* thread takes the futures as Dask finishes them, gathers the results of all that finished
  together in one round trip, and records each outcome on its task;
* the worker tells the client when a task starts (an event on the scheduler, see ``track_start``), so a task is
  QUEUED while it waits in Dask and RUNNING while its function runs.

The worker side is :func:`_run`, so workers need taskgraph installed, as they need whatever the tasks import.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import os
import pickle
import threading
import time
import traceback
import uuid
from functools import partial
from queue import Empty, SimpleQueue
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult

from ..errors import CancelledError, RemoteTaskError, SerializationError, TaskError, describe
from ..states import CANCELLED, FINAL_STATES, QUEUED
from .base import BaseQueue, finish, start
from .processes import unpicklable_part

if TYPE_CHECKING:
    from ..task import Task

__all__ = ["DaskQueue", "open_dask", "connect", "INSTALL_HINT", "STARTED_TOPIC"]

log = logging.getLogger("taskgraph")

#: What to run when the ``distributed`` package is missing.
INSTALL_HINT = "pip install 'taskgraph-fsm[dask]'"
#: The scheduler event topic on which workers announce that a task started (``track_start``).
STARTED_TOPIC = "taskgraph-started"
_STOP = object()  # wakes the collector to see whether it may end
# The least backlog: a task's round trip through the scheduler takes milliseconds, and fewer tasks in flight leave
# workers idle (a 10,000-task graph of short tasks on 4 threads: 170 tasks/s with 8, 450-500 with 64 to 1,024).
_MIN_CAPACITY = 64
_CAPACITY_REFRESH = 1.0  # seconds between looks at the cluster's thread count
_HEALTH_CHECK = 0.5  # seconds the collector waits for a finished future before it checks the client
_GATHER_ONE = 60.0  # seconds to fetch one result, when fetching a batch failed
_CLOSE_TIMEOUT = 10.0  # seconds close() gives an owned client to disconnect
_ABANDONED = "the Dask queue was closed without waiting for it"

# The tasks handed to Dask that have not started yet, by Dask key, for the start events of every client.
_WAITING: dict[str, Task] = {}
_SUBSCRIBED: set[str] = set()  # ids of the clients subscribed to STARTED_TOPIC
_SUBSCRIBE_LOCK = threading.Lock()
_WATCHERS: set[asyncio.Future[None]] = set()  # the coroutines waiting for futures to finish (see _watch)


def import_distributed() -> Any:
    """The ``distributed`` package, or an ImportError that says how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(f"the Dask queue needs the distributed package: {INSTALL_HINT}") from exc
    return distributed


class DaskQueue(BaseQueue):
    """Run tasks on a Dask cluster, through a ``distributed.Client``.

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
    ) -> None:
        distributed = import_distributed()
        if capacity is not None and (not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1):
            raise ValueError(f"a Dask queue's capacity must be a positive whole number or None, not {capacity!r}")
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
        self._fixed_capacity = capacity
        self._capacity = capacity or max(_MIN_CAPACITY, 2 * _total_threads(self.client, ask=True))
        self._capacity_checked = time.monotonic()
        self._cond = threading.Condition()
        self._pending: list[tuple[str, Task, bytes]] = []  # handed over by make, not yet sent to Dask
        self._cancels: list[Any] = []  # futures of cancelled tasks, to cancel in Dask
        self._futures: dict[str, tuple[Task, Any]] = {}  # sent to Dask and not yet collected, by key
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

    # ------------------------------------------------------------------ capacity

    @property
    def capacity(self) -> int:
        """The most tasks ``make`` keeps handed over: as given, or twice the cluster's threads (at least 64)."""
        if self._fixed_capacity is not None:
            return self._fixed_capacity
        now = time.monotonic()
        if now - self._capacity_checked >= _CAPACITY_REFRESH:
            self._capacity_checked = now
            threads = _total_threads(self.client, ask=False)
            if threads >= 0:
                self._capacity = max(_MIN_CAPACITY, 2 * threads)
        return self._capacity

    @capacity.setter
    def capacity(self, value: int | None) -> None:
        self._fixed_capacity = value
        if value is not None:
            self._capacity = value

    # ------------------------------------------------------------------ handing tasks over

    def submit(self, task: Task) -> None:
        key = f"{task.name}-{self._token}-{next(self._numbers)}"
        try:
            payload = _pack(task, key, STARTED_TOPIC if self.track_start else None)
        except SerializationError as exc:
            task._fire("fail", False, None, exc)
            return
        if not self.track_start and not start(task):
            return
        with self._cond:
            if self._closed:
                raise RuntimeError(f"{self!r} is closed")
            if not self._threads:
                self._start_threads()
            if self.track_start:
                _WAITING[key] = task
            self._pending.append((key, task, payload))
            self._outstanding += 1
            if len(self._pending) == 1:
                self._cond.notify_all()

    def _start_threads(self) -> None:
        if self.track_start:
            _subscribe(self.client)
        for target, role in ((self._submitter, "submit"), (self._collector, "collect")):
            thread = threading.Thread(target=target, name=f"taskgraph-dask-{role}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _submitter(self) -> None:
        """Send waiting tasks to Dask, all at once, and cancel the futures of cancelled tasks."""
        while self._submit_next():
            pass

    def _submit_next(self) -> bool:
        """Wait for work, and do it; False once the queue is stopping and nothing is left to send."""
        with self._cond:
            while not self._pending and not self._cancels and not self._stopping:
                self._cond.wait()
            batch, self._pending = self._pending, []
            cancels, self._cancels = self._cancels, []
        if cancels:
            self._cancel_in_dask(cancels)
        if batch:
            self._send(batch)
        return bool(batch or cancels)

    def _send(self, batch: list[tuple[str, Task, bytes]]) -> None:
        if self._abandoned:  # close(wait=False) came while this batch was on its way
            for key, task, _ in batch:
                _WAITING.pop(key, None)
                task._fire("cancel", False, None, CancelledError(f"task {task.name!r} was cancelled: {_ABANDONED}"))
            return
        live = [entry for entry in batch if entry[1].state not in FINAL_STATES]
        if len(live) < len(batch):  # cancelled before they left
            for key, _, _ in batch:
                _WAITING.pop(key, None)
            self._settled(len(batch) - len(live))
        if not live:
            return
        keys = [key for key, _, _ in live]
        try:
            futures = self.client.map(_run, [payload for _, _, payload in live], key=keys, pure=False)
        except Exception as exc:
            for key, task, _ in live:
                _WAITING.pop(key, None)
                error = TaskError(f"task {task.name!r}: the Dask client for {self.address} would not take it: {exc}")
                error.__cause__ = exc
                _end(task, error)
            self._settled(len(live))
            return
        with self._cond:
            for (key, task, _), future in zip(live, futures, strict=True):
                self._futures[key] = (task, future)
            abandoned = self._abandoned
        if abandoned:
            for _, task, _ in live:
                task._fire("cancel", False, None, CancelledError(f"task {task.name!r} was cancelled: {_ABANDONED}"))
            self._cancel_in_dask(futures)
        _watch(self.client, futures, self._finished.put)
        for (_, task, _), future in zip(live, futures, strict=True):
            task.add_done_callback(partial(self._task_ended, future))

    def _task_ended(self, future: Any, task: Task) -> None:
        """A task is final: if it was cancelled, have its future cancelled too (by the submitter thread)."""
        if task.state is CANCELLED and not future.done():
            with self._cond:
                self._cancels.append(future)
                self._cond.notify_all()

    def _cancel_in_dask(self, futures: list[Any]) -> None:
        try:
            self.client.cancel(futures)
        except Exception:  # the client is closing or lost its scheduler: the futures are cancelled anyway
            log.debug("could not cancel %d Dask future(s)", len(futures), exc_info=True)

    # ------------------------------------------------------------------ collecting outcomes

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
                    self._abandon(f"the Dask client for {self.address} was closed while the task was in Dask")
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
        with self._cond:
            entries = [(self._futures.pop(f.key)[0], f) for f in batch if f.key in self._futures]
        values = self._gather([f for task, f in entries if f.status == "finished" and task.state not in FINAL_STATES])
        settled = 0
        for task, future in entries:
            try:
                settled += self._outcome(task, future, values.get(future.key))
            except Exception as exc:  # never leave a task unsettled
                log.exception("taskgraph: recording the outcome of task %r from Dask failed", task.name)
                _end(task, TaskError(f"task {task.name!r}: recording its outcome from Dask failed: {exc}"))
                settled += 1
        self._settled(settled)

    def _outcome(self, task: Task, future: Any, gathered: tuple[bool, Any] | None) -> bool:
        """Record how a future ended on its task. False if Dask lost the result and computes it again."""
        status = future.status
        if status in ("lost", "pending"):  # a worker holding the result died: Dask runs the task again
            with self._cond:
                self._futures[future.key] = (task, future)
            _watch(self.client, [future], self._finished.put)
            return False
        _WAITING.pop(future.key, None)
        if (task.state is QUEUED and not start(task)) or task.state in FINAL_STATES:
            return True  # cancelled meanwhile: the outcome is dropped
        if status == "finished" and gathered is not None and gathered[0]:
            try:
                result = _loads(gathered[1])
            except Exception as exc:
                error = SerializationError(f"task {task.name!r}: its result could not be unpickled here: {exc}")
                error.__cause__ = exc
                finish(task, exception=error)
            else:
                finish(task, result)
        elif status == "finished":
            _end(task, self._explain(task, gathered[1] if gathered else TaskError("Dask sent no result")))
        elif status == "error":
            _end(task, self._explain(task, _exception_of(future)))
        else:
            _end(task, self._explain(task, _cancellation(future)))
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

    def _explain(self, task: Task, exc: BaseException) -> BaseException:
        """The exception to record for a task: its function's, or one that says what Dask did."""
        kind = type(exc).__name__
        if kind == "KilledWorker":
            error: BaseException = TaskError(
                f"task {task.name!r}: the Dask worker running it died (killed, out of memory, or crashed), and so "
                f"did every worker Dask retried it on; Dask gave up: {exc}"
            )
        elif isinstance(exc, SerializationError) and not str(exc).startswith("task "):
            error = SerializationError(f"task {task.name!r}: {exc}")
        elif isinstance(exc, ModuleNotFoundError) and exc.name and exc.name.split(".")[0] == "taskgraph":
            error = TaskError(
                f"task {task.name!r}: the Dask worker cannot import taskgraph ({exc}); install taskgraph-fsm where "
                "the workers run"
            )
        elif kind in ("CancelledError", "FutureCancelledError") and not isinstance(exc, CancelledError):
            reason = getattr(exc, "reason", None)
            if reason == "scheduler-connection-lost":
                why = f"the connection to the Dask scheduler at {self.address} was lost; the task's outcome is unknown"
            else:
                why = f"Dask cancelled it ({reason or 'without a reason'}), not taskgraph"
            error = TaskError(f"task {task.name!r}: {why}")
        else:
            return exc
        error.__cause__ = exc
        return error

    def _abandon(self, why: str, keys: list[str] | None = None) -> None:
        """Fail the tasks in Dask whose outcome will never come (all of them, or those of ``keys``)."""
        with self._cond:
            chosen = list(self._futures) if keys is None else [k for k in keys if k in self._futures]
            entries = [self._futures.pop(k) for k in chosen]
        for task, future in entries:
            _WAITING.pop(future.key, None)
            if task.state is QUEUED:
                start(task)
            _end(task, TaskError(f"task {task.name!r}: {why}"))
        if entries:
            self._settled(len(entries))

    def _settled(self, n: int) -> None:
        with self._cond:
            self._outstanding -= n
            if self._outstanding <= 0:
                self._cond.notify_all()

    # ------------------------------------------------------------------ closing

    def close(self, wait: bool = True) -> None:
        """Wait for the tasks handed to Dask, stop the queue's threads, and close the client if the queue opened it.

        ``wait=False`` cancels the tasks still in Dask (Dask drops those not started; a function already running
        on a worker runs to its end, its result dropped) and returns without waiting.
        """
        with self._cond:
            self._closed = True
            if wait:
                while self._outstanding > 0 and self._threads_alive():
                    self._cond.wait(_HEALTH_CHECK)
            else:
                self._abandoned = True
                pending, self._pending = self._pending, []
                live = list(self._futures.values())
            self._stopping = True
            self._cond.notify_all()
        self._finished.put(_STOP)
        if not wait:
            for key, task, _ in pending:
                _WAITING.pop(key, None)
                task._fire("cancel", False, None, CancelledError(f"task {task.name!r} was cancelled: {_ABANDONED}"))
            for task, future in live:
                _WAITING.pop(future.key, None)
                task._fire("cancel", False, None, CancelledError(f"task {task.name!r} was cancelled: {_ABANDONED}"))
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


# ------------------------------------------------------------------ connecting

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def open_dask(url: SplitResult) -> DaskQueue:
    """The queue of a ``dask://HOST:PORT`` or ``dask+tls://HOST:PORT`` URL (see docs/queues.md).

    Options: ``timeout`` (seconds to connect, 10), ``capacity`` (a whole number), ``track_start`` (true or false);
    for ``dask+tls://`` also ``ca``, ``cert`` and ``key``, the files of the certificate authority and of the client's
    certificate and key (without them, Dask's own TLS settings apply).

    Raises:
        ValueError: the URL is malformed or has an unknown option.
        ConnectionError: no scheduler answered.
        ImportError: ``distributed`` is not installed.
    """
    from .registry import _options, redact

    text = redact(url.geturl())
    tls = url.scheme.lower() == "dask+tls"
    example = f"{url.scheme}://127.0.0.1:8786"
    if "@" in url.netloc:
        raise ValueError(f"{text!r}: a Dask scheduler address takes no user name or password; write {example}")
    options = _options(url, {"timeout", "capacity", "track_start"} | ({"ca", "cert", "key"} if tls else set()))
    if url.path.strip("/") or url.fragment:
        raise ValueError(f"{text!r}: a Dask scheduler address is a host and a port, nothing after; write {example}")
    try:
        host, port = url.hostname, url.port
    except ValueError:
        host, port = url.hostname, -1
    if not host:
        raise ValueError(f"{text!r}: say the scheduler's host and port, like {example}")
    if port is None:
        raise ValueError(f"{text!r}: say the scheduler's port, like {url.scheme}://{url.netloc}:8786 (Dask's default)")
    if not 0 < port < 65536:
        raise ValueError(f"{text!r}: the port must be a whole number from 1 to 65535, like {example}")
    timeout = _number(text, "timeout", options.get("timeout"), 10.0, float)
    capacity = _number(text, "capacity", options.get("capacity"), None, int)
    flag = options.get("track_start", "true").strip().lower()
    if flag not in _TRUE | _FALSE:
        raise ValueError(f"{text!r}: track_start must be true or false, not {options['track_start']!r}")
    security = None
    if tls:
        import_distributed()
    if tls and any(options.get(name) for name in ("ca", "cert", "key")):
        for name in ("ca", "cert", "key"):
            path = options.get(name)
            if path and not os.path.isfile(path):
                raise ValueError(f"{text!r}: the {name} file {path!r} does not exist")
        distributed = import_distributed()
        security = distributed.Security(
            tls_ca_file=options.get("ca") or None,
            tls_client_cert=options.get("cert") or None,
            tls_client_key=options.get("key") or None,
            require_encryption=True,
        )
    elif tls and not _tls_configured():
        raise ValueError(
            f"{text!r}: say where the certificates are, like {url.scheme}://{url.netloc}?ca=CA.pem&cert=CERT.pem"
            "&key=KEY.pem (or set Dask's distributed.comm.tls options)"
        )
    where = f"[{host}]" if ":" in host else host
    address = f"{'tls' if tls else 'tcp'}://{where}:{port}"
    return DaskQueue(address, capacity=capacity, timeout=timeout, track_start=flag in _TRUE, security=security)


def _tls_configured() -> bool:
    """Whether Dask's configuration names a certificate authority for clients."""
    import dask

    return bool(dask.config.get("distributed.comm.tls.ca-file", None))


def _number(text: str, name: str, value: str | None, default: Any, kind: type) -> Any:
    """A positive number from a URL option, or ``default`` when it is absent."""
    if value is None:
        return default
    try:
        number = kind(value)
    except ValueError:
        number = 0
    if not number > 0:
        what = "whole number" if kind is int else "number of seconds"
        raise ValueError(f"{text!r}: {name} must be a positive {what}, not {value!r}")
    return number



def connect(address: str, timeout: float, security: Any = None) -> Any:
    """A new client of the scheduler at ``address``, or a ConnectionError that says what to do."""
    distributed = import_distributed()
    try:
        return distributed.Client(address, timeout=timeout, security=security, set_as_default=False)
    except Exception as exc:
        _close_unborn_client(exc, distributed.Client)
        if not isinstance(exc, (OSError, TimeoutError, asyncio.TimeoutError)):
            raise
        raise ConnectionError(
            f"no Dask scheduler answered at {address} within {timeout:g} s ({exc}); start one with `dask scheduler` "
            f"and its workers with `dask worker {address}`, or check the host and port (and the scheme: "
            "dask+tls:// for a scheduler that requires TLS)"
        ) from exc


def _close_unborn_client(exc: BaseException, kind: Any) -> None:
    """Stop what the client whose constructor raised ``exc`` started: Dask leaves its event loop thread running."""
    tb = exc.__traceback__
    while tb is not None:
        client = tb.tb_frame.f_locals.get("self")
        if isinstance(client, kind):
            try:
                client.close(timeout=1)
                runner = getattr(client, "_loop_runner", None)
                if runner is not None:
                    runner.stop()
            except Exception:
                log.debug("cleaning up a Dask client that could not connect failed", exc_info=True)
            return
        tb = tb.tb_next


def _total_threads(client: Any, ask: bool) -> int:
    """The cluster's total thread count: asked of the scheduler, or as the client last heard it (-1 if unknown)."""
    if ask:
        try:
            return sum(client.nthreads().values())
        except Exception:
            return 0
    info = getattr(client, "_scheduler_identity", None)  # refreshed by the client every 2 s
    threads = info.get("total_threads") if isinstance(info, dict) else None
    return threads if isinstance(threads, int) else -1


def _subscribe(client: Any) -> None:
    """Have ``client`` pass the start events of its workers' tasks to :func:`_on_started`, once per client."""
    with _SUBSCRIBE_LOCK:
        if client.id in _SUBSCRIBED:
            return
        client.subscribe_topic(STARTED_TOPIC, _on_started)
        _SUBSCRIBED.add(client.id)


def _watch(client: Any, futures: list[Any], put: Any) -> None:
    """Call ``put(future)`` as each future finishes, errs or is cancelled, in the client's event loop thread.

    One coroutine per future, started from one callback for them all: a third of what ``add_done_callback``
    costs (a callback and a thread-pool hand-off per future). Falls back to it if Dask's futures change.
    """
    if not all(hasattr(f, "_state") and hasattr(f._state, "wait") for f in futures[:1]):
        for future in futures:
            future.add_done_callback(put)
        return

    async def when_done(future: Any) -> None:
        while future.status == "pending":
            await future._state.wait()
        put(future)

    def start_watching() -> None:
        for future in futures:
            watcher = asyncio.ensure_future(when_done(future))
            _WATCHERS.add(watcher)  # asyncio keeps only weak references to its tasks
            watcher.add_done_callback(_WATCHERS.discard)

    client.loop.add_callback(start_watching)


def _on_started(event: tuple[float, Any]) -> None:
    """On a client's event loop: a worker started the task of a key; mark it RUNNING if it is still QUEUED."""
    task = _WAITING.pop(event[1], None)
    if task is not None:
        start(task)


def _exception_of(future: Any) -> BaseException:
    """The exception of a future that erred, with the remote traceback Dask sent."""
    exc = future.exception()
    tb = future.traceback()
    if not isinstance(exc, BaseException):
        return TaskError(f"Dask reported an error without an exception: {exc!r}")
    return exc.with_traceback(tb) if tb is not None else exc


def _cancellation(future: Any) -> BaseException:
    """The CancelledError of a cancelled future, with Dask's reason."""
    try:
        future.result(timeout=_HEALTH_CHECK)
    except BaseException as exc:
        return exc
    return TaskError("the Dask future ended without a result")


def _end(task: Task, exc: BaseException) -> None:
    """Record how a task ended without a result: a KeyboardInterrupt cancels it, anything else fails it."""
    if task.state is QUEUED:
        start(task)
    if isinstance(exc, KeyboardInterrupt):
        task._fire("cancel", False, None, exc)
    else:
        finish(task, exception=exc)


# ------------------------------------------------------------------ the two ends of a call


def _dumps(value: Any) -> bytes:
    """Pickle as Dask does: by reference where pickle can, by value (cloudpickle) for ``__main__`` and lambdas."""
    import cloudpickle

    try:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        data = None
    if data is None or b"__main__" in data or cloudpickle.list_registry_pickle_by_value():
        data = cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return data


_loads = pickle.loads


def _pack(task: Task, key: str, topic: str | None) -> bytes:
    """The pickled call of ``task`` (as Dask pickles: by reference, or by value with cloudpickle)."""
    try:
        return _dumps((topic, key, task.name, task.func, task.args, dict(task.kwargs)))
    except Exception:
        what, exc = unpicklable_part(task, _dumps)
        raise SerializationError(
            f"task {task.name!r}: cannot send {what} to a Dask worker ({exc}); Dask pickles a task's function and "
            "arguments: use picklable arguments, or a threads:// queue"
        ) from exc


def _run(payload: bytes) -> bytes:
    """On a Dask worker: announce the start, make the call, and return its result pickled.

    Errors are raised outside ``except`` blocks, so that Dask, which pickles an exception with its whole chain,
    does not meet the exception that caused them.
    """
    try:
        topic, key, name, func, args, kwargs = _loads(payload)
    except Exception as exc:
        problem: BaseException | None = SerializationError(
            f"the Dask worker could not unpickle the task's function or arguments: {exc}"
        )
    else:
        problem = None
    if problem is not None:
        raise problem
    if topic is not None:
        from distributed import get_worker

        get_worker().log_event(topic, key)
    try:
        result = None if func is None else func(*args, **kwargs)
        if inspect.isawaitable(result):
            result = asyncio.run(_wait_for(result))
    except Exception as exc:
        if _picklable_chain(exc):
            raise
        kind = type(exc)
        problem = RemoteTaskError(f"{kind.__module__}.{kind.__qualname__}", str(exc), traceback.format_exc())
    if problem is not None:
        raise problem
    try:
        return _dumps(result)
    except Exception as exc:
        problem = SerializationError(
            f"task {name!r}: its result ({describe(result)}) cannot be pickled to send it back from the Dask worker: "
            f"{exc}"
        )
    raise problem


def _picklable_chain(exc: BaseException) -> bool:
    """Whether an exception and those it chains (its cause and context) can all be pickled."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        try:
            _dumps(current)
        except Exception:
            return False
        current = current.__cause__ or current.__context__
    return True


async def _wait_for(awaitable: Any) -> Any:
    return await awaitable
