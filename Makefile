# Two commands on a fresh machine: `make dev` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint format typecheck pytest install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The client (clients/python) is a separate distribution the server depends on: one pip
# command installs both, so the server's requirement is met by the local copy.
$(STAMP): $(BIN)/python pyproject.toml clients/python/pyproject.toml
	$(BIN)/python -m pip install --quiet -e ./clients/python -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/mistral-queue dev

lint: $(STAMP)
	$(BIN)/ruff check mistral_queue tests bench clients/python
	$(BIN)/ruff format --check mistral_queue tests bench clients/python

format: $(STAMP)
	$(BIN)/ruff format mistral_queue tests bench clients/python
	$(BIN)/ruff check --fix mistral_queue tests bench clients/python

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
