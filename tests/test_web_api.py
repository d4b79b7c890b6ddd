"""The web layer's JSON API through the ASGI test client, every route and error on every store."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed: pip install -e '.[test]'")

from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

import taskgraph  # noqa: E402
from taskgraph import DurableQueue, Task  # noqa: E402
from taskgraph.durable.worker import Worker  # noqa: E402
from taskgraph.stores import StoreUnavailable  # noqa: E402
from taskgraph.stores.base import Store  # noqa: E402
from taskgraph.web import MAX_LIMIT, create_app, create_router, worker_lifespan  # noqa: E402
from tests import jobs  # noqa: E402
from tests.durable_app import make_queue  # noqa: E402


def drain(queue: DurableQueue, timeout: float = 30.0, **options: Any) -> None:
    """Run a burst worker until the queues it serves hold no unfinished job."""
    worker = Worker(queue, **{"threads": 2, "lease": 3, **options})
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(worker.run(burst=True)))
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive() and codes == [0], f"the burst worker did not finish within {timeout} s"


@pytest.fixture
def q(in_process_store_url: str) -> Iterator[DurableQueue]:
    queue = make_queue(in_process_store_url)
    yield queue
    queue.close()


@pytest.fixture
def client(q: DurableQueue) -> Iterator[TestClient]:
    with TestClient(create_app(q)) as c:
        yield c


def post(client: TestClient, **body: Any) -> Any:
    return client.post("/api/tasks", json=body)


def test_enqueue_returns_the_job_and_get_reads_it_back(client: TestClient):
    r = post(client, task_type="tests.jobs:add", args=[1], kwargs={"b": 2}, priority=5, queue="web", delay=60,
             metadata={"who": "api"}, id="order-42", timeout=9)
    assert r.status_code == 201, r.text
    job = r.json()
    assert (job["id"], job["status"], job["queue"], job["priority"]) == ("order-42", "SCHEDULED", "web", 5)
    assert (job["args"], job["kwargs"], job["metadata"]) == ([1], {"b": 2}, {"who": "api"})
    assert job["options"]["timeout"] == 9 and [e["dest"] for e in job["history"]] == ["QUEUED"]
    assert client.get("/api/tasks/order-42").json() == job
    # params are kwargs too (async-task-worker's name)
    r = post(client, task_type="tests.jobs:add", args=[1], params={"b": 5})
    assert r.status_code == 201 and r.json()["kwargs"] == {"b": 5} and r.json()["status"] == "QUEUED"


@pytest.mark.parametrize(("body", "code", "message"), [
    ({"task_type": "tests.jobs:nope"}, 400, "unknown task type 'tests.jobs:nope'; the registered jobs are: "),
    ({"task_type": "taskgraph.durable.jobs:noop"}, 400, "unknown task type"),
    ({"task_type": "tests.jobs:add", "args": [1]}, 400, "job tests.jobs:add: missing a required argument: 'b'"),
    ({"task_type": "tests.jobs:add", "args": [1, 2], "kwargs": {"c": 3}}, 400, "unexpected keyword argument 'c'"),
    ({"task_type": "tests.jobs:add", "args": [1], "kwargs": {"b": 1}, "params": {"b": 2}}, 400,
     "b given in both kwargs and params"),
    ({"task_type": "tests.jobs:add", "args": [1, 2], "id": "has space"}, 400, "id must be a string of 1 to"),
    ({"task_type": "tests.jobs:add", "args": [1, 2], "queue": ""}, 400, "queue"),
    ({"task_type": "tests.jobs:add", "args": [1, 2], "priority": "high"}, 422, "priority"),
    ({"task_type": "tests.jobs:add", "args": [1, 2], "delay": -1}, 422, "delay"),
    ({"task_type": "tests.jobs:add", "args": [1, 2], "timeout": 0}, 422, "timeout"),
    ({"task_type": "tests.jobs:add", "args": [1, 2], "retries": 3}, 422, "retries"),
    ({"args": [1, 2]}, 422, "task_type"),
])
def test_enqueue_refuses_what_cannot_run_with_the_reason(client: TestClient, body: dict[str, Any], code: int,
                                                          message: str):
    r = client.post("/api/tasks", json=body)
    assert r.status_code == code, r.text
    assert message in str(r.json()["detail"])
    assert client.get("/api/stats").json()["total"] == 0


def test_list_is_newest_first_filtered_and_paged(client: TestClient):
    ids = [post(client, task_type="tests.jobs:add", args=[i, i]).json()["id"] for i in range(5)]
    other = post(client, task_type="tests.jobs:count", args=["p", "n"], queue="other").json()["id"]
    listed = client.get("/api/tasks").json()
    assert [j["id"] for j in listed["items"]] == [other, *reversed(ids)] and listed["next_offset"] is None
    page = client.get("/api/tasks", params={"task_type": "tests.jobs:add", "limit": 2, "offset": 2}).json()
    assert [j["id"] for j in page["items"]] == [ids[2], ids[1]] and page["next_offset"] == 4
    assert [j["id"] for j in client.get("/api/tasks", params={"queue": "other"}).json()["items"]] == [other]
    assert client.get("/api/tasks", params={"status": "queued"}).json()["items"][0]["status"] == "QUEUED"
    assert client.get("/api/tasks", params={"status": "DONE"}).json()["items"] == []
    assert client.get("/api/tasks", params={"older_than": 3600}).json()["items"] == []
    assert len(client.get("/api/tasks", params={"newer_than": 3600}).json()["items"]) == 6
    r = client.get("/api/tasks", params={"status": "LOST"})
    assert r.status_code == 400 and "unknown status 'LOST'" in r.json()["detail"]
    r = client.get("/api/tasks", params={"limit": MAX_LIMIT + 1})
    assert r.status_code == 422 and "less than or equal to 500" in r.text
    assert client.get("/api/tasks", params={"offset": -1}).status_code == 422


def test_actions_cancel_retry_delete_purge_and_their_conflicts(client: TestClient, q: DurableQueue):
    job = post(client, task_type="tests.jobs:add", args=[1, 2]).json()["id"]
    r = client.post(f"/api/tasks/{job}/retry")
    assert r.status_code == 409 and "is QUEUED: only FAILED, CANCELLED or (with force) DONE" in r.json()["detail"]
    r = client.delete(f"/api/tasks/{job}/record")
    assert r.status_code == 409 and "only finished jobs can be deleted" in r.json()["detail"]
    assert client.delete(f"/api/tasks/{job}").json() == {"ids": [job]}
    assert client.get(f"/api/tasks/{job}").json()["status"] == "CANCELLED"
    r = client.delete(f"/api/tasks/{job}")
    assert r.status_code == 409 and "is CANCELLED: only unfinished jobs can be cancelled" in r.json()["detail"]
    assert client.post(f"/api/tasks/{job}/retry").json() == {"ids": [job]}
    drain(q)
    assert client.get(f"/api/tasks/{job}").json()["result"] == 3
    assert client.post(f"/api/tasks/{job}/retry").status_code == 409
    assert client.post(f"/api/tasks/{job}/retry", params={"force": True}).json() == {"ids": [job]}
    drain(q)
    assert client.delete(f"/api/tasks/{job}/record").json() == {"ids": [job]}
    for method, path in (("get", ""), ("delete", ""), ("post", "/retry"), ("delete", "/record")):
        r = client.request(method.upper(), f"/api/tasks/{job}{path}")
        assert r.status_code == 404 and f"no job {job!r}" in r.json()["detail"], (method, path)
    post(client, task_type="tests.jobs:add", args=[1, 1])
    drain(q)
    assert client.post("/api/purge", params={"older_than": 3600}).json() == {"deleted": 0}
    assert client.post("/api/purge").json() == {"deleted": 1}
    assert client.post("/api/purge", params={"older_than": -1}).status_code == 422


def test_a_failed_job_shows_its_error_traceback_and_history(client: TestClient, q: DurableQueue):
    bad = post(client, task_type="tests.jobs:fail", args=["bad <b>input</b>"]).json()["id"]
    good = post(client, task_type="tests.jobs:add", args=[2, 3]).json()["id"]
    drain(q)
    job = client.get(f"/api/tasks/{bad}").json()
    assert job["status"] == "FAILED" and job["attempts"] == 1 and job["finished"] >= job["started"] > 0
    assert job["error"]["type"] == "builtins.ValueError" and job["error"]["message"] == "bad <b>input</b>"
    assert "Traceback" in job["error"]["traceback"] and "ValueError" in job["error"]["traceback"]
    assert [e["dest"] for e in job["history"]] == ["QUEUED", "RUNNING", "FAILED"]
    assert client.get(f"/api/tasks/{good}").json()["result"] == 5
    stats = client.get("/api/stats").json()
    assert stats["queues"] == {"default": {"FAILED": 1, "DONE": 1}} and stats["totals"]["DONE"] == 1
    assert stats["total"] == 2
    [queue] = client.get("/api/queues").json()
    assert queue == {"name": "default", "counts": {"FAILED": 1, "DONE": 1}, "total": 2, "workers": []}


def test_types_workers_and_health(client: TestClient, q: DurableQueue):
    types = {t["name"]: t for t in client.get("/api/tasks/types").json()}
    assert types["tests.jobs:flaky"]["options"]["retries"] == 3 and "taskgraph.durable.jobs:noop" not in types
    assert types["tests.jobs:add"]["signature"].startswith("(a")
    assert client.get("/api/workers").json() == []
    worker = Worker(q, threads=1, queues=["default", "web"], lease=3).start()
    try:
        deadline = time.monotonic() + 20
        while not (found := client.get("/api/workers").json()) and time.monotonic() < deadline:
            time.sleep(0.05)
        [info] = found
        assert info["id"] == worker.id and info["queues"] == ["default", "web"] and info["heartbeat_age"] >= 0
        assert {"default", "web"} <= {row["name"] for row in client.get("/api/queues").json()}
    finally:
        worker.stop().wait(30)
    health = client.get("/api/health")
    assert health.status_code == 200 and health.json() == {"ok": True, "store": q.url, "reason": "ok"}


def test_graphs_handed_to_the_store_list_their_tasks_and_edges_and_draw_them(in_process_store_url: str):
    q = make_queue(in_process_store_url + ("&" if "?" in in_process_store_url else "?") + "namespace=nightly")
    try:
        a = Task("a", jobs.add, args=(1, 2))
        b = Task("b<x>", jobs.add, args=(3, 4)).require(a)
        c = Task("c", jobs.add, args=(5, 6)).require(a)
        d = Task("d", jobs.add, args=(7, 8)).require(b, c)
        taskgraph.make_later(q, d)
        with TestClient(create_app(q)) as client:
            [graph] = client.get("/api/graphs").json()
            assert (graph["id"], graph["tasks"], graph["finished"]) == ("nightly", 4, False)
            assert graph["counts"] == {"QUEUED": 1, "PENDING": 3}
            detail = client.get("/api/graphs/nightly").json()
            names = {n["id"]: n["name"] for n in detail["nodes"]}
            assert sorted((n["name"], n["status"], n["waiting"]) for n in detail["nodes"]) == [
                ("a", "QUEUED", 0), ("b<x>", "PENDING", 1), ("c", "PENDING", 1), ("d", "PENDING", 2)]
            assert detail["edges_known"] is True
            assert sorted((names[p], names[d]) for p, d in detail["edges"]) == [
                ("a", "b<x>"), ("a", "c"), ("b<x>", "d"), ("c", "d")]
            picture = client.get("/api/graphs/nightly.svg").text
            # each edge coloured by its prerequisite's state: a is QUEUED, b and c PENDING
            assert sorted(re.findall(r'class="edge" data-status="(\w+)"', picture)) == ["PENDING"] * 2 + [
                "QUEUED"] * 2
            drain(q)
            picture = client.get("/api/graphs/nightly.svg")
            assert picture.headers["content-type"] == "image/svg+xml"
            assert picture.text.count('<g class="node" data-status="DONE"') == 4 and "b&lt;x&gt;" in picture.text
            assert picture.text.count('class="edge" data-status="DONE"') == 4
            assert client.get("/api/graphs/other").status_code == 404
            assert client.get("/api/graphs/other.svg").status_code == 404
    finally:
        q.close()


def test_a_store_that_cannot_list_prerequisites_draws_no_edges(tmp_path, monkeypatch: pytest.MonkeyPatch):
    from taskgraph.stores.sqlite import SQLiteStore

    # a store with only the contract's defaults of the optional methods (as a store of one's own may be)
    monkeypatch.setattr(SQLiteStore, "prerequisites", Store.prerequisites)
    monkeypatch.setattr(SQLiteStore, "snapshot", Store.snapshot)
    q = make_queue(f"sqlite:///{tmp_path / 'jobs.db'}?namespace=g")
    try:
        taskgraph.make_later(q, Task("y", jobs.add, args=(1, 2)).require(Task("x", jobs.add, args=(0, 1))))
        with TestClient(create_app(q)) as client:
            detail = client.get("/api/graphs/g").json()
            assert (detail["edges"], detail["edges_known"], len(detail["nodes"])) == ([], False, 2)
            assert 'class="edge"' not in client.get("/api/graphs/g.svg").text
    finally:
        q.close()


class _Switch:
    """A real store whose next connections are refused once ``down`` is set (a server gone away)."""

    def __init__(self, url: str) -> None:
        from taskgraph.queues.registry import open_store
        from taskgraph.urls import split

        self.down = False
        self.open = lambda: open_store(split(url))

    def __call__(self) -> Any:
        if self.down:
            raise StoreUnavailable("the server at 127.0.0.1 does not answer")
        return _Gated(self.open(), self)


class _Gated:
    """A connection of a :class:`_Switch`: each call fails as a lost connection does while the switch is down."""

    def __init__(self, store: Any, switch: _Switch) -> None:
        self._store, self._switch = store, switch

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if not callable(value) or name == "close":
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._switch.down:
                raise StoreUnavailable("the server at 127.0.0.1 does not answer")
            return value(*args, **kwargs)

        return call


def test_a_store_that_does_not_answer_is_503_with_the_reason(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    switch = _Switch(url)
    q = DurableQueue(switch, url, patience=0)
    q.task(jobs.add)
    with TestClient(create_app(q)) as client:
        assert client.get("/api/health").status_code == 200
        switch.down = True
        health = client.get("/api/health")
        assert health.status_code == 503
        assert health.json()["reason"] == "StoreUnavailable: the server at 127.0.0.1 does not answer"
        r = client.get("/api/stats")
        assert r.status_code == 503 and "the store does not answer" in r.json()["detail"]
        r = post(client, task_type="tests.jobs:add", args=[1, 2])
        assert r.status_code == 503
        page = client.get("/")
        assert page.status_code == 503 and "does not answer" in page.text
        switch.down = False
        assert client.get("/api/health").status_code == 200
    q.close()


def test_the_store_password_is_never_shown(postgres_url: str):
    from urllib.parse import urlsplit

    parts = urlsplit(postgres_url)
    url = parts._replace(netloc=f"{parts.username or 'postgres'}:s3kr1t-pw@{parts.hostname}:{parts.port or 5432}"
                         ).geturl()
    try:
        app = create_app(url)
    except Exception as exc:  # a server that checks passwords: still never in the message
        assert "s3kr1t-pw" not in str(exc)
        pytest.skip(f"the test server refuses that password: {exc}")
    with TestClient(app) as client:
        seen = [client.get(p).text for p in ("/", "/jobs", "/workers", "/queues", "/graphs", "/api/health",
                                            "/api/stats", "/api/openapi.json")]
        assert "***" in client.get("/api/health").json()["store"]
        assert not any("s3kr1t-pw" in text for text in seen)


def test_request_bodies_are_bounded(client: TestClient):
    r = client.post("/api/tasks", content=b'{"task_type": "' + b"x" * (2 << 20) + b'"}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and "request body over 1048576 bytes" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b" " * 65536

    r = client.post("/api/tasks", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_every_api_route_is_in_the_schema_with_its_models(client: TestClient):
    schema = client.get("/api/openapi.json").json()
    paths = schema["paths"]
    assert set(paths) == {
        "/api/tasks", "/api/tasks/types", "/api/tasks/{job_id}", "/api/tasks/{job_id}/retry",
        "/api/tasks/{job_id}/record", "/api/purge", "/api/stats", "/api/workers", "/api/queues", "/api/health",
        "/api/graphs", "/api/graphs/{graph_id}", "/api/graphs/{graph_id}.svg", "/api/recurring",
        "/api/recurring/{recurring_id}/trigger", "/api/recurring/{recurring_id}/pause",
        "/api/recurring/{recurring_id}/resume",
    }
    assert set(paths["/api/tasks"]) == {"get", "post"} and set(paths["/api/tasks/{job_id}"]) == {"get", "delete"}
    for path, methods in paths.items():
        for method, op in methods.items():
            ok = op["responses"][next(c for c in op["responses"] if c.startswith("2"))]
            assert "content" in ok, (path, method)
            assert "400" in op["responses"] and "401" in op["responses"], (path, method)
    assert paths["/api/tasks"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/NewTask")


def test_the_router_and_the_worker_lifespan_in_an_app_of_ones_own(q: DurableQueue):
    app = FastAPI(lifespan=worker_lifespan(q, threads=1, lease=3))
    app.include_router(create_router(q, prefix="/jobs", tags=["jobs"]))
    with TestClient(app) as client:
        job = client.post("/jobs/tasks", json={"task_type": "tests.jobs:add", "args": [4, 5]}).json()["id"]
        deadline = time.monotonic() + 30
        while client.get(f"/jobs/tasks/{job}").json()["status"] != "DONE" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get(f"/jobs/tasks/{job}").json()["result"] == 9
        assert client.get("/openapi.json").json()["paths"]["/jobs/tasks"]["post"]["tags"] == ["jobs"]


def test_the_app_mounts_under_a_prefix(q: DurableQueue):
    outer = FastAPI()
    outer.mount("/jobs", create_app(q))
    with TestClient(outer) as client:
        page = client.get("/jobs/")
        assert page.status_code == 200 and 'href="/jobs/static/style.css"' in page.text
        assert client.get("/jobs/static/style.css").headers["content-type"].startswith("text/css")
        assert client.post("/jobs/api/tasks", json={"task_type": "tests.jobs:add", "args": [1, 2]}).status_code == 201
        assert client.get("/jobs/api/stats").json()["total"] == 1


def test_create_app_runs_an_embedded_worker_while_served(tmp_path):
    q = make_queue(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        with TestClient(create_app(q, worker={"threads": 1, "lease": 3})) as client:
            job = post(client, task_type="tests.jobs:add", args=[20, 22]).json()["id"]
            deadline = time.monotonic() + 30
            while client.get(f"/api/tasks/{job}").json()["status"] != "DONE" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert client.get(f"/api/tasks/{job}").json()["result"] == 42
            assert len(client.get("/api/workers").json()) == 1
        assert q.workers() == []  # stopped with the app
    finally:
        q.close()


def test_recurring_routes_and_page(q: DurableQueue, client: TestClient):
    assert client.get("/api/recurring").json() == []
    assert "No recurring job." in client.get("/recurring").text
    add = q.task(jobs.add)
    q.recurring("nightly", add, "0 3 * * *", args=(1, 1), tz="Europe/Berlin")
    [listed] = client.get("/api/recurring").json()
    assert (listed["id"], listed["job"], listed["cron"], listed["tz"], listed["paused"], listed["args"]) == (
        "nightly", "tests.jobs:add", "0 3 * * *", "Europe/Berlin", False, [1, 1])
    assert listed["next_run"] > time.time()
    made = client.post("/api/recurring/nightly/trigger").json()["ids"]
    assert q.get(made[0]).status() == "QUEUED"  # type: ignore[union-attr]
    assert client.post("/api/recurring/nightly/pause").json() == {"ids": ["nightly"]}
    assert [r.paused for r in q.recurring_jobs()] == [True]
    r = client.post("/api/recurring/other/trigger")
    assert r.status_code == 404 and "no recurring job 'other'" in r.json()["detail"]
    token = client.cookies.get("taskgraph_csrf")
    gone = client.post("/recurring/other/pause", data={"csrf": token})
    assert gone.status_code == 404 and "no recurring job" in gone.text
    page = client.get("/recurring")
    assert page.status_code == 200 and "0 3 * * *" in page.text and "paused" in page.text
    assert 'data-action="resume"' in page.text
    token = client.cookies.get("taskgraph_csrf")
    assert client.post("/recurring/nightly/resume", data={"csrf": token}).status_code == 200
    assert [r.paused for r in q.recurring_jobs()] == [False]
    assert "/recurring" in client.get("/").text


def test_scheduled_jobs_are_listed_without_reading_the_queued_ones_for_nothing(client: TestClient):
    queued = [post(client, task_type="tests.jobs:add", args=[i, i]).json()["id"] for i in range(3)]
    later = [post(client, task_type="tests.jobs:add", args=[i, i], delay=600, queue=f"q{i % 2}").json()["id"]
             for i in range(3)]
    post(client, task_type="tests.jobs:add", args=[9, 9])
    listed = client.get("/api/tasks", params={"status": "SCHEDULED"}).json()["items"]
    assert [j["id"] for j in listed] == later[::-1] and {j["status"] for j in listed} == {"SCHEDULED"}
    page = client.get("/api/tasks", params={"status": "SCHEDULED", "limit": 1, "offset": 1}).json()["items"]
    assert [j["id"] for j in page] == [later[1]]
    assert [j["id"] for j in client.get("/api/tasks", params={"status": "SCHEDULED", "queue": "q0"}).json()["items"]
            ] == [later[2], later[0]]
    assert client.get("/api/tasks", params={"status": "SCHEDULED", "offset": 3}).json()["items"] == []
    # QUEUED is the stored status, as q.list has it: the scheduled ones are among them, shown as SCHEDULED
    shown = [j["status"] for j in client.get("/api/tasks", params={"status": "QUEUED"}).json()["items"]]
    assert shown.count("QUEUED") == len(queued) + 1 and shown.count("SCHEDULED") == len(later)


def test_an_edge_over_a_column_goes_around_the_boxes_between():
    from taskgraph.web.svg import graph_svg

    nodes = [{"id": i, "name": i, "status": s} for i, s in (("a", "DONE"), ("b", "RUNNING"), ("c", "PENDING"))]
    picture = graph_svg({"id": "g", "nodes": nodes, "edges": [["a", "b"], ["b", "c"], ["a", "c"]]})
    edges = re.findall(r'<polyline class="edge" data-status="(\w+)" points="([^"]+)"', picture)
    assert [(state, len(points.split())) for state, points in edges] == [("DONE", 2), ("RUNNING", 2), ("DONE", 4)]
    columns = sorted({float(x) for x in re.findall(r'<rect x="([\d.]+)"', picture)})
    assert len(columns) == 3  # a, b and c each in a column of its own: depth 0, 1, 2
