# Every target sets up what it needs on a fresh machine: the venv, Keycloak, the browser.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SHARED := ../shared

.PHONY: test lint typecheck unit conformance keycloak demo bench browser-deps redis-deps clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,dev]'
	touch $(STAMP)

## make test: lint, types, the project's tests (unit, real Keycloak, browser) and the conformance floor.
test: $(STAMP) browser-deps redis-deps lint typecheck
	$(PY) -m pytest tests -q
	$(PY) -m pytest $(SHARED)/conformance -q -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict fastapi_kc

unit: $(STAMP) redis-deps
	$(PY) -m pytest tests -q -m "not keycloak and not browser"

conformance: $(STAMP)
	$(PY) -m pytest $(SHARED)/conformance -q -p no:cacheprovider

## Debian's Chromium and its driver, for the browser test (no browser download from elsewhere).
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Debian's chromium for the browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

## Debian's redis-server, for the revocation tests (a fixture starts it on a free loopback port).
redis-deps:
	@if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then \
	  echo "installing Debian's redis-server for the revocation tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	fi

## make keycloak: fetch (Maven) and run the pinned Keycloak with the demo realm, in the foreground.
keycloak: $(STAMP)
	$(PY) -m keycloak_dev run

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

## make demo: the local Keycloak and the example app together (Ctrl-C stops both).
demo: $(STAMP)
	$(PY) -m example_app.demo

## make bench: the benchmark suite, in its own environment with the peer libraries.
bench:
	bash benchmarks/run.sh
