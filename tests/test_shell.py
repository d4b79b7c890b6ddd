"""Shell-command tasks (taskgraph.shell): captured output, failures that read like a build tool's, real processes."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from taskgraph import CommandError, State, Task, make_now, shell
from taskgraph.build import command_of

from .conftest import LOCAL_QUEUES

PY = sys.executable


def test_a_command_runs_with_its_output_captured_and_is_the_result(capfd):
    task = shell("hello", [PY, "-c", "import sys; print('out'); print('err', file=sys.stderr)"])
    make_now(task)
    assert task.state is State.DONE
    assert isinstance(task.result, subprocess.CompletedProcess)
    assert (task.result.returncode, task.result.stdout, task.result.stderr) == (0, "out\n", "err\n")
    assert capfd.readouterr() == ("", "")  # nothing reached the terminal


FAILING = ('import sys; print("not shown: stdout", flush=True); '
           '[print(f"line {i}", file=sys.stderr) for i in range(30)]; sys.exit(2)')


@pytest.mark.parametrize("queue", LOCAL_QUEUES)
def test_a_failed_command_fails_its_task_with_the_command_once_then_its_stderr_tail(queue):
    task = shell("bad", [PY, "-c", FAILING, "two words"])
    make_now(task, queue=queue)
    assert task.state is State.FAILED and isinstance(task.exception, CommandError)
    tail = "".join(f"\n    line {i}" for i in range(10, 30))
    assert str(task.exception) == f"{PY} -c '{FAILING}' 'two words': exit status 2\n    ... (10 lines before){tail}"
    assert task.exception.returncode == 2 and task.exception.stdout == "not shown: stdout\n"


def test_a_huge_command_is_shown_cut_in_the_middle():
    task = shell("long", [PY, "-c", "import sys; sys.exit(1)", *(f"argument-{i}" for i in range(200))])
    make_now(task)
    first = str(task.exception).splitlines()[0]
    assert len(first) < 450 and " ... " in first and first.endswith("argument-199: exit status 1")


def test_stdout_is_shown_when_stderr_is_empty_and_a_signal_is_named():
    task = shell("quiet", [PY, "-c", "import os, signal; print('why'); os.kill(os.getpid(), signal.SIGTERM)"])
    make_now(task)
    assert str(task.exception).endswith(": killed by SIGTERM\n    why")


def test_a_program_that_does_not_exist_fails_saying_so():
    task = shell("nothing", ["no-such-program-xyz", "arg"])
    make_now(task)
    assert str(task.exception) == "no-such-program-xyz arg: cannot run it: No such file or directory"


def test_a_string_needs_use_shell_and_then_runs_in_sh(tmp_path):
    with pytest.raises(TypeError, match=r"give the command as a list of arguments \(\['gcc', '-c'\]...\), or pass "
                                        r"use_shell=True"):
        shell("cc", "gcc -c a.c")
    task = shell("sh", "echo $((6 * 7)) > answer", use_shell=True, cwd=tmp_path, outputs=[tmp_path / "answer"])
    make_now(task, state=tmp_path / "state.sqlite")
    assert (tmp_path / "answer").read_text() == "42\n"
    assert command_of(task) == f"cd {tmp_path} && echo $((6 * 7)) > answer"


def test_env_is_set_and_changing_it_reruns_the_task(tmp_path):
    def run(value: str) -> Task:
        task = shell("env", [PY, "-c", "import os; open('v', 'w').write(os.environ['WHO'])"], cwd=tmp_path,
                     env={"WHO": value}, outputs=[tmp_path / "v"])
        make_now(task, state=tmp_path / "state.sqlite")
        return task

    assert [m.event for m in run("me").history] == ["dispatch", "done"]
    assert [m.event for m in run("me").history] == ["uptodate"]
    assert [m.event for m in run("you").history] == ["dispatch", "done"]
    assert (tmp_path / "v").read_text() == "you"


def test_command_of_is_none_for_a_task_that_is_not_a_shell_task():
    assert command_of(Task("t", print)) is None
    assert command_of(shell("s", ["echo", "a b"])) == "echo 'a b'"


def test_a_command_error_crosses_processes_whole():
    error = CommandError("x: exit status 1", ["x"], 1, "o", "e")
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.command, copy.returncode, copy.stdout, copy.stderr) == (
        "x: exit status 1", ["x"], 1, "o", "e")


def test_in_brief_a_failure_is_its_status_and_the_first_line_that_says_error():
    from taskgraph.build.shell import in_brief

    task = shell("cc", ["sh", "-c", "echo 'x.c: In function f:' >&2; echo 'x.c:3: error: no' >&2; echo 'x.c:4: error: "
                        "again' >&2; exit 1"])
    make_now(task)
    assert in_brief(task.exception) == "exit status 1: x.c:3: error: no"
    quiet = shell("quiet", ["sh", "-c", "echo 'all done, badly'; kill -9 $$"])
    make_now(quiet)
    assert in_brief(quiet.exception) == "killed by SIGKILL: all done, badly"
