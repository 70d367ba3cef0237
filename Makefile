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

# The web dashboard (freqtrade-ui/): npm packages when the lock file changed, a build when any
# source changed. The registry never downloads a browser (the e2e tests use Debian's chromium).
UI := freqtrade-ui
UI_MODULES_STAMP := $(UI)/node_modules/.installed
UI_BUILD_STAMP := $(UI)/dist/.built
UI_SOURCES := $(shell find $(UI)/src $(UI)/public -type f 2>/dev/null) \
	$(UI)/index.html $(UI)/vite.config.ts $(UI)/tsconfig.json $(UI)/package.json
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: install run test test-fast lint format bench clean ui ui-install ui-lint ui-test ui-e2e ui-dev ui-api

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

$(UI_MODULES_STAMP): $(UI)/package-lock.json $(UI)/package.json
	cd $(UI) && npm ci --no-audit --no-fund
	@touch $(UI_MODULES_STAMP)

$(UI_BUILD_STAMP): $(UI_MODULES_STAMP) $(UI_SOURCES)
	cd $(UI) && npm run build
	@touch $(UI_BUILD_STAMP)

ui-install: $(UI_MODULES_STAMP)

ui: $(UI_BUILD_STAMP)

# Regenerate the API types from the backend's OpenAPI schema (commit both files).
ui-api: install $(UI_MODULES_STAMP)
	cd $(UI) && npm run gen:api

ui-lint: $(UI_MODULES_STAMP)
	cd $(UI) && npm run lint
	cd $(UI) && npm run typecheck

ui-test: ui-lint
	cd $(UI) && npm test

# A real backend on free ports and Debian's chromium (installed where missing).
ui-e2e: install $(UI_BUILD_STAMP)
	cd $(UI) && E2E_SKIP_BUILD=1 npm run e2e

# Vite on :3000, proxying /api and the WebSocket to the backend on :8000 (`make run`).
ui-dev: $(UI_MODULES_STAMP)
	cd $(UI) && npm run dev

run: install ui
	$(BIN)/multibot serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check core_server tests benchmarks
	$(BIN)/ruff format --check core_server tests benchmarks
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix core_server tests benchmarks
	$(BIN)/ruff format core_server tests benchmarks

test: install lint ui-test
	$(BIN)/pytest
	$(MAKE) ui-e2e

test-fast: install
	$(BIN)/pytest -x -q

bench: install
	$(BIN)/python benchmarks/api_latency.py
	$(BIN)/python benchmarks/bot_start.py
	$(BIN)/python benchmarks/job_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(UI)/node_modules $(UI)/dist
