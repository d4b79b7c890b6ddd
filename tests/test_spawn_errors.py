"""A worker process that cannot be started is that job's failure, said as what it is, never a store outage.

The common case: a script starts a worker itself, without an ``if __name__ == "__main__":`` guard, and declares
``mode="process"`` jobs. Worker processes are started with ``spawn`` and import the script again, which would
start a worker in each of them; the worker refuses to start there, and the job fails saying why. Each test runs a
real script in a subprocess on a SQLite store, as a user would.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.procs import ROOT

SCRIPT = """
import logging, multiprocessing, sys
from taskgraph import open_queue
from taskgraph.durable.worker import Worker

logging.basicConfig(level=logging.INFO, stream=sys.stdout)
q = open_queue("sqlite:///jobs.db")


@q.task(mode="process")
def square(x):
    return x * x


def serve():
    handle = square.delay(3)
    status = Worker(q, app="job_script:q", lease=10.0).run(burst=True)
    record = handle.record()
    print("RESULT", status, record.status, handle.join(0) if record.status == "DONE" else record.error["message"])
"""


def run_script(tmp_path: Path, body: str) -> str:
    (tmp_path / "job_script.py").write_text(SCRIPT + textwrap.dedent(body))
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "job_script.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_a_script_without_a_main_guard_fails_its_process_job_saying_so(tmp_path) -> None:
    output = run_script(tmp_path, "serve()\n")
    refused = ("a worker was started in a worker process while it imported the app (job_script:q) or the script "
               'that started it: start the worker under `if __name__ == "__main__":`')
    assert refused in output, output
    assert ("RESULT 0 FAILED its worker process could not start (exit code 1): it failed to import the app "
            "job_script:q (its error is above, on the worker's output); a script that starts a worker itself must "
            'do so under `if __name__ == "__main__":`, since worker processes import it again') in output, output
    assert "trying again" not in output and "store sqlite" not in output, output


def test_the_same_script_with_the_guard_runs_its_process_job(tmp_path) -> None:
    output = run_script(tmp_path, 'if __name__ == "__main__":\n    serve()\n')
    assert "RESULT 0 DONE 9" in output, output


def test_a_worker_that_cannot_start_processes_fails_the_job_and_reports_no_store_outage(tmp_path) -> None:
    # a daemonic process may not have children: starting a worker process raises there
    body = """
    if __name__ == "__main__":
        child = multiprocessing.get_context("fork").Process(target=serve, daemon=True)
        child.start()
        child.join(60)
        print("CHILD", child.exitcode)
    """
    output = run_script(tmp_path, body)
    assert ("RESULT 0 FAILED could not start a worker process to run it: AssertionError: daemonic processes are "
            "not allowed to have children") in output, output
    assert "cannot start a worker process: AssertionError" in output and "CHILD 0" in output, output
    assert "trying again" not in output and "store sqlite" not in output, output
