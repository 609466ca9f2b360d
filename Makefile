# fedgroup: the two Quick start commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Every install takes its exact versions from constraints.txt (`make lock` refreshes it).
PIP_INSTALL := $(BIN)/pip install --quiet --constraint constraints.txt
# A stamp per kind of install, named after the files that decide it: editing pyproject.toml
# or constraints.txt reinstalls on the next `make`.
DEPS_SUM := $(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
RUN_STAMP := $(VENV)/.installed-run-$(DEPS_SUM)
TEST_STAMP := $(VENV)/.installed-test-$(DEPS_SUM)
# The conformance suite replays payloads captured from other software; it runs when
# CONFORMANCE_CORPUS names their directory (CI: ../shared/fixtures/real). See README "Tests".
CONFORMANCE_CORPUS ?=
PYTEST_ARGS ?=
# Test worker processes (pytest-xdist); a module's tests stay on one worker, so its
# module-scoped servers and peers start once. TEST_WORKERS=0 runs in this process.
TEST_WORKERS ?= 3
PYTEST_WORKERS := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)
PYTEST_CORPUS := $(if $(CONFORMANCE_CORPUS),--conformance-corpus=$(CONFORMANCE_CORPUS))
# The browser suite (tests/browser/) runs where Debian's Chromium is installed; with
# REQUIRE_BROWSER=1 (CI) a missing Chromium is an error instead of a note.
REQUIRE_BROWSER ?=
PYTEST_BROWSER := $(if $(REQUIRE_BROWSER),--require-browser)

.PHONY: run test lint bench lock clean messages

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# The server and nothing else: no test runner, linter or database drivers it does not use.
$(RUN_STAMP): pyproject.toml constraints.txt | $(VENV)/bin/python
	$(PIP_INSTALL) -e .
	rm -f $(VENV)/.installed-run-*
	touch $@

# The server plus the test extras (pytest and plugins, ruff, asyncpg for the PostgreSQL tests).
$(TEST_STAMP): pyproject.toml constraints.txt | $(VENV)/bin/python
	$(PIP_INSTALL) -e '.[test,postgres]'
	rm -f $(VENV)/.installed-test-* $(VENV)/.installed-run-*
	touch $@ $(RUN_STAMP)

## Create the virtualenv, the SQLite database and a demo group if there is none, and serve.
run: $(RUN_STAMP)
	$(BIN)/fedgroup admin group ensure-demo
	$(BIN)/fedgroup serve

## Create the virtualenv and run the whole test suite (lint, unit, integration, interop; the
## conformance suite too when CONFORMANCE_CORPUS is given).
test: $(TEST_STAMP)
	$(BIN)/ruff check fedgroup tests admin_cli.py bench
ifeq ($(strip $(PYTEST_ARGS)),)
	$(BIN)/pytest -q $(PYTEST_WORKERS) -m 'not timing' $(PYTEST_CORPUS) $(PYTEST_BROWSER)
	$(BIN)/pytest -q -p no:cacheprovider -m timing
else
	$(BIN)/pytest -q $(PYTEST_WORKERS) $(PYTEST_CORPUS) $(PYTEST_BROWSER) $(PYTEST_ARGS)
endif

lint: $(TEST_STAMP)
	$(BIN)/ruff check fedgroup tests admin_cli.py bench

bench: $(TEST_STAMP)
	$(BIN)/python -m bench

## Re-resolve pyproject.toml's ranges against PyPI into constraints.txt (on purpose, reviewed).
lock:
	PYTHON=$(PYTHON) scripts/refresh-constraints

## Rewrite the catalog of the pages' strings (fedgroup/web/locale/messages.pot) for translators.
messages: $(RUN_STAMP)
	$(BIN)/python -m fedgroup.web.catalog

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
