"""Messages name a URL as the user wrote it (its password hidden): ``sqlite:///jobs.db`` stays so, capitals and
all, never ``sqlite:/jobs.db`` or a respelled form."""

from __future__ import annotations

import logging

import pytest

from taskgraph import DurableQueue, StoreError, open_queue
from taskgraph.durable.worker import Worker
from taskgraph.queues.registry import open_store
from taskgraph.urls import shown, split, written


@pytest.mark.parametrize("url", [
    "sqlite:///jobs.db?foo=1",
    "SQLite:///jobs.db?foo=1",
    "sqlite:/jobs.db?foo=1",
    "sqlite:jobs.db?foo=1",
    "sqlite:///%6Aobs.db?foo=1",
])
def test_a_sqlite_url_is_shown_as_written(url, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError) as info:
        open_queue(url)
    assert str(info.value) == f"{url!r}: unknown option 'foo'; accepted options: busy_timeout"
    with pytest.raises(StoreError) as info:
        open_store(url)
    assert str(info.value) == f"{url!r}: unknown option 'foo'; accepted options: busy_timeout"


def test_a_missing_folder_names_the_url_as_written_without_the_queue_options(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError) as info:
        open_queue("SQLite:///nodir/jobs.db?serializer=json")
    assert str(info.value) == (f"SQLite:///nodir/jobs.db: the folder {str(tmp_path / 'nodir')!r} does not exist; "
                               "create it first")


def test_the_queue_and_its_worker_name_the_url_as_written(tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.chdir(tmp_path)
    url = "SQLite:///jobs.db?serializer=json&busy_timeout=5"
    queue = open_queue(url)
    assert isinstance(queue, DurableQueue)
    try:
        assert queue.url == url
        assert queue._connect().url == "SQLite:///jobs.db"
        with caplog.at_level(logging.INFO, logger="taskgraph.worker"):
            assert Worker(queue).run(burst=True) == 0
        assert f"serving default on {url} " in caplog.text
    finally:
        queue.close()


@pytest.mark.parametrize("url, expected", [
    ("postgresql://user:s3cret@127.0.0.1:1/db?schema=1x", "postgresql://user:***@127.0.0.1:1/db?schema=1x"),
    ("PostgreSQL://user:s3cret@127.0.0.1:1/db?schema=1x", "PostgreSQL://user:***@127.0.0.1:1/db?schema=1x"),
    ("Redis://user:s3cret@127.0.0.1:1/0?foo=1", "Redis://user:***@127.0.0.1:1/0?foo=1"),
])
def test_server_urls_are_shown_as_written_with_the_password_hidden(url, expected) -> None:
    with pytest.raises(StoreError) as info:
        open_queue(url)
    assert str(info.value).startswith(f"{expected}: "), info.value
    assert "s3cret" not in str(info.value)


def test_a_split_url_keeps_its_spelling_when_its_options_change() -> None:
    parts = split("SQLite:///jobs.db?serializer=json&busy_timeout=5#top")
    assert written(parts) == "SQLite:///jobs.db?serializer=json&busy_timeout=5#top"
    assert written(parts._replace(query="busy_timeout=5")) == "SQLite:///jobs.db?busy_timeout=5#top"
    assert written(parts._replace(query="", fragment="")) == "SQLite:///jobs.db"
    assert written(split("sqlite:///jobs.db?")._replace(query="a=1")) == "sqlite:///jobs.db?a=1"
    assert written(parts._replace(path="/other.db")) == "sqlite:///other.db?serializer=json&busy_timeout=5#top"
    assert shown(split("redis://u:pw@h/0?prefix=p")) == "redis://u:***@h/0?prefix=p"
