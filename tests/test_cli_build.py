"""``taskgraph run``, ``list`` and the review on a pipeline of shell tasks that declare files: up-to-date tasks
are shown as such, the state lives beside the pipeline, ``-B`` reruns everything, commands are printed."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from taskgraph import Task, make_now, shell
from taskgraph.review import Review
from taskgraph.runrecord import read_record
from taskgraph.views.run_progress import RunProgress
from taskgraph.views.run_view import render_snapshot, status_line
from taskgraph.views.status_view import to_text

from .test_cli_run import assert_one_line_error, command, invoke, summary, write_pipeline

BUILD = """
    import sys
    from pathlib import Path
    from taskgraph import shell

    HERE = Path(__file__).parent
    copy = shell("copy", [sys.executable, "-c", "import shutil; shutil.copy('src.txt', 'copy.txt')"], cwd=HERE,
                 inputs=[HERE / "src.txt"], outputs=[HERE / "copy.txt"])
    final = shell("final", [sys.executable, "-c", "open('final.txt', 'w').write(2 * open('copy.txt').read())"],
                  cwd=HERE, outputs=[HERE / "final.txt"]).require(copy)
"""
LAST_LINE = re.compile(r"^done: (?P<what>.*) in [\d.]+ s$")


def last_line(output: str) -> str:
    match = LAST_LINE.match(output.strip().splitlines()[-1])
    assert match, output
    return match["what"]


def test_a_rerun_shows_every_task_up_to_date_and_force_reruns_them(tmp_path: Path) -> None:
    pipeline, _ = write_pipeline(tmp_path, BUILD)
    (tmp_path / "src.txt").write_text("x")
    first = command("run", pipeline)  # from the repository: the state goes beside the pipeline all the same
    assert first.returncode == 0, first.stderr
    assert last_line(first.stdout) == "2 tasks DONE" and (tmp_path / "final.txt").read_text() == "xx"
    assert (tmp_path / ".taskgraph" / "state.sqlite").is_file()

    again = command("run", pipeline)
    assert last_line(again.stdout) == "2 up to date, 0 ran"
    assert summary(again.stdout) == {"copy": ("DONE", "up to date"), "final": ("DONE", "up to date")}
    assert re.search(r"^\d\d:\d\d:\d\d DONE +copy +up to date$", again.stdout, re.M)
    assert "RUNNING" not in again.stdout

    (tmp_path / "src.txt").write_text("y")
    assert last_line(command("run", pipeline, "copy").stdout) == "1 task DONE"
    assert last_line(command("run", pipeline).stdout) == "1 up to date, 1 ran"
    assert last_line(command("run", pipeline, "-B").stdout) == "2 tasks DONE"
    assert last_line(command("run", pipeline, "--force").stdout) == "2 tasks DONE"


def test_verbose_echoes_each_command_as_it_starts(tmp_path: Path) -> None:
    pipeline, _ = write_pipeline(tmp_path, BUILD)
    (tmp_path / "src.txt").write_text("x")
    result = command("run", pipeline, "-v")
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"^\S+ RUNNING +copy$", line))
    assert lines[start + 1] == (f"$ cd {tmp_path} && {sys.executable} -c 'import shutil; "
                                "shutil.copy('\"'\"'src.txt'\"'\"', '\"'\"'copy.txt'\"'\"')'")
    assert "$ " not in command("run", pipeline, "-B").stdout  # only with -v


def test_list_and_dry_run_print_the_commands(tmp_path: Path) -> None:
    pipeline, _ = write_pipeline(tmp_path, BUILD)
    listed = invoke("list", pipeline)
    assert re.search(rf"^final +copy +\$ cd {re.escape(str(tmp_path))} && \S+ -c 'open", listed.output, re.M)
    dry = invoke("run", pipeline, "--dry-run").output.splitlines()
    assert dry[1] == "  1. copy"
    assert dry[2].startswith(f"     $ cd {tmp_path} && {sys.executable} -c 'import shutil;")
    assert dry[3] == "  2. final  requires copy"
    assert "tasks that declare files run only if those are out of date" in dry
    assert not (tmp_path / ".taskgraph").exists()


def test_a_record_and_the_review_show_up_to_date_tasks(tmp_path: Path, dot: str) -> None:
    pipeline, _ = write_pipeline(tmp_path, BUILD)
    (tmp_path / "src.txt").write_text("x")
    assert command("run", pipeline).returncode == 0
    result = command("run", pipeline, "--record", tmp_path / "run.jsonl")
    assert result.returncode == 0, result.stderr
    record = read_record(tmp_path / "run.jsonl")
    assert [(t.name, t.state, t.uptodate, t.duration) for t in record.tasks] == [
        ("copy", "DONE", True, None), ("final", "DONE", True, None)]
    assert [m["event"] for m in record.tasks[0].moves] == ["uptodate"]
    tasks = [shell(t.name, ["true"]) for t in record.tasks]
    page = Review(tasks, record).html()
    assert page.count('<td class="num duration">up to date</td>') == 2
    assert "<th>Up to date</th>" in page


def test_the_live_display_and_the_last_line_count_up_to_date_tasks(tmp_path: Path) -> None:
    tasks = [Task(f"t{i}", outputs=[tmp_path / f"{i}.out"]) for i in range(3)]
    for i in range(2):
        (tmp_path / f"{i}.out").write_text("")
    make_now(*tasks[:2], state=tmp_path / "state.sqlite", force=True)  # recorded; t2 has never run
    tasks = [Task(f"t{i}", outputs=[tmp_path / f"{i}.out"]) for i in range(3)]
    progress = RunProgress(tasks, tasks)
    for t in tasks:
        t.track = progress.observe
    make_now(*tasks, state=tmp_path / "state.sqlite")
    progress.finish()
    snap = progress.snapshot()
    assert (snap.done, snap.uptodate, snap.failed) == (2, 2, 1)  # t2 made no 2.out
    assert "0 running, 2 up to date, 1 failed" in to_text([render_snapshot(snap)], width=100)
    assert status_line(progress, "failed", tasks).plain.startswith("failed: 0 DONE, 2 up to date, 1 FAILED in ")


BROKEN = """
    from taskgraph import shell

    ok = shell("ok", ["true"])
    bad = shell("bad", ["sh", "-c", "echo 'bad.c:1: error: oops' >&2; echo 'compilation terminated.' >&2; exit 2"])
    link = shell("link", ["true"]).require(ok, bad)
