"""Tasks: finite-state machines joined by prerequisite edges.

A :class:`Task` holds a function to call, its arguments, its state in the machine declared in
:mod:`taskgraph.states`, its edges, its outcome and the history of its transitions. It knows nothing of queues:
:mod:`taskgraph.scheduler` moves the tasks of a run, and besides it only a user's ``run``, ``cancel`` and
``reset`` do. Every move goes through :meth:`Task._fire`, under one lock shared by all tasks, so that state,
outcome and history change together and two parties that race to move a task cannot both win.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from ._fsm import ENTRY, NEXT, allowed_events
from .errors import BlockedError, CancelledError, CycleError, TaskError, describe
from .files import Files, declare_files
from .outcome import LOCK as _LOCK
from .outcome import Outcome, call_back, print_transition
from .states import CANCELLED, DONE, EVENTS, FINAL_STATES, PENDING, QUEUED, RUNNING, State, Transition

__all__ = ["Task", "Transition"]

log = logging.getLogger("taskgraph")

_NO_KWARGS: Mapping[str, Any] = MappingProxyType({})
_LIST_LIMIT = 8  # prerequisite lists longer than this become dicts, so require() stays O(1)
#: How many times require() has added edges, in any task: the scheduler checks a ready task's prerequisites again
#: at dispatch only if this changed since its run began.
edges_added = 0
# event -> its moves, its code in a history, and whether it ends the task (each event has one destination)
_MOVES = {event: (NEXT[event], i, set(NEXT[event].values()) <= FINAL_STATES) for i, event in enumerate(EVENTS)}
_now = time.time
_pack = ENTRY.pack
_DISPATCH = _MOVES["dispatch"][1]
_DONE = _MOVES["done"][1]


class Task(Outcome):
    """A unit of work that may require other tasks, and a finite-state machine.

    A task starts PENDING. ``make`` runs it once its prerequisites are DONE, and it ends DONE (its function
    returned), FAILED (its function raised, or a prerequisite failed) or CANCELLED. :meth:`reset` takes a FAILED
    or CANCELLED task back to PENDING to be repaired and made again.

    Args:
        name: the task's name, used in messages, graphs and records.
        func: called as ``func(*args, **kwargs)`` to do the work; None makes a task that only groups its
            prerequisites.
        args: positional arguments for ``func``.
        kwargs: keyword arguments for ``func``.
        cancel_on_exception: if true, a task whose function raises ends CANCELLED rather than FAILED.
        cancel_on_result: called with the function's result; if it returns true the task ends CANCELLED.
        track: True prints each transition as ``name SOURCE->event->DEST``; a callable is called with the task
            and a :class:`Transition` instead.
        key: a stable key naming the task's job in a durable store; the name by default. A rerun finds the job
            again by it, and does not run again what is DONE there.
        inputs, outputs: files the task reads (paths or glob patterns) and writes (paths): ``make`` then does not
            run it while they are up to date (see ``docs/builds.md``). A prerequisite's outputs are inputs too.

    Raises:
        TypeError: the name is not a non-empty string, ``func`` is not callable, ``args``/``kwargs`` are not
            a sequence/mapping, or a file is not a path.
        ValueError: an output is a glob pattern, or also an input.
    """

    __slots__ = ("name", "key", "func", "args", "kwargs", "state", "result", "exception", "cancel_on_exception",
                 "cancel_on_result", "_track", "_prereqs", "_dependents", "_history", "_callbacks", "_owner",
                 "files", "__weakref__")

    name: str
    #: The state's name: ``task.state == "DONE"``.
    state: State
    #: What the function returned, once the task is DONE; None before.
    result: Any
    #: The exception the function raised (FAILED), or why the task was failed or cancelled; None otherwise.
    exception: BaseException | None
    #: The files it declares, or None.
    files: Files | None

    def __init__(
        self,
        name: str,
        func: Callable[..., Any] | None = None,
        *,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        cancel_on_exception: bool = False,
        cancel_on_result: Callable[[Any], bool] | None = None,
        track: bool | Callable[[Task, Transition], Any] = False,
        key: str | None = None,
        inputs: Iterable[Any] = (),
        outputs: Iterable[Any] = (),
    ) -> None:
        if type(name) is not str and not isinstance(name, str) or not name:
            raise TypeError(f"a task's name must be a non-empty string, not {describe(name)}")
        if func is not None and not callable(func):
            raise TypeError(f"task {name!r}: func must be callable or None, not {describe(func)}")
        if type(args) is not tuple:
            if isinstance(args, (str, bytes)):
                raise TypeError(f"task {name!r}: args must be a sequence of arguments, not {describe(args)}")
            args = tuple(args)
        if kwargs is not None and not isinstance(kwargs, Mapping):
            raise TypeError(f"task {name!r}: kwargs must be a mapping, not {describe(kwargs)}")
        if key is not None and (not isinstance(key, str) or not key):
            raise TypeError(f"task {name!r}: key must be a non-empty string or None, not {describe(key)}")
        if cancel_on_result is not None and not callable(cancel_on_result):
            raise TypeError(f"task {name!r}: cancel_on_result must be callable, not {describe(cancel_on_result)}")
        self.name = name
        self.key = key
        self.func = func
        self.args = args
        self.kwargs = dict(kwargs) if kwargs else _NO_KWARGS
        self.state = PENDING
        self.result = None
        self.exception = None
        self.cancel_on_exception = bool(cancel_on_exception)
        self.cancel_on_result = cancel_on_result
        self._track = print_transition if track is True else (track or None)
        self._prereqs: list[Task] | dict[Task, None] | tuple[Task, ...] = ()
        self._dependents: list[Task] | tuple[()] = ()
        # packed ENTRY after ENTRY, in bytes: untracked by the garbage collector, and none allocated until the
        # first transition (a task's history is a few entries, so appending makes a new one each time)
        self._history = b""
        self._callbacks: list[Callable[[Task], Any]] | None = None
        self._owner: Callable[[Task], Any] | None = None
        self.files = declare_files(name, inputs, outputs) if inputs or outputs else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r},{self.func!r},state={self.state.value!r})"

    def require(self, *tasks: Task) -> Task:
        """Make this task wait for ``tasks``: it runs only once each of them is DONE. Twice is the same as once.

        Returns:
            this task, so that calls can be chained.

        Raises:
            TypeError: something other than a Task was given.
            CycleError: a task was asked to require itself.
        """
        global edges_added
        for t in tasks:
            if not isinstance(t, Task):
                raise TypeError(f"task {self.name!r}: require() takes tasks, not {describe(t)}")
        if self in tasks:
            raise CycleError([self.name, self.name], [self])
        with _LOCK:
            edges_added += 1
            pre = self._prereqs
            # the common case: a new task's one or two prerequisites, at once (a dedup would allocate a dict); the
            # arguments' tuple is kept as it is: no list per task, until more are added
            if not pre and (len(tasks) == 1 or len(tasks) == 2 and tasks[0] is not tasks[1]):
                self._prereqs = pre = tasks
                for t in pre:
                    deps = t._dependents  # () until the first, then a list that is never empty
                    if deps:
                        deps.append(self)
                    else:
                        t._dependents = [self]
                return self
            for t in tasks:
                if not pre:  # the first: () becomes a list
                    pre = self._prereqs = [t]
                elif t in pre:
                    continue
                elif type(pre) is dict:
                    pre[t] = None
                elif len(pre) < _LIST_LIMIT:
                    if type(pre) is tuple:
                        pre = self._prereqs = list(pre)
                    pre.append(t)  # type: ignore[union-attr]
                else:
                    pre = self._prereqs = dict.fromkeys(pre)
                    pre[t] = None
                deps = t._dependents  # () until the first, then a list that is never empty
                if deps:
                    deps.append(self)
                else:
                    t._dependents = [self]
        return self

    def then(self, name_or_task: str | Task, func: Callable[..., Any] | None = None, **options: Any) -> Task:
        """Add a task that requires this one, and return it.

        Args:
            name_or_task: an existing task, or the name of a new one.
            func: the new task's function.
            options: the new task's other keyword arguments (``args``, ``kwargs``, ``track``, ...).

        Raises:
            TypeError: ``func`` or options were given with an existing task.
        """
        if isinstance(name_or_task, Task):
            if func is not None or options:
                raise TypeError(f"then({name_or_task.name!r}): pass func and options only when naming a new task")
            return name_or_task.require(self)
        return type(self)(name_or_task, func, **options).require(self)

    @property
    def prerequisites(self) -> tuple[Task, ...]:
        """The tasks this one requires, in the order they were required."""
        return tuple(self._prereqs)

    @property
    def dependents(self) -> tuple[Task, ...]:
        """The tasks that require this one."""
        return tuple(self._dependents)

    def _fire(
        self,
        event: str,
        strict: bool = True,
        result: Any = None,
        exception: BaseException | None = None,
        only_from: State | None = None,
        owner: Callable[[Task], Any] | None = None,
    ) -> bool:
        """Move along ``event``, setting the outcome with the state. The only place a task changes state.

        Args:
            only_from: move only from this state: a claim or a cancel that must not touch a task some other party
                has taken meanwhile (checked and moved under the lock, in one step).
            owner: who holds the task now, told if it is cancelled before it ends (a scheduler that handed its call
                to a queue, which must drop or stop the call); set in the same step, if the task moved.

        Returns:
            True if the task moved; False if ``event`` is not allowed now (or the task is not in ``only_from``)
            and ``strict`` is false.

        Raises:
            TaskError: ``event`` is not allowed in the current state and ``strict`` is true.
        """
        moves, code, final = _MOVES[event]
        with _LOCK:
            source = self.state
            if source not in moves or (only_from is not None and source is not only_from):
                if not strict:
                    return False
                raise self._refusal(event, source)
            self.state = dest = moves[source]
            self.result = result
            self.exception = exception
            when = _now()
            self._history += _pack(when, code)
            if final:
                callbacks = self._callbacks
                self._callbacks = None
                owner = self._owner  # to be told below, if this is a cancel
                if owner is not None:
                    self._owner = None
            else:
                callbacks = None
                if owner is not None:
                    self._owner = owner
                    owner = None
        if self._track is not None:
            self._track(self, Transition(when, source, event, dest))
        if owner is not None and dest is CANCELLED:
            owner(self)
        if callbacks:
            for callback in callbacks:
                call_back(callback, self)
        return True

    def _refusal(self, event: str, state: State) -> TaskError:
        allowed = ", ".join(allowed_events(state))
        hint = f"it allows: {allowed}" if allowed else f"{state} is final"
        return TaskError(f"task {self.name!r}: cannot {event!r} while {state} ({hint})")

    def _run_here(self, returned: Callable[[Task, Any], Any] | None = None) -> bool:
        """Claim this task from PENDING, call its function here and record how it ended (``returned(task,
        result)``, if given, records a result instead: a build checks the outputs first). One step, for
        :meth:`run` and the scheduler's inline dispatch, where it is most of the cost per task.

        A ``KeyboardInterrupt`` or ``SystemExit`` raised by the function cancels the task and propagates.

        Returns:
            False if the task was not PENDING (another party took it, or it was cancelled): nothing ran.
        """
        with _LOCK:
            if self.state is not PENDING:
                return False
            self.state = RUNNING
            when = _now()
            self._history += _pack(when, _DISPATCH)
        if self._track is not None:
            self._track(self, Transition(when, PENDING, "dispatch", RUNNING))
        try:
            func = self.func
            kwargs = self.kwargs  # ** on a mapping that is not a dict copies it: most tasks have none
            result = None if func is None else func(*self.args, **kwargs) if kwargs else func(*self.args)
        except Exception as exc:
            self._finish(None, exc)
        except BaseException as exc:
            self._fire("cancel", False, None, exc)
            raise
        else:
            if returned is not None:
                returned(self, result)
                return True
            if self.cancel_on_result is not None:
                self._finish(result)
                return True
            with _LOCK:  # RUNNING -> DONE, unless cancelled meanwhile (the function's thread is this one)
                if self.state is not RUNNING:
                    return True
                self.state = DONE
                self.result = result
                when = _now()
                self._history += _pack(when, _DONE)
                callbacks = self._callbacks
                self._callbacks = None
                self._owner = None
            if self._track is not None:
                self._track(self, Transition(when, RUNNING, "done", DONE))
            if callbacks:
                for callback in callbacks:
                    call_back(callback, self)
        return True

    def _finish(self, result: Any = None, exception: BaseException | None = None) -> bool:
        """Record the outcome of running: DONE, FAILED, or CANCELLED as the cancel options say.

        Returns:
            False if the task was no longer RUNNING (cancelled while it ran): the outcome is dropped.
        """
        if exception is None:
            if self.cancel_on_result is not None:
                try:
                    cancel = self.cancel_on_result(result)
                except Exception as exc:
                    return self._fire("fail", False, None, exc)
                if cancel:
                    return self._fire("cancel", False, result)
            return self._fire("done", False, result)
        return self._fire("cancel" if self.cancel_on_exception else "fail", False, None, exception)

    def run(self) -> Any:
        """Run the task here and now, in the calling thread.

        Returns:
            the function's result.

        Raises:
            BlockedError: a prerequisite is not DONE; each such prerequisite is listed with its state.
            TaskError: the task is not PENDING (a QUEUED task belongs to its queue: join it).
            CancelledError: the task was cancelled while it ran.
            Exception: whatever the function raised (the task is then FAILED).
        """
        blocked = [(p.name, p.state.value) for p in self._prereqs if p.state is not DONE]
        if blocked:
            raise BlockedError(self.name, blocked)
        if not self._run_here():
            if self.state is QUEUED:
                raise TaskError(f"task {self.name!r}: cannot run it while QUEUED: a queue holds it; join() it instead")
            raise self._refusal("dispatch", self.state)
        return self._outcome()

    def cancel(self) -> bool:
        """Cancel the task unless it is already final.

        A PENDING or QUEUED task will not run. A RUNNING task is CANCELLED at once, its result will be dropped,
        and a queue that can stop its call (asyncio, Dask, a store) does; a thread cannot be stopped and runs on.

        Returns:
            True if this call cancelled the task, False if it was already final.
        """
        return self._fire("cancel", False, None, CancelledError(f"task {self.name!r} was cancelled"))

    def reset(self) -> Task:
        """Take a FAILED or CANCELLED task back to PENDING, to be repaired and made again; and with it the
        dependents it blocked (failed or cancelled without running because of this task's end), and theirs.

        Returns:
            this task.

        Raises:
            TaskError: the task is not FAILED or CANCELLED.
        """
        ended = [(self, self.exception)]
        self._fire("retry")
        while ended:
            task, why = ended.pop()
            for d in task._dependents if why is not None else ():
                blocked = d.exception  # a blocked dependent's error has its prerequisite's error as its cause
                if blocked is not None and blocked.__cause__ is why and d._fire("retry", False):
                    ended.append((d, blocked))
        return self

    @property
    def track(self) -> Callable[[Task, Transition], Any] | None:
        """What is called with the task and each :class:`Transition`, or None. Setting True prints them."""
        return self._track

    @track.setter
    def track(self, value: bool | Callable[[Task, Transition], Any] | None) -> None:
        if value is not None and value is not False and value is not True and not callable(value):
            raise TypeError(f"task {self.name!r}: track must be True, False, None or a callable, not {describe(value)}")
        self._track = print_transition if value is True else (value or None)

