"""The ``taskgraph`` command. It parses arguments and calls the library; nothing else lives here."""

from . import jobs  # noqa: F401 - registers worker, status, retry, cancel, purge
from .app import main
from .graph import graph_command  # noqa: F401 - registers graph
from .run import run_command  # noqa: F401 - registers run and list
from .web import dashboard  # noqa: F401 - registers dashboard

__all__ = ["main"]