"""


def test_a_failed_command_shows_its_stderr_once_in_the_errors_section(tmp_path: Path) -> None:
    pipeline, _ = write_pipeline(tmp_path, BROKEN)
    result = command("run", pipeline)
    assert result.returncode == 1
    first = ("sh -c 'echo '\"'\"'bad.c:1: error: oops'\"'\"' >&2; echo '\"'\"'compilation terminated.'\"'\"' >&2; "
             "exit 2'")
    lines = result.stdout.splitlines()
    # the progress line says how it failed and its first error line; the command is shown once, in errors:
    assert re.match(r"^\S+ FAILED +bad +[\d.]+ s  CommandError: exit status 2: bad.c:1: error: oops$", lines[3])
    assert result.stdout.count("exit 2'") == 1
    errors = lines.index("errors:")
    assert lines[errors + 1:errors + 4] == [f"  bad: CommandError: {first}: exit status 2",
                                            "    bad.c:1: error: oops", "    compilation terminated."]
    assert lines.count("    compilation terminated.") == 1  # not after the progress and summary lines too


PARAMETERISED = """
    import sys
    from pathlib import Path
    from taskgraph import params, shell

    HERE = Path(__file__).parent
    copy = shell("copy", [sys.executable, "-c", "import shutil; shutil.copy('src.txt', 'copy.txt')"], cwd=HERE,
                 inputs=[HERE / "src.txt"], outputs=[HERE / "copy.txt"])
    final = shell("final", [sys.executable, "-c", "open('final.txt', 'w').write({times} * open('copy.txt').read())"
                            .replace("{times}", params.get("times", "2"))],
                  cwd=HERE, outputs=[HERE / "final.txt"]).require(copy)
    free = shell("free", ["true"])
