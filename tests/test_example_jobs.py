"""examples/jobs: the app, the enqueueing script and the worker command, run for real on each store."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "jobs"


@pytest.mark.slow
def test_enqueue_with_a_worker_runs_every_job(store_url):
    env = {**os.environ, "JOBS_URL": store_url}
    run = subprocess.run(
        [sys.executable, "enqueue.py", "--worker"], cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=180
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    sizes = {p.name: p.stat().st_size for p in EXAMPLE.glob("*.py")}
    for name, size in sizes.items():
        assert f"fetched {name}: {size} bytes" in lines
    assert any(line.startswith("digest of app.py: ") and "message='200 of 200 rounds'" in line for line in lines)
    assert "to ops@example.com: digest ready" in lines
    total = sum(sizes.values())
    assert f"graph: report DONE: {len(sizes)} documents, {total} bytes ({len(sizes)} fetches DONE)" in lines
    assert lines[-1].startswith("queue: ")
    counts = ast.literal_eval(lines[-1][len("queue: ") :])
    assert counts == {"default": {"DONE": 2 * len(sizes) + 2}, "mail": {"DONE": 1}}
