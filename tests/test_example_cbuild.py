"""examples/cbuild: a real C program (25 translation units, shared headers, an archive, a link) built with shell
tasks and gcc depfiles by ``taskgraph run``, as a subprocess, on a copy of the example: what each rebuild runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from taskgraph.runrecord import RunRecord, read_record

from .conftest import need_binary
from .test_cli_run import REPO, clean_env

EXAMPLE = REPO / "examples" / "cbuild"
INCLUDE = re.compile(r'^#include "([^"]+)"', re.M)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    need_binary("gcc", "the C example compiles with gcc")
    need_binary("ar", "the C example archives with ar")
    root = tmp_path / "cbuild"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("out", ".taskgraph"))
    return root


def build(root: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], RunRecord]:
    record = root / "run.jsonl"
    proc = subprocess.run([sys.executable, "-m", "taskgraph", "run", str(root / "build.py"), "-j", "2",
                           "--record", str(record), *args], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=clean_env())
    return proc, read_record(record)


def ran(record: RunRecord) -> set[str]:
    """The tasks that ran (not up to date, not blocked)."""
    return {t.name for t in record.tasks if t.started is not None}


def includers(root: Path, header: str) -> set[str]:
    """The compile tasks whose source includes ``header``, directly or through other headers (found by reading
    the sources, not from what the build recorded)."""
    def reaches(path: Path, seen: set[str]) -> bool:
        for name in INCLUDE.findall(path.read_text()):
            if name == header:
                return True
            if name not in seen:
                seen.add(name)
                if reaches(root / "include" / name, seen):
                    return True
        return False

    sources = [*sorted((root / "src").glob("*.c")), root / "tally.c"]
    return {f"cc {c.relative_to(root).as_posix()}" for c in sources if reaches(c, set())}


def tally(root: Path, *args: str) -> str:
    return subprocess.run([root / "out" / "tally", *args], capture_output=True, text=True, check=True).stdout


def test_the_example_has_at_least_20_translation_units_and_shared_headers():
    sources = list((EXAMPLE / "src").glob("*.c"))
    assert len(sources) + 1 >= 20
    assert len(includers(EXAMPLE, "common.h")) >= 20 and len(includers(EXAMPLE, "config.h")) >= 3


def test_a_clean_build_then_a_no_op_rebuild_that_runs_no_command(tree):
    proc, record = build(tree)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(record.tasks) == 27 and ran(record) == {t.name for t in record.tasks}
    assert tally(tree, "rpn", "3 4 + 2 *") == "14\n"
    assert tally(tree, "stats", "1", "2", "3", "4") == "n=4 sum=10 mean=2.5 min=1 max=4\n"
    assert tally(tree, "version") == "tally 1.2.0\n"

    proc, record = build(tree, "-v")  # -v prints each command as it starts: none does
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ran(record) == set() and all(t.uptodate for t in record.tasks)
    assert not re.search(r"^\$ ", proc.stdout, re.M)
    assert re.search(r"^done: 27 up to date, 0 ran in [\d.]+ s$", proc.stdout, re.M)


def test_changing_one_source_reruns_its_compile_the_archive_and_the_link_only(tree):
    assert build(tree)[0].returncode == 0
    version = tree / "src" / "version.c"
    version.write_text(version.read_text().replace('"tally "', '"tally, version "'))
    proc, record = build(tree)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ran(record) == {"cc src/version.c", "ar libtally.a", "link tally"}
    assert tally(tree, "version") == "tally, version 1.2.0\n"


def test_a_change_that_leaves_the_object_alone_stops_at_the_compile(tree):
    assert build(tree)[0].returncode == 0
    with (tree / "src" / "map.c").open("a") as f:
        f.write("/* a comment changes the source, not the object */\n")
    assert ran(build(tree)[1]) == {"cc src/map.c"}


@pytest.mark.parametrize("header, edit", [
    ("config.h", ('"1.2.0"', '"1.3.0"')),  # included by rpn.h too: the calculator's files recompile
    ("text.h", ("#endif", "size_t utf8_width(const char *text);\n#endif")),
    ("vec.h", ("#endif", "size_t vec_count(const Vec *v);\n#endif")),
])
def test_changing_a_header_reruns_exactly_the_compiles_that_include_it(tree, header, edit):
    assert build(tree)[0].returncode == 0
    path = tree / "include" / header
    path.write_text(path.read_text().replace(*edit))
    proc, record = build(tree)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    compiled = {name for name in ran(record) if name.startswith("cc ")}
    expected = includers(tree, header)
    assert compiled == expected and 2 <= len(expected) < 25
    if header == "config.h":  # the version string changed: so did version.o and tally.o
        assert {"ar libtally.a", "link tally"} <= ran(record)
        assert tally(tree, "version") == "tally 1.3.0\n"
    else:  # a new declaration changes no object: nothing after the compiles runs
        assert ran(record) == expected


def test_a_broken_tree_with_keep_going_reports_every_broken_file(tree):
    assert build(tree)[0].returncode == 0
    for name in ("hash.c", "utf8.c"):
        path = tree / "src" / name
        path.write_text(path.read_text().replace("{", "{ this is not C;", 1))
    (tree / "include" / "num.h").write_text((tree / "include" / "num.h").read_text() + "broken here\n")
    proc, record = build(tree, "-k")
    assert proc.returncode == 1
    broken = {"cc src/hash.c", "cc src/utf8.c"} | includers(tree, "num.h")
    states = {t.name: t.state for t in record.tasks}
    assert {name for name, state in states.items() if state == "FAILED"} == broken | {"ar libtally.a",
                                                                                     "link tally"}
    assert {t.name for t in record.tasks if t.state == "FAILED" and t.started is None} == {"ar libtally.a",
                                                                                         "link tally"}
    assert all(state == "DONE" for name, state in states.items() if name.startswith("cc ") and name not in broken)
    errors = proc.stdout[proc.stdout.index("\nerrors:\n"):]
    for source in ("src/hash.c", "src/utf8.c"):  # the command once, then the compiler's stderr, indented
        assert re.search(rf"^  cc {source}: CommandError: gcc .*-c {source} .*: exit status 1\n"
                         rf"(    .*\n)*    {source}:\d+:\d+: error:", errors, re.M), errors
    for name in includers(tree, "num.h"):
        source = name.removeprefix("cc ")
        assert re.search(rf"^  {name}: CommandError: .*\n    In file included from {source}:\d+:\n"
                         r"    include/num\.h:\d+:\d+: error:", errors, re.M), errors
