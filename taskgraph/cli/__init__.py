"""The ``taskgraph`` command. It parses arguments and calls the library; nothing else lives here."""

from . import jobs  # noqa: F401 - registers worker, status, retry, cancel, purge
from .app import main
from .builds import clean_command, explain_command  # noqa: F401 - registers explain and clean
from .cache import cache as cache_command  # noqa: F401 - registers cache
from .graph import graph_command  # noqa: F401 - registers graph
from .recurring import recurring as recurring_command  # noqa: F401 - registers recurring
from .run import run_command  # noqa: F401 - registers run and list
from .web import dashboard  # noqa: F401 - registers dashboard

__all__ = ["main"]
