#!/usr/bin/env bash
# Makes sure Citus is installed in the PostgreSQL that scripts/pg_env.sh finds:
# builds it from its source (../shared/citus beside the checkout, or CITUS_SRC)
# when it is not (about 6 minutes on 2 cores). A user installs Citus from
# Citus's own packages instead: docs/scale-out.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg_env.sh
if [ -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]; then
    exit 0
fi
for src in "${CITUS_SRC:-}" "$PWD/../shared/citus" /work/shared/citus; do
    if [ -n "$src" ] && [ -x "$src/build.sh" ]; then
        PG_CONFIG="$PG_CONFIG" "$src/build.sh"
        exit 0
    fi
done
echo "citus_build.sh: Citus is not installed and its source was not found (set CITUS_SRC to the directory of build.sh)" >&2
exit 1
