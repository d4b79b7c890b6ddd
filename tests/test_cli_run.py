"""``taskgraph run`` and ``taskgraph list``: through click's CliRunner, as real subprocesses, with Ctrl-C sent for
real, and the live display on a real terminal (tmux)."""

from __future__ import annotations

import csv
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from taskgraph import Task
from taskgraph.cli import main
from taskgraph.runrecord import InOrder, RunRecord, RunRecorder, read_record
from taskgraph.states import TRANSITIONS, State
from taskgraph.timefmt import clock, duration, stopwatch

from .conftest import need_binary

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "pipeline.py"
#: Variables that would make rich treat a pipe as a terminal, or change its width.
TERMINAL_VARIABLES = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES", "NO_COLOR")
START_LINE = re.compile(r"^\d\d:\d\d:\d\d RUNNING +(?P<name>\S+)$")
END_LINE = re.compile(
    r"^\d\d:\d\d:\d\d (?P<state>DONE|FAILED|CANCELLED) +(?P<name>\S+) +(?P<took>[\d.]+ s|-)(?: +(?P<why>.+))?$")
SUMMARY_LINE = re.compile(r"^  (?P<state>[A-Z]+) +(?P<name>\S+) +(?P<rest>.*)$")

# ------------------------------------------------------------------ pipelines the tests run

STEPS = """
    import time
    from pathlib import Path
    from taskgraph import Task

    OUT = Path({out!r})

    def step(name, seconds=0.0):
        '''Write NAME.done into the output folder.

        More words that list does not show.'''
        time.sleep(seconds)
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / f"{{name}}.done").write_text(name)
        return name

    def boom(name):
        '''Fail on purpose.'''
        raise ValueError(f"{{name}} went boom")
"""

CHAIN = STEPS + """
    fetch = Task("fetch", step, args=("fetch", 0.05))
    clean = Task("clean", step, args=("clean", 0.02)).require(fetch)
    stats = Task("stats", step, args=("stats", 0.02)).require(fetch)
    report = Task("report", step, args=("report",)).require(clean, stats)
"""

FAILING = STEPS + """
    fetch = Task("fetch", step, args=("fetch", 0.02))
    parse = Task("parse", boom, args=("parse",)).require(fetch)
    load = Task("load", step, args=("load",)).require(parse)
    report = Task("report", step, args=("report",)).require(load)
    other = Task("other", step, args=("other",)).require(fetch)
"""

# Tasks that block until the file "release" exists in the output folder, leaving "started-NAME" as they start.
BLOCKING = STEPS + """
    def block(name):
        '''Wait for the release file.'''
        (OUT / f"started-{{name}}").touch()
        while not (OUT / "release").exists():
            time.sleep(0.01)
        return step(name)

    running = [Task(f"run{{i}}", block, args=(f"run{{i}}",)) for i in range(2)]
    later = [Task(f"later{{i}}", block, args=(f"later{{i}}",)) for i in range(4)]
    final = Task("final", step, args=("final",)).require(*running, *later)
"""

LIVE = STEPS + """
    def block(name):
        '''Wait for the release file.'''
        (OUT / f"started-{{name}}").touch()
        while not (OUT / "release").exists():
            time.sleep(0.01)
        return step(name)

    quick = Task("quick", step, args=("quick",))
    slow_left = Task("slow_left", block, args=("slow_left",)).require(quick)
    slow_right = Task("slow_right", block, args=("slow_right",)).require(quick)
    last = Task("last", step, args=("last",)).require(slow_left, slow_right)
"""


def write_pipeline(tmp_path: Path, body: str, name: str = "pipe.py") -> tuple[Path, Path]:
    """Write a pipeline file; return its path and its output folder (created)."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    path = tmp_path / name
    path.write_text(textwrap.dedent(body.format(out=str(out))), encoding="utf-8")
    return path, out


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TERMINAL_VARIABLES}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def invoke(*args: object) -> Result:
    """The command through click's CliRunner (its output is not a terminal)."""
    runner = CliRunner(env=dict.fromkeys(TERMINAL_VARIABLES))
    return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


