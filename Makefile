# AX CRM — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000
BENCH_DB ?= axcrm_bench

.DEFAULT_GOAL := help
.PHONY: help run test lint format translations messages migrate-check lock clean bench bench-data

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-16s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime-installed

translations: $(VENV)/.runtime-installed ## Compile the Korean and English catalogues (.mo files are not committed)
	@$(BIN)/pybabel compile --statistics -d translations 2>&1 | grep -v '^compiling' || true

run: $(VENV)/.runtime-installed translations ## Run web, worker and beat with demo data on http://127.0.0.1:5000 (SQLite, no servers needed)
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	@mkdir -p instance
	@echo "AX CRM: http://$(HOST):$(PORT)  (demo accounts in README.md, password demo-pass-2026; mail lands in instance/outbox/)"
	@$(BIN)/celery -A workers.celery_app worker -B --loglevel=WARNING --concurrency=2 \
		-s instance/celerybeat-schedule --logfile instance/worker.log & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(FLASK) run --host $(HOST) --port $(PORT)

test: $(VENV)/.dev-installed translations ## Run the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.dev-installed translations ## Benchmarks against PostgreSQL, each beside its floor (loads axcrm_bench first if missing)
	$(BIN)/python -m bench.generate --database $(BENCH_DB) --if-missing
	$(BIN)/python -m bench.run --database $(BENCH_DB) $(BENCH_ARGS)

bench-data: $(VENV)/.dev-installed ## (Re)load the benchmark database axcrm_bench (100,000 firms … 2,000,000 activities; minutes)
	$(BIN)/python -m bench.generate --database $(BENCH_DB) $(BENCH_DATA_ARGS)

lint: $(VENV)/.dev-installed ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev-installed ## Format the code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

messages: $(VENV)/.runtime-installed ## Extract marked strings and update both catalogues
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete

lock: ## Re-pin requirements.txt from requirements.in in a scratch environment
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv && .lock-venv/bin/pip install --quiet -r requirements.in
	(echo "# Pinned runtime dependencies (direct ones in requirements.in). Regenerate: make lock"; .lock-venv/bin/pip freeze) > requirements.txt
	rm -rf .lock-venv

clean: ## Remove the virtualenv, caches and the local SQLite database
	rm -rf $(VENV) .pytest_cache .ruff_cache instance
	find . -name __pycache__ -prune -exec rm -rf {} +

# Scale-out check (bench/scaleout/README.md): needs PostgreSQL on 127.0.0.1:5432 and redis-server installed.
.PHONY: scaleout
scaleout: $(VENV)/.dev-installed translations ## Two web processes, two workers and one beat: a notice and a sweep reach everyone once
	$(BIN)/python -m bench.scaleout.run $(SCALEOUT_ARGS)
