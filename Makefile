# Redcloud. `make run` starts one node on the embedded default; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test test-fast check lint bench install install-dev messages migrate clean federation-demo

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt requirements.txt $(VENV)/.runtime
	$(PIP) install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

messages: $(VENV)/.runtime
	$(PY) manage.py compilemessages --ignore=.venv -v 0

migrate: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput -v 0

## One node on http://127.0.0.1:8000: SQLite and a file-system broker under ./var, no Redis needed.
run: $(VENV)/.runtime messages migrate
	$(PY) manage.py node firstrun
	$(VENV)/bin/honcho -f Procfile.dev start

## The whole suite: unit tests on both cores, then the end-to-end tests (real node processes,
## browser, fault tests) one at a time so their timing is not starved.
test: $(VENV)/.dev messages
	$(PY) -m pytest -m "not e2e" -n 2 $(PYTEST_ARGS)
	$(PY) -m pytest -m "e2e" $(PYTEST_ARGS)

## Unit tests only.
test-fast: $(VENV)/.dev messages
	$(PY) -m pytest -m "not e2e and not slow" $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy federation
	$(PY) manage.py makemigrations --check --dry-run -v 0

check: lint test

bench: $(VENV)/.dev messages migrate
	$(PY) -m bench

clean:
	rm -rf var $(VENV)

## A province hub, two prefectures and three counties on 127.0.0.1:8200-8205 with sample data
## (members, groups, posts in Chinese, a poll, an event, a course); runs until Ctrl-C.
federation-demo: $(VENV)/.runtime messages
	$(PY) manage.py devnet_demo $(DEMO_ARGS)
