"""Shared fixtures. Tests that need Graphviz skip with a reason elsewhere, but fail when CI=true."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"

#: The local queue URLs every behavioural test runs against.
LOCAL_QUEUES = ["inline:", "threads://4", "processes://2", "asyncio:"]


def need_binary(name: str, why: str) -> None:
    """Skip the calling test when ``name`` is not on PATH; fail it instead when CI=true."""
    if shutil.which(name) is None:
        message = f"{why}: {name!r} is not on PATH (install it; `make test` does so where it can)"
        if IN_CI:
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)


@pytest.fixture
def dot() -> str:
    """The path of Graphviz's dot; skips (fails under CI=true) without it."""
    need_binary("dot", "Graphviz is needed to render SVG")
    path = shutil.which("dot")
    assert path is not None
    return path


@pytest.fixture(params=LOCAL_QUEUES)
def queue_url(request: pytest.FixtureRequest) -> str:
    """Each local queue URL in turn."""
    return request.param


# ------------------------------------------------------------------ servers for the durable stores

POSTGRES_VAR = "TASKGRAPH_TEST_POSTGRES"
REDIS_VAR = "TASKGRAPH_TEST_REDIS"


def _unreachable(variable: str, url: str, why: str) -> None:
    message = f"no server at {variable}={url} ({why}); set {variable} to a reachable server to run these tests"
    if IN_CI:
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL server for tests; skips (fails under CI=true) when it does not answer."""
    url = os.environ.get(POSTGRES_VAR, "postgresql://127.0.0.1:5432/test")
    try:
        import psycopg
    except ImportError:
        _unreachable(POSTGRES_VAR, url, "psycopg is not installed: pip install 'psycopg[binary]'")
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except Exception as exc:
        _unreachable(POSTGRES_VAR, url, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis server for tests; skips (fails under CI=true) when it does not answer."""
    # a database of the tests' own: the cleanup after each test scans it, which stays quick whatever a benchmark
    # left in database 0
    url = os.environ.get(REDIS_VAR, "redis://127.0.0.1:6379/9")
    try:
        import redis
    except ImportError:
        _unreachable(REDIS_VAR, url, "redis-py is not installed: pip install redis")
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5)
        client.ping()
        client.close()
    except Exception as exc:
        _unreachable(REDIS_VAR, url, str(exc) or type(exc).__name__)
    return url


def unique_name(prefix: str) -> str:
    """A fresh lowercase identifier for a schema or key prefix."""
    import uuid

    return f"{prefix}_{uuid.uuid4().hex[:12]}"


STORES = ["sqlite", "postgresql", "redis"]


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A URL naming an empty, isolated store of each kind in turn (its own file, schema or key prefix); the store
    is removed after the test."""
    yield from _store_url(request, tmp_path, request.param)


@pytest.fixture(params=[*STORES, "memory"])
def in_process_store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """As ``store_url``, and an in-memory store (``memory://`` with a fresh name) too: for tests whose workers all
    run in this process (threads, or worker processes that never touch the store)."""
    yield from _store_url(request, tmp_path, request.param)


def _store_url(request: pytest.FixtureRequest, tmp_path, kind: str) -> Iterator[str]:
    if kind == "memory":
        yield f"memory://{unique_name('tg')}"
        return
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
        return
    if kind == "postgresql":
        base = request.getfixturevalue("postgres_url")
        schema = unique_name("tg")
        yield f"{base}{'&' if '?' in base else '?'}schema={schema}"
        import psycopg

        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        return
    base = request.getfixturevalue("redis_url")
    prefix = unique_name("tg")
    yield f"{base}{'&' if '?' in base else '?'}prefix={prefix}"
    import redis

    client = redis.Redis.from_url(base)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
