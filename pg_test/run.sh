#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 cluster, runs the out-of-process tests in
# pg_test/ against it (each test makes its own database), and stops it.
# The extension must already be installed (`make install`).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=$(scripts/free_port.sh)
DIR=$(mktemp -d /tmp/cx-pgtest.XXXXXX)
trap 'scripts/cluster.sh stop "$DIR"' EXIT
scripts/cluster.sh start "$DIR" "$PORT"
export CX_PGHOST="$DIR" CX_PGPORT="$PORT"
cargo test --release --manifest-path pg_test/Cargo.toml "$@" -- --nocapture --test-threads="${PG_TEST_THREADS:-4}"
