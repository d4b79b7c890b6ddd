"""The docs are part of the feature: every snippet in them runs and prints what they show."""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from taskgraph.states import EVENTS, State

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]


def _checker():
    spec = importlib.util.spec_from_file_location("check_snippets", ROOT / "docs" / "check_snippets.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_snippets_run_and_print_what_the_page_shows(page, dot):
    passed, failed, _ = _checker().check_page(page)
    assert failed == 0
    if "```python" in page.read_text(encoding="utf-8"):
        assert passed > 0


def test_the_state_diagram_shows_every_state_and_event():
    svg = ET.parse(ROOT / "docs" / "state-machine.svg").getroot()
    texts = {el.text.strip() for el in svg.iter() if el.tag.endswith("text") and el.text}
    assert {s.value for s in State} <= texts
    assert set(EVENTS) <= texts


def test_every_doc_page_is_listed_in_the_index():
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    for page in (ROOT / "docs").glob("*.md"):
        if page.name != "index.md":
            assert f"({page.name})" in index, page.name


def test_the_readme_commands_after_make_demo_work_as_printed(tmp_path):
    """The README's first shell block of `taskgraph` commands, run as printed after its `. .venv/bin/activate`
    (this suite runs in that environment), with out/ moved to a scratch directory."""
    import os
    import re
    import subprocess
    import sys

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M) if "\ntaskgraph " in b)
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    assert lines[0] == ". .venv/bin/activate"
    commands = [line.replace("out/", f"{tmp_path}/") for line in lines[1:] if line]
    assert all(c.startswith("taskgraph ") for c in commands) and len(commands) >= 3
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for command in commands:
        done = subprocess.run(command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    assert (tmp_path / "review.html").stat().st_size > 0
