# conversations_ext. The two commands a user needs: `make demo` and `make test`.
# Each installs its prerequisites first (idempotent), so both work on a fresh
# Debian bookworm machine as root.

# scripts/pg_env.sh is the one place that finds PostgreSQL; PG_CONFIG=... overrides it.
PG_CONFIG ?= $(shell scripts/pg_env.sh PG_CONFIG)
export PG_CONFIG
PGRX_TEST_DATA ?= /tmp/cx-pgrx-test-data
export RUST_TEST_THREADS = 1

.PHONY: prereqs build install installcheck test test-inprocess test-pg demo lint bench fuzz

prereqs:
	scripts/prereqs.sh

build: prereqs
	cargo build --features pg15

## Install into the PostgreSQL 15 of this machine (as root: writes the system extension dirs).
install: prereqs
	cargo pgrx install --release --pg-config "$(PG_CONFIG)"
	install -m 644 sql/released/conversations_ext--*.sql "$$("$(PG_CONFIG)" --sharedir)/extension/"

## The SQL contract tests (tests/pg_regress) and race specs (tests/isolation)
## against an existing server with the extension installed: a DBA can check
## their own installation. libpq's environment names the server (PGHOST,
## PGPORT, PGUSER: a superuser); each suite uses its own database.
installcheck:
	scripts/installcheck.sh

## Every test: in-process (#[pg_test]) then, on a throwaway cluster, the SQL
## contract tests, the race specs, pg_test/ (real connections) and the ORM tier.
test: prereqs test-inprocess test-pg

test-inprocess:
	cargo pgrx test pg15 --runas postgres --pgdata "$(PGRX_TEST_DATA)"

# cargo pgrx test installs its test build; reinstall the real one first.
test-pg: install
	pg_test/run.sh

demo: install
	scripts/demo.sh

lint:
	cargo fmt --check
	cargo clippy --features pg15 -- -D warnings

## Benchmark (not part of `make test`): RLS vs hand-filtered baseline vs naive
## policy on generated data; writes bench/results/. See bench/README.md.
##   make bench                     full scale (1M conversations, 5M messages)
##   make bench BENCH_SCALE=small   quick mode (< 3 minutes)
BENCH_SCALE ?= full
bench: prereqs
	BENCH_SCALE=$(BENCH_SCALE) bench/run.sh

## A longer robustness run than `make test` does (seeded; override CX_SEED,
## CX_FUZZ_ITERATIONS): random inputs at every Rust entry point, strict about
## XX000, and the adversarial suite at three times its default size.
CX_FUZZ_ITERATIONS ?= 100000
fuzz: install
	CX_FUZZ_ITERATIONS=$(CX_FUZZ_ITERATIONS) CX_FUZZ_STRICT=1 pg_test/run.sh --test robustness
	CX_ADV_SCALE=3 pg_test/run.sh --test adversarial
