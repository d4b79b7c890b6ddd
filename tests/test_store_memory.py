"""The in-memory store against the store contract, and what is particular to it."""

from __future__ import annotations

import uuid

import pytest

from taskgraph.stores.memory import MemoryStore
from taskgraph.testing import StoreContract


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def connect(self):
        name = f"contract-{uuid.uuid4().hex}"
        return lambda: MemoryStore(name)
