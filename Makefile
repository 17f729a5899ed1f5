# Two set-up commands (README): `make run` and `make test`. Each creates .venv and installs what it needs:
# `make run` only what running needs (quick on a fresh clone), `make test` the test tools as well.
# PYTHON chooses the interpreter (3.11, 3.12 or 3.13): the stamps name its version, so `PYTHON=python3.12 make test`
# rebuilds a .venv made by another Python instead of reusing it. VENV=.venv-3.12 keeps one per version (CI).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYVER := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo none)
CKSUM := $(shell cat pyproject.toml requirements.lock | cksum | cut -d' ' -f1)
RUN_STAMP := $(VENV)/.installed-run-py$(PYVER)-$(CKSUM)
STAMP := $(VENV)/.installed-py$(PYVER)-$(CKSUM)
# A venv of this Python, or none: a venv of another version is removed first.
NEW_VENV = @test "$(PYVER)" != none || { echo "$(PYTHON) not found: set PYTHON to a Python 3.11, 3.12 or 3.13" >&2; \
	exit 1; }; test "$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = \
	"$(PYVER)" || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test check lint check-types unit bench plans venv

venv:  # only the venv of $(PYTHON), nothing installed (tests/test_makefile_python.py)
	$(NEW_VENV)

# The runtime dependencies come from requirements.lock (every one pinned, with hashes), then the project itself.
$(RUN_STAMP): pyproject.toml requirements.lock
	$(NEW_VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	rm -f $(VENV)/.installed-run-* && touch $(RUN_STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(NEW_VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --editable '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP) $(RUN_STAMP)

# PORT (service, default 8080) and FHIR_PORT (demo FHIR server, default 8081) choose the ports.
run: $(RUN_STAMP)
	VENV=$(VENV) scripts/run-dev.sh

lint: $(STAMP)
	$(BIN)/ruff check cds_service tests scripts demo benchmarks
	$(BIN)/lint-imports --no-cache

check-types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

test: lint check-types unit

# The fast inner loop while changing code (README, Tests): lint, import contract, types (mypy's cache makes a
# second run quick), the clinical unit tests, the scenarios and the commit-subject check, on two processes.
# Under a minute on an idle 2-CPU machine; `make test` (everything, about 12 minutes) before landing.
check: $(STAMP)
	$(BIN)/ruff check cds_service tests scripts demo benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest -q -n 2 tests/clinical tests/scenarios tests/test_commit_subjects.py

bench: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	$(BIN)/python benchmarks/run.py

plans: $(STAMP)
	$(BIN)/python benchmarks/plan_sweep.py
