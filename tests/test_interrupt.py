"""Ctrl-C during a make, for real: SIGINT sent to a child process running make_now on a thread queue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHILD = textwrap.dedent(
    """
    import json, os, signal, sys, threading
    from taskgraph import Task, make_now
    workers = []  # the threads running blockers
    lock = threading.Lock()

    def say(line):  # one write per line: print() from two threads at once can lose a line
        os.write(1, (line + "\\n").encode())

    def blocker(name):
        with lock:  # so that exactly one thread, the second, sends the one Ctrl-C
            workers.append(threading.get_ident())
            second = len(workers) == 2
        say(f"started {name}")
        if second and os.environ.get("SIGNAL_A_WORKER"):  # Ctrl-C as the kernel may deliver it
            signal.pthread_kill(workers[0], signal.SIGINT)
        return os.read(0, 1).decode()  # one byte each: raw reads from two threads cannot lose one

    def announce(task, move):
        if move.event == "cancel":
            say(f"cancelled {task.name}")

    running = [Task(f"run{i}", blocker, args=(f"run{i}",), track=announce) for i in range(2)]
    later = [Task(f"later{i}", blocker, args=(f"later{i}",), track=announce) for i in range(4)]
    final = Task("final", track=announce).require(*running, *later)
    everything = running + later + [final]
    try:
        make_now(final, queue="threads://2")
    except KeyboardInterrupt:
        say("states " + json.dumps({t.name: str(t.state) for t in everything}))
        sys.exit(130)
    say("finished without an interrupt")
    """
)


def start_child(tmp_path: Path, signal_a_worker: bool = False) -> subprocess.Popen[str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "SIGNAL_A_WORKER": "1"} if signal_a_worker else None
    return subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        env=env,
    )


def read_until(child: subprocess.Popen[str], want: int, prefix: str) -> list[str]:
    """Read lines until ``want`` of them start with ``prefix``; return all lines read."""
    lines: list[str] = []
    assert child.stdout is not None
    while sum(line.startswith(prefix) for line in lines) < want:
        line = child.stdout.readline()
        assert line, f"child ended early; output so far: {lines}"
        lines.append(line.strip())
    return lines


def states_of(child: subprocess.Popen[str]) -> dict[str, str]:
    assert child.stdout is not None
    rest = child.stdout.read().splitlines()
    line = next(line for line in rest if line.startswith("states "))
    return json.loads(line[len("states ") :])


@pytest.mark.timeout(60)
def test_ctrl_c_cancels_what_has_not_started_and_lets_running_tasks_finish(tmp_path):
    child = start_child(tmp_path)
    try:
        started = read_until(child, 2, "started")
        assert sorted(started) == ["started run0", "started run1"]
        child.send_signal(signal.SIGINT)
        cancelled = read_until(child, 5, "cancelled")
        assert sorted(cancelled) == ["cancelled final"] + [f"cancelled later{i}" for i in range(4)]
        assert child.stdin is not None
        child.stdin.write("12")  # now let the two running tasks finish
        child.stdin.flush()
        states = states_of(child)
        assert child.wait(30) == 130
    finally:
        child.kill()
    assert states == {
        "run0": "DONE",
        "run1": "DONE",
        "later0": "CANCELLED",
        "later1": "CANCELLED",
        "later2": "CANCELLED",
        "later3": "CANCELLED",
        "final": "CANCELLED",
    }


@pytest.mark.timeout(60)
def test_a_second_ctrl_c_cancels_running_tasks_and_exits_at_once(tmp_path):
    child = start_child(tmp_path)
    try:
        read_until(child, 2, "started")
        child.send_signal(signal.SIGINT)
        read_until(child, 5, "cancelled")
        child.send_signal(signal.SIGINT)  # the running tasks are still blocked on stdin
        states = states_of(child)
        assert child.wait(30) == 130
    finally:
        child.kill()
    assert states["run0"] == states["run1"] == "CANCELLED"
    assert all(state == "CANCELLED" for state in states.values())



@pytest.mark.timeout(60)
def test_ctrl_c_delivered_to_a_worker_thread_still_cancels_at_once(tmp_path):
    """The kernel may hand a process's SIGINT to any thread; Python runs the handler in the main thread, which must
    not sleep until a task finishes (here the running tasks wait for the test, which waits for the cancels)."""
    child = start_child(tmp_path, signal_a_worker=True)
    try:
        cancelled = read_until(child, 5, "cancelled")
        assert sorted(line for line in cancelled if line.startswith("cancelled")) == ["cancelled final"] + [
            f"cancelled later{i}" for i in range(4)]
        assert child.stdin is not None
        child.stdin.write("12")
        child.stdin.flush()
        states = states_of(child)
        assert child.wait(30) == 130
    finally:
        child.kill()
    assert states["run0"] == states["run1"] == "DONE"
