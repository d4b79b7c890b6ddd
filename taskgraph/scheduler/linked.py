"""Handing a queue the tasks that wait only for tasks it holds, linked to them: the queue releases each once they end.

A queue with ``submit_linked(calls)`` and a positive ``window`` (Dask's: :mod:`taskgraph.queues.dask`) runs
dependents without a round trip through this process. ``make_now`` turns it on (``link=True``, not with
``fail_fast``); the scheduler then dispatches by :meth:`Linking.hand_on` instead of one call at a time:

* every ready task (its prerequisites DONE) is claimed, PENDING -> QUEUED, and handed over, as always;
* so are, up to ``window`` tasks in flight, the tasks of the run that wait only for tasks in flight (or handed over
  in the same batch): each call's ``after`` lists the calls of its prerequisites that are not DONE yet, and the
  queue starts it only once they have returned. A prerequisite that declares files (its outputs are checked here),
  that has ``cancel_on_result`` (decided here), or that this run does not hold, is waited for here as usual: what
  needs it is handed over once it is DONE.

The queue reports each call's start and end as for any call, and this scheduler moves the tasks, as for any call:
the one writer is unchanged. A task that did not end DONE ends, by rule 1, the tasks handed over with it that wait
for it (:meth:`Linking.unlink`): they FAIL (or are CANCELLED) from QUEUED without running, and their calls are
cancelled (the queue does not run them anyway). Edges added while the run goes on hold back the tasks not yet
handed over, as on any queue; a task already handed over, like any QUEUED task, is not held back by them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from .. import task as _task
from ..queues.base import Call
from ..states import DONE, FINAL_STATES, PENDING
from ..task import Task
from .rules import Rules, _blocked, all_done, refused

__all__ = ["Linking"]


class Linking(Rules):
    """The linked dispatch of a scheduling run (see the module)."""

    # kept by the scheduler
    queue: Any
    number: int
    edges_seen: int
    ended: Callable[[Task], None]
    build: Callable[[Task], None]

    def init_linking(self, link: bool) -> None:
        submit = getattr(self.queue, "submit_linked", None)
        window = getattr(self.queue, "window", 0)
        self.linking = bool(link and callable(submit) and isinstance(window, int) and window > 0)
        self.window = window if self.linking else 0
        self.lookahead: deque[Task] = deque()  # dependents of tasks handed over, in that order (some twice)

    def hand_on(self) -> None:
        """Hand the queue every ready task and, while fewer than ``window`` are in flight (refilled once half
        have ended, so that each batch is large), the tasks that wait only for tasks in flight."""
        ready, inflight, counts, lookahead = self.ready, self.inflight, self.counts, self.lookahead
        batch: dict[Task, Call] = {}
        check = self.edges_seen != _task.edges_added  # an edge was added since the run began
        while ready:
            task = ready.popleft()
            if check and not all_done(task):
                self.evaluate(task)
            elif task.files is not None:  # it may be up to date (see .builds)
                self.build(task)
            elif task._fire("queue", False, None, None, PENDING, self.ended):
                batch[task] = self.call(task, [])
                lookahead.extend(task._dependents)
            else:
                self.observe(task)  # another run or thread took it, or it was cancelled
        room = self.window - len(inflight) - len(batch)
        if lookahead and (room >= self.window // 2 or not inflight):
            while lookahead and room > 0:
                task = lookahead.popleft()
                if counts.get(task, 0) <= 0 or task.state is not PENDING:
                    continue  # ready (handed over above), settled, or not of this run
                after = []
                for p in task._prereqs:
                    if p.state is DONE:
                        continue
                    call = batch.get(p) or inflight.get(p)
                    if type(call) is not Call or p.cancel_on_result is not None:
                        break  # waited for here: the task is handed over once it is ready
                    after.append(call)
                else:
                    if task._fire("queue", False, None, None, PENDING, self.ended):
                        counts[task] = 0
                        batch[task] = self.call(task, after)
                        room -= 1
                        lookahead.extend(task._dependents)
        if batch:
            self.send_linked(batch)

    def call(self, task: Task, after: list[Call]) -> Call:
        """The call of ``task``, to start once the calls ``after`` have returned (also :meth:`hand_over`'s)."""
        return Call(task.name, task.key or task.name, task.func, task.args, task.kwargs, task, self.number, self.put,
                    after=after)

    def send_linked(self, batch: dict[Task, Call]) -> None:
        """Give a batch of claimed tasks' calls to the queue, and follow them; if it refuses, they fail."""
        inflight = self.inflight
        try:
            self.queue.submit_linked(list(batch.values()))
        except Exception as exc:
            for task in batch:
                task._fire("fail", False, None, refused(task, self.queue, exc))
                self.counts[task] = 0
            for task in batch:
                self.observe(task)
            return
        inflight.update(batch)

    def unlink(self, task: Task, prerequisite: Task) -> bool:
        """A task handed over with ``prerequisite``, which did not end DONE: end it as rule 1 says, and cancel its
        call (the queue does not run it). Returns whether it ended here (its dependents are then to settle)."""
        call = self.inflight.pop(task, None)
        if call is None:
            return False
        event, error = _blocked(task, prerequisite)
        task._fire(event, False, None, error)  # from QUEUED: handed over, never started
        call.cancel()
        return task.state in FINAL_STATES
