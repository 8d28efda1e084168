# Spotilytics: `make run` for the demo, `make test` for the suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test venv lint migrate demo bench-seed bench-kpis clean

# The newest interpreter >= 3.12 on PATH (pyenv's shims honour .python-version).
PYTHON_312 := $(shell for c in python3.12 python3.13 python3.14 python3 python; do \
	command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null \
	&& { echo $$c; break; }; done)

$(PY):
	@if [ -z "$(PYTHON_312)" ]; then \
		echo "Spotilytics needs Python 3.12 or newer; none was found on PATH (tried python3.12, python3.13, python3.14, python3, python)." >&2; \
		exit 1; fi
	$(PYTHON_312) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed

migrate: venv
	DEBUG=1 $(PY) manage.py migrate --no-input

# Seeds demo data only into an empty database, and prints the demo login.
demo: migrate
	DEBUG=1 $(PY) manage.py seed --scale demo --if-empty
	DEBUG=1 $(PY) manage.py demo_login

run: demo
	DEBUG=1 $(PY) manage.py runserver $(HOST):$(PORT)

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(PY) -m ruff check .

bench-seed: venv
	$(PY) benchmarks/seed.py

bench-kpis: venv
	$(PY) benchmarks/kpis.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
