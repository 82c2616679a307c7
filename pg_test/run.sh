#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster and runs every out-of-process tier
# against it, then stops it. The extension must already be installed
# (`make install`).
#   1. the SQL contract tests and race specs (scripts/installcheck.sh:
#      tests/pg_regress, tests/isolation);
#   2. every test binary of pg_test/ (real connections; each test makes its own
#      database), all of them even when one fails;
#   3. the ORM tier (pg_test/orm: SQLAlchemy + psycopg, from the venv
#      scripts/prereqs.sh makes).
# With arguments (`pg_test/run.sh --test upgrade`), only the cargo tests are
# run, with those arguments; PG_TEST_SQL=1 / PG_TEST_ORM=1 add tiers 1 / 3.
# Ends with one line of totals, `N passed, M failed`, and exits non-zero if
# anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/pg_env.sh
PORT=$(scripts/free_port.sh) || exit 1
DIR=$(mktemp -d /tmp/cx-pgtest.XXXXXX)
trap 'scripts/cluster.sh stop "$DIR"' EXIT
scripts/cluster.sh start "$DIR" "$PORT" || exit 1
export CX_PGHOST="$DIR" CX_PGPORT="$PORT" CX_PG_BINDIR="$PG_BINDIR"
full=$([ $# -eq 0 ] && echo 1 || echo 0)
passed=0 failed=0
LOG=$(mktemp /tmp/cx-pgtest-log.XXXXXX)
add_totals() { # sums the "N passed, M failed"-style counts of a tier's output
    local p f
    p=$(awk "$1" "$LOG")
    f=$(awk "$2" "$LOG")
    passed=$((passed + ${p:-0})) failed=$((failed + ${f:-0}))
}

if [ "${PG_TEST_SQL:-$full}" = 1 ]; then
    PGHOST="$DIR" PGPORT="$PORT" PGUSER=postgres scripts/installcheck.sh 2>&1 | tee "$LOG"
    [ "${PIPESTATUS[0]}" = 0 ] || sql_failed=1
    add_totals '/^installcheck [a-z]+: [0-9]+ passed, [0-9]+ failed$/ { s += $3 } END { print s + 0 }' \
               '/^installcheck [a-z]+: [0-9]+ passed, [0-9]+ failed$/ { s += $5 } END { print s + 0 }'
    if [ "${sql_failed:-0}" = 1 ] && ! grep -qE '^installcheck [a-z]+: [0-9]+ passed, [1-9][0-9]* failed$' "$LOG"; then
        failed=$((failed + 1))   # the suite did not even run
    fi
fi

cargo test --release --no-fail-fast --manifest-path pg_test/Cargo.toml "$@" \
    -- --nocapture --test-threads="${PG_TEST_THREADS:-4}" 2>&1 | tee "$LOG"
cargo_rc=${PIPESTATUS[0]}
add_totals '/^test result: / { for (i = 1; i <= NF; i++) if ($i ~ /^passed;?$/) s += $(i-1) } END { print s + 0 }' \
           '/^test result: / { for (i = 1; i <= NF; i++) if ($i ~ /^failed;?$/) s += $(i-1) } END { print s + 0 }'
if [ "$cargo_rc" != 0 ] && ! grep -qE '^test result: FAILED' "$LOG"; then
    failed=$((failed + 1))   # a build error or a crashed test binary
fi

if [ "${PG_TEST_ORM:-$full}" = 1 ]; then
    VENV_PY=${CX_VENV:-/var/cache/conversations_ext/venv}/bin/python
    if [ -x "$VENV_PY" ]; then
        "$VENV_PY" pg_test/orm/test_sqlalchemy.py 2>&1 | tee "$LOG"
        orm_rc=${PIPESTATUS[0]}
        add_totals '/^[0-9]+ passed, [0-9]+ failed$/ { s += $1 } END { print s + 0 }' \
                   '/^[0-9]+ passed, [0-9]+ failed$/ { s += $3 } END { print s + 0 }'
        if [ "$orm_rc" != 0 ] && ! grep -qE '^[0-9]+ passed, [1-9][0-9]* failed$' "$LOG"; then
            failed=$((failed + 1))
        fi
    else
        echo "run.sh: $VENV_PY missing: run scripts/prereqs.sh" >&2
        failed=$((failed + 1))
    fi
fi
rm -f "$LOG"
echo "pg_test: $passed passed, $failed failed"
[ "$failed" = 0 ]