"""


def explained(pipeline: Path, *args: str) -> tuple[int, list[str]]:
    result = invoke("explain", pipeline, *args)
    return result.exit_code, result.output.splitlines()


def test_explain_says_why_each_task_would_run_or_that_it_is_up_to_date(tmp_path: Path) -> None:
    pipeline, _ = write_pipeline(tmp_path, PARAMETERISED.replace("{", "{{").replace("}", "}}"))
    (tmp_path / "src.txt").write_text("x")
    code, lines = explained(pipeline, "copy")
    assert code == 1
    assert lines[:3] == ["copy: would run", "  it never ran to success here (no state for it in "
                         f"{tmp_path / '.taskgraph' / 'state.sqlite'})", f"  missing output: {tmp_path / 'copy.txt'}"]
    assert lines[3].startswith(f"  $ cd {tmp_path} && ")
    assert explained(pipeline, "final")[1][1] == f"  input that a prerequisite makes, not made yet: {tmp_path}/copy.txt"
    assert not (tmp_path / ".taskgraph").exists()  # explaining wrote nothing

    assert command("run", pipeline).returncode == 0
    assert explained(pipeline, "copy", "final") == (0, [
        "copy: up to date: 1 input unchanged; 1 output present; the same command",
        "final: up to date: 1 input unchanged; 1 output present; the same command"])
    assert explained(pipeline, "free") == (1, ["free: would run",
                                               "  it declares no files (inputs, outputs): it runs every time",
                                               "  $ true"])

    (tmp_path / "src.txt").write_text("y")
    (tmp_path / "final.txt").unlink()
    code, lines = explained(pipeline, "final", "copy")
    assert code == 1
    assert lines[0:2] == ["final: would run", f"  missing output: {tmp_path / 'final.txt'}"]
    assert lines[3] == "  first, its prerequisite copy would run, and may change its inputs"
    assert lines[4:6] == ["copy: would run", f"  changed input: {tmp_path / 'src.txt'}"]
    (tmp_path / "final.txt").write_text("xx")  # final is up to date again, but copy would run first
    code, lines = explained(pipeline, "final")
    assert (code, lines) == (1, ["final: up to date: 1 input unchanged; 1 output present; the same command",
                                 "  first, its prerequisite copy would run, and may change its inputs"])

    assert command("run", pipeline).returncode == 0
    code, lines = explained(pipeline, "final", "-D", "times=3")
    assert (code, lines[:2]) == (1, ["final: would run", "  its command changed since its last run"])


def test_explain_of_a_task_that_is_not_there_is_one_line_naming_it(tmp_path: Path) -> None:
    pipeline, _ = write_pipeline(tmp_path, PARAMETERISED.replace("{", "{{").replace("}", "}}"))
    result = command("explain", pipeline, "cpy")
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "cpy")


def test_clean_removes_declared_outputs_and_the_state_and_the_next_run_builds_all(tmp_path: Path) -> None:
    pipeline, _ = write_pipeline(tmp_path, PARAMETERISED.replace("{", "{{").replace("}", "}}"))
    (tmp_path / "src.txt").write_text("x")
    assert command("run", pipeline).returncode == 0
    dry = invoke("clean", pipeline, "-n")
    assert dry.exit_code == 0 and dry.output.splitlines() == [
        f"would remove {tmp_path / 'copy.txt'}", f"would remove {tmp_path / 'final.txt'}",
        "would remove 2 files and the build state; removed nothing (--dry-run)"]
    assert (tmp_path / "final.txt").exists()

    done = invoke("clean", pipeline)
    assert (done.exit_code, done.output) == (0, "removed 2 files and the build state\n")
    assert not (tmp_path / "copy.txt").exists() and not (tmp_path / "final.txt").exists()
    assert not (tmp_path / ".taskgraph" / "state.sqlite").exists() and (tmp_path / "src.txt").exists()
    assert last_line(command("run", pipeline).stdout) == "3 tasks DONE"


def test_clean_of_a_target_forgets_only_it_and_what_it_requires(tmp_path: Path) -> None:
    other = "    other = shell('other', ['touch', HERE / 'other.txt'], outputs=[HERE / 'other.txt'])\n"
    pipeline, _ = write_pipeline(tmp_path, PARAMETERISED.replace("{", "{{").replace("}", "}}") + other)
    (tmp_path / "src.txt").write_text("x")
    assert command("run", pipeline).returncode == 0
    done = invoke("clean", pipeline, "copy")
    assert (done.exit_code, done.output) == (0, "removed 1 file and the build state of 1 task\n")
    assert (tmp_path / "other.txt").exists() and (tmp_path / "final.txt").exists()
    result = command("run", pipeline, "--record", tmp_path / "run.jsonl")
    assert result.returncode == 0
    ran = {t.name for t in read_record(tmp_path / "run.jsonl").tasks if not t.uptodate}
    assert ran == {"copy", "free"}  # final: copy wrote the same bytes again


WARNS = """
    from taskgraph import shell

    parts = [shell(f"part{{i}}", ["sh", "-c", "echo 'part.c:1: warning: unused' >&2"]) for i in range(6)]
    bad = shell("bad", ["sh", "-c", "echo 'bad.c:2: error: oops' >&2; exit 1"]).require(*parts)
