# lomsong: two commands for a new user.
#   make run   set up everything, then serve the demo region at http://127.0.0.1:8000
#   make test  set up everything (Chromium included), then lint, type-check and test
# Each step leaves a stamp, so a second run skips what is already done.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint typecheck pytest setup assets chromium benchmark clean

run: setup
	$(BIN)/lomsong serve --demo --host $(HOST) --port $(PORT)

test: setup chromium lint typecheck pytest

setup: $(VENV)/.stamp-install assets

$(VENV)/.stamp-install: pyproject.toml
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Leaflet comes from the npm registry at set-up; the app serves it itself.
assets: node_modules/.stamp-assets

node_modules/.stamp-assets: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The browser tests drive Debian's Chromium (Playwright's own download cannot
# work on this network).
chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/python -m pytest

benchmark: setup
	$(BIN)/python benchmarks/bench_aggregate.py
	$(BIN)/python benchmarks/bench_ingest.py

clean:
	rm -rf $(VENV) node_modules var test-artifacts
