"""From a store URL to a :class:`~taskgraph.durable.queue.DurableQueue`: the queue factory of every store scheme."""

from __future__ import annotations

from urllib.parse import SplitResult, parse_qsl, unquote

from ..queues.registry import open_store
from ..stores.serializers import get_serializer
from ..urls import redact, seconds, unsplit
from .queue import DurableQueue

__all__ = ["open_durable", "QUEUE_OPTIONS"]

#: The options of a store URL that are the queue's; the others are the store's.
QUEUE_OPTIONS = frozenset({"serializer", "namespace", "patience"})


def open_durable(url: SplitResult) -> DurableQueue:
    """The queue of a store URL: its options ``serializer``, ``namespace`` and ``patience`` are the queue's, the
    others go to the store (see :func:`~taskgraph.queues.registry.open_store`) as they were written.

    Raises:
        ValueError: a queue option has a bad value.
        StoreError: the store cannot be opened.
    """
    shown = redact(unsplit(url))
    ours = {k: v for k, v in parse_qsl(url.query, keep_blank_values=True) if k in QUEUE_OPTIONS}
    rest = [item for item in url.query.split("&") if item and unquote(item.partition("=")[0]) not in QUEUE_OPTIONS]
    store_url = url._replace(query="&".join(rest))
    serializer = ours.get("serializer") or "json"
    get_serializer(serializer)  # a ValueError naming the known ones
    patience = seconds(repr(shown), "patience", ours.get("patience"), 300.0, zero=True)
    return DurableQueue(
        lambda: open_store(store_url), shown, serializer=serializer, namespace=ours.get("namespace", ""),
        patience=patience,
    )
