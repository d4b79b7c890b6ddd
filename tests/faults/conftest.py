"""Fixtures for the fault tests: throwaway servers (one per test, killed and removed at teardown) and real worker
processes serving ``tests.faults.fault_app:queue``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.servers import PostgresServer, RedisServer, Server, init_postgres_template
from tests.procs import worker_pool

APP = "tests.faults.fault_app:queue"


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[Path]:
    """A data folder made by ``initdb`` once per session; each PostgreSQL server runs on a copy of it."""
    folder = init_postgres_template()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _serve(server: Server) -> Iterator[Server]:
    try:
        server.start()
        yield server
    finally:
        print(server.log())  # shown by pytest when the test fails
        server.stop()


@pytest.fixture
def redis_server() -> Iterator[Server]:
    """A Redis of this test's own, with an fsynced append-only file, that it may kill and start again."""
    yield from _serve(RedisServer())


@pytest.fixture
def postgres_server(postgres_template: Path) -> Iterator[Server]:
    """A PostgreSQL of this test's own, that it may kill and start again."""
    yield from _serve(PostgresServer(postgres_template))


@pytest.fixture(params=["redis", "postgresql"])
def server(request: pytest.FixtureRequest) -> Server:
    """Each kind of throwaway server in turn."""
    return request.getfixturevalue({"redis": "redis_server", "postgresql": "postgres_server"}[request.param])


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[object]:
    """``spawn(url, *args, name=...)`` starts ``taskgraph worker tests.faults.fault_app:queue`` on ``url``; all are
    killed at teardown (with the job processes they started) and their output printed."""
    with worker_pool(tmp_path, APP) as start:
        yield start
