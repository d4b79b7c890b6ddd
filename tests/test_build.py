"""Builds: tasks that declare files run only when those are out of date (taskgraph.build), on real files."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from taskgraph import BuildError, State, Task, make_now, shell
from taskgraph.build.check import FileBuilder
from taskgraph.build.state import StateDB

from .conftest import LOCAL_QUEUES, need_binary

OLD = 1_000_000_000  # an mtime (2001) that no test run writes


def upper(src: Path, dst: Path) -> None:
    """Write src in capitals to dst."""
    dst.write_text(src.read_text().upper())


def join(dst: Path, *sources: Path, sep: str = "+") -> None:
    dst.write_text(sep.join(s.read_text() for s in sources))


def lazy(dst: Path) -> None:
    """Declares dst but never writes it."""


def graph(root: Path, sep: str = "+") -> dict[str, Task]:
    """a.txt -> A -> a.out, b.txt -> B -> b.out; C joins a.out and b.out (its prerequisites' outputs) into c.out."""
    a = Task("A", upper, args=(root / "a.txt", root / "a.out"), inputs=[root / "a.txt"], outputs=[root / "a.out"])
    b = Task("B", upper, args=(root / "b.txt", root / "b.out"), inputs=[root / "b.txt"], outputs=[root / "b.out"])
    c = Task("C", join, args=(root / "c.out", root / "a.out", root / "b.out"), kwargs={"sep": sep},
             outputs=[root / "c.out"]).require(a, b)
    return {"A": a, "B": b, "C": c}


def build(root: Path, queue: str | None = None, sep: str = "+", **options) -> dict[str, Task]:
    tasks = graph(root, sep)
    make_now(tasks["C"], queue=queue, state=root / "state.sqlite", **options)
    return tasks


def ran(tasks: dict[str, Task]) -> list[str]:
    return sorted(name for name, t in tasks.items() if [m.event for m in t.history][-2:] == ["dispatch", "done"])


def up_to_date(tasks: dict[str, Task]) -> list[str]:
    return sorted(name for name, t in tasks.items() if [m.event for m in t.history] == ["uptodate"])


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    return tmp_path


@pytest.mark.parametrize("queue", LOCAL_QUEUES)
def test_a_rebuild_with_nothing_changed_runs_nothing_and_says_every_task_is_up_to_date(root, queue):
    first = build(root, queue)
    assert ran(first) == ["A", "B", "C"] and (root / "c.out").read_text() == "A+B"
    again = build(root, queue)
    assert up_to_date(again) == ["A", "B", "C"]
    assert all(t.state is State.DONE and t.result is None for t in again.values())
    assert [(m.source, m.event, m.dest) for m in again["C"].history] == [(State.PENDING, "uptodate", State.DONE)]


@pytest.mark.parametrize("queue", ["inline:", "threads://2"])
def test_changing_one_input_reruns_exactly_its_task_and_what_depends_on_it(root, queue):
    build(root, queue)
    (root / "a.txt").write_text("aa")
    again = build(root, queue)
    assert ran(again) == ["A", "C"] and up_to_date(again) == ["B"]
    assert (root / "c.out").read_text() == "AA+B"


def test_a_rerun_that_writes_the_same_output_does_not_rerun_what_depends_on_it(root):
    build(root)
    (root / "a.txt").write_text("A")  # upper() writes the same a.out
    again = build(root)
    assert ran(again) == ["A"] and up_to_date(again) == ["B", "C"]


def test_touching_an_input_without_changing_it_reruns_nothing(root):
    build(root)
    os.utime(root / "a.txt", ns=(OLD, OLD))
    assert up_to_date(build(root)) == ["A", "B", "C"]
    # and the new mtime is recorded: the file is trusted without being read from now on
    builder = FileBuilder(state=root / "state.sqlite")
    builder.uptodate(graph(root)["A"])
    assert builder.hashed == 0


def test_a_file_whose_size_and_mtime_did_not_change_is_not_read_again(root):
    """The cheap check make and ninja rely on: same size and mtime, same content."""
    os.utime(root / "a.txt", ns=(OLD, OLD))
    build(root)
    (root / "a.txt").write_text("z")  # same size...
    os.utime(root / "a.txt", ns=(OLD, OLD))  # ...and mtime: taken as unchanged
    assert up_to_date(build(root)) == ["A", "B", "C"]
    os.utime(root / "a.txt", ns=(OLD + 1, OLD + 1))  # an mtime that moved: read, and found changed
    assert ran(build(root)) == ["A", "C"]


def test_a_missing_output_reruns_its_task(root):
    build(root)
    (root / "b.out").unlink()
    again = build(root)
    assert ran(again) == ["B"] and up_to_date(again) == ["A", "C"]
    assert (root / "b.out").read_text() == "B"


def test_a_changed_argument_reruns_the_task(root):
    build(root)
    again = build(root, sep="-")
    assert ran(again) == ["C"] and (root / "c.out").read_text() == "A-B"


def test_force_runs_every_task_and_records_them(root):
    build(root)
    assert ran(build(root, force=True)) == ["A", "B", "C"]
    assert up_to_date(build(root)) == ["A", "B", "C"]


def test_a_glob_input_sees_a_new_file(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "one.txt").write_text("1")

    def run() -> Task:
        sources = tmp_path / "src" / "*.txt"
        task = Task("all", join, args=(tmp_path / "all.out", tmp_path / "src" / "one.txt"), inputs=[sources],
                    outputs=[tmp_path / "all.out"])
        make_now(task, state=tmp_path / "state.sqlite")
        return task

    run()
    assert [m.event for m in run().history] == ["uptodate"]
    (tmp_path / "src" / "two.txt").write_text("2")
    assert [m.event for m in run().history] == ["dispatch", "done"]


def test_an_output_its_task_did_not_make_fails_it_naming_the_output(tmp_path, queue_url, monkeypatch):
    monkeypatch.chdir(tmp_path)  # paths below it are shown relative to it
    task = Task("lazy", lazy, args=(tmp_path / "out.txt",), outputs=[tmp_path / "out.txt"])
    after = task.then("after", upper, args=(tmp_path / "out.txt", tmp_path / "x"))
    make_now(after, queue=queue_url, state=tmp_path / "state.sqlite")
    assert task.state is State.FAILED and after.state is State.FAILED
    assert isinstance(task.exception, BuildError)
    assert str(task.exception) == "task 'lazy' did not make its output out.txt"
    assert [m.event for m in task.history][-1] == "fail"


def test_an_input_that_exists_nowhere_fails_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.txt").write_text("a")
    first = Task("first", upper, args=(tmp_path / "a.txt", tmp_path / "a.out"), inputs=["a.txt"],
                 outputs=["a.out"])
    reader = Task("reader", upper, args=(tmp_path / "typo.txt", tmp_path / "r.out"), inputs=["typo.txt"],
                  outputs=["r.out"])
    with pytest.raises(BuildError) as info:
        make_now(first, reader, state=tmp_path / "state.sqlite")
    assert str(info.value) == ("task 'reader': input typo.txt does not exist, and no prerequisite declares it as "
                               "an output")
    assert first.state is State.PENDING and not (tmp_path / "a.out").exists()


def test_an_input_made_by_a_prerequisite_need_not_exist_yet(root):
    assert ran(build(root)) == ["A", "B", "C"]  # C declares no inputs: a.out and b.out come from A and B
    c = Task("D", upper, args=(root / "a.out", root / "d.out"), inputs=[root / "a.out"], outputs=[root / "d.out"])
    (root / "a.out").unlink()
    tasks = graph(root)
    make_now(c.require(tasks["A"]), state=root / "state.sqlite")
    assert c.state is State.DONE and (root / "d.out").read_text() == "A"


def test_two_tasks_that_declare_one_output_are_refused_naming_both(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one = Task("one", lazy, args=(tmp_path / "x",), outputs=["x.o"])
    two = Task("two", lazy, args=(tmp_path / "x",), outputs=["x.o"])
    with pytest.raises(BuildError, match=r"^tasks 'one' and 'two' both declare the output x\.o: each file must be "
                                         r"made by one task$"):
        make_now(Task("all").require(one, two), state=tmp_path / "state.sqlite")
    assert one.state is State.PENDING and two.state is State.PENDING


def test_reading_what_another_task_writes_without_requiring_it_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    writer = Task("writer", lazy, args=(tmp_path / "x",), outputs=["gen.h"])
    reader = Task("reader", lazy, args=(tmp_path / "y",), inputs=["gen.h"], outputs=["y"])
    with pytest.raises(BuildError, match=r"^task 'reader' reads gen\.h, which task 'writer' writes, but does not "
                                         r"require it: add reader\.require\(writer\)$"):
        make_now(writer, reader, state=tmp_path / "state.sqlite")


def test_bad_declarations_are_refused_when_the_task_is_made():
    with pytest.raises(ValueError, match="output .* is a glob pattern"):
        Task("t", outputs=["*.o"])
    with pytest.raises(ValueError, match="is both an input and an output"):
        Task("t", inputs=["x"], outputs=["x"])
    with pytest.raises(TypeError, match="inputs must be paths"):
        Task("t", inputs=[3])


def test_an_argument_without_a_stable_value_fails_the_task_saying_why(tmp_path):
    task = Task("odd", lazy, args=(object(),), outputs=[tmp_path / "x"])
    make_now(task, state=tmp_path / "state.sqlite")
    assert task.state is State.FAILED
    assert str(task.exception).startswith("task 'odd': an argument of type 'object' has no stable value to key a "
                                          "build on: pass plain values")


def test_a_corrupt_state_database_is_rebuilt_with_a_warning(root, caplog):
    build(root)
    (root / "state.sqlite").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{root / 'state.sqlite'}{suffix}").unlink(missing_ok=True)
    with caplog.at_level(logging.WARNING, logger="taskgraph.build"):
        again = build(root)
    assert ran(again) == ["A", "B", "C"]  # nothing is known: everything runs once...
    assert "is unreadable" in caplog.text and "moved it to state.sqlite.corrupt" in caplog.text
    assert (root / "state.sqlite.corrupt").exists()
    assert up_to_date(build(root)) == ["A", "B", "C"]  # ...and is recorded again


def test_the_state_lives_in_dot_taskgraph_in_the_current_directory_by_default(root, monkeypatch):
    monkeypatch.chdir(root)
    tasks = graph(root)
    make_now(tasks["C"])
    assert (root / ".taskgraph" / "state.sqlite").is_file()
    assert (root / ".taskgraph" / ".gitignore").read_text().endswith("*\n")
    tasks = graph(root)
    make_now(tasks["C"])
    assert up_to_date(tasks) == ["A", "B", "C"]


BUILDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from taskgraph import Task, make_now
    from tests.test_build import upper

    root, prefix = Path(sys.argv[1]), sys.argv[2]
    tasks = [Task(f"{prefix}{i}", upper, args=(root / f"{i}.txt", root / f"{prefix}{i}.out"),
                  inputs=[root / f"{i}.txt"], outputs=[root / f"{prefix}{i}.out"]) for i in range(200)]
    done = make_now(*tasks, queue="threads://2", state=root / "state.sqlite")
    print(sum(t.history[-1].event == "uptodate" for t in done), sum(t.state == "DONE" for t in done))
""")


def _open_state(path: str) -> bool:
    """In a process of its own: whether a build could use the state at ``path`` (see the test below)."""
    db = StateDB(path)
    db.load()
    db.close()
    return not db.broken


def test_processes_opening_a_new_state_file_at_once_all_use_it(tmp_path):
    # switching a new file to WAL takes a lock SQLite's busy timeout does not wait for: one of two builds opening
    # the file at once was told "database is locked" and built without state (1 in 4 runs of the test below)
    context = multiprocessing.get_context("fork")
    with context.Pool(4) as pool:
        for i in range(25):
            path = str(tmp_path / f"state{i}.sqlite")
            assert pool.map(_open_state, [path] * 4) == [True] * 4, f"round {i}"


def test_two_builds_at_once_share_the_state_database_safely(tmp_path):
    for i in range(200):
        (tmp_path / f"{i}.txt").write_text(str(i))
    script = tmp_path / "builder.py"
    script.write_text(BUILDER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    def start(prefix: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, str(script), str(tmp_path), prefix], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    both = [start("x"), start("y")]
    outs = [p.communicate(timeout=120) for p in both]
    assert [p.returncode for p in both] == [0, 0], outs
    # nothing said about the state: a warning would read "cannot use the build state ..." (logging's last resort
    # prints the message alone, with no level)
    assert [out for out, _ in outs] == ["0 200\n", "0 200\n"] and all("build state" not in err for _, err in outs)
    db = sqlite3.connect(tmp_path / "state.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT count(*) FROM tasks").fetchone() == (400,)
    db.close()
    again = [start("x"), start("y")]
    assert [p.communicate(timeout=120)[0] for p in again] == ["200 200\n", "200 200\n"]


def test_a_c_program_rebuilds_only_what_a_change_touches(tmp_path):
    need_binary("gcc", "the C build test compiles with gcc")
    (tmp_path / "util.c").write_text("int twice(int x) { return 2 * x; }\n")
    (tmp_path / "main.c").write_text('#include <stdio.h>\nint twice(int);\n'
                                     'int main(void) { printf("%d\\n", twice(21)); return 0; }\n')

    def program() -> dict[str, Task]:
        objects = {}
        for name in ("util", "main"):
            c, o = tmp_path / f"{name}.c", tmp_path / f"{name}.o"
            objects[name] = shell(f"cc {name}", ["gcc", "-c", c, "-o", o], inputs=[c], outputs=[o])
        link = shell("link", ["gcc", tmp_path / "util.o", tmp_path / "main.o", "-o", tmp_path / "prog"],
                     outputs=[tmp_path / "prog"]).require(*objects.values())
        make_now(link, queue="threads://2", state=tmp_path / "state.sqlite")
        return {**objects, "link": link}

    assert ran(program()) == ["link", "main", "util"]
    assert subprocess.run([tmp_path / "prog"], capture_output=True, text=True).stdout == "42\n"
    assert up_to_date(program()) == ["link", "main", "util"]
    (tmp_path / "util.c").write_text("int twice(int x) { return x + x + 1; }\n")
    again = program()
    assert ran(again) == ["link", "util"] and up_to_date(again) == ["main"]
    assert subprocess.run([tmp_path / "prog"], capture_output=True, text=True).stdout == "43\n"


def test_a_task_queue_skips_up_to_date_tasks_too(root):
    from taskgraph import TaskQueue

    build(root)
    tasks = graph(root)
    assert sorted(t.name for t in TaskQueue(*tasks.values(), state=root / "state.sqlite").run()) == ["A", "B", "C"]
    assert up_to_date(tasks) == ["A", "B", "C"]
    tasks = graph(root)
    list(TaskQueue(*tasks.values(), state=root / "state.sqlite", force=True).run())
    assert ran(tasks) == ["A", "B", "C"]


def test_a_state_database_that_cannot_be_made_is_a_warning_and_the_build_runs(root, caplog):
    (root / "blocker").write_text("a file where the state's folder should be")
    with caplog.at_level(logging.WARNING, logger="taskgraph.build"):
        tasks = graph(root)
        make_now(tasks["C"], state=root / "blocker" / "state.sqlite")
    assert ran(tasks) == ["A", "B", "C"]
    assert "cannot use the build state" in caplog.text and "building without it" in caplog.text
