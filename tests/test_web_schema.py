"""The API fuzzed from its own OpenAPI schema (schemathesis): whatever a request holds, no 5xx, and every response
as the schema says (status code, content type, body)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed: pip install -e '.[test]'")
pytest.importorskip("fastapi", reason="the web extra is not installed: pip install -e '.[test]'")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from taskgraph.web import create_app  # noqa: E402
from tests.durable_app import make_queue  # noqa: E402
from tests.test_web_api import drain  # noqa: E402

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def web_schema(tmp_path: Path) -> Iterator[Any]:
    """The schema of an app over a store holding a DONE, a FAILED, a QUEUED job and a graph's jobs."""
    import taskgraph
    from taskgraph import Task
    from tests import jobs

    q = make_queue(f"sqlite:///{tmp_path / 'jobs.db'}?namespace=g")
    q.job("tests.jobs:add").enqueue([1, 2], id="done")  # type: ignore[union-attr]
    q.job("tests.jobs:fail").enqueue(["x"], id="failed")  # type: ignore[union-attr]
    drain(q)
    q.job("tests.jobs:add").enqueue([3, 4], id="queued")  # type: ignore[union-attr]
    taskgraph.make_later(q, Task("t", jobs.add, args=(1, 1)))
    yield schemathesis.openapi.from_asgi("/api/openapi.json", create_app(q))
    q.close()


def test_the_api_answers_every_request_as_its_schema_says(web_schema: Any) -> None:
    operations = [result.ok() for result in web_schema.get_all_operations()]
    assert len(operations) == 19  # every route of the API (the recurring jobs' four included)
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        fuzz()
