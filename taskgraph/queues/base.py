"""The queue contract: what ``make`` asks of a place that runs tasks (``docs/queues.md``, "Writing a queue").

A queue is anything with ``submit(fn, /, *args, **kwargs)`` returning a :class:`concurrent.futures.Future` of the
call: every :class:`concurrent.futures.Executor` is one, and so is a ten-line object of your own. A queue never
touches a task: the scheduler moves tasks through their states from the futures, in its own thread. Optionally,
a queue has a ``capacity`` (the most calls kept in it), ``runs_inline`` (``make`` then calls functions itself),
``submit_call(call)`` (takes a :class:`Call`, which is the call's future and says when the call starts),
``submit_graph(calls)`` (takes a whole graph, edges included) and ``close(wait=True)``.

Cancelling a task cancels its call's future, and the queue drops or stops the call. A future whose call can no
longer be stopped is set running (``set_running_or_notify_cancel``): cancelling it then fails, and ``make`` waits
for the call. A queue that can stop a running call (a coroutine, a job in a store) leaves its future pending.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from typing import Any, Protocol, runtime_checkable

from .futures import PENDING, LightFuture
from .futures import settle as settled

__all__ = ["Queue", "BaseQueue", "Call", "nothing", "chain"]


def nothing(*args: Any, **kwargs: Any) -> None:
    """The function of a task that has none: it returns None."""
    return None


@runtime_checkable
class Queue(Protocol):
    """What ``make`` needs of a queue: a ``submit`` that returns a future. The rest is optional (see the module)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run ``fn(*args, **kwargs)`` somewhere, and return the future of its result."""


class Call(LightFuture):
    """One task's call, as the scheduler hands it to a queue's ``submit_call``: plain values, no task; and the
    future of its outcome, which the queue may settle and return as the future ``submit_call`` gives.

    Attributes:
        name: the task's name, for messages.
        key: the task's key (its name unless given): what names its job in a durable store.
        func: the function to call, or None for a task that has nothing to run (its result is None).
        args, kwargs: the arguments.
        after: for ``submit_graph``, the calls of the same batch this one waits for.
        token: an opaque object, the same for every call of one task (None for a call of no task).
        run: a number naming the scheduling run (one ``make``) the call belongs to; 0 for none.
    """

    __slots__ = ("name", "key", "func", "args", "kwargs", "after", "token", "run", "_report", "_began")

    def __init__(
        self, name: str, key: str, func: Callable[..., Any] | None, args: tuple[Any, ...], kwargs: Any,
        token: Any = None, run: int = 0, report: Callable[[Any], Any] | None = None, after: Sequence[Call] = (),
    ) -> None:
        self._state = PENDING  # LightFuture's fields, set here: this runs for every task a queue takes
        self._result = None
        self._exception = None
        self._done_callbacks = [report] if report is not None else []
        self._watched = False
        self.name = name
        self.key = key
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.after = after
        self.token = token
        self.run = run
        self._report = report
        self._began = False

    def started(self) -> None:
        """Say that the function has begun to run (from any thread, at most once): the task becomes RUNNING.

        A queue that cannot tell calls it when it accepts the call. Call it after
        :meth:`~concurrent.futures.Future.set_running_or_notify_cancel` returned True, so that a call cancelled
        while it waited never runs.
        """
        self._began = True
        if self._report is not None:
            self._report(self)

    def __repr__(self) -> str:
        return f"Call({self.name!r}, {getattr(self.func, '__qualname__', self.func)!r}, {self._state})"


class BaseQueue(Executor):
    """A base for queues: an :class:`~concurrent.futures.Executor` whose ``shutdown`` is :meth:`close`.

    Subclasses implement ``submit_call`` (then ``submit`` goes through it, as the call of no task), or ``submit``.
    """

    runs_inline: bool = False
    capacity: int | None = None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        name = getattr(fn, "__qualname__", repr(fn))
        return self.submit_call(Call(name, name, fn, args, kwargs))  # type: ignore[attr-defined]

    def close(self, wait: bool = True) -> None:
        """Release the queue's resources, first waiting for submitted calls to end; ``wait=False`` (``make``
        after a second Ctrl-C) returns at once, stopping what can be stopped and abandoning the rest."""

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.close(wait=wait and not cancel_futures)

    def __enter__(self) -> BaseQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def chain(
    source: Future[Any], target: Future[Any], convert: Callable[[Future[Any]], tuple[Any, BaseException | None]]
) -> Future[Any]:
    """Settle ``target`` as ``convert(source)`` says (a result, or an exception) once ``source`` is done, and return
    it; cancelling ``target`` cancels ``source``."""

    def settle(done: Future[Any]) -> None:
        if done.cancelled():
            target.cancel()
            return
        try:
            result, exception = convert(done)
        except Exception as exc:  # noqa: BLE001 - a conversion that fails is the call's outcome
            result, exception = None, exc
        settled(target, result, exception)

    def propagate(new: Future[Any]) -> None:
        if new.cancelled():
            source.cancel()

    source.add_done_callback(settle)
    target.add_done_callback(propagate)
    return target