"""


def test_the_record_keeps_each_command_and_what_it_printed_on_stderr(tmp_path: Path) -> None:
    pipeline, _ = write_pipeline(tmp_path, WARNS)
    result = command("run", pipeline, "-j", "2", "--record", tmp_path / "run.jsonl")
    assert result.returncode == 1
    tasks = read_record(tmp_path / "run.jsonl").by_name()
    assert tasks["part0"].command == "sh -c 'echo '\"'\"'part.c:1: warning: unused'\"'\"' >&2'"
    assert tasks["part0"].stderr == "part.c:1: warning: unused\n" and tasks["part0"].state == "DONE"
    assert tasks["bad"].stderr == "bad.c:2: error: oops\n" and tasks["bad"].state == "FAILED"


def test_list_names_at_most_four_prerequisites_per_row(tmp_path: Path) -> None:
    pipeline, _ = write_pipeline(tmp_path, WARNS)
    listed = invoke("list", pipeline).output
    assert re.search(r"^bad +part0, part1, part2, and 3 more +\$ sh -c", listed, re.M), listed


def test_what_a_command_that_succeeded_printed_on_stderr_is_shown_once_before_the_last_line(tmp_path: Path) -> None:
    pipeline, _ = write_pipeline(tmp_path, WARNS.replace("exit 1", "exit 0"))
    result = command("run", pipeline, "-j", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    start = lines.index("warnings:")
    assert lines[start + 1:start + 3] == ["  part0: printed on stderr", "    part.c:1: warning: unused"]
    assert lines[start + 13:start + 15] == ["  bad: printed on stderr", "    bad.c:2: error: oops"]
    assert lines[-1].startswith("done: 7 tasks DONE") and result.stdout.count("warning: unused") == 6
    pipeline, _ = write_pipeline(tmp_path, BUILD)
    (tmp_path / "src.txt").write_text("x")
    assert "warnings:" not in command("run", pipeline).stdout


def test_a_very_long_name_and_error_do_not_push_the_columns_of_the_other_tasks(tmp_path: Path) -> None:
    long = "compile " + "very/deep/path/" * 20 + "file.c"
    tasks = [Task("short", outputs=[tmp_path / "s.out"]), Task(long, outputs=[tmp_path / "l.out"])]
    progress = RunProgress(tasks, tasks)
    for t in tasks:
        t.track = progress.observe
    make_now(*tasks, state=tmp_path / "state.sqlite", keep_going=True)  # both fail: neither makes its output
    progress.finish()
    lines = to_text([render_snapshot(progress.snapshot())], width=100).splitlines()
    failed = [line for line in lines if "did not make its output" in line or "\u2026" in line]
    assert len(failed) == 2 and all(len(line) <= 100 for line in lines), lines
    assert lines[-2].startswith("failed   short ") and lines[-1].startswith(" " * 9 + long[:30])
    assert lines[-2].index("BuildError") == lines[-1].index("BuildError") == 9 + 40 + 2  # a 40-character column
