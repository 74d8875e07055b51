# `make run` and `make test` need only Python 3.11+ and make: both create .venv and install
# into it, again only when pyproject.toml has changed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/triage-hub serve

# Two test processes (pytest-xdist): the tests own their databases, ports and directories, and
# spend much of their time waiting on browsers and servers: 22 -> 13.6 min on a 2-core box.
PYTEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check triage_hub tests bench
	$(BIN)/ruff format --check triage_hub tests bench
	$(BIN)/mypy

# Every bench script in turn and one table of their figures (bench/run_all.py, ~25 min);
# QUICK=1: about a minute, small tables and short runs.
bench: $(STAMP)
	$(BIN)/python bench/run_all.py $(if $(filter-out 0,$(QUICK)),--quick)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
