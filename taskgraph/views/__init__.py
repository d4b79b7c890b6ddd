"""What the ``taskgraph`` command shows, built with rich: live progress and summaries of runs (:mod:`.run_view`),
the worker's dashboard (:mod:`.worker_view`) and a store's status (:mod:`.status_view`)."""

from .run_view import LiveDisplay, PlainLines, RunProgress, Snapshot, TaskView, summary_lines, task_table

__all__ = ["RunProgress", "TaskView", "Snapshot", "LiveDisplay", "PlainLines", "summary_lines", "task_table"]
