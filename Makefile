# fedgroup: the two Quick start commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,postgres]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## Create the virtualenv, the SQLite database and a demo group if there is none, and serve.
run: $(STAMP)
	$(BIN)/fedgroup admin group ensure-demo
	$(BIN)/fedgroup serve

## Create the virtualenv and run the whole test suite (lint, unit, integration, interop).
test: $(STAMP)
	$(BIN)/ruff check fedgroup tests admin_cli.py bench
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
