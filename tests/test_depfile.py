"""Depfiles: the make rules a compile writes become its inputs after it runs (taskgraph.build.depfile), on real
files and real commands."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from taskgraph import State, Task, make_now, shell
from taskgraph.build.depfile import DepfileError, parse_depfile, read_depfile
from taskgraph.build.state import StateDB

from .conftest import need_binary

# ------------------------------------------------------------------ the format


def test_a_gcc_depfile_with_continuations_gives_every_prerequisite_once():
    text = "out/main.o: src/main.c src/util.h \\\n  /usr/include/stdio.h \\\n src/util.h\n"
    assert parse_depfile(text) == ["src/main.c", "src/util.h", "/usr/include/stdio.h"]


def test_escaped_spaces_hashes_and_dollars_are_part_of_the_path():
    text = "a\\ b.o: my\\ dir/x\\ y.h odd\\#name.h price$$.h plain.h\n"
    assert parse_depfile(text) == ["my dir/x y.h", "odd#name.h", "price$.h", "plain.h"]


def test_backslashes_before_a_space_follow_ninja_rules():
    # 2N+1 backslashes then a space: N backslashes and a space; 2N then a space: N backslashes, then a new word
    assert parse_depfile("t: a\\\\\\ b c\\\\ d\n") == ["a\\ b", "c\\", "d"]
    assert parse_depfile("t: C:\\src\\x.h\n") == ["C:\\src\\x.h"]


def test_several_targets_several_rules_and_crlf_lines():
    text = "x.o x.d : x.c x.h\r\n\r\nx.h:\r\n# a comment\r\ny.o: y.c \\\r\n y.h\r\n"
    assert parse_depfile(text) == ["x.c", "x.h", "y.c", "y.h"]


def test_a_windows_drive_is_not_the_separator_and_a_rule_may_have_no_space_after_the_colon():
    assert parse_depfile("C:/out/x.o: C:/src/x.c\n") == ["C:/src/x.c"]
    assert parse_depfile("x.o:x.c\n") == ["x.c"]


def test_a_continuation_on_the_last_line_and_no_final_newline_are_read():
    assert parse_depfile("x.o: a.h \\") == ["a.h"]
    assert parse_depfile("x.o: a.h b.h") == ["a.h", "b.h"]


@pytest.mark.parametrize("text, says", [
    ("", "holds no rule"),
    ("   \n\n", "holds no rule"),
    ("just some words\n", "line 1: no ':' between targets and prerequisites (at 'just')"),
    ("x.o: a.h\nnonsense here\n", "line 2: no ':'"),
    (": a.h\n", "line 1: a rule with no target"),
    ("x.o: a.h: b.h\n", "line 1: a second ':'"),
])
def test_a_garbled_depfile_says_where(text, says):
    with pytest.raises(DepfileError, match=None) as caught:
        parse_depfile(text)
    assert says in str(caught.value)


def test_relative_paths_are_taken_from_where_the_command_ran(tmp_path):
    (tmp_path / "x.d").write_text("x.o: ../inc/a.h /abs/b.h sub/./c.h\n")
    assert read_depfile(str(tmp_path / "x.d"), "/work/src") == ["/work/inc/a.h", "/abs/b.h", "/work/src/sub/c.h"]


# ------------------------------------------------------------------ builds with depfiles

#: A "compiler" that reads NAME.src and every file it names on lines "include FILE", writes NAME.out and a depfile.
COMPILE = """
import sys
src, out, dep = sys.argv[1:4]
read = [src]
text = open(src).read()
for line in text.splitlines():
    if line.startswith("include "):
        read.append(line.split(" ", 1)[1])
        text += open(read[-1]).read()
