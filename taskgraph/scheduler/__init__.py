"""The scheduler behind ``make`` and ``TaskQueue``: what runs next, and the one writer of task state.

One :class:`Scheduler` holds the state of one ``make`` (or one ``TaskQueue.run()``), and one thread touches it,
the one iterating the generator. It alone moves the tasks of its run: it hands each task's call to the queue as a
:class:`~taskgraph.queues.base.Call`, a future that the queue settles, and turns what arrives into transitions (as
``dask/local.py`` keeps every state change in its one loop). Reports arrive on ``reports``, a thread-safe queue, as
values:

* a call whose function has begun (QUEUED -> RUNNING), or which is done (DONE, FAILED or CANCELLED);
* a task that became final elsewhere: one run by another party that this run waits for, or one of its own
  cancelled by a user (its call is then cancelled: the queue drops or stops it if it can).

The state of a run:

* ``counts``: every task the run knows, mapped to the number of its prerequisites it still waits for. A
  positive count means PENDING and waiting; 0 means ready, submitted, or run by someone else; -1 means settled,
  its end seen and passed on to its dependents.
* ``ready``: PENDING tasks whose prerequisites are all DONE, in the order they became ready.
* ``inflight``: tasks handed to the queue and not yet settled, each with its call (None while an inline queue's
  function runs in this thread). ``watched``: tasks some other run or thread is running, whose end this run waits
  for.
* ``wanted``: the tasks to yield, each once, when it is final (and, with ``keep_going``, every task admitted, to
  run but not yield); ``finished``: those final and not yet yielded.

The rules, cs.taskqueue's ``make`` rules applied as facts arrive rather than by polling:

1. A PENDING task whose prerequisite has FAILED fails without running (``BlockedError``, the prerequisite's
   exception chained); one whose prerequisite was CANCELLED is cancelled. Failure wins over cancellation when a
   task sees both at once.
2. Pending prerequisites are made first (``make``); a ``TaskQueue`` runs only its own tasks, and fails a task
   that waits on a PENDING task outside it when nothing else can move.
3. A task already QUEUED or RUNNING elsewhere is waited for, not run again; a DONE one is not run again.
4. A cycle among the tasks to make is refused before anything runs (``CycleError``).
5. A task is dispatched when its count reaches 0 and a check of its prerequisites finds them all DONE (the check
   catches edges added while the run goes on). Claiming it is a transition, PENDING->QUEUED (PENDING->RUNNING on
   an inline queue), which only one run can win. A queue with ``submit_graph`` is handed, at once, every task
   whose prerequisites are DONE or handed over with it, and releases them itself (:meth:`Scheduler.hand_over`).
   A task that declares files (``inputs=``, ``outputs=``) is first asked of the run's builder
   (:mod:`.builds`): if it is up to date it moves PENDING->DONE by ``uptodate`` and does not run; if it runs, its
   outputs must exist when it returns, or it fails.
6. Once every wanted task has been yielded nothing new starts, and the run ends when the tasks it submitted
   have ended; with ``keep_going``, every task of the run that is not blocked still runs (a build that reports
   every broken file, not the first). ``fail_fast`` ends it at the first yielded task that is not DONE; tasks it
   submitted that have not started are cancelled, those running are waited for.
7. Ctrl-C cancels every task of the run that has not started, waits for the running ones and re-raises; a
   second Ctrl-C cancels the running ones too and re-raises at once.
"""

from __future__ import annotations

from .core import Scheduler, close_queue

__all__ = ["Scheduler", "close_queue"]
