# The verbs a newcomer types. Every target installs what it needs first (scripts/bootstrap.sh).
.DEFAULT_GOAL := help
UV ?= $(shell command -v uv 2>/dev/null || echo .local/tools/bin/uv)
RUN := $(UV) run --frozen
PYTEST_ARGS ?=

.PHONY: help bootstrap test test-unit test-integration test-e2e chaos lint fmt run infra stop up down docker bench bench-report soak clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

bootstrap: ## install RabbitMQ, Prometheus (promtool), Python, uv and the locked dependencies when missing
	@bash scripts/bootstrap.sh

test: bootstrap ## run the whole suite against real servers (started locally when needed)
	$(RUN) pytest $(PYTEST_ARGS)

test-unit: bootstrap ## only the pure, fast tests
	$(RUN) pytest tests/unit $(PYTEST_ARGS)

test-integration: bootstrap ## only the tests against a real RabbitMQ and MongoDB-protocol server
	$(RUN) pytest tests/integration $(PYTEST_ARGS)

test-e2e: bootstrap ## every service as a real process, driven by signed webhooks (about a minute)
	$(RUN) pytest tests/e2e $(PYTEST_ARGS)

lint: bootstrap ## ruff (lint + format check), mypy (strict) and the import contracts (lint-imports)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) lint-imports

fmt: bootstrap ## apply ruff's fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

PROMETHEUS ?=
run: bootstrap ## start the whole system locally: broker, database and every service (Ctrl-C stops; PROMETHEUS=1: and Prometheus with the alert rules on :9090)
	GIVECARE_PROMETHEUS=$(PROMETHEUS) $(RUN) python -m services.devtools.run --dir .local/infra

infra: bootstrap ## start a private RabbitMQ node and MongoDB-protocol server until Ctrl-C
	$(RUN) python -m shared.local_servers --dir .local/infra

stop: ## stop a make run/infra of this checkout and whatever a killed run, test or benchmark left running
	$(RUN) python -m services.devtools.run --dir .local/infra --stop

COMPOSE := docker compose -f deploy/compose.yaml
DOWN_ARGS ?=

up: docker deploy/.env ## with Docker: build the image, start broker, database and services, wait until healthy
	$(COMPOSE) --env-file deploy/.env up --build --detach --wait
	@echo "ingress: http://127.0.0.1:8000, RabbitMQ UI: http://127.0.0.1:15672 (user monitoring, deploy/.env)"
	@echo "logs: $(COMPOSE) logs -f    stop: make down"

down: docker deploy/.env ## stop and remove what `make up` started (data volumes stay; DOWN_ARGS=--volumes drops them)
	$(COMPOSE) --env-file deploy/.env down $(DOWN_ARGS)

# The credentials compose interpolates, random, written once (never overwritten; gitignored).
deploy/.env:
	python3 -m services.devtools.compose_env

# `make up` and `make down` need Docker with its compose plugin (nothing of bootstrap.sh).
docker:
	@docker compose version >/dev/null 2>&1 || { \
	  echo "this target needs Docker with the compose plugin; without Docker use make run" >&2; exit 1; }

bench: bootstrap ## every benchmark in bench/, in one go (tables on stdout, JSON in .local/bench/; BENCH_QUICK=1: short)
	$(RUN) python -m bench

bench-report: bootstrap ## docs/performance.md tables and docs/perf/*.png plots from .local/bench/*.json
	$(RUN) python -m bench.plots
	$(RUN) python -m bench.performance_doc

chaos: bootstrap ## fault tests: broker/database outages, killed services, a flaky network, duplicate storms
	$(RUN) pytest tests/chaos $(PYTEST_ARGS)

soak: bootstrap ## long runs: a 30-minute soak with memory sampled, the scheduler's 60-day simulation of 2,000 users, the migrations over 20,000 legacy users, the safety heads refitted bit for bit
	SOAK_SECONDS=1800 $(RUN) pytest tests/soak --timeout=2400 $(PYTEST_ARGS)
	SIM_USERS=2000 $(RUN) pytest tests/integration/scheduler/test_simulation.py -k promise --timeout=3000 $(PYTEST_ARGS)
	MIGRATION_TEST_USERS=20000 $(RUN) pytest tests/integration/migrations/test_product_migrations.py --timeout=1800 $(PYTEST_ARGS)
	SAFETY_RETRAIN_CHECK=1 $(RUN) pytest tests/unit/sms_worker/test_safety.py -k reproduces $(PYTEST_ARGS)

clean: ## remove local data, caches and the virtualenv
	rm -rf .local .venv .pytest_cache .mypy_cache .ruff_cache
