"""The app of the recurring-job tests: the durable tests' queue, with a job that records the due time of its run,
and, when ``RECUR_PATH`` is set, one recurring job of it every second (``RECUR_CATCH_UP``: skip or all), or with
``RECUR_CATCH_UP=both`` two: ``every-second-skip`` and ``every-second-all``, recording in ``RECUR_PATH.skip`` and
``RECUR_PATH.all``."""

from __future__ import annotations

import os

from taskgraph import current_job
from tests.durable_app import make_queue
from tests.jobs import record


def stamp(path: str) -> str:
    """Record the due time of this run (the recurring run's metadata), or ``now`` for a triggered run."""
    job = current_job()
    due = job.metadata.get("due") if job is not None else None
    line = "now" if due is None else str(int(due))
    record(path, line)
    return line


queue = make_queue(os.environ["TASKGRAPH_APP_URL"]) if os.environ.get("TASKGRAPH_APP_URL") else None
if queue is not None:
    queue.task(stamp)
    if os.environ.get("RECUR_CATCH_UP") == "both":
        for mode in ("skip", "all"):
            queue.recurring(f"every-second-{mode}", stamp, every=1, args=(f"{os.environ['RECUR_PATH']}.{mode}",),
                            catch_up=mode)
    elif os.environ.get("RECUR_PATH"):
        queue.recurring("every-second", stamp, every=1, args=(os.environ["RECUR_PATH"],),
                        catch_up=os.environ.get("RECUR_CATCH_UP", "skip"))
