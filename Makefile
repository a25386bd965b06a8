# Two commands: `make quickstart` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: quickstart test check system-deps test-deps clean

quickstart: system-deps $(VENV)/.runtime
	scripts/quickstart.sh

test: test-deps $(VENV)/.dev
	$(MAKE) check
	scripts/run-tests.sh

check: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy src

system-deps:
	scripts/install-system-deps.sh

test-deps:
	scripts/install-system-deps.sh --test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.runtime

clean:
	rm -rf $(VENV) .cache .quickstart .pytest_cache .mypy_cache .ruff_cache src/*.egg-info
