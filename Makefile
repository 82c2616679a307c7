# conversations_ext. The two commands a user needs: `make demo` and `make test`.
# Each installs its prerequisites first (idempotent), so both work on a fresh
# Debian bookworm machine as root.

# scripts/pg_env.sh is the one place that finds PostgreSQL; PG_CONFIG=... overrides it.
# PG: the PostgreSQL major version(s), 15 and 18 (`make install PG=18`); the
# targets that use one take the first.
PG ?= 15 18
PG_CONFIG ?= $(shell PG=$(firstword $(PG)) scripts/pg_env.sh PG_CONFIG)
export PG_CONFIG
PGRX_TEST_DATA ?= /tmp/cx-pgrx-test-data
export RUST_TEST_THREADS = 1

.PHONY: prereqs build install installcheck test test-version test-inprocess private-install test-pg test-move test-move-run test-citus citus demo lint bench bench-sweep bench-citus fuzz

prereqs:
	scripts/prereqs.sh

build: prereqs
	cargo build --features pg15

## Install into the PostgreSQL 15 of this machine (as root: writes the system extension dirs);
## `make install PG=18` into the PostgreSQL 18 that scripts/prereqs.sh installs.
install: prereqs
	cargo pgrx install --release --no-default-features --features pg$$(scripts/pg_env.sh PG_MAJOR) \
	    --pg-config "$(PG_CONFIG)"
	install -m 644 sql/released/conversations_ext--*.sql "$$("$(PG_CONFIG)" --sharedir)/extension/"

## The SQL contract tests (tests/pg_regress) and race specs (tests/isolation)
## against an existing server with the extension installed: a DBA can check
## their own installation. libpq's environment names the server (PGHOST,
## PGPORT, PGUSER: a superuser); each suite uses its own database.
installcheck:
	scripts/installcheck.sh

## Every test: in-process (#[pg_test]) then, on a throwaway cluster, the SQL
## contract tests, the race specs, pg_test/ (real connections) and the ORM tier;
## on each PostgreSQL version of PG (default both: `make test PG=15` or
## `make test PG=18` for one). Each version has its own private copy.
test: prereqs
	@for v in $(PG); do \
	    cfg=$$(PG=$$v PG_CONFIG= scripts/pg_env.sh PG_CONFIG) || exit 1; \
	    echo "== make test: PostgreSQL $$v ($$cfg)"; \
	    PG=$$v PG_CONFIG="$$cfg" $(MAKE) --no-print-directory test-version PG_CONFIG="$$cfg" \
	        PG_PRIVATE=$$([ "$$v" = 15 ] && echo $(PRIVATE_15) || echo $(PRIVATE_18)) \
	        PGRX_TEST_DATA=/tmp/cx-pgrx-test-data$$([ "$$v" = 15 ] || echo "-$$v") || exit 1; \
	done
	@if [ -n "$(filter 15,$(PG))" ] && [ -n "$(filter 18,$(PG))" ]; then \
	    $(MAKE) --no-print-directory test-move-run; \
	else \
	    echo "== make test: the move from 15 to 18 needs both versions (make test, or make test-move)"; \
	fi

test-version: test-inprocess test-pg

# `make test` installs nothing into the system's PostgreSQL: each tier uses a
# private copy of the installation (scripts/private_pg.sh), into which
# `cargo pgrx test` puts its debug test build and test-pg the release build.
PG_PRIVATE ?= /tmp/cx-pg-private
test-inprocess:
	scripts/private_pg.sh "$(PG_PRIVATE)" >/dev/null
	PGRX_HOME="$(PG_PRIVATE)/pgrx" \
	    cargo pgrx test pg$$(scripts/pg_env.sh PG_MAJOR) --runas postgres --pgdata "$(PGRX_TEST_DATA)"

# The release build under test, in the private copy, built for its version.
PRIVATE_PG_CONFIG = $(PG_PRIVATE)$(shell scripts/pg_env.sh PG_BINDIR)/pg_config
private-install: prereqs
	scripts/private_pg.sh "$(PG_PRIVATE)" >/dev/null
	cargo pgrx install --release --no-default-features --features pg$$(scripts/pg_env.sh PG_MAJOR) \
	    --pg-config "$(PRIVATE_PG_CONFIG)"
	install -m 644 sql/released/conversations_ext--*.sql "$$("$(PRIVATE_PG_CONFIG)" --sharedir)/extension/"

