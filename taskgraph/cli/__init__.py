"""The ``taskgraph`` command. It parses arguments and calls the library; nothing else lives here."""

from . import jobs  # noqa: F401 - registers worker, status, retry, cancel, purge
from .app import main

__all__ = ["main"]
