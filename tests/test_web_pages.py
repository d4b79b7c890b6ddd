"""The dashboard's pages through the ASGI test client: each page on every store, actions with CSRF tokens, sign-in,
read-only mode, and every user string escaped."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed: pip install -e '.[test]'")

from fastapi.testclient import TestClient  # noqa: E402

from taskgraph import DurableQueue  # noqa: E402
from taskgraph.web import create_app  # noqa: E402
from tests import jobs as tests_jobs  # noqa: E402
from tests.durable_app import make_queue  # noqa: E402
from tests.test_web_api import drain  # noqa: E402

PAGES = ["/", "/jobs", "/jobs?status=FAILED", "/jobs?queue=default&task_type=tests.jobs:add", "/workers", "/queues",
         "/graphs"]


@pytest.fixture
def q(in_process_store_url: str) -> Iterator[DurableQueue]:
    queue = make_queue(in_process_store_url)
    yield queue
    queue.close()


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF token in the page"
    return found.group(1)


def test_every_page_renders_and_its_live_part_alone(q: DurableQueue):
    failed = q.job("tests.jobs:fail").delay("it broke")  # type: ignore[union-attr]
    done = q.job("tests.jobs:add").delay(2, 3)  # type: ignore[union-attr]
    drain(q)
    with TestClient(create_app(q)) as client:
        for path in PAGES:
            page = client.get(path)
            assert page.status_code == 200, (path, page.text[:500])
            assert page.text.startswith("<!doctype html>") and '<div id="live" data-interval="3">' in page.text
            live = client.get(path, headers={"X-Partial": "1"})
            assert live.status_code == 200 and "<html" not in live.text and "<header>" not in live.text, path
        overview = client.get("/").text
        assert re.search(r'<span class="n">1</span><span class="label">FAILED</span>', overview)
        assert re.search(r'<span class="n">1</span><span class="label">DONE</span>', overview)
        assert 'class="chart"' in overview and "<title>1 done</title>" in overview
        assert f'/jobs/{failed.id}"' in client.get("/jobs?status=FAILED").text
        assert f'/jobs/{done.id}"' not in client.get("/jobs?status=FAILED").text
        job = client.get(f"/jobs/{failed.id}").text
        assert "builtins.ValueError: it broke" in job and "Traceback (most recent call last)" in job
        assert 'data-action="retry"' in job and 'data-action="delete"' in job and 'data-action="cancel"' not in job
        assert [m for m in re.findall(r"<time>[^<]*</time> (\w+)", job)] == ["queue", "dispatch", "fail"]
        assert "5" in re.search(r'<pre id="result">([^<]*)</pre>', client.get(f"/jobs/{done.id}").text).group(1)
        missing = client.get("/jobs/nope")
        assert missing.status_code == 404 and "no job &#39;nope&#39;" in missing.text
        assert client.get("/jobs?offset=x").status_code == 400
        assert client.get("/static/live.js").headers["content-type"].startswith("text/javascript")
        assert client.get("/static/../pages.py").status_code == 404


def test_paging_through_jobs(tmp_path):
    q = make_queue(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        handles = [q.job("tests.jobs:add").delay(i, i) for i in range(60)]  # type: ignore[union-attr]
        with TestClient(create_app(q)) as client:
            first = client.get("/jobs").text
            assert first.count('<tr data-id="') == 50 and f'data-id="{handles[-1].id}"' in first
            assert "jobs 1&ndash;50" in first and 'offset=50">older' in first
            second = client.get("/jobs?offset=50").text
            assert second.count('<tr data-id="') == 10 and f'data-id="{handles[0].id}"' in second
            assert "older" not in second and 'offset=0">&larr; newer' in second
    finally:
        q.close()


def test_actions_need_the_csrf_token_and_a_same_site_post(q: DurableQueue):
    job = q.job("tests.jobs:fail").delay("x")  # type: ignore[union-attr]
    drain(q)
    with TestClient(create_app(q)) as client:
        page = client.get(f"/jobs/{job.id}")
        token = csrf_of(page.text)
        assert client.cookies.get("taskgraph_csrf") == token
        refused = client.post(f"/jobs/{job.id}/retry", data={"csrf": "forged"})
        assert refused.status_code == 403 and "CSRF token" in refused.text
        cross = client.post(f"/jobs/{job.id}/retry", data={"csrf": token}, headers={"Sec-Fetch-Site": "cross-site"})
        assert cross.status_code == 403 and q.get(job.id).status() == "FAILED"  # type: ignore[union-attr]
        done = client.post(f"/jobs/{job.id}/retry", data={"csrf": token}, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == f"/jobs/{job.id}"
        assert q.get(job.id).status() == "QUEUED"  # type: ignore[union-attr]
        assert client.post(f"/jobs/{job.id}/cancel", data={"csrf": token}).status_code == 200
        assert q.get(job.id).status() == "CANCELLED"  # type: ignore[union-attr]
        gone = client.post(f"/jobs/{job.id}/delete", data={"csrf": token}, follow_redirects=False)
        assert gone.headers["location"] == "/jobs" and q.get(job.id) is None
        assert client.post(f"/jobs/{job.id}/explode", data={"csrf": token}).status_code == 404
        q.job("tests.jobs:add").delay(1, 1)  # type: ignore[union-attr]
        drain(q)
        assert client.post("/purge", data={"csrf": token, "older_than": "0"}).status_code == 200
        assert q.stats() == {}


def test_read_only_refuses_every_action(tmp_path):
    q = make_queue(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        job = q.job("tests.jobs:fail").delay("x")  # type: ignore[union-attr]
        drain(q)
        with TestClient(create_app(q, read_only=True)) as client:
            page = client.get(f"/jobs/{job.id}").text
            assert "read-only" in page and 'data-action="retry"' not in page and "Purge" not in client.get("/").text
            client.get("/")
            token = client.cookies.get("taskgraph_csrf")
            refused = client.post(f"/jobs/{job.id}/retry", data={"csrf": token})
            assert refused.status_code == 403 and "read-only" in refused.text
            assert client.post("/purge", data={"csrf": token}).status_code == 403
            api = client.post("/api/tasks", json={"task_type": "tests.jobs:add", "args": [1, 2]})
            assert api.status_code == 403 and api.json()["detail"] == "this dashboard is read-only"
            for method, path in (("POST", f"/api/tasks/{job.id}/retry"), ("DELETE", f"/api/tasks/{job.id}"),
                                 ("DELETE", f"/api/tasks/{job.id}/record"), ("POST", "/api/purge")):
                assert client.request(method, path).status_code == 403, path
            assert q.get(job.id).status() == "FAILED"  # type: ignore[union-attr]
    finally:
        q.close()


def test_a_token_guards_the_api_and_a_sign_in_the_pages(tmp_path):
    q = make_queue(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        with TestClient(create_app(q, token="open sesame")) as client:
            r = client.get("/api/stats")
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            assert client.get("/api/stats", headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert client.get("/api/stats", headers={"Authorization": "Bearer open sesame"}).status_code == 200
            away = client.get("/jobs?status=FAILED", follow_redirects=False)
            assert away.status_code == 303 and away.headers["location"] == "/login?next=%2Fjobs"
            form = client.get("/login?next=/jobs")
            token = csrf_of(form.text)
            wrong = client.post("/login", data={"token": "nope", "csrf": token, "next": "/jobs"})
            assert wrong.status_code == 401 and "not the right one" in wrong.text
            ok = client.post("/login", data={"token": "open sesame", "csrf": token, "next": "/jobs"},
                             follow_redirects=False)
            assert ok.status_code == 303 and ok.headers["location"] == "/jobs"
            cookie = ok.headers["set-cookie"]
            assert "taskgraph_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
            assert "open sesame" not in cookie
            assert client.get("/jobs").status_code == 200
            assert client.get("/api/stats").status_code == 401  # the API wants the bearer token, not the cookie
            elsewhere = client.post("/login", data={"token": "open sesame", "csrf": token,
                                                     "next": "//evil.example/"}, follow_redirects=False)
            assert elsewhere.headers["location"] == "/"
    finally:
        q.close()


def test_an_auth_callable_decides_each_request(tmp_path):
    q = make_queue(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        async def allow(request) -> bool:
            return request.headers.get("x-user") == "ops"

        with TestClient(create_app(q, auth=allow)) as client:
            assert client.get("/api/stats").status_code == 401
            assert client.get("/").status_code == 403
            assert client.get("/api/stats", headers={"X-User": "ops"}).status_code == 200
            assert client.get("/", headers={"X-User": "ops"}).status_code == 200
    finally:
        q.close()


HOSTILE = 'evil<script>alert(1)</script>\x1b[2J\u202e"&'


def test_every_user_string_is_escaped(tmp_path):
    q = make_queue(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        job = q.job("tests.jobs:fail").enqueue(  # type: ignore[union-attr]
            [HOSTILE], queue="q<i>", metadata={"note": HOSTILE})
        drain(q, queues=["q<i>"])
        with TestClient(create_app(q)) as client:
            for path in (f"/jobs/{job.id}", "/jobs", "/", "/queues", "/jobs?queue=q%3Ci%3E&task_type=%3Cb%3E"):
                text = client.get(path).text
                assert "<script>alert" not in text and "\x1b" not in text and "\u202e" not in text, path
                assert "<i>" not in text and "<b>" not in text, path
            page = client.get(f"/jobs/{job.id}").text
            assert "evil&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[2J\\u202e&#34;&amp;" in page
    finally:
        q.close()


def test_a_page_elsewhere_cannot_make_a_browser_change_the_store(tmp_path):
    q = make_queue(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        job = q.job("tests.jobs:add").delay(1, 2)  # type: ignore[union-attr]
        with TestClient(create_app(q)) as client:
            for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                            {"Origin": "http://evil.example"}, {"Origin": "null"}):
                r = client.post("/api/purge", headers=headers)
                assert r.status_code == 403 and "another site" in r.json()["detail"], headers
                assert client.delete(f"/api/tasks/{job.id}", headers=headers).status_code == 403
            assert q.get(job.id).status() == "QUEUED"  # type: ignore[union-attr]
            assert client.get("/api/stats", headers={"Origin": "http://evil.example"}).status_code == 200
            same = client.delete(f"/api/tasks/{job.id}", headers={"Origin": "http://testserver",
                                                                  "Sec-Fetch-Site": "same-origin"})
            assert same.status_code == 200 and q.get(job.id).status() == "CANCELLED"  # type: ignore[union-attr]
    finally:
        q.close()


def test_no_page_loads_anything_from_another_site(tmp_path):
    q = make_queue(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        with TestClient(create_app(q)) as client:
            for path in [*PAGES, "/login"]:
                text = client.get(path).text
                assert not re.search(r'(src|href)="(https?:)?//', text), path
            assert client.get("/api/docs").status_code == 404  # FastAPI's Swagger page loads from a CDN
    finally:
        q.close()


def test_the_overview_shows_the_result_caches_hits_and_misses(q: DurableQueue, tmp_path):
    from tests import jobs

    counted = q.task(jobs.count, cache=600)
    path = str(tmp_path / "ran")
    first = counted.delay(path, "x")
    drain(q)
    second = counted.delay(path, "x")
    drain(q)
    assert (first.join(10), second.join(10), jobs.lines(path)) == ("x", "x", ["x"])  # ran once: one miss, one hit
    with TestClient(create_app(q)) as client:
        page = client.get("/").text
    assert "<h2>Result cache</h2>" in page
    assert re.search(r"<td>tests\.jobs:count</td><td>1</td><td>1</td>", page), page


class Counting:
    """A real store that records the name of each call made on it (a proxy: every call reaches the store)."""

    def __init__(self, store: Any, calls: list[str]) -> None:
        self._store, self._calls = store, calls

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if not callable(value) or name.startswith("_") or name == "close":
            return value

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._calls.append(name)
            return value(*args, **kwargs)

        return counted


@pytest.mark.parametrize("jobs", [3, 40])
def test_a_live_refresh_costs_one_store_call_however_many_jobs(q: DurableQueue, monkeypatch: pytest.MonkeyPatch,
                                                               jobs: int):
    import taskgraph

    add = q.job("tests.jobs:add")
    assert add is not None
    handles = [add.delay(i, 1) for i in range(jobs)]
    failed = q.job("tests.jobs:fail").delay("no")  # type: ignore[union-attr]
    root = taskgraph.Task("root", tests_jobs.add, args=(0, 1))
    top = taskgraph.Task("top", tests_jobs.add, args=(1, 1)).require(root)
    taskgraph.make_later(q, top)
    drain(q)
    q.store.register_worker({"id": "w-live", "queues": ["default"], "started": 1.0}, 60.0)
    graph_id = q.list(limit=1)[0].key.rpartition("/")[0] or "default"  # type: ignore[union-attr]
    calls: list[str] = []
    connect = q._connect
    monkeypatch.setattr(q, "_connect", lambda: Counting(connect(), calls))
    q.reconnect()
    expected = {
        "/": "snapshot", "/jobs": "list_jobs", "/jobs?status=DONE&offset=2": "list_jobs",
        "/jobs?queue=default&task_type=tests.jobs:add": "list_jobs", f"/jobs/{failed.id}": "snapshot",
        f"/jobs/{handles[-1].id}": "snapshot", "/workers": "list_workers", "/queues": "snapshot",
        "/graphs": "snapshot", f"/graphs/{graph_id}": "snapshot",
    }
    with TestClient(create_app(q)) as client:
        for path, call in expected.items():
            calls.clear()
            live = client.get(path, headers={"X-Partial": "1"})
            assert live.status_code == 200, (path, live.text[:300])
            assert calls == [call], (path, calls)
        graph = client.get(f"/graphs/{graph_id}", headers={"X-Partial": "1"}).text
        assert graph.count('class="edge" data-status="DONE"') == 1  # the page draws the edge it read