test-pg: private-install
	PG_CONFIG="$(PRIVATE_PG_CONFIG)" pg_test/run.sh

## A database moved from PostgreSQL 15 to 18, by dump/restore and by
## pg_upgrade, with the commands of docs/operations.md (pg_test/tests/version_move.rs).
## `make test` runs it after testing both versions, from their private copies.
PRIVATE_15 = /tmp/cx-pg-private
PRIVATE_18 = /tmp/cx-pg-private-18
# (PG and PG_CONFIG also in the environment, as `make test` passes them: the
# private copy's paths are computed at parse time by scripts/pg_env.sh, which
# reads them from there.)
test-move:
	cfg=$$(PG=15 PG_CONFIG= scripts/pg_env.sh PG_CONFIG) && PG=15 PG_CONFIG="$$cfg" \
	    $(MAKE) --no-print-directory private-install PG=15 PG_PRIVATE=$(PRIVATE_15) PG_CONFIG="$$cfg"
	cfg=$$(PG=18 PG_CONFIG= scripts/pg_env.sh PG_CONFIG) && PG=18 PG_CONFIG="$$cfg" \
	    $(MAKE) --no-print-directory private-install PG=18 PG_PRIVATE=$(PRIVATE_18) PG_CONFIG="$$cfg"
	$(MAKE) --no-print-directory test-move-run

test-move-run:
	@echo "== make test: moving a database from PostgreSQL 15 to 18"
	PG_CONFIG="$(PRIVATE_15)$$(PG=15 PG_CONFIG= scripts/pg_env.sh PG_BINDIR)/pg_config" \
	CX_MOVE_TO_PG_CONFIG="$(PRIVATE_18)$$(PG=18 PG_CONFIG= scripts/pg_env.sh PG_BINDIR)/pg_config" \
	    pg_test/run.sh --test version_move

## The extension on a real Citus cluster (docs/scale-out.md): a coordinator and
## two workers on this machine; builds Citus first if it is not installed.
test-citus: prereqs citus private-install
	PG_CONFIG="$(PRIVATE_PG_CONFIG)" scripts/test_citus.sh

citus:
	scripts/citus_build.sh

demo: install
	scripts/demo.sh

lint:
	cargo fmt --check
	cargo clippy --features pg15 -- -D warnings

## Benchmark (not part of `make test`): RLS vs hand-filtered baseline vs naive
## policy on generated data; writes bench/results/. See bench/README.md.
##   make bench                     full scale (1M conversations, 5M messages), membership sweep included
##   make bench BENCH_SCALE=small   quick mode (about 2 minutes once built), membership sweep included
BENCH_SCALE ?= full
bench: prereqs
	BENCH_SCALE=$(BENCH_SCALE) bench/run.sh

## The membership sweep (RLS cost for users in 1 ... 10,000 workspaces):
##   make bench-sweep [BENCH_SCALE=small]   writes bench/results/sweep[-small].*
bench-sweep: prereqs
	BENCH_SWEEP=1 BENCH_SCALE=$(BENCH_SCALE) bench/run.sh

## Single server vs a Citus coordinator and two workers on this machine, same
## rows, same statements (docs/scale-out.md#what-it-costs): bench/results/citus.md.
bench-citus: prereqs citus
	bench/citus.sh

## A longer robustness run than `make test` does (seeded; override CX_SEED,
## CX_FUZZ_ITERATIONS): random inputs at every Rust entry point, strict about
## XX000, and the adversarial suite at three times its default size.
CX_FUZZ_ITERATIONS ?= 100000
fuzz: private-install
	CX_FUZZ_ITERATIONS=$(CX_FUZZ_ITERATIONS) CX_FUZZ_STRICT=1 PG_CONFIG="$(PRIVATE_PG_CONFIG)" \
	    pg_test/run.sh --test robustness_fuzz
	CX_ADV_SCALE=3 PG_CONFIG="$(PRIVATE_PG_CONFIG)" pg_test/run.sh --test adversarial
