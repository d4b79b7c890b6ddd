"""Take the screenshots of docs/web.md: a store with jobs in every state, the dashboard served on it, and headless
chromium's ``--screenshot`` of each page.

    .venv/bin/python docs/make_web_screenshots.py      # writes docs/web-*.png

Needs the web extra and Debian's chromium.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))

import taskgraph  # noqa: E402
from taskgraph import DurableQueue, Task, open_queue  # noqa: E402
from taskgraph.durable.worker import Worker  # noqa: E402

release = threading.Event()


def resize(path: str, width: int, height: int) -> str:
    """Resize an image (pretend to)."""
    time.sleep(0.01)
    return f"{path} at {width}x{height}"


def publish(name: str) -> str:
    if "<" in name:
        raise ValueError(f"refusing to publish {name!r}: not a valid name")
    return f"published {name}"


def encode_video(frames: int) -> int:
    """Report progress, then wait to be released (so it shows RUNNING)."""
    taskgraph.progress(0.42, f"frame {int(frames * 0.42)} of {frames}")
    release.wait(120)
    return frames


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fill(q: DurableQueue) -> str:
    """Jobs in every state; the id of the failed one."""
    resize_job, publish_job, encode_job = q.task(resize), q.task(publish), q.task(encode_video)
    for i in range(12):
        resize_job.enqueue([f"photos/{i:03}.jpg", 640, 480], queue="images" if i % 2 else "default")
    bad = publish_job.delay("<draft>")
    publish_job.delay("spring-catalogue")
    # a graph whose edges show every colour: DONE and FAILED prerequisites, then (below) one RUNNING
    thumbnails = Task("thumbnails", resize, args=("cover.jpg", 128, 128))
    watermark = Task("watermark", resize, args=("cover-wm.jpg", 128, 128)).require(thumbnails)
    cover = Task("publish", publish, args=("cover",)).require(thumbnails, watermark)
    teaser = Task("teaser", publish, args=("<teaser>",)).require(thumbnails)
    taskgraph.make_later(q, cover, Task("announce", publish, args=("news",)).require(teaser))
    worker = Worker(q, threads=4, lease=3, queues=["default", "images"])
    worker.run(burst=True)
    encode_job.delay(2400)
    video = Task("video", encode_video, args=(2400,)).require(cover)  # its prerequisite is the stored one, DONE
    taskgraph.make_later(q, Task("upload", publish, args=("video",)).require(video))
    resize_job.enqueue(["photos/late.jpg", 64, 64], delay=3600)
    return bad.id


def shoot(chromium: str, url: str, out: Path, profile: str, height: int = 900) -> None:
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", f"--window-size=1280,{height}", f"--screenshot={out}", url],
                   check=True, capture_output=True, timeout=120)
    print(f"wrote {out.relative_to(DOCS.parent)}")


def main() -> int:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("chromium is not on PATH: apt-get install chromium", file=sys.stderr)
        return 1
    import uvicorn

    from taskgraph.web import create_app

    with tempfile.TemporaryDirectory() as folder:
        q = open_queue(f"sqlite:///{folder}/jobs.db?namespace=catalogue")
        assert isinstance(q, DurableQueue)
        bad = fill(q)
        worker = Worker(q, threads=2, lease=3, queues=["default"]).start()
        deadline = time.monotonic() + 30
        while not any(w.running for w in q.workers()) and time.monotonic() < deadline:
            time.sleep(0.05)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(q), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        pages = {"overview": "/", "jobs": "/jobs", "failed": "/jobs?status=FAILED", "job": f"/jobs/{bad}",
                 "workers": "/workers", "queues": "/queues", "graphs": "/graphs", "graph": "/graphs/catalogue"}
        try:
            for name, path in pages.items():
                shoot(chromium, base + path, DOCS / f"web-{name}.png", os.path.join(folder, "profile"),
                      height=1100 if name in ("job", "overview") else 700)
        finally:
            release.set()
            server.should_exit = True
            thread.join(10)
            worker.stop().wait(30)
            q.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
