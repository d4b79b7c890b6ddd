"""Run the Python snippets in the docs and check that they print what the docs show.

Each ```python block is run as a script, in a scratch directory shared by the blocks of one page, with the
Python running this script. The ```text block that follows it, if any, is its expected output: stdout and
stderr together, compared line by line after memory addresses (``0x7f...``) are written as ``0x...``; a line
``...`` in the expected output matches any number of lines.

A block whose first line is ``# file: NAME`` is not run: it is written to NAME, for later blocks to import.
A block whose first line is ``# needs: MODULE`` is skipped when MODULE cannot be imported, and one that needs
``mpi4py`` is run under ``mpiexec -n 1`` (skipped when that is not on PATH).

Run it from the repository root; it exits 1 if a snippet failed:

    .venv/bin/python docs/check_snippets.py             # every page
    .venv/bin/python docs/check_snippets.py docs/make.md
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)
ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
TIMEOUT = 120


def blocks(text: str) -> list[tuple[str, str, str | None]]:
    """The python blocks of a page, each with the text block right after it (or None)."""
    found = [(m.group(1), m.group(2), m.start(), m.end()) for m in BLOCK.finditer(text)]
    result = []
    for i, (lang, body, _, end) in enumerate(found):
        if lang != "python":
            continue
        expected = None
        if i + 1 < len(found) and found[i + 1][0] == "text" and not text[end : found[i + 1][2]].strip():
            expected = found[i + 1][1]
        result.append((lang, body, expected))
    return result


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` fits ``expected``, where a ``...`` line matches any run of lines."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and expected[0] == actual[0] and matches(expected[1:], actual[1:])


def normal(text: str) -> list[str]:
    return [ADDRESS.sub("0x...", line.rstrip()) for line in text.strip("\n").splitlines()]


def check_page(page: Path) -> tuple[int, int, int]:
    """Run one page's snippets; returns (passed, failed, skipped)."""
    passed = failed = skipped = 0
    with tempfile.TemporaryDirectory(prefix="taskgraph-docs-") as scratch:
        for number, (_, code, expected) in enumerate(blocks(page.read_text(encoding="utf-8")), 1):
            first = code.splitlines()[0] if code.strip() else ""
            where = f"{page.name} snippet {number}"
            if first.startswith("# file:"):
                (Path(scratch) / first.split(":", 1)[1].strip()).write_text(code, encoding="utf-8")
                continue
            command = [sys.executable]
            if first.startswith("# needs:"):
                module = first.split(":", 1)[1].split()[0]
                if importlib.util.find_spec(module.split(".")[0]) is None:
                    print(f"skip {where}: needs {module}")
                    skipped += 1
                    continue
                if module == "mpi4py":
                    mpiexec = shutil.which("mpiexec")
                    if mpiexec is None:
                        print(f"skip {where}: needs mpiexec")
                        skipped += 1
                        continue
                    command = [mpiexec, "-n", "1", sys.executable]
            script = Path(scratch) / f"snippet_{number}.py"
            script.write_text(code, encoding="utf-8")
            code_text = "?"
            try:
                run = subprocess.run(
                    [*command, script.name], cwd=scratch, capture_output=True, text=True, timeout=TIMEOUT
                )
                output = run.stdout + run.stderr
                code_text = str(run.returncode)
                ok = run.returncode == 0 and (expected is None or matches(normal(expected), normal(output)))
            except subprocess.TimeoutExpired:
                output, ok = f"timed out after {TIMEOUT} s", False
            if ok:
                passed += 1
                print(f"ok   {where}")
            else:
                failed += 1
                print(f"FAIL {where}: exit {code_text}")
                print("---- expected\n" + (expected or "(anything)") + "---- got\n" + output)
    return passed, failed, skipped


def main(argv: list[str]) -> int:
    pages = [Path(a) for a in argv] or sorted(DOCS.glob("*.md"))
    totals = [0, 0, 0]
    for page in pages:
        for i, n in enumerate(check_page(page)):
            totals[i] += n
    print(f"{totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
