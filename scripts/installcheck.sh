#!/usr/bin/env bash
# Runs the SQL contract tests (tests/pg_regress, pg_regress) and the race specs
# (tests/isolation, pg_isolation_regress) against a running server with the
# extension installed (`make install`). The server is the one libpq's
# environment names (PGHOST, PGPORT, PGUSER: a superuser); each suite makes
# its own database (cx_regress, cx_isolation) and drops it first.
#   scripts/installcheck.sh                    both suites
#   scripts/installcheck.sh regress [NAME...]   one suite, optionally some files
#   scripts/installcheck.sh isolation [NAME...]
# Prints one line per suite, `N passed, M failed`; exits non-zero on a failure
# (the diffs are printed).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg_env.sh
ROOT=$PWD
suites=(regress isolation)
if [ $# -gt 0 ]; then suites=("$1"); shift; fi
names=("$@")

# pg_regress runs as postgres, which must read the inputs and write the
# outputs: both go to a private copy in a temp dir it owns.
WORK=$(mktemp -d /tmp/cx-installcheck.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
[ "$(id -u)" = 0 ] && chown postgres: "$WORK"
conn=(--host="${PGHOST:-/var/run/postgresql}" --port="${PGPORT:-5432}" --user="${PGUSER:-postgres}")

status=0
for suite in "${suites[@]}"; do
    case "$suite" in
    regress) driver=$PG_REGRESS src=tests/pg_regress db=cx_regress ;;
    isolation) driver=$PG_ISOLATION_REGRESS src=tests/isolation db=cx_isolation ;;
    *) echo "installcheck: unknown suite $suite (regress or isolation)" >&2; exit 2 ;;
    esac
    cp -r "$ROOT/$src" "$WORK/$suite"
    [ "$(id -u)" = 0 ] && chown -R postgres: "$WORK/$suite"
    if [ ${#names[@]} -gt 0 ]; then
        which=("${names[@]}")
    else
        which=(--schedule="$WORK/$suite/schedule")
    fi
    set +e
    as_pg "$driver" --inputdir="$WORK/$suite" --outputdir="$WORK/$suite/out" \
        --bindir="$PG_BINDIR" "${conn[@]}" --dbname="$db" \
        --load-extension=conversations_ext "${which[@]}" >"$WORK/$suite.log" 2>&1
    rc=$?
    set -e
    passed=$(grep -cE '^(ok|test) .* ok( |$)|^ok [0-9]+ ' "$WORK/$suite.log" || true)
    failed=$(grep -cE 'FAILED|failed \(ignored\)|^not ok' "$WORK/$suite.log" || true)
    if [ $rc -eq 0 ]; then
        sed -n '/^\(ok\|not ok\|test \|     \)/p' "$WORK/$suite.log"
    else
        status=1
        tail -40 "$WORK/$suite.log"
        if [ -f "$WORK/$suite/out/regression.diffs" ]; then cat "$WORK/$suite/out/regression.diffs"; fi
    fi
    echo "installcheck $suite: $passed passed, $failed failed"
done
exit $status
