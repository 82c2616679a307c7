#!/usr/bin/env bash
# Runs the demo on a throwaway cluster (the extension must be installed):
# CREATE EXTENSION, then tests/pg_regress/sql/demo.sql, the one copy of the demo
# (the regression suite checks its output against tests/pg_regress/expected/demo.out).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg_env.sh
PORT=$(scripts/free_port.sh)
DIR=$(mktemp -d /tmp/cx-demo.XXXXXX)
trap 'scripts/cluster.sh stop "$DIR"' EXIT
scripts/cluster.sh start "$DIR" "$PORT"
as_pg "$PG_BINDIR/createdb" -h "$DIR" -p "$PORT" demo
as_pg "$PG_BINDIR/psql" -X -q -h "$DIR" -p "$PORT" -d demo -c 'CREATE EXTENSION conversations_ext;'
as_pg "$PG_BINDIR/psql" -X --echo-queries -h "$DIR" -p "$PORT" -d demo -f - < tests/pg_regress/sql/demo.sql 2>&1
