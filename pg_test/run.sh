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
# The Python tier (pg_test/orm, SQLAlchemy + psycopg in the venv made by
# scripts/prereqs.sh) runs against the same cluster when no cargo arguments
# were given (a full run); PG_TEST_ORM=1 forces it, PG_TEST_ORM=0 skips it.
if [ "${PG_TEST_ORM:-$([ $# -eq 0 ] && echo 1 || echo 0)}" = 1 ]; then
    VENV_PY=${CX_VENV:-/var/cache/conversations_ext/venv}/bin/python
    [ -x "$VENV_PY" ] || { echo "run.sh: $VENV_PY missing: run scripts/prereqs.sh" >&2; exit 1; }
    "$VENV_PY" pg_test/orm/test_sqlalchemy.py
fi
