# Two set-up commands (README): `make run` and `make test`. Each creates .venv and installs what it needs:
# `make run` only what running needs (quick on a fresh clone), `make test` the test tools as well.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CKSUM := $(shell cksum pyproject.toml | cut -d' ' -f1)
RUN_STAMP := $(VENV)/.installed-run-$(CKSUM)
STAMP := $(VENV)/.installed-$(CKSUM)

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint check-types unit bench plans

$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --editable .
	rm -f $(VENV)/.installed-run-* && touch $(RUN_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --editable '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP) $(RUN_STAMP)

# PORT (service, default 8080) and FHIR_PORT (demo FHIR server, default 8081) choose the ports.
run: $(RUN_STAMP)
	scripts/run-dev.sh

lint: $(STAMP)
	$(BIN)/ruff check cds_service tests scripts demo benchmarks
	$(BIN)/lint-imports --no-cache

check-types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

test: lint check-types unit

bench: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	$(BIN)/python benchmarks/run.py

plans: $(STAMP)
	$(BIN)/python benchmarks/plan_sweep.py
