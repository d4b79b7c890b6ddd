"""The SQLite store against the store contract."""

from __future__ import annotations

import pytest

from taskgraph.stores.sqlite import SQLiteStore
from taskgraph.testing import StoreContract


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def connect(self, tmp_path):
        path = str(tmp_path / "jobs.db")
        return lambda: SQLiteStore(path)
