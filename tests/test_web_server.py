"""``taskgraph dashboard`` as a real uvicorn subprocess, queried over HTTP, with real worker subprocesses."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn", reason="the web extra is not installed: pip install -e '.[test]'")

from tests.durable_app import make_queue  # noqa: E402
from tests.procs import ROOT, wait_for, worker_pool  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Dashboard:
    """A ``taskgraph dashboard`` subprocess on a free port, its output in a file."""

    def __init__(self, url: str, folder: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.output = folder / f"dashboard-{self.port}.log"
        command = [sys.executable, "-m", "taskgraph", "dashboard", url, "--port", str(self.port), "-v", *args]
        with open(self.output, "wb") as out:
            self.proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                                         start_new_session=True)
        wait_for(self.up, 60, "the dashboard to answer", self.log)

    def up(self) -> bool:
        assert self.proc.poll() is None, self.log()
        try:
            self.get("/api/health", headers={"Authorization": "Bearer x"})
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
        return True

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def request(self, path: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
                ) -> tuple[int, dict[str, str], bytes]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        request = urllib.request.Request(self.base + path, headers=headers or {})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def stop(self) -> int:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)


@contextlib.contextmanager
def dashboard(url: str, folder: Path, *args: str) -> Iterator[Dashboard]:
    server = Dashboard(url, folder, *args)
    try:
        yield server
    finally:
        server.stop()
        print(server.log())


def test_the_dashboard_serves_the_api_and_pages_over_http_with_a_real_worker(store_url: str, tmp_path: Path):
    q = make_queue(store_url)
    try:
        bad = q.job("tests.jobs:fail").delay("over http")  # type: ignore[union-attr]
        with worker_pool(tmp_path) as start, dashboard(store_url, tmp_path, "--token", "t0ken") as server:
            start(store_url, "--burst", "--lease", "3").wait(60)
            auth = {"Authorization": "Bearer t0ken"}
            code, _, body = server.request(f"/api/tasks/{bad.id}")
            assert code == 401 and b"Bearer" in body
            code, _, body = server.request(f"/api/tasks/{bad.id}", headers=auth)
            job = json.loads(body)
            assert code == 200 and job["status"] == "FAILED" and job["error"]["message"] == "over http"
            code, _, body = server.request(f"/api/tasks/{bad.id}/retry", "POST", headers=auth)
            assert code == 200 and json.loads(body) == {"ids": [bad.id]}
            assert server.get(f"/api/tasks/{bad.id}", auth)["status"] == "QUEUED"
            # without --app the dashboard knows no jobs: enqueueing through it names the problem
            code, _, body = server.request("/api/tasks", "POST", {"task_type": "tests.jobs:add"}, auth)
            assert code == 400 and b"unknown task type" in body and b"the registered jobs are: none" in body
            code, _, body = server.request("/jobs")  # sent on to the sign-in form
            assert code == 200 and b"<title>Sign in" in body and b'name="next" value="/jobs"' in body
            stats = server.get("/api/stats", auth)
            assert stats["totals"]["QUEUED"] == 1 and stats["total"] == 1
            assert server.get("/api/health", auth)["ok"] is True
            schema = server.get("/api/openapi.json", auth)
            assert "/api/tasks" in schema["paths"]
    finally:
        q.close()


def test_app_takes_the_jobs_of_a_queue_to_enqueue_them(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    q = make_queue(url)
    try:
        server = Dashboard(url, tmp_path, "--app", "tests.durable_app:queue", env={"TASKGRAPH_APP_URL": url})
        try:
            code, _, body = server.request("/api/tasks", "POST", {"task_type": "tests.jobs:flaky", "args": ["p", 1]})
            job = json.loads(body)
            assert code == 201 and job["options"]["retries"] == 3, body
            assert q.get(job["id"]).status() == "QUEUED"  # type: ignore[union-attr]
            assert {t["name"] for t in server.get("/api/tasks/types")} >= {"tests.jobs:add", "tests.jobs:cpu"}
        finally:
            server.stop()
        done = run_cli(url, "--app", "tests.nothing:queue")
        assert done.returncode == 2 and "cannot import module 'tests.nothing'" in done.stderr
    finally:
        q.close()


def test_the_dashboard_under_a_root_path_read_only(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    make_queue(url).close()
    with dashboard(url, tmp_path, "--root-path", "/jobs", "--read-only") as server:
        code, _, body = server.request("/")
        assert code == 200 and b'href="/jobs/static/style.css"' in body and b"read-only" in body
        code, _, body = server.request("/static/style.css")
        assert code == 200 and b"--accent" in body
        code, _, body = server.request("/api/purge", "POST")
        assert code == 403 and b"read-only" in body


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "taskgraph", "dashboard", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::", "example.org"])
def test_a_public_address_without_auth_is_refused(tmp_path: Path, host: str):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    make_queue(url).close()
    done = run_cli(url, "--host", host)
    assert done.returncode == 2
    assert f"--host {host} is reachable from other machines" in done.stderr and "--token" in done.stderr


def test_the_cli_refuses_bad_urls_and_options(tmp_path: Path):
    done = run_cli(f"sqlite:///{tmp_path / 'none.db'}")
    assert done.returncode == 2 and "does not exist" in done.stderr
    done = run_cli("memory://x")
    assert done.returncode == 2 and "in-memory store" in done.stderr
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    make_queue(url).close()
    done = run_cli(url, "--root-path", "jobs/")
    assert done.returncode == 2 and "--root-path must start with /" in done.stderr
    done = run_cli(url, "--host", "0.0.0.0", env={"TASKGRAPH_DASHBOARD_TOKEN": " "})
    assert done.returncode == 2 and "--token is empty" in done.stderr


def test_insecure_no_auth_serves_open_when_spelled_out(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    make_queue(url).close()
    with dashboard(url, tmp_path, "--host", "0.0.0.0", "--insecure-no-auth") as server:
        assert server.get("/api/stats")["total"] == 0
