# The two commands of the quickstart: `make run` and `make test`.
# Only Python 3.11 and make are needed; everything else is installed into .venv.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit browser bench bench-cluster bench-daemon clean migration

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## run: install, then run the daemon on config.yaml (SQLite under ./data/; Ctrl-C stops it cleanly)
run: $(STAMP)
	$(BIN)/monitor --config config.yaml run

## test: install, then lint, type-check and run the whole test suite
test: $(STAMP) browser lint typecheck unit

# The digest test opens the HTML digest in headless Chromium (Debian package `chromium`).
# Installed here when missing and apt-get can be used as root (CI on a clean machine);
# otherwise that one test says why it is skipped (and fails when CI=true).
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing chromium (Debian package) for the HTML digest test"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "could not install chromium: the browser test will be skipped (and fail on CI)" >&2; \
	else echo "chromium not found and cannot be installed here: the browser test will be skipped" >&2; fi

lint: $(STAMP)
	$(BIN)/ruff check monitor tests bench
	$(BIN)/ruff format --check monitor tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest exits 5 when it collected no test: here that means a mis-selected suite, so fail clearly.
unit: $(STAMP)
	@$(BIN)/pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$status

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

## bench: the poll cycle at scale (1,000 feeds x 50 items served by nginx on 127.0.0.1) -> bench/RESULTS.md
# Takes about 15 minutes on 2 cores; BENCH_RUNS=5 for more runs. Needs nginx (installed here when missing).
bench: $(BENCH_STAMP)
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || \
		{ echo "installing nginx (Debian package) for the bench"; apt-get update -qq && apt-get install -y -qq nginx; }
	$(BIN)/python -m bench.run

## bench-cluster: insert + cluster cost per item with 10k and with 1M items stored -> bench/results/cluster.md
# A few minutes on 2 cores; needs about 3 GB of disk under bench/out/ (deleted by nothing: rm it after).
bench-cluster: $(STAMP)
	$(BIN)/python -m bench.bench_cluster

## bench-daemon: the daemon's polls/s against poll --once, RSS over many cycles, 1 vs 2 replicas -> bench/results/daemon.md
# About 3 minutes; the replica runs need PostgreSQL (MONITOR_TEST_DATABASE_URL or --postgres URL).
bench-daemon: $(BENCH_STAMP)
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || \
		{ echo "installing nginx (Debian package) for the bench"; apt-get update -qq && apt-get install -y -qq nginx; }
	$(BIN)/python -m bench.bench_daemon

## migration: after changing monitor/store/tables.py, write the next Alembic revision (make migration m="add x")
SCRATCH_DB := sqlite:///$(CURDIR)/.venv/migration-scratch.db
migration: $(STAMP)
	@test -n "$(m)" || { echo 'usage: make migration m="what changed"' >&2; exit 2; }
	rm -f .venv/migration-scratch.db
	MONITOR_DATABASE_URL=$(SCRATCH_DB) $(BIN)/alembic upgrade head
	MONITOR_DATABASE_URL=$(SCRATCH_DB) $(BIN)/alembic revision --autogenerate -m "$(m)" \
		--rev-id $$(printf '%04d' $$(( $$(ls monitor/store/migrations/versions/*.py | wc -l) + 1 )))
	$(BIN)/ruff check --fix --quiet monitor/store/migrations/versions
	$(BIN)/ruff format --quiet monitor/store/migrations/versions
	rm -f .venv/migration-scratch.db

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
