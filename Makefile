# The README's two commands are `make demo` and `make test`; everything else is a step of theirs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ENV := . scripts/env.sh &&
SCALE ?= 20000
ORPHANS ?= 3
STACK ?= local
# Every pulumi command that can change something goes through the policy pack, with the stack's own settings.
GATE = --policy-pack policies --policy-pack-config policy-config.$(STACK).json
PYTEST_ARGS ?=
# PG=14|16|17|18: the server version of make db-up and make test (unset: Debian's 15).
PG ?=
ifneq ($(PG),)
export FKGUARD_PG_VERSION := $(PG)
endif

.PHONY: demo test test-matrix bootstrap toolchain venvs postgres db-up db-down db-destroy seed stack-local preview up \
	policy-check bench chaos lint

demo: bootstrap db-up stack-local
	SCALE=$(SCALE) ORPHANS=$(ORPHANS) scripts/demo.sh

# TEST_WORKERS pytest-xdist processes, each with a PostgreSQL cluster of its own; TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2
test: bootstrap lint
	$(ENV) pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# A named subset of the suite on PostgreSQL 14 to 18, and a version x test-file table (not in CI).
test-matrix: bootstrap
	@scripts/test-matrix.sh

bootstrap: postgres toolchain venvs

toolchain:
	@scripts/bootstrap-pulumi.sh

venvs:
	@scripts/bootstrap-python.sh

postgres:
	@scripts/bootstrap-postgres.sh

db-up: postgres
	@scripts/pg.sh start

db-down:
	@scripts/pg.sh stop

db-destroy:
	@scripts/pg.sh destroy

seed: bootstrap db-up stack-local
	$(ENV) fkguard seed -s local --scale $(SCALE) --orphans $(ORPHANS)

# The local stack's record lives in the git-ignored .pulumi-state: create it on a fresh clone.
stack-local: toolchain
	@$(ENV) { pulumi stack select local --non-interactive 2>/dev/null \
	  || pulumi stack init local --secrets-provider passphrase --non-interactive; }

# The policy gate, as CI runs it: fails while any mandatory policy is violated.
policy-check: toolchain venvs $(if $(filter local,$(STACK)),db-up stack-local)
	$(ENV) pulumi preview -s $(STACK) --non-interactive --skip-plugin-pre-install $(GATE)

preview: toolchain venvs $(if $(filter local,$(STACK)),db-up stack-local)
	$(ENV) pulumi preview -s $(STACK) --non-interactive --skip-plugin-pre-install --diff $(GATE)

up: toolchain venvs $(if $(filter local,$(STACK)),db-up stack-local)
	$(ENV) pulumi up -s $(STACK) --skip-plugin-pre-install $(GATE)

# The benchmarks (numbers, never assertions): BENCH_SCALE rows in the largest table (10000000 for the
# big run); BENCH_RUNS runs per timing, the median reported.
BENCH_SCALE ?= 200000
BENCH_RUNS ?= 3
# The parent-side measure runs again at this many rows, in a database of its own (0: not).
BENCH_PARENT_SCALE ?= 10000000
# The gate's cost at these catalog sizes (1,000 takes about 40 minutes here).
BENCH_SCALE_SIZES ?= 160
# Real schemas measured beside them, comma-separated paths outside the project (e.g. /work/schemas/lago.sql).
BENCH_SCALE_SCHEMAS ?=
bench: bootstrap db-up
	$(ENV) python -m bench --scale $(BENCH_SCALE) --runs $(BENCH_RUNS) --parent-scale $(BENCH_PARENT_SCALE) --scale-sizes $(BENCH_SCALE_SIZES) \
	  $(if $(BENCH_SCALE_SCHEMAS),--scale-schema $(BENCH_SCALE_SCHEMAS))

# The chaos campaign (a bench, not in make test): CHAOS_RUNS rollouts on a cluster of its own, each with one fault
# drawn from CHAOS_SEED, the documented recovery, and the checks (docs/reliability.md). CHAOS_CHECKPOINTS=on|off sets
# PULUMI_SKIP_CHECKPOINTS=false|true (unset: as scripts/env.sh's pulumi runs); CHAOS_REPLAY=<seed> replays one run.
CHAOS_RUNS ?= 10
CHAOS_SEED ?= 1
CHAOS_SCALE ?= 5000
CHAOS_CHECKPOINTS ?=
CHAOS_REPLAY ?=
CHAOS_KINDS ?=
chaos: bootstrap
	$(ENV) python -m bench.chaos --runs $(CHAOS_RUNS) --seed $(CHAOS_SEED) --scale $(CHAOS_SCALE) \
	  $(if $(CHAOS_CHECKPOINTS),--checkpoints $(CHAOS_CHECKPOINTS)) $(if $(CHAOS_REPLAY),--replay $(CHAOS_REPLAY)) \
	  $(if $(CHAOS_KINDS),--kinds $(CHAOS_KINDS))

lint: venvs
	.venv/bin/ruff check .
	.venv/bin/mypy fkguard resources policies

# The fast lane: unit and policy tests, no pulumi CLI (tests that take a project copy are marked
# e2e by conftest.py); under 30 s here with two workers. `make test` still runs everything.
.PHONY: test-fast
test-fast: postgres venvs
	$(ENV) pytest -m "not e2e" -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)
