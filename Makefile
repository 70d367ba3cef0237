# The front door. `make run` and `make test` install whatever is missing first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
STAMP := $(VENV)/.installed
# freqtrade lives in its own environment (DESIGN.md, decision 1), pinned by runtime/freqtrade.lock.
FREQTRADE_ENV := .freqtrade
FREQTRADE_STAMP := $(FREQTRADE_ENV)/.installed

HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-fast lint format bench clean

install: $(STAMP) $(FREQTRADE_STAMP)

# Re-install only when the lock file or the project metadata changed.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(UV) pip sync --quiet --python $(BIN)/python --require-hashes requirements.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

$(FREQTRADE_STAMP): runtime/freqtrade.lock $(STAMP)
	@test -x $(FREQTRADE_ENV)/bin/python || $(UV) venv --quiet --python $(BIN)/python $(FREQTRADE_ENV)
	$(UV) pip sync --quiet --python $(FREQTRADE_ENV)/bin/python --require-hashes runtime/freqtrade.lock
	@touch $(FREQTRADE_STAMP)

run: install
	$(BIN)/multibot serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check core_server tests benchmarks
	$(BIN)/ruff format --check core_server tests benchmarks
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix core_server tests benchmarks
	$(BIN)/ruff format core_server tests benchmarks

test: install lint
	$(BIN)/pytest

test-fast: install
	$(BIN)/pytest -x -q

bench: install
	$(BIN)/python benchmarks/api_latency.py
	$(BIN)/python benchmarks/bot_start.py
	$(BIN)/python benchmarks/job_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