def command(*args: object, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The command as a real subprocess, ``python -m taskgraph ...``, its output piped."""
    return subprocess.run([sys.executable, "-m", "taskgraph", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env=env or clean_env())


def summary(output: str) -> dict[str, tuple[str, str]]:
    """The summary's rows: name -> (state, the rest of the line)."""
    lines = output.splitlines()
    start = lines.index("summary:")
    rows = {}
    for line in lines[start + 1:]:
        match = SUMMARY_LINE.match(line)
        if not match:
            break
        rows[match["name"]] = (match["state"], match["rest"])
    return rows


def assert_one_line_error(stderr: str, *fragments: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: "), stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], stderr


LEGAL = {(event, source.value): dest.value for event, sources, dest in TRANSITIONS for source in sources}


def assert_consistent(record: RunRecord) -> None:
    """Every task's recorded transitions are legal and follow one another, from the state it began in."""
    for task in record.tasks:
        state = "PENDING"
        for move in task.moves:
            assert move["from"] == state, f"{task.name}: {task.moves}"
            assert LEGAL.get((move["event"], move["from"])) == move["to"], f"{task.name}: illegal {move}"
            state = move["to"]
        assert state == task.state


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30,
             show: Callable[[], str] = lambda: "") -> None:
    """Wait until ``condition()`` holds (polling it), or fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{show()}")
        time.sleep(0.02)


# ------------------------------------------------------------------ run: success and failure


def test_run_makes_every_final_task_and_prints_a_line_per_start_and_end(tmp_path: Path) -> None:
    path, out = write_pipeline(tmp_path, CHAIN)
    result = invoke("run", path)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["clean.done", "fetch.done", "report.done", "stats.done"]
    lines = result.stdout.splitlines()
    starts = [m["name"] for m in map(START_LINE.match, lines) if m]
    ends = {m["name"]: m for m in map(END_LINE.match, lines) if m}
    assert starts == ["fetch", "clean", "stats", "report"]  # inline: one at a time, prerequisites first
    assert set(ends) == set(starts) and all(m["state"] == "DONE" for m in ends.values())
    assert float(ends["fetch"]["took"].split()[0]) >= 0.05
    rows = summary(result.stdout)
    assert list(rows) == ["fetch", "clean", "stats", "report"]
    assert all(state == "DONE" and re.fullmatch(r"[\d.]+ s", rest) for state, rest in rows.values())
    assert re.search(r"^done: 4 tasks DONE in [\d.]+ s$", result.stdout, re.M)


def test_run_as_a_subprocess_on_threads(tmp_path: Path) -> None:
    path, out = write_pipeline(tmp_path, CHAIN)
    proc = command("run", path, "-j", 3)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    ends = [m["name"] for m in map(END_LINE.match, lines) if m]
    assert sorted(ends) == ["clean", "fetch", "report", "stats"] and ends[0] == "fetch" and ends[-1] == "report"
    assert "\x1b[" not in proc.stdout  # not a terminal: plain lines, no escape sequences
    assert lines[-1].startswith("done: 4 tasks DONE in ")


def test_only_the_named_targets_and_their_prerequisites_run(tmp_path: Path) -> None:
    path, out = write_pipeline(tmp_path, CHAIN)
    result = invoke("run", path, "clean")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["clean.done", "fetch.done"]
    assert list(summary(result.stdout)) == ["fetch", "clean"]


def test_a_failing_task_fails_its_dependents_and_the_run(tmp_path: Path) -> None:
    path, out = write_pipeline(tmp_path, FAILING)
    result = invoke("run", path)
    assert result.exit_code == 1, result.output
    rows = summary(result.stdout)
    assert rows["fetch"][0] == rows["other"][0] == "DONE"
    assert rows["parse"][0] == "FAILED" and "ValueError: parse went boom" in rows["parse"][1]
    assert rows["load"] == ("FAILED", "-  blocked: parse is FAILED")
    assert rows["report"] == ("FAILED", "-  blocked: load is FAILED")
    errors = result.stdout.split("errors:\n", 1)[1].splitlines()
    assert errors[0] == "  parse: ValueError: parse went boom"
    assert "Traceback" not in result.stdout
    assert re.search(r"^failed: 2 DONE, 1 FAILED, 2 blocked in [\d.]+ s; not DONE: report$", result.stdout, re.M)
    ends = {m["name"]: m for m in map(END_LINE.match, result.stdout.splitlines()) if m}
    assert ends["parse"]["why"] == "ValueError: parse went boom"
    assert ends["load"]["took"] == "-" and ends["load"]["why"] == "blocked: parse is FAILED"
    assert not (out / "load.done").exists()


def test_verbose_adds_the_traceback_of_each_failure(tmp_path: Path) -> None:
    path, _ = write_pipeline(tmp_path, FAILING)
    proc = command("run", path, "-v")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = proc.stdout.split("errors:\n", 1)[1]
    assert "Traceback (most recent call last)" in errors
    assert 'raise ValueError(f"{name} went boom")' in errors
    assert "INFO taskgraph.cli: loaded" in proc.stderr  # -v logs at INFO, through logging, on stderr


def test_fail_fast_starts_nothing_after_a_target_fails(tmp_path: Path) -> None:
    path, out = write_pipeline(tmp_path, FAILING)
    result = invoke("run", path, "parse", "other", "--fail-fast")
    assert result.exit_code == 1, result.output
    rows = summary(result.stdout)
    assert rows["parse"][0] == "FAILED"
    assert rows["other"] == ("PENDING", "not run")
    assert not (out / "other.done").exists()
    assert re.search(r"^failed: 1 DONE, 1 FAILED, 1 not run in .*; not DONE: parse, other$", result.stdout, re.M)


def test_a_task_that_cancels_itself_is_shown_cancelled(tmp_path: Path) -> None:
    path, out = write_pipeline(tmp_path, STEPS + """
    first = Task("first", boom, args=("first",), cancel_on_exception=True)
    second = Task("second", step, args=("second",)).require(first)
    """)
    result = invoke("run", path, "-j", "2")
    assert result.exit_code == 1, result.output
    rows = summary(result.stdout)
    assert rows["first"][0] == "CANCELLED"
    assert re.fullmatch(r"[\d.]+ s  ValueError: first went boom", rows["first"][1])
    assert rows["second"] == ("CANCELLED", "-  prerequisite 'first' was cancelled")
    assert re.search(r"^failed: 0 DONE, 2 CANCELLED in .*; not DONE: second$", result.stdout, re.M)


def test_quiet_leaves_out_the_progress_lines_and_the_tasks_that_are_done(tmp_path: Path) -> None:
    path, _ = write_pipeline(tmp_path, FAILING)
    result = invoke("run", path, "-q")
    assert result.exit_code == 1
    assert not any(map(START_LINE.match, result.stdout.splitlines()))
    assert set(summary(result.stdout)) == {"parse", "load", "report"}


# ------------------------------------------------------------------ durations and times: one style everywhere


@pytest.mark.parametrize("seconds, shown", [
    (None, "-"), (-1.0, "0.00 s"), (0.123, "0.12 s"), (9.994, "9.99 s"), (9.996, "10.0 s"), (59.94, "59.9 s"),
    (59.96, "1m00s"), (125, "2m05s"), (3599.6, "1h00m"), (3725, "1h02m"), (3 * 86400 + 4 * 3600 + 59, "3d04h"),
])
def test_one_duration_style(seconds: float | None, shown: str) -> None:
    assert duration(seconds) == shown


def test_stopwatch_and_clock() -> None:
    assert [stopwatch(s) for s in (-3, 7.9, 750, 3723)] == ["0:00", "0:07", "12:30", "1:02:03"]
    noon = time.mktime((2024, 5, 1, 12, 3, 7, 0, 0, -1))
    assert (clock(noon, now=noon + 3600), clock(noon, now=noon + 86400)) == ("12:03:07", "2024-05-01 12:03")


def test_the_review_and_the_formatters_need_no_rich() -> None:
    code = "import sys; sys.modules['rich'] = None; import taskgraph.review, taskgraph.timefmt"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


# ------------------------------------------------------------------ mistakes: one line, exit 2


def test_an_unknown_target_suggests_a_close_name(tmp_path: Path) -> None:
    path, out = write_pipeline(tmp_path, CHAIN)
    result = invoke("run", path, "reprot")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert_one_line_error(result.stderr, "no task named 'reprot'", "did you mean 'report'?", "taskgraph list")
    proc = command("run", path, "reprot")
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr, "did you mean 'report'?")
    assert list(out.iterdir()) == []


MISTAKES = {
    "no such file": (["run", "{tmp}/nowhere.py"], "no such file: "),
    "no such module": (["run", "no_such_module_here"], "no module named 'no_such_module_here'"),
    "no tasks": (["run", "{tmp}/empty.py"], "no tasks found in"),
    "a cycle": (["run", "{tmp}/cycle.py"], "tasks form a cycle: "),
    "a bad queue URL": (["run", "{tmp}/pipe.py", "--queue", "nosuch://4"], "unknown queue URL scheme 'nosuch'"),
    "a bad worker count": (["run", "{tmp}/pipe.py", "--queue", "threads://none"], "positive whole number"),
    "-j with --queue": (["run", "{tmp}/pipe.py", "-j", "2", "--queue", "threads://2"], "give one of them"),
    "a record nowhere": (["run", "{tmp}/pipe.py", "--record", "{tmp}/no/such/dir/run.jsonl"],
                         "cannot write the run record"),
    "an error importing the pipeline": (["run", "{tmp}/broken.py"], "broken.py:2: ZeroDivisionError"),
    "list, no such file": (["list", "{tmp}/nowhere.py"], "no such file: "),
}


@pytest.fixture
def mistakes_dir(tmp_path: Path) -> Path:
    write_pipeline(tmp_path, CHAIN)
    (tmp_path / "empty.py").write_text("x = 1\n")
    (tmp_path / "cycle.py").write_text(
        "from taskgraph import Task\na = Task('a')\nb = Task('b').require(a)\na.require(b)\n")
    (tmp_path / "broken.py").write_text("from taskgraph import Task\nx = 1 / 0\n")
    return tmp_path


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_mistake_is_one_line_and_exit_status_2(mistakes_dir: Path, mistake: str) -> None:
    args, fragment = MISTAKES[mistake]
    args = [a.format(tmp=mistakes_dir) for a in args]
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert_one_line_error(result.stderr, fragment)
    proc = command(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert_one_line_error(proc.stderr, fragment)
    assert not (mistakes_dir / "out" / "fetch.done").exists()


@pytest.mark.parametrize("mistake", ["no such file", "no tasks", "a cycle", "a bad queue URL",
                                     "an error importing the pipeline"])
def test_verbose_shows_the_traceback_of_a_mistake(mistakes_dir: Path, mistake: str) -> None:
    args, fragment = MISTAKES[mistake]
    proc = command(*[a.format(tmp=mistakes_dir) for a in args], "-v")
    assert proc.returncode == 2
    assert "Traceback (most recent call last)" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert fragment in proc.stderr.strip().splitlines()[-1]


def test_click_usage_errors_exit_2() -> None:
    result = invoke("run")
    assert result.exit_code == 2 and "Missing argument 'PIPELINE'" in result.stderr
    result = invoke("run", "x.py", "-j", "0")
    assert result.exit_code == 2 and "0 is not in the range" in result.stderr


# ------------------------------------------------------------------ --dry-run, --record, list, --help


def test_dry_run_prints_the_order_and_runs_nothing(tmp_path: Path) -> None:
    path, out = write_pipeline(tmp_path, CHAIN + """
    ready = Task("ready", step, args=("ready",))
    ready.run()  # DONE before the run: skipped
    clean.require(ready)
    """)
    result = invoke("run", path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "would run 4 tasks for report, in this order:",
        "  1. fetch",
        "  2. clean   requires fetch, ready",
        "  3. stats   requires fetch",
        "  4. report  requires clean, stats",
        "1 already DONE, skipped: ready",
        "nothing was run (--dry-run)",
    ]
    assert [p.name for p in out.iterdir()] == ["ready.done"]  # written as the pipeline loaded; nothing ran
    proc = command("run", path, "-n", "stats", "-j", "2")
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[:3] == ["would run 2 tasks for stats, in this order:", "  1. fetch",
                                            "  2. stats  requires fetch"]
    assert [p.name for p in out.iterdir()] == ["ready.done"]


def test_record_holds_every_transition_with_states_and_durations(tmp_path: Path) -> None:
    path, _ = write_pipeline(tmp_path, FAILING)
    result = invoke("run", path, "-j", "2", "--record", tmp_path / "run.jsonl")
    assert result.exit_code == 1
    record = read_record(tmp_path / "run.jsonl")
    assert record.status == "failed" and record.ended is not None
    assert record.pipeline == str(path) and record.targets == ["report", "other"] and record.queue == "threads://2"
    tasks = record.by_name()
    assert {name: t.state for name, t in tasks.items()} == {
        "fetch": "DONE", "parse": "FAILED", "load": "FAILED", "report": "FAILED", "other": "DONE"}
    assert tasks["fetch"].duration is not None and tasks["fetch"].duration >= 0.02
    assert tasks["parse"].error == "ValueError: parse went boom" and tasks["parse"].duration is not None
    assert tasks["load"].duration is None and tasks["load"].error is not None
    assert "is blocked" in tasks["load"].error
    assert tasks["parse"].requires == [tasks["fetch"].id]
    assert tasks["fetch"].doc == "Write NAME.done into the output folder."
    assert [m["to"] for m in tasks["fetch"].moves] == ["QUEUED", "RUNNING", "DONE"]
    assert_consistent(record)

    path, _ = write_pipeline(tmp_path, CHAIN, name="chain.py")
    proc = command("run", path, "--record", tmp_path / "chain.jsonl")
    assert proc.returncode == 0
    record = read_record(tmp_path / "chain.jsonl")
    assert record.status == "done" and record.queue == "inline:"
    assert all(t.state == "DONE" and t.duration is not None for t in record.tasks)
    assert record.by_name()["fetch"].duration >= 0.05  # type: ignore[operator]
    assert_consistent(record)


def test_a_record_stays_in_order_when_threads_race(tmp_path: Path) -> None:
    # make queues a task (PENDING->QUEUED) and a worker starts it (QUEUED->RUNNING) at once; their track
    # callbacks can come in either order, yet each task's record must read as a legal sequence
    from taskgraph import make_now

    tasks = [Task(f"t{i}") for i in range(300)]
    final = Task("final").require(*tasks)
    recorder = RunRecorder(tmp_path / "race.jsonl", [*tasks, final])
    for t in [*tasks, final]:
        t.track = recorder.observe
    make_now(final, queue="threads://8")
    recorder.close("done")
    record = read_record(tmp_path / "race.jsonl")
    assert all(t.state == "DONE" for t in record.tasks)
    assert_consistent(record)


def test_in_order_holds_a_transition_until_the_one_before_it_comes() -> None:
    from taskgraph.task import Transition

    task = Task("t")
    seen: list[str] = []
    order = InOrder(lambda t, m: seen.append(f"{m.source}->{m.dest}"), [task])
    order(task, Transition(2.0, State.RUNNING, "done", State.DONE))
    order(task, Transition(1.0, State.QUEUED, "dispatch", State.RUNNING))
    assert seen == []
    order(task, Transition(0.0, State.PENDING, "queue", State.QUEUED))
    assert seen == ["PENDING->QUEUED", "QUEUED->RUNNING", "RUNNING->DONE"]
    other = Task("other")  # not followed: passed straight on
    order(other, Transition(3.0, State.PENDING, "dispatch", State.RUNNING))
    assert seen[-1] == "PENDING->RUNNING"


def test_list_shows_each_task_after_its_prerequisites_with_its_docstring(tmp_path: Path) -> None:
    path, _ = write_pipeline(tmp_path, FAILING)
    result = invoke("list", path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines == [
        "TASK    REQUIRES  DESCRIPTION",
        "fetch   -         Write NAME.done into the output folder.",
        "parse   fetch     Fail on purpose.",
        "load    parse     Write NAME.done into the output folder.",
        "report  load      Write NAME.done into the output folder.",
        "other   fetch     Write NAME.done into the output folder.",
    ]
    proc = command("list", EXAMPLE)
    assert proc.returncode == 0
    rows = [line.split(None, 2) for line in proc.stdout.splitlines()]
    assert rows[0] == ["TASK", "REQUIRES", "DESCRIPTION"]
    names = [row[0] for row in rows[1:]]
    assert names.index("totals") > max(names.index(n) for n in ("to_eur", "customers", "regions"))
    column = proc.stdout.splitlines()[0].index("DESCRIPTION")
    assert all(len(line) > column and line[column - 1] == " " and line[column] != " "
               for line in proc.stdout.splitlines()[1:])  # aligned


def test_a_module_and_object_can_name_the_pipeline(tmp_path: Path) -> None:
    path, out = write_pipeline(tmp_path, CHAIN + """
    only_clean = [clean]
    """, name="my_pipes.py")
    proc = subprocess.run([sys.executable, "-m", "taskgraph", "run", "my_pipes:only_clean"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env=clean_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["clean.done", "fetch.done"]


@pytest.mark.parametrize("name", ["run", "list"])
def test_help_has_an_example(name: str) -> None:
    result = invoke(name, "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.stdout
    assert f"taskgraph {name} examples/pipeline.py" in result.stdout
    assert f"taskgraph {name}" in invoke("--help").stdout


# ------------------------------------------------------------------ Ctrl-C, for real


def start_blocking_run(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], Path, Path]:
    path, out = write_pipeline(tmp_path, BLOCKING)
    record = tmp_path / "run.jsonl"
    child = subprocess.Popen(
        [sys.executable, "-m", "taskgraph", "run", str(path), *args, "--record", str(record)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
        # a shell that starts tests in the background may ignore SIGINT; the child must not inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    return child, out, record


def read_lines_until(child: subprocess.Popen[str], done: Callable[[list[str]], bool]) -> list[str]:
    lines: list[str] = []
    assert child.stdout is not None
    while not done(lines):
        line = child.stdout.readline()
        assert line, f"the run ended early; its output so far: {lines}"
        lines.append(line.rstrip("\n"))
    return lines


def cancelled_in(lines: list[str]) -> set[str]:
    return {m["name"] for m in map(END_LINE.match, lines) if m and m["state"] == "CANCELLED"}


@pytest.mark.timeout(90)
def test_ctrl_c_cancels_what_has_not_started_and_waits_for_what_runs(tmp_path: Path) -> None:
    child, out, record_path = start_blocking_run(tmp_path, "-j", "2")
    try:
        wait_for(lambda: (out / "started-run0").exists() and (out / "started-run1").exists(), "two tasks to start")
        child.send_signal(signal.SIGINT)
        later = {f"later{i}" for i in range(4)} | {"final"}
        before = read_lines_until(child, lambda lines: cancelled_in(lines) >= later)
        (out / "release").touch()  # now the two running tasks may end
        rest, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 130, rest + err
    output = "\n".join(before) + "\n" + rest
    assert "interrupted: starting nothing more; waiting for run0, run1 (Ctrl-C again to stop waiting)" in output
    assert "interrupted: cancelled 5 tasks that had not started: later0, later1, later2, later3, final" in output
    rows = summary(output)
    assert rows["run0"][0] == rows["run1"][0] == "DONE"
    assert all(rows[name] == ("CANCELLED", "-  interrupted") for name in later)
    assert re.search(r"^interrupted: 2 DONE, 5 CANCELLED in [\d.]+ s; not DONE: final$", output, re.M)
    assert sorted(p.name for p in out.glob("*.done")) == ["run0.done", "run1.done"]
    record = read_record(record_path)
    assert record.status == "interrupted"
    assert {t.name: t.state for t in record.tasks} == {"run0": "DONE", "run1": "DONE", **dict.fromkeys(later,
                                                                                                    "CANCELLED")}
    assert_consistent(record)


@pytest.mark.timeout(90)
def test_a_second_ctrl_c_stops_waiting_for_running_tasks(tmp_path: Path) -> None:
    child, out, record_path = start_blocking_run(tmp_path, "-j", "2")
    try:
        wait_for(lambda: (out / "started-run0").exists() and (out / "started-run1").exists(), "two tasks to start")
        child.send_signal(signal.SIGINT)
        read_lines_until(child, lambda lines: len(cancelled_in(lines)) == 5)
        child.send_signal(signal.SIGINT)  # run0 and run1 still block: they are never released
        rest, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 130, rest + err
    assert "interrupted: stopped waiting for run0, run1" in rest
    record = read_record(record_path)
    assert record.status == "interrupted"
    assert all(t.state == "CANCELLED" for t in record.tasks)
    assert_consistent(record)


@pytest.mark.timeout(90)
def test_ctrl_c_stops_an_inline_task(tmp_path: Path) -> None:
    child, out, record_path = start_blocking_run(tmp_path)
    try:
        wait_for(lambda: (out / "started-run0").exists(), "the first task to start")
        child.send_signal(signal.SIGINT)  # inline: it lands in the task's own function
        rest, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 130, rest + err
    assert "interrupted: cancelled 6 tasks that had not started: run1, later0, later1, later2, later3, final" in rest
    assert summary(rest)["run0"][0] == "CANCELLED"
    record = read_record(record_path)
    assert record.status == "interrupted" and all(t.state == "CANCELLED" for t in record.tasks)
    assert_consistent(record)


# ------------------------------------------------------------------ the live display, on a real terminal


class Tmux:
    """A tmux server of our own (its own socket), with one 120x40 window."""

    def __init__(self, folder: Path) -> None:
        self.socket = str(folder / f"tmux-{uuid.uuid4().hex[:8]}")

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True, check=True,
                              timeout=30).stdout

    def start(self, shell_command: str) -> None:
        self("new-session", "-d", "-s", "run", "-x", "120", "-y", "40", shell_command)

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "run")

    def stop(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, timeout=30)


@pytest.mark.timeout(120)
def test_the_live_display_on_a_terminal(tmp_path: Path) -> None:
    need_binary("tmux", "the live display is tested on a real terminal, in tmux")
    path, out = write_pipeline(tmp_path, LIVE)
    unset = " ".join(f"-u {name}" for name in TERMINAL_VARIABLES)
    run = f"{shlex.quote(sys.executable)} -m taskgraph run {path.name} -j 2"
    tmux = Tmux(tmp_path)
    tmux.start(f"cd {shlex.quote(str(tmp_path))} && env {unset} TERM=xterm-256color {run}; echo exit=$?; sleep 600")
    try:
        wait_for(lambda: (out / "started-slow_left").exists() and (out / "started-slow_right").exists(),
                 "the slow tasks to start", show=tmux.screen)
        wait_for(lambda: re.search(r"running +slow_(left|right) +\d+\.\d\d s", tmux.screen()) is not None,
                 "the display to show the running tasks", show=tmux.screen)
        live = tmux.screen()
        assert "taskgraph run pipe.py on threads://2" in live
        assert re.search(r"━ +1/4 done +elapsed \d:\d\d +ETA \d:\d\d$", live, re.M), live
        assert re.search(r"^2 running$", live, re.M), live
        assert re.search(r"^ +slow_(left|right) +\d+\.\d\d s", live, re.M), live  # the other running task
        assert "━" in live  # the bar
        (out / "release").touch()
        wait_for(lambda: "exit=" in tmux.screen(), "the run to end", show=tmux.screen)
        final = tmux.screen()
    finally:
        tmux.stop()
    assert "exit=0" in final
    assert "running" not in final  # the live display is gone; the summary is left
    rows = summary(final)
    assert list(rows) == ["quick", "slow_left", "slow_right", "last"]
    assert all(state == "DONE" for state, _ in rows.values())
    assert re.search(r"^done: 4 tasks DONE in [\d.]+ s$", final, re.M)


# ------------------------------------------------------------------ the example pipeline


RATES = {"EUR": 1.0, "GBP": 1.17, "USD": 0.92, "CHF": 1.04}


def expected_total() -> float:
    with open(REPO / "examples" / "data" / "orders.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    valid = [r for r in rows if r["amount"].strip() and float(r["amount"]) > 0 and r["currency"] in RATES]
    return round(sum(round(float(r["amount"]) * RATES[r["currency"]], 2) for r in valid), 2)


@pytest.mark.parametrize("how", [[], ["-j", "4"], ["--queue", "processes://2?start=spawn"], ["script", "-j", "4"]],
                         ids=["inline", "threads", "processes-spawn", "as-a-script"])
def test_the_example_pipeline(tmp_path: Path, how: list[str]) -> None:
    env = clean_env(PIPELINE_OUT=str(tmp_path / "out"))
    if how[:1] == ["script"]:
        proc = subprocess.run([sys.executable, str(EXAMPLE), *how[1:]], cwd=REPO, capture_output=True, text=True,
                              timeout=120, env=env)
    else:
        proc = command("run", EXAMPLE, *how, "--record", tmp_path / "run.jsonl", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^done: 9 tasks DONE in [\d.]+ s$", proc.stdout, re.M), proc.stdout
    out = tmp_path / "out"
    report = (out / "report.md").read_text()
    assert f"Total: {expected_total():.2f} EUR" in report
    assert "Rejected orders: 3" in report and "1009 (john backus): unknown currency XXX" in report
    with open(out / "orders_eur.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 9 and rows[0] == {"id": "1001", "customer": "Ada Lovelace", "region": "Europe",
                                          "eur": "140.40"}
    assert round(sum(float(r["eur"]) for r in rows), 2) == expected_total()
    if how[:1] != ["script"]:
        record = read_record(tmp_path / "run.jsonl")
        assert record.status == "done" and len(record.tasks) == 9
        assert all(t.duration is not None and t.duration >= 0.02 for t in record.tasks)
        assert_consistent(record)


def test_the_example_pipeline_when_a_step_breaks(tmp_path: Path) -> None:
    env = clean_env(PIPELINE_OUT=str(tmp_path / "out"), PIPELINE_BREAK="customers")
    proc = command("run", EXAMPLE, "-j", "4", env=env)
    assert proc.returncode == 1
    rows = summary(proc.stdout)
    assert rows["customers"][0] == "FAILED" and "RuntimeError: step 'customers' is broken" in rows["customers"][1]
    assert {name for name, (state, rest) in rows.items() if rest.startswith("-  blocked")} == {"totals", "report",
                                                                                              "export"}
    assert rows["regions"][0] == "DONE"  # started with customers: the run waits for it
    # to_eur may not have started when customers failed; once every target is settled nothing new starts
    assert rows["to_eur"] == ("PENDING", "not run") or rows["to_eur"][0] == "DONE"
    assert not (tmp_path / "out" / "report.md").exists()


BROKEN_TREE = STEPS + """
    objects = [Task(f"cc{{i}}", boom if i in (1, 4) else step, args=(f"cc{{i}}",)) for i in range(6)]
    archive = Task("archive", step, args=("archive",)).require(*objects)
    link = Task("link", step, args=("link",)).require(archive)
"""


def test_keep_going_runs_every_compile_and_lists_every_failure(tmp_path: Path) -> None:
    path, out = write_pipeline(tmp_path, BROKEN_TREE)
    result = invoke("run", path)
    assert result.exit_code == 1, result.output
    assert [p.name for p in out.iterdir()] == ["cc0.done"]  # without -k: nothing starts after the first failure
    (out / "cc0.done").unlink()
    result = invoke("run", path, "-k", "-j", "2")
    assert result.exit_code == 1, result.output
    assert sorted(p.name for p in out.iterdir()) == [f"cc{i}.done" for i in (0, 2, 3, 5)]
    errors = result.stdout.split("errors:\n", 1)[1].splitlines()
    assert errors[:2] == ["  cc1: ValueError: cc1 went boom", "  cc4: ValueError: cc4 went boom"]
    rows = summary(result.stdout)
    assert rows["archive"][0] == rows["link"][0] == "FAILED"
    assert re.search(r"^failed: 4 DONE, 2 FAILED, 2 blocked in [\d.]+ s; not DONE: link$", result.stdout, re.M)


def test_keep_going_and_fail_fast_are_refused_together(tmp_path: Path) -> None:
    path, _ = write_pipeline(tmp_path, BROKEN_TREE)
    result = CliRunner(env=dict.fromkeys(TERMINAL_VARIABLES)).invoke(main, ["run", str(path), "-k", "--fail-fast"])
    assert result.exit_code == 2
    assert "--fail-fast stops at the first failure and --keep-going runs on past it: give one of them" in result.output


PARAMETERS = STEPS + """
    from taskgraph import params
    SRC = params.get("src", "src")
    build = Task(f"build-{{SRC}}", step, args=(f"build-{{SRC}}-{{params['mode']}}",))
"""


def test_pipeline_parameters_from_define(tmp_path: Path) -> None:
    path, out = write_pipeline(tmp_path, PARAMETERS)
    listed = invoke("list", path, "-D", "mode=debug", "-D", "src=lib")
    assert listed.exit_code == 0, listed.output
    assert "build-lib" in listed.stdout
    result = invoke("run", path, "-D", "mode=debug", "--define", "src=lib=x")  # the value may hold '='
    assert result.exit_code == 0, result.output
    assert [p.name for p in out.iterdir()] == ["build-lib=x-debug.done"]
    missing = invoke("run", path)
    assert missing.exit_code == 2
    assert f"loading {path} failed at {path}:" in missing.output
    assert "pipeline parameter 'mode' is not set: give -D mode=VALUE" in missing.output
    bad = CliRunner(env=dict.fromkeys(TERMINAL_VARIABLES)).invoke(main, ["list", str(path), "-D", "mode"])
    assert bad.exit_code == 2 and "'mode' is not NAME=VALUE, NAME a Python identifier" in bad.output
