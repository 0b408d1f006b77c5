# The two commands a newcomer needs: `make demo` (the service's main job) and `make test`.
# Every target sets itself up: a venv for the app (.venv) and one for aws-sam-cli (.venv-sam).
SHELL := /bin/bash
export PYENV_VERSION ?= 3.13.0
PYTHON ?= $(shell command -v python3.13 || echo python3)
VENV := .venv
SAM_VENV := .venv-sam
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
PORT ?= 3000
# sam build looks for python3.13 on PATH; the app's venv provides one.
SAM_PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: all setup test check fmt lint typecheck unit pytest sam-validate sam-build serve reset seed openapi demo bench clean

all: test

$(VENV)/.installed: requirements-dev.txt layers/allocator/requirements.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 13), f"Python 3.13 is needed, found {sys.version}"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet -r requirements-sam.txt
	@touch $@

setup: $(VENV)/.installed $(SAM_VENV)/.installed

test: setup check pytest sam-validate sam-build

check: lint typecheck

# Rewrites the tree as `make lint` wants it: safe ruff fixes, then the formatter.
fmt: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy layers/allocator functions devserver demo tests benchmarks

# Coverage of the layer and the functions (what runs in Lambda) is printed with the results.
pytest: $(VENV)/.installed
	$(PY) -m pytest -n 2 --dist loadgroup --cov=layers/allocator/opd --cov=functions --cov-report=term:skip-covered $(PYTEST_ARGS)

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

sam-validate: $(SAM_VENV)/.installed
	$(SAM) validate --lint

sam-build: $(SAM_VENV)/.installed $(VENV)/.installed
	PATH="$(SAM_PATH)" $(SAM) build --cached

serve: $(VENV)/.installed
	$(PY) -m devserver.runner --port $(PORT)

seed: $(VENV)/.installed
	$(PY) -m demo.seed --url http://127.0.0.1:$(PORT)

reset:
	rm -rf .local/data

openapi: $(VENV)/.installed
	$(PY) -m devserver.openapi --write docs/openapi.json

demo: $(VENV)/.installed
	$(PY) -m demo

bench: $(VENV)/.installed
	$(PY) benchmarks/round_trips.py
	$(PY) benchmarks/rush.py
	$(PY) benchmarks/cold_start.py

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
