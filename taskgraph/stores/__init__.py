"""Durable stores: SQLite (embedded), PostgreSQL and Redis, and an in-memory one for tests and single-process apps,
behind one contract (:mod:`taskgraph.stores.base`).

Their URL schemes are in the scheme registry (:func:`taskgraph.queues.registry.open_store`).
"""

from __future__ import annotations

from .base import Store, StoreError, StoreUnavailable

__all__ = ["Store", "StoreError", "StoreUnavailable"]
