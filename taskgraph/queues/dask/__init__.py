"""A Dask cluster as a queue: ``dask://HOST:PORT``, ``dask+tls://HOST:PORT``, or a ``distributed.Client``.

:mod:`.queue` sends calls and collects outcomes, :mod:`.connect` reads the URL and connects the client,
:mod:`.events` listens to the clients' event loops, and :mod:`.remote` is the part that runs on the workers.
"""

from __future__ import annotations

from urllib.parse import SplitResult

from .connect import INSTALL_HINT, connect, parse_url
from .events import STARTED_TOPIC
from .queue import DaskQueue

__all__ = ["DaskQueue", "open_dask", "connect", "INSTALL_HINT", "STARTED_TOPIC"]


def open_dask(url: SplitResult) -> DaskQueue:
    """The queue of a ``dask://HOST:PORT`` or ``dask+tls://HOST:PORT`` URL (see :func:`.connect.parse_url`).

    Raises:
        ValueError: the URL is malformed or has an unknown option.
        ConnectionError: no scheduler answered.
        ImportError: ``distributed`` is not installed.
    """
    address, options = parse_url(url)
    return DaskQueue(address, **options)
