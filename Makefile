PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.DEFAULT_GOAL := help
.PHONY: help install test lint format demo bench golden schemas soak clean

help: ## show this help
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml src/_csrules_entry.py  # the launcher is copied into the venv, not linked
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The `bench` extra (zen-engine, a peer in bench_evaluate.py) is installed by `make bench` only.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

install: $(STAMP) ## create .venv and install csrules with its dev extras

test: $(STAMP) ## run the whole test suite
	$(BIN)/python -m pytest -q

lint: $(STAMP) ## ruff (lint + format check) and mypy strict on src/
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src

format: $(STAMP) ## apply ruff formatting and fixes
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

demo: $(STAMP) ## evaluate the example tickets with the default bundle and print the explanations
	@for t in examples/tickets/*.json; do \
		echo "=== $$t"; \
		$(BIN)/csrules eval "$$t" --now 2026-11-23T15:00:00Z || exit $$?; \
		echo; \
	done

golden: $(STAMP) ## regenerate golden trace/explain/CLI snapshots (review the diff like code)
	$(BIN)/python -m pytest -q tests/golden --update-golden

schemas: $(STAMP) ## regenerate the JSON Schemas shipped in src/csrules/schemas/ from the models
	$(BIN)/csrules schema policy --generate --output src/csrules/schemas/policy.schema.json
	$(BIN)/csrules schema ticket --generate --output src/csrules/schemas/ticket.schema.json
	$(BIN)/csrules schema decision --generate --output src/csrules/schemas/decision.schema.json

bench: $(BENCH_STAMP) ## install the bench extra, run the benchmarks (figures and ratios printed, nothing asserted)
	$(BIN)/python benchmarks/bench_evaluate.py
	$(BIN)/python benchmarks/bench_scale.py
	$(BIN)/python benchmarks/bench_check.py
	$(BIN)/python benchmarks/bench_shadow.py
	$(BIN)/python benchmarks/bench_bulk.py
	$(BIN)/python benchmarks/bench_import.py
	$(BIN)/python benchmarks/bench_reload.py --cycles 1000
	$(BIN)/python benchmarks/bench_log.py

soak: $(STAMP) ## long runs: 1,000,000 evaluations with memory check, 16 threads x 20,000, 20x fuzzing, 10x properties
	$(BIN)/python benchmarks/soak.py --evaluations 1000000 --threads 16 --per-thread 20000
	HYPOTHESIS_PROFILE=soak CSRULES_FUZZ_SCALE=20 $(BIN)/python -m pytest -q -p no:cacheprovider tests/hardening/test_fuzz.py tests/hardening/test_interrupts.py tests/properties tests/audit/test_log_history.py

clean: ## remove .venv and build output
	rm -rf $(VENV) dist build .pytest_cache .mypy_cache .ruff_cache
