"""What the ``taskgraph`` command shows, built with rich: the progress of runs (:mod:`.run_progress`), shown live
and summed up (:mod:`.run_view`), the worker's dashboard (:mod:`.worker_view`) and a store's status
(:mod:`.status_view`)."""
