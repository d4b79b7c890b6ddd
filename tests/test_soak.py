"""A tiny run of the soak benchmark (benchmarks/soak.py): real workers on a SQLite store, SIGKILLed and restarted
every quarter of a second, must lose no job and mark none DONE twice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOAK = ROOT / "benchmarks" / "soak.py"
TASKS = 5000


@pytest.mark.slow
def test_a_small_soak_loses_nothing_and_marks_nothing_done_twice(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    command = [sys.executable, str(SOAK), "--tasks", str(TASKS), "--kill-every", "0.25", "--lease", "3",
               "--sample", "0.2", "--json", str(out), "--timeout", "120", "--stall", "60"]
    # the timeout only stops a broken run from hanging; the soak gives up by itself sooner
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    shown = f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    assert proc.returncode == 0, shown
    assert "verdict: OK: 0 lost (target 0), 0 marked DONE twice (target 0)" in proc.stdout, shown

    results = json.loads(out.read_text())
    summary = results["summary"]
    assert summary["lost"] == 0 and summary["not_done"] == 0 and summary["never_executed"] == 0, shown
    assert summary["done_twice"] == 0 and summary["done_without_event"] == 0, shown
    assert summary["ok"] is True
    assert summary["gave_up"] is None, shown
    # the kills happened, hit workers holding jobs, and those jobs came back through their expired leases
    assert summary["kills"] >= 1, shown
    assert summary["worker_processes"] == 2 + summary["kills"] + summary["unexpected_exits"]
    assert summary["leases_expired"] >= 1, shown
    assert summary["executions"] >= TASKS
    assert summary["executions"] == TASKS + summary["extra_executions"]
    # the workers left at the end stop cleanly on SIGTERM
    assert summary["stopped_cleanly"] == summary["stopped_of"] == 2, shown
    # memory was sampled for the driver and both slots, with a progress row at 100 %
    assert results["samples"] and all(len(s["slots"]) == 2 for s in results["samples"])
    assert results["progress"][-1]["done"] == TASKS
    assert len(results["kills"]) == summary["kills"]
