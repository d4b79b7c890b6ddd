"""Hostile text, second pass: control characters, bidi overrides and lone surrogates in task names and job errors
never reach a terminal raw or break an SVG; huge values and private files.

A job's error text is whatever its code raised; shown raw, ``ESC ] 0 ;`` retitles the operator's terminal and
``ESC [ 2 J`` clears it. Everything shown from stored text writes such characters as escapes (``\\x1b``).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import xml.dom.minidom
from pathlib import Path

import pytest

from taskgraph import SerializationError, Task, make_now, open_queue, tasks_as_dot, tasks_as_svg
from taskgraph.errors import describe
from taskgraph.runrecord import RunRecorder
from taskgraph.safetext import shown
from tests.procs import ROOT

HOSTILE_ERROR = "\x1b]0;owned\x07\x1b[2J"
#: one of each class: C0 (NUL, BEL, ESC, CR), DEL, C1 (CSI, NEL), bidi overrides and isolates, a BOM, a lone
#: surrogate, and newline and tab
NAMES = ["nul\x00", "bel\x07", "esc\x1b[31m", "cr\rx", "del\x7f", "csi\x9b2J", "nel\x85", "rlo\u202egnp.exe",
         "iso\u2066x\u2069", "bom\ufeff", "lone\ud800", "two\nlines", "tab\tx"]
RAW = {chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x202E, 0x2066, 0x2069, 0xFEFF, 0xD800]}


def test_shown_escapes_every_unsafe_class_and_keeps_the_rest():
    for name in NAMES:
        assert not RAW & set(shown(name)), repr(shown(name))
    assert shown(HOSTILE_ERROR) == "\\x1b]0;owned\\x07\\x1b[2J"
    assert shown("a\u202eb") == "a\\u202eb"
    assert shown("é🙂 [bold] <b>&") == "é🙂 [bold] <b>&"
    assert shown("line 1\n\tline 2", lines=True) == "line 1\n\tline 2"
    assert shown("line 1\nline 2") == "line 1\\x0aline 2"


@pytest.mark.parametrize("name", NAMES, ids=[repr(n) for n in NAMES])
def test_svg_and_dot_stay_well_formed_for_any_name(name, dot):
    task = Task(name).require(Task(f"needs {name}"))
    source = tasks_as_dot([task])
    assert not RAW & set(source.replace("\n", "").replace("\t", ""))
    svg = tasks_as_svg([task], legend=True)
    xml.dom.minidom.parseString(svg.encode())  # raises on a document that is not well-formed
    assert shown(name).replace("&", "&amp;").replace("<", "&lt;").split("\\")[0] in svg


def test_status_and_worker_logs_show_a_hostile_error_escaped(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    env = {**os.environ, "TASKGRAPH_APP_URL": url, "PYTHONPATH": str(ROOT)}
    q = open_queue(url)
    try:
        from tests import hostile_app

        failing = hostile_app.make_queue(url).job("tests.jobs:fail").delay(HOSTILE_ERROR)
        worker = subprocess.run([sys.executable, "-m", "taskgraph", "worker", "tests.hostile_app:queue", "--burst"],
                                cwd=ROOT, env=env, capture_output=True, timeout=120)
        assert worker.returncode == 0, worker.stderr
        assert failing.status() == "FAILED"
        status = subprocess.run([sys.executable, "-m", "taskgraph", "status", url], cwd=ROOT, env=env,
                                capture_output=True, timeout=120)
    finally:
        q.close()
    assert status.returncode == 0, status.stderr
    for output in (status.stdout, worker.stderr):
        assert b"\x1b" not in output and b"\x07" not in output
    assert b"\\x1b]0;owned\\x07\\x1b[2J" in status.stdout
    assert b"\\x1b]0;owned\\x07\\x1b[2J" in worker.stderr  # the worker's log line of the failure


def test_a_huge_int_argument_is_a_serialization_error_naming_it(tmp_path):
    from tests import hostile_app

    q = hostile_app.make_queue(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        with pytest.raises(SerializationError, match=r"argument 0 \(int of 16610 bits, too long to show\) cannot be "
                                                     r"encoded as json"):
            q.job("tests.jobs:add").delay(10**5000, 1)
        assert q.list() == []
    finally:
        q.close()
    assert describe(10**5000) == "int of 16610 bits, too long to show"


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_the_sqlite_store_and_run_records_are_created_readable_by_their_owner_only(tmp_path):
    old = os.umask(0o022)  # the usual umask, which would make them 0644
    try:
        q = open_queue(f"sqlite:///{tmp_path / 'jobs.db'}")
        try:
            from tests import hostile_app

            hostile_app.make_queue(q.url).job("tests.jobs:add").delay(1, 2)
            made = [p for p in tmp_path.iterdir() if p.name.startswith("jobs.db")]
            assert {p.name for p in made} >= {"jobs.db", "jobs.db-wal"}
            assert all(_private(p) for p in made), {p.name: oct(p.stat().st_mode) for p in made}
        finally:
            q.close()
        task = Task("t")
        recorder = RunRecorder(tmp_path / "run.jsonl", [task])
        make_now(task)
        recorder.close("done")
        assert _private(tmp_path / "run.jsonl")
    finally:
        os.umask(old)


def test_run_list_and_dry_run_show_hostile_task_names_and_errors_escaped(tmp_path):
    pipeline = tmp_path / "pipe.py"
    pipeline.write_text(
        "from taskgraph import Task\n"
        "def boom():\n"
        f"    raise ValueError({HOSTILE_ERROR!r})\n"
        "first = Task('esc\\x1b[2Jname\\u202e', boom)\n"
        "then = Task('after\\x07', print).require(first)\n",
        encoding="utf-8",
    )
    outputs = []
    for args in (["run", str(pipeline)], ["run", str(pipeline), "-k", "-v"], ["list", str(pipeline)],
                 ["run", str(pipeline), "--dry-run"]):
        done = subprocess.run([sys.executable, "-m", "taskgraph", *args], cwd=ROOT, capture_output=True, timeout=120)
        assert done.returncode in (0, 1), done.stderr
        outputs.append(done.stdout + done.stderr)
    for output in outputs:
        assert not RAW & set(output.decode("utf-8", "surrogateescape").replace("\n", "").replace("\t", ""))
        assert b"esc\\x1b[2Jname\\u202e" in output
    assert b"\\x1b]0;owned\\x07\\x1b[2J" in outputs[0]  # the failure's error in the summary


def test_libpq_options_in_a_postgresql_url_reach_the_server_as_written(postgres_url):
    import psycopg

    from tests.conftest import unique_name

    schema, short = unique_name("tgopt"), unique_name("tgopt")
    sep = "&" if "?" in postgres_url else "?"
    q = open_queue(f"{postgres_url}{sep}options=-c%20statement_timeout%3D4321&schema={schema}")
    try:
        session = q.store._pg  # type: ignore[attr-defined]
        assert session.conn.execute("SHOW statement_timeout").fetchone() == ("4321ms",)
        with pytest.raises(Exception, match="statement timeout") as info:  # 1 ms: too short to make the tables
            open_queue(f"{postgres_url}{sep}options=-c%20statement_timeout%3D1&schema={short}")
        assert "cannot reach" not in str(info.value)
    finally:
        q.close()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            for name in (schema, short):
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
