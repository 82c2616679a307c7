#!/usr/bin/env bash
# Runs demo/demo.sql on a throwaway cluster (the extension must be installed).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=$(scripts/free_port.sh)
DIR=$(mktemp -d /tmp/cx-demo.XXXXXX)
trap 'scripts/cluster.sh stop "$DIR"' EXIT
scripts/cluster.sh start "$DIR" "$PORT"
runuser -u postgres -- createdb -h "$DIR" -p "$PORT" demo
runuser -u postgres -- psql -X --echo-queries -h "$DIR" -p "$PORT" -d demo -f - < demo/demo.sql 2>&1
