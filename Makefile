# `make demo` and `make test` set everything up on a fresh machine: a virtualenv in .venv with the package
# installed from this checkout, and Graphviz's dot from the system package manager when it is missing.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
OUT    ?= out

.PHONY: demo test install graphviz chromium tmux bench bench-queues lint docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	@touch $(STAMP)

install: $(STAMP)

# Where dot cannot be installed, `make test` still runs (the Graphviz tests skip, unless CI=true) and
# `make demo` stops with the error that says how to install it.
graphviz:
	@sh scripts/install-graphviz.sh || [ "$${CI:-}" != "true" ]

# Debian's chromium opens the HTML review in the tests; where it cannot be installed those tests skip (not in CI).
chromium:
	@sh scripts/install-chromium.sh || [ "$${CI:-}" != "true" ]

# tmux drives the live displays in the tests.
tmux:
	@sh scripts/install-tool.sh tmux tmux || [ "$${CI:-}" != "true" ]

demo: install graphviz
	$(PY) examples/build.py --out $(OUT)/build
	@echo "graph written to $(OUT)/build/graph.svg"

test: install graphviz chromium tmux
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) benchmarks/dag_overhead.py

bench-queues: install
	$(PY) benchmarks/queue_throughput.py

lint: install
	$(PY) -m pip install -q ruff mypy
	$(PY) -m ruff check taskgraph tests examples benchmarks
	$(PY) -m mypy

clean:
	rm -rf $(VENV) $(OUT) build dist *.egg-info .pytest_cache .hypothesis
