"""Shared fixtures. Tests that need Graphviz skip with a reason elsewhere, but fail when CI=true."""

from __future__ import annotations

import os
import shutil

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
