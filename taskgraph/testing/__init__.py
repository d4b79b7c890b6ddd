"""Conformance suites a backend proves itself with: :class:`QueueContract` for queues (see
:mod:`taskgraph.testing.queues`) and :class:`StoreContract` for durable stores (see :mod:`taskgraph.testing.stores`).
"""

from __future__ import annotations

from .queues import QueueContract
from .stores import StoreContract, new_job, wakes

__all__ = ["QueueContract", "StoreContract", "new_job", "wakes"]
