"""``python -m taskgraph``: the same as the ``taskgraph`` command."""

from .cli import main

main(prog_name="taskgraph")
