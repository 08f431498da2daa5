# Carebase — `make run` starts the app with demo data, `make test` runs every check. Both set up what they need.
SHELL := /bin/bash
PY := .venv/bin/python
PIP := .venv/bin/pip
PORT ?= 8000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
WHEELS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)

.PHONY: setup run test lint bench browser clean-db

setup: .venv/.installed

# Runtime packages (requirements.txt) and the tools of tests and checks (requirements-dev.txt, which includes them).
.venv/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --disable-pip-version-check $(WHEELS) -r requirements.txt -r requirements-dev.txt
	touch $@

# Debian's Chromium for the browser tests (Playwright drives it; never `playwright install`).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

run: setup
	PORT=$(PORT) $(PY) -m carebase.devserver

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	DATABASE_URL=postgresql://mypy@127.0.0.1/unused DEBUG=true .venv/bin/mypy  # type checks need settings, not a database

test: setup browser lint
	.venv/bin/pytest

bench: setup
	$(PY) tests/perf/run_all.py

clean-db:
	rm -rf var/pg
