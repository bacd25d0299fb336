# Two commands on a fresh machine: `make run` serves the app, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-nodeps.txt | sha256sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup migrate run worker test lint check-schema browsers db-stop clean bench

$(STAMP): requirements.txt requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	# face_recognition's metadata pins the source-only dlib; dlib-bin (above) provides it prebuilt.
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

migrate: setup
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) manage.py matching_index refresh
	$(PY) manage.py runserver $(HOST):$(PORT) --noreload

worker: migrate
	$(VENV)/bin/celery -A registry worker --loglevel=INFO --concurrency=2 --beat

# Headless Chromium for the browser tests; they skip (saying why) where it cannot be installed.
browsers:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
		|| echo "chromium could not be installed; browser tests will skip"; \
	else echo "not root or no apt-get: browser tests will skip unless chromium is installed"; fi

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

check-schema: setup
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

test: setup browsers lint check-schema
	$(PY) -m pytest $(PYTEST_ARGS)

bench: migrate
	$(PY) bench/engine.py
	$(PY) bench/merkle.py

db-stop:
	$(PY) -c "from pathlib import Path; from registry.lib.embedded_db import stop; print('stopped' if stop(Path('var/pgdata')) else 'not running')"

clean: db-stop
	rm -rf var
