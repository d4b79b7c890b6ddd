"""The dashboard driven in headless Debian chromium (selenium and chromium-driver): open the overview, open a failed
job, click retry, see it QUEUED, and then DONE once a worker runs it, without reloading the page."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI

pytest.importorskip("uvicorn", reason="the web extra is not installed: pip install -e '.[test]'")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install -e '.[test]'")

from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from tests.durable_app import make_queue  # noqa: E402
from tests.procs import worker_pool  # noqa: E402
from tests.test_web_server import dashboard  # noqa: E402


def _need(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name!r} is not on PATH: install Debian's {package} (apt-get install {package})"
        if IN_CI:
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)
    return path


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    chromium = _need("chromium", "chromium")
    driver_path = _need("chromedriver", "chromium-driver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1000", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def waiting(browser: Any) -> Any:
    """A 30 s wait that looks again when the page's live refresh replaced an element between finding it and
    reading it (a stale element is not an answer)."""
    return WebDriverWait(browser, 30, ignored_exceptions=(StaleElementReferenceException,))


def text_of(driver: Any, selector: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, selector).text)


def click(wait: Any, selector: str) -> None:
    """Click the element ``selector`` names, found afresh (again if it went stale before the click)."""
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, selector).click() or True)


def status_of(driver: Any) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, "#status .badge").text)


def test_retry_a_failed_job_from_the_browser_and_watch_it_finish(browser: Any, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    q = make_queue(url)
    try:
        job = q.job("tests.jobs:flaky").enqueue([str(tmp_path / "calls"), 1], retries=0)  # type: ignore[union-attr]
        q.job("tests.jobs:add").delay(1, 2)  # type: ignore[union-attr]
        with worker_pool(tmp_path) as start, dashboard(url, tmp_path) as server:
            start(url, "--burst", "--lease", "3", name="first").wait(60)
            assert q.get(job.id).status() == "FAILED"  # type: ignore[union-attr]
            wait = waiting(browser)

            browser.get(server.base + "/")
            assert browser.title == "Overview · taskgraph"
            # every read and click below looks again if the page's live refresh replaced the element meanwhile
            wait.until(lambda d: text_of(d, "#totals a.s-failed .n") == "1")
            wait.until(lambda d: text_of(d, "#totals a.s-done .n") == "1")
            click(wait, "#totals a.s-failed")

            wait.until(lambda d: "status=FAILED" in d.current_url)
            rows = "table.jobs tbody tr[data-id]"
            listed = [job.id]
            wait.until(lambda d: [r.get_attribute("data-id") for r in d.find_elements(By.CSS_SELECTOR, rows)] == listed)
            click(wait, "table.jobs tbody tr[data-id] a")

            wait.until(lambda d: d.current_url.endswith(f"/jobs/{job.id}"))
            wait.until(lambda d: status_of(d) == "FAILED")
            wait.until(lambda d: text_of(d, "#error") == "builtins.RuntimeError: failure 1 of 1")
            click(wait, "button[data-action=retry]")

            wait.until(lambda d: status_of(d) == "QUEUED")
            assert q.get(job.id).status() == "QUEUED"  # type: ignore[union-attr]
            start(url, "--burst", "--lease", "3", name="second").wait(60)
            # the page updates itself: its live part is fetched again every few seconds
            wait.until(lambda d: status_of(d) == "DONE")
            wait.until(lambda d: text_of(d, "#result") == "2")
            assert browser.current_url.endswith(f"/jobs/{job.id}")
    finally:
        q.close()


def test_a_graphs_picture_updates_itself_as_workers_finish_its_tasks(browser: Any, tmp_path: Path):
    import taskgraph
    from tests import jobs

    url = f"sqlite:///{tmp_path / 'jobs.db'}?namespace=nightly"
    q = make_queue(url)
    try:
        first = taskgraph.Task("first", jobs.add, args=(1, 2))
        taskgraph.make_later(q, taskgraph.Task("second", jobs.add, args=(3, 4)).require(first))
        with worker_pool(tmp_path) as start, dashboard(url, tmp_path) as server:
            browser.get(server.base + "/graphs/nightly")
            assert browser.title == "Graph nightly · taskgraph"

            def edges(driver: Any) -> list[str]:
                return [e.get_attribute("data-status") for e in driver.find_elements(By.CSS_SELECTOR, "svg .edge")]

            def nodes(driver: Any) -> list[str]:
                return [n.get_attribute("data-status") for n in driver.find_elements(By.CSS_SELECTOR, "svg g.node")]

            wait = waiting(browser)
            wait.until(lambda d: edges(d) == ["QUEUED"] and nodes(d) == ["QUEUED", "PENDING"])
            start(url, "--burst", "--lease", "3", name="graph").wait(60)
            # no reload: the page's live part, the picture with it, is fetched again every few seconds
            wait.until(lambda d: nodes(d) == ["DONE", "DONE"] and edges(d) == ["DONE"])
            assert browser.current_url.endswith("/graphs/nightly")
    finally:
        q.close()
