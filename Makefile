# Talkee — two commands: `make run` (serve on http://127.0.0.1:8000) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WEB_SOURCES := $(shell find web -path web/node_modules -prune -o -path web/dist-harness -prune -o -type f -print 2>/dev/null)

.PHONY: run test s2s worker venv web lint typecheck pytest web-test migrate clean

## make run: install what is missing, build the PWA, migrate, serve (daphne, HTTP + WebSocket)
run: venv web migrate
	$(BIN)/python manage.py ensure_instance_key
	$(BIN)/python manage.py ensure_vapid_key
	@echo "Talkee on http://$(HOST):$(PORT)/  (Ctrl-C to stop)"
	$(BIN)/python -m talkee.server --host $(HOST) --port $(PORT)

## make s2s: the federation listener (mutual TLS; needs TALKEE_FEDERATION_TLS_CERT/_KEY/_CA, README "Federation")
s2s: venv
	$(BIN)/python -m talkee.server --s2s --host $(HOST)

## make worker: Celery worker + beat (when REDIS_URL / CELERY_BROKER_URL are set)
worker: venv
	$(BIN)/celery -A talkee worker --beat --loglevel INFO --concurrency 2

migrate: venv
	$(BIN)/python manage.py migrate --noinput

venv: $(VENV)/.installed
$(VENV)/.installed: requirements/base.txt requirements/dev.txt requirements/prod.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Talkee needs Python 3.11 or newer"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/dev.txt -r requirements/prod.txt
	touch $@

web: static/app/index.html
web/node_modules/.installed: web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "Talkee needs Node.js 20 and npm to build the web app"; exit 1; }
	cd web && npm ci --no-audit --no-fund
	touch $@
static/app/index.html: web/node_modules/.installed $(WEB_SOURCES)
	cd web && npm run build

## make test: lint, types, web unit tests, then pytest against PostgreSQL + Redis + Celery + Chromium
test: venv web/node_modules/.installed lint typecheck web-test pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy .

web-test: web/node_modules/.installed
	cd web && npm run typecheck && npm test && npm run build && npm run build:harness && npm run build:cli

# Two runs: Playwright's sync API keeps an event loop in the test thread, which the
# server-side tests (asyncio.run, sync ORM) must never share.
pytest: venv web
	DJANGO_SETTINGS_MODULE=talkee.settings.test $(BIN)/pytest --ignore=tests/e2e $(PYTEST_ARGS)
	DJANGO_SETTINGS_MODULE=talkee.settings.test $(BIN)/pytest tests/e2e $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) web/node_modules static/app web/dist-harness web/dist-cli
