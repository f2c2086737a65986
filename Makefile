# Two commands for a newcomer: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/accord demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/bench_platform.py
	$(BIN)/python bench/bench_gaps.py
	$(BIN)/python bench/bench_coverage.py
	$(BIN)/python bench/bench_mapping_import.py
	$(BIN)/python bench/bench_authz.py
	$(BIN)/python bench/bench_sync.py
	$(BIN)/python bench/bench_gateway.py

clean:
	rm -rf $(VENV) .accord
