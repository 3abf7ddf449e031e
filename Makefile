# lomsong: two commands for a new user.
#   make run   set up everything, then serve the demo region at http://127.0.0.1:8000
#   make test  set up everything (Chromium and gdal-bin included), then lint, type-check and test
# Each step leaves a stamp, so a second run skips what is already done.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint typecheck pytest setup assets system-packages benchmark clean

run: setup
	$(BIN)/lomsong serve --demo --host $(HOST) --port $(PORT)

test: setup system-packages lint typecheck pytest

setup: $(VENV)/.stamp-install assets

# The C kernel is compiled by the editable install: a changed source reinstalls.
$(VENV)/.stamp-install: pyproject.toml coverage/_deygout.c
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Leaflet comes from the npm registry at set-up; the app serves it itself.
assets: node_modules/.stamp-assets

node_modules/.stamp-assets: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian packages the tests use, installed only when missing: Chromium for the
# browser tests (Playwright's own download cannot work on this network),
# gdal-bin's gdalinfo/ogrinfo to check the GeoTIFFs and GeoPackage we write,
# poppler for the printed PDFs, and PostgreSQL + PostGIS: the tests start a
# throwaway cluster of their own in a temporary directory (tests/postgres.py).
SYSTEM_PACKAGES := chromium:chromium gdalinfo:gdal-bin ogrinfo:gdal-bin pdftoppm:poppler-utils pdftotext:poppler-utils
# Files (globs) whose package is missing when none matches.
SYSTEM_FILES := /usr/lib/postgresql/*/bin/initdb:postgresql \
	/usr/share/postgresql/*/extension/postgis.control:postgis

system-packages:
	@missing="$$(for pair in $(SYSTEM_PACKAGES); do \
		command -v $${pair%%:*} >/dev/null 2>&1 || echo $${pair#*:}; done; \
		for pair in $(SYSTEM_FILES); do \
		ls $${pair%%:*} >/dev/null 2>&1 || echo $${pair#*:}; done | sort -u)"; \
	[ -z "$$missing" ] || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; }

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

# PostgreSQL is installed above: its tests must run, never skip. The first pass
# runs everything, the store's tests on both backends (the `database` fixture);
# the second runs the API's tests again with every test's service on a fresh
# PostgreSQL database (tests/app/conftest.py).
pytest:
	LOMSONG_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest
	LOMSONG_REQUIRE_POSTGRES=1 LOMSONG_TEST_BACKEND=postgresql $(BIN)/python -m pytest \
		tests/app/api -m "not browser"

benchmark: setup
	$(BIN)/python benchmarks/bench_aggregate.py
	$(BIN)/python benchmarks/bench_ingest.py

clean:
	rm -rf $(VENV) node_modules var test-artifacts
