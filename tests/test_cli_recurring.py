"""``taskgraph recurring`` and ``taskgraph cache`` on every store, and the next runs in ``taskgraph status``
(through click's CliRunner; the worker is a real process)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from taskgraph.cli import main
from tests.cache_app import cache_queue
from tests.procs import WorkerProcess
from tests.recurring_app import stamp


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def q(store_url):
    queue = cache_queue(store_url)
    queue.task(stamp)
    yield queue
    queue.close()


def test_recurring_list_pause_resume_trigger_remove_and_status(q, store_url, tmp_path):
    assert invoke("recurring", store_url, "list").output == "no recurring jobs\n"
    q.recurring("nightly", stamp, "0 3 * * *", args=(str(tmp_path / "runs"),), tz="Europe/Berlin")
    listed = invoke("recurring", store_url, "list")
    assert listed.exit_code == 0
    assert "nightly  tests.recurring_app:stamp  cron '0 3 * * *' (Europe/Berlin)  next " in listed.output
    assert "never run" in listed.output
    status = invoke("status", store_url).output
    assert "Recurring jobs (next runs)" in status and "nightly" in status and "cron '0 3 * * *'" in status
    assert invoke("recurring", store_url, "pause", "nightly").output == "nightly: paused\n"
    assert "nightly  tests.recurring_app:stamp  cron '0 3 * * *' (Europe/Berlin)  paused" in invoke(
        "recurring", store_url, "list").output
    assert "paused" in invoke("status", store_url).output
    assert invoke("recurring", store_url, "resume", "nightly").output.startswith("nightly: resumed; next run ")
    triggered = invoke("recurring", store_url, "trigger", "nightly")
    assert triggered.output.startswith("nightly: triggered: job nightly@now-")
    job_id = triggered.output.split("job ")[1].strip()
    assert q.get(job_id) is not None and q.get(job_id).record().metadata == {"recurring": "nightly"}  # type: ignore
    assert invoke("recurring", store_url, "remove", "nightly").output.startswith("nightly: removed")
    missing = invoke("recurring", store_url, "pause", "nightly")
    assert missing.exit_code == 1 and "no recurring job 'nightly'" in missing.output
    bad = invoke("recurring", store_url, "trigger", "not valid!")
    assert bad.exit_code == 1 and "recurring id must be 1 to 100 letters" in bad.output


def test_cache_list_and_clear(q, store_url, tmp_path):
    assert invoke("cache", store_url, "list").output == "no cached results\n"
    count = q.job("tests.jobs:count")
    assert count is not None
    worker = WorkerProcess(store_url, tmp_path, "w1", ["--lease", "3", "-q"], app="tests.cache_app:queue")
    try:
        first = count.delay(str(tmp_path / "runs"), "a")
        assert first.join(timeout=30) == "a"
        assert count.delay(str(tmp_path / "runs"), "a").join(timeout=30) == "a"
    finally:
        worker.kill()
    listed = invoke("cache", store_url, "list").output
    assert "tests.jobs:count: 1 hits, 1 misses" in listed
    assert f"done  from job {first.id}  expires in " in listed
    assert invoke("cache", store_url, "list", "tests.jobs:flaky").output == "no cached results\n"
    assert invoke("cache", store_url, "clear", "tests.jobs:count").output == "1 cached result deleted\n"
    assert invoke("cache", store_url, "clear").output == "0 cached results deleted\n"
