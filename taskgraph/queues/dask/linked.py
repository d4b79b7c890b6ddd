"""Calls handed to Dask linked to the calls they wait for, so that Dask's scheduler releases each on its workers
(``submit_linked``; the scheduler's side is :mod:`taskgraph.scheduler.linked`).

A batch becomes one Dask graph, sent in one message (``Client.get`` of the graph, without waiting): each call is a
Dask task whose arguments are the keys of the calls of its ``after`` (in the batch, or sent before and still in
Dask), so Dask starts it once they have returned, and never if one of them raised or was cancelled. A call of
``after`` that has already returned is not waited for; one that did not return (it raised, was cancelled, or
could not be sent) means the call is not sent at all: it is settled with an error, which the scheduler does not
use, because it has already ended the task as rule 1 says.

Dask forgets a key that no client holds, and refuses a whole graph that names a key it forgot, so the Dask future
of each call linked to is held until the call that waits for it has been collected.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from ...errors import SerializationError, TaskError
from ..base import Call
from ..futures import settle
from .events import STARTED_TOPIC, WAITING
from .outcomes import abandoned
from .remote import pack, run, run_after

__all__ = ["Linked", "not_returned"]

_Pending = tuple[str, Call, bytes]  # key, call, payload


def not_returned(call: Future[Any]) -> bool:
    """Whether a call is over without returning: it raised, was cancelled, or could not be sent."""
    return call.done() and (call.cancelled() or call.exception() is not None)


class Linked:
    """``submit_linked`` for :class:`~taskgraph.queues.dask.DaskQueue` (see the module)."""

    # kept by the queue
    client: Any
    track_start: bool
    window: int
    _cond: threading.Condition
    _futures: dict[str, tuple[Call, Any]]
    _linked: list[list[_Pending]]
    _key_of: dict[Call, str]  # each linked call's Dask key, until it is done
    _holds: dict[str, list[Any]]  # Dask futures held until the key's call is collected
    _closed: bool
    _abandoned: bool
    _threads: list[threading.Thread]
    _outstanding: int

    def _new_key(self, call: Call) -> str:
        raise NotImplementedError

    def _start_threads(self) -> None:
        raise NotImplementedError

    def _settled(self, n: int) -> None:
        raise NotImplementedError

    def _sent(self, live: list[tuple[str, Call]], futures: list[Any]) -> None:
        raise NotImplementedError

    def _refused(self, live: list[tuple[str, Call]], exc: Exception) -> None:
        raise NotImplementedError

    def submit_linked(self, calls: Sequence[Call]) -> list[Future[Any]]:
        """Take calls to run as Dask releases them: each once the calls of its ``after`` have returned.

        Each call in ``after`` is one of the same batch (earlier in it) or of one handed over before. A call that
        cannot be pickled fails at once, and what waits for it is not run.

        Returns:
            the calls, which the queue settles as for ``submit_call``.

        Raises:
            RuntimeError: the queue is closed.
        """
        topic = STARTED_TOPIC if self.track_start else None
        batch: list[_Pending] = []
        for call in calls:
            key = self._new_key(call)
            try:
                batch.append((key, call, pack(call, key, topic)))
            except SerializationError as exc:
                call.set_exception(exc)
        with self._cond:
            if self._closed:
                raise RuntimeError(f"{self!r} is closed")
            if not self._threads:
                self._start_threads()
            for key, call, _ in batch:
                self._key_of[call] = key
                if topic is not None:
                    WAITING[key] = call
            self._linked.append(batch)
            self._outstanding += len(batch)
            self._cond.notify_all()
        return list(calls)

    def _send_linked(self, batch: list[_Pending]) -> None:
        """In the submitter thread: send one batch as one Dask graph."""
        from dask._task_spec import Task, TaskRef

        if self._abandoned:  # close(wait=False) came while this batch was on its way
            for key, call, _ in batch:
                WAITING.pop(key, None)
                self._key_of.pop(call, None)
                settle(call, exception=abandoned(call))
            self._settled(len(batch))
            return
        graph: dict[str, Any] = {}
        live: list[tuple[str, Call]] = []
        holds: dict[str, list[Any]] = {}
        blocked: list[tuple[Call, Call]] = []
        in_graph: dict[Call, str] = {}
        with self._cond:  # so that the futures looked up here are not released before they are held
            for key, call, payload in batch:
                if call.done():  # cancelled before it left
                    continue
                deps: list[str] = []
                held: list[Any] = []
                blocker = None
                for after in call.after:
                    dep = in_graph.get(after)
                    if dep is None and not after.done():
                        entry = self._futures.get(self._key_of.get(after, ""))
                        if entry is not None:
                            dep = entry[1].key
                            held.append(entry[1])
                    if dep is not None:
                        deps.append(dep)
                    elif not after.done() or not_returned(after):  # (not done and not in Dask: cannot be)
                        blocker = after
                        break
                if blocker is not None:
                    blocked.append((call, blocker))
                    continue
                in_graph[call] = key
                graph[key] = Task(key, run_after, payload, *map(TaskRef, deps)) if deps else Task(key, run, payload)
                live.append((key, call))
                if held:
                    holds[key] = held
        for key, call, _ in batch:
            if call not in in_graph:
                WAITING.pop(key, None)
                self._key_of.pop(call, None)
        gone = len(batch) - len(live) - len(blocked)
        for call, blocker in blocked:
            settle(call, exception=TaskError(
                f"task {call.name!r} was not run: its prerequisite {blocker.name!r} did not return"))
        if gone or blocked:
            self._settled(gone + len(blocked))
        if not live:
            return
        try:
            futures = self.client.get(graph, [key for key, _ in live], sync=False, fifo_timeout=0)
        except Exception as exc:
            self._refused(live, exc)
            return
        with self._cond:
            self._holds.update(holds)
        self._sent(live, futures)
