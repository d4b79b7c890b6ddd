"""Lifecycle hooks of a durable queue (``queue.add_hook``): who is called, where, and what a failing hook may do.

A hook is any object with some of these methods; each is called where its event happens:

- ``on_enqueue(job)``: in the caller's process, before the job is stored (``job`` is the
  :class:`~taskgraph.stores.records.NewJob` about to be written). Raising refuses the submission: the error
  reaches the caller of ``delay``/``enqueue`` and nothing is stored.
- ``before_run(ctx)`` and ``after_run(ctx, outcome)``: in the worker, around each run of a job (``ctx`` is the
  :class:`~taskgraph.JobContext` that :func:`taskgraph.current_job` returns inside the job; ``outcome`` is
  ``("DONE", result)`` or ``("FAILED", error)``).
  For ``thread`` jobs they run in the job's thread, for ``async`` jobs on the worker's event loop (hold it briefly),
  for ``process`` jobs in the job's worker process: there only the hooks the app adds as it is imported
  (``queue.add_hook`` at module level) are known.
- ``on_state_change(record, old, new)``: in the process that changed the job's status (a worker claiming or
  finishing it, a caller cancelling or retrying it). A worker calls it in its loop's thread (a slow hook slows the
  worker) with the record as it claimed it: ``QUEUED -> RUNNING`` at each claim, then ``RUNNING -> DONE`` (once
  the store accepted the result), ``RUNNING -> FAILED``, or ``RUNNING -> QUEUED`` (a retry, or a job handed back
  at a stop).

Hooks run in the order they were added. Outside ``on_enqueue``, an exception in a hook is logged with the hook's
name and is otherwise ignored: it never loses, blocks or repeats a job.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

__all__ = ["HOOK_METHODS", "Hooks"]

log = logging.getLogger("taskgraph")

HOOK_METHODS = ("on_enqueue", "before_run", "after_run", "on_state_change")


class Hooks:
    """The hooks of one queue, in the order they were added."""

    __slots__ = ("_hooks", "_lock")

    def __init__(self) -> None:
        self._hooks: tuple[Any, ...] = ()
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._hooks)

    def add(self, hook: Any) -> None:
        """Add ``hook``, which must have at least one of the hook methods (callable)."""
        found = [name for name in HOOK_METHODS if callable(getattr(hook, name, None))]
        if not found:
            raise TypeError(
                f"{hook!r} is not a hook: give it at least one of the methods {', '.join(HOOK_METHODS)}"
            )
        with self._lock:
            self._hooks = (*self._hooks, hook)

    def remove(self, hook: Any) -> None:
        """Remove ``hook`` if it was added."""
        with self._lock:
            self._hooks = tuple(h for h in self._hooks if h is not hook)

    def refuse(self, job: Any) -> None:
        """Call every ``on_enqueue``; the first exception propagates (the submission is refused)."""
        for hook in self._hooks:
            method = getattr(hook, "on_enqueue", None)
            if method is not None:
                method(job)

    def call(self, event: str, *args: Any) -> None:
        """Call ``event`` on every hook that has it; exceptions are logged with the hook's name, never raised."""
        for hook in self._hooks:
            method = getattr(hook, event, None)
            if method is None:
                continue
            try:
                method(*args)
            except (Exception, SystemExit) as exc:  # a hook's failure, even sys.exit(), must not touch the job; Ctrl-C
                # (KeyboardInterrupt) still reaches the program
                log.error("hook %s.%s failed: %s: %s", _name(hook), event, type(exc).__name__, exc,
                          exc_info=exc)


def _name(hook: Any) -> str:
    kind = type(hook)
    return getattr(hook, "__qualname__", None) or f"{kind.__module__}.{kind.__qualname__}"