open(out, "w").write(text.upper())
open(dep, "w").write(out + ": " + " \\\\\\n  ".join(p.replace(" ", "\\\\ ") for p in read) + "\\n")
"""


def compiles(root: Path, names: list[str]) -> dict[str, Task]:
    tasks = {}
    for name in names:
        src, out, dep = (root / f"{name}.{ext}" for ext in ("src", "out", "d"))
        tasks[name] = shell(name, [sys.executable, "-c", COMPILE, src.name, out.name, dep.name], cwd=root,
                            inputs=[src], outputs=[out], depfile=dep)
    make_now(*tasks.values(), state=root / "state.sqlite", keep_going=True)
    return tasks


def ran(tasks: dict[str, Task]) -> list[str]:
    return sorted(name for name, t in tasks.items() if [m.event for m in t.history][-2:] == ["dispatch", "done"])


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "one.h").write_text("one\n")
    (tmp_path / "two words.h").write_text("two\n")
    (tmp_path / "a.src").write_text("include one.h\n")
    (tmp_path / "b.src").write_text("include two words.h\n")
    (tmp_path / "c.src").write_text("include one.h\ninclude two words.h\n")
    (tmp_path / "d.src").write_text("nothing included\n")
    return tmp_path


def test_touching_a_header_reruns_exactly_the_tasks_whose_depfile_listed_it(tree):
    assert ran(compiles(tree, ["a", "b", "c", "d"])) == ["a", "b", "c", "d"]
    assert ran(compiles(tree, ["a", "b", "c", "d"])) == []
    (tree / "one.h").write_text("one changed\n")
    assert ran(compiles(tree, ["a", "b", "c", "d"])) == ["a", "c"]
    (tree / "two words.h").write_text("two changed\n")
    assert ran(compiles(tree, ["a", "b", "c", "d"])) == ["b", "c"]
    assert ran(compiles(tree, ["a", "b", "c", "d"])) == []


def test_the_inputs_a_depfile_listed_are_kept_in_the_build_state(tree):
    compiles(tree, ["c"])
    _, tasks = StateDB(tree / "state.sqlite").load()
    assert sorted(Path(p).name for p in tasks["c"].found) == ["one.h", "two words.h"]
    assert set(tasks["c"].found) <= set(tasks["c"].inputs)


def test_an_include_removed_from_a_source_is_no_longer_an_input(tree):
    compiles(tree, ["c"])
    (tree / "c.src").write_text("include one.h\n")
    assert ran(compiles(tree, ["c"])) == ["c"]
    (tree / "two words.h").write_text("no longer read by c\n")
    assert ran(compiles(tree, ["c"])) == []


def test_a_header_that_disappeared_reruns_its_includer_which_then_says_why_it_failed(tree):
    compiles(tree, ["a", "d"])
    (tree / "one.h").unlink()
    again = compiles(tree, ["a", "d"])
    assert ran(again) == [] and again["a"].state is State.FAILED and again["d"].state is State.DONE
    assert "one.h" in str(again["a"].exception)  # the command's own error, not a build error about one.h


def test_a_depfile_the_command_did_not_write_fails_the_task_saying_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    task = shell("cc", ["touch", tmp_path / "x.o"], outputs=[tmp_path / "x.o"], depfile=tmp_path / "x.d")
    (tmp_path / "x.d").write_text("stale.o: stale.h\n")  # from an earlier run: removed before the command runs
    make_now(task, state=tmp_path / "state.sqlite")
    assert task.state is State.FAILED
    assert str(task.exception) == ("task 'cc' ran but did not write its depfile x.d: its command must write it "
                                   "(gcc and clang: -MD -MF x.d)")


def test_a_garbled_depfile_fails_the_task_naming_the_file_and_the_line(tmp_path):
    dep = tmp_path / "x.d"
    task = shell("cc", ["sh", "-c", f"printf 'x.o: a.h\\nnot a rule\\n' > '{dep}'; touch x.o"], cwd=tmp_path,
                 outputs=[tmp_path / "x.o"], depfile=dep)
    make_now(task, state=tmp_path / "state.sqlite")
    assert task.state is State.FAILED
    assert "task 'cc': its depfile" in str(task.exception) and "line 2: no ':'" in str(task.exception)


def test_a_depfile_without_outputs_is_refused_when_the_task_is_made():
    with pytest.raises(TypeError, match="a task with a depfile must declare its outputs"):
        shell("cc", ["true"], depfile="x.d")


def test_a_state_database_of_version_1_is_brought_to_version_2_keeping_its_tasks(tmp_path):
    db = sqlite3.connect(tmp_path / "state.sqlite")
    db.executescript("CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
                     " digest TEXT NOT NULL) WITHOUT ROWID;"
                     "CREATE TABLE tasks (key TEXT PRIMARY KEY, identity TEXT NOT NULL, inputs TEXT NOT NULL,"
                     " at REAL NOT NULL) WITHOUT ROWID;"
                     "INSERT INTO tasks VALUES ('old', 'abc', '{}', 0); PRAGMA user_version=1;")
    db.close()
    files, tasks = StateDB(tmp_path / "state.sqlite").load()
    assert tasks["old"].identity == "abc" and tasks["old"].found == ()
    db = sqlite3.connect(tmp_path / "state.sqlite")
    assert db.execute("PRAGMA user_version").fetchone() == (2,)


def test_gcc_depfiles_rebuild_exactly_the_includers_of_a_header(tmp_path):
    need_binary("gcc", "the depfile test compiles with gcc")
    (tmp_path / "a.h").write_text("#define A 1\n")
    (tmp_path / "b.h").write_text("#define B 2\n")
    (tmp_path / "x.c").write_text('#include "a.h"\nint x(void) { return A; }\n')
    (tmp_path / "y.c").write_text('#include "a.h"\n#include "b.h"\nint y(void) { return A + B; }\n')
    (tmp_path / "z.c").write_text('#include "b.h"\nint z(void) { return B; }\n')

    def build() -> dict[str, Task]:
        tasks = {n: shell(n, ["gcc", "-c", f"{n}.c", "-o", f"{n}.o", "-MD", "-MF", f"{n}.d"], cwd=tmp_path,
                          inputs=[tmp_path / f"{n}.c"], outputs=[tmp_path / f"{n}.o"], depfile=tmp_path / f"{n}.d")
                 for n in ("x", "y", "z")}
        make_now(*tasks.values(), queue="threads://2", state=tmp_path / "state.sqlite")
        assert all(t.state is State.DONE for t in tasks.values()), [t.exception for t in tasks.values()]
        return tasks

    assert ran(build()) == ["x", "y", "z"]
    assert ran(build()) == []
    (tmp_path / "b.h").write_text("#define B 3\n")
    assert ran(build()) == ["y", "z"]
    os.utime(tmp_path / "a.h")  # touched, not changed: nothing reruns
    assert ran(build()) == []
    assert subprocess.run(["nm", tmp_path / "y.o"], capture_output=True, text=True).returncode == 0


def test_explain_names_the_header_that_changed_or_disappeared(tree, monkeypatch):
    from taskgraph.build.explain import explain

    monkeypatch.chdir(tree)  # paths are shown relative to it
    compiles(tree, ["a", "c"])
    task = shell("c", [sys.executable, "-c", COMPILE, "c.src", "c.out", "c.d"], cwd=tree, inputs=[tree / "c.src"],
                 outputs=[tree / "c.out"], depfile=tree / "c.d")
    fresh = explain(task, tree / "state.sqlite")
    assert fresh == (True, ["3 inputs unchanged (2 of them listed by its depfile c.d); 1 output present; the same "
                            "command"])
    (tree / "one.h").write_text("changed\n")
    (tree / "two words.h").unlink()
    assert explain(task, tree / "state.sqlite") == (False, ["changed input: one.h",
                                                            "input its depfile listed, now missing: two words.h"])


def test_a_header_many_depfiles_list_is_looked_at_once_per_build(tree, monkeypatch):
    from collections import Counter

    from taskgraph.build.check import FileBuilder

    compiles(tree, ["a", "c"])
    tasks = [shell(n, [sys.executable, "-c", COMPILE, f"{n}.src", f"{n}.out", f"{n}.d"], cwd=tree,
                   inputs=[tree / f"{n}.src"], outputs=[tree / f"{n}.out"], depfile=tree / f"{n}.d")
             for n in ("a", "c")]
    looked: Counter[str] = Counter()
    real_stat = os.stat

    def stat(path, *args, **kwargs):
        looked[os.fspath(path)] += 1
        return real_stat(path, *args, **kwargs)

    builder = FileBuilder(state=tree / "state.sqlite")
    builder.admit(tasks)
    monkeypatch.setattr(os, "stat", stat)
    assert [builder.uptodate(t) for t in tasks] == [True, True]
    monkeypatch.undo()
    builder.close()
    assert looked[str(tree / "one.h")] == 1  # listed by both depfiles
    assert looked[str(tree / "a.src")] == 1 and looked[str(tree / "c.src")] == 1
