#!/usr/bin/env bash
# `make test-citus`: the extension on a real Citus cluster. Starts a
# coordinator and two workers (scripts/citus_cluster.sh) on free ports, from
# the PostgreSQL that PG_CONFIG names (with Citus and the build under test
# installed: the Makefile sees to both), then runs pg_test/ in its Citus mode
# (pg_test/src/citus.rs): each test's database is a Citus database of the
# three nodes with the extension distributed by support.distribute(). The
# suites run unchanged, with the expected outcomes of a single server:
#   citus_cluster      layout, colocation, identity on the workers, audit once,
#                      dump and restore of a distributed database
#   claim_race, lifecycle_concurrency   the claim races and the 8-agent drain
#   conversation_numbers   16 sessions numbering one workspace's conversations
#   adversarial        the attack families (CX_ADV_SCALE, default 1), matrix_writes
#                      with docs/permissions.tsv as its oracle
# Not pg_test/tests/permissions.rs: each of its cells mixes the superuser and
# the application role in one transaction, which Citus refuses (25001).
# Ends with `citus: N passed, M failed` and the time taken; non-zero on a failure.
# The nodes' server logs are kept in $CX_CITUS_LOGS (default /tmp/cx-citus-logs).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/pg_env.sh
started=$(date +%s)
[ -f "$PG_PKGLIBDIR/citus.so" ] || { echo "test_citus.sh: no Citus in $PG_PKGLIBDIR (scripts/citus_build.sh, then make private-install)" >&2; exit 1; }

# Three consecutive free ports.
base=
for _ in $(seq 1 50); do
    p=$(scripts/free_port.sh) || exit 1
    if ! (exec 3<>/dev/tcp/127.0.0.1/$((p + 1))) 2>/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/$((p + 2))) 2>/dev/null \
       && [ ! -e /tmp/.s.PGSQL.$((p + 1)) ] && [ ! -e /tmp/.s.PGSQL.$((p + 2)) ]; then
        base=$p; break
    fi
done
[ -n "$base" ] || { echo "test_citus.sh: no three free ports" >&2; exit 1; }
DIR=$(mktemp -d /tmp/cx-citus.XXXXXX)
LOGS=${CX_CITUS_LOGS:-/tmp/cx-citus-logs}
trap 'rm -rf "$LOGS"; mkdir -p "$LOGS"; for n in coordinator worker1 worker2; do cp "$DIR/$n/server.log" "$LOGS/$n.log" 2>/dev/null; done; scripts/citus_cluster.sh stop "$DIR"' EXIT
CLUSTER_OPTS="-c max_connections=1000 -c max_worker_processes=128" scripts/citus_cluster.sh start "$DIR" "$base" || exit 1

export CX_PGHOST=127.0.0.1 CX_PGPORT=$base CX_CITUS_WORKERS="$((base + 1)),$((base + 2))" CX_PG_BINDIR="$PG_BINDIR"
export CX_CITUS_DIR=$DIR

LOG=$(mktemp /tmp/cx-citus-log.XXXXXX)
# Arguments replace the default selection (e.g. `--test adversarial read_paths`).
if [ $# -eq 0 ]; then
    set -- --test citus_cluster --test claim_race --test lifecycle_concurrency --test conversation_numbers --test adversarial
fi
cargo test --release --no-fail-fast --manifest-path pg_test/Cargo.toml \
    "$@" -- --nocapture --test-threads="${PG_TEST_THREADS:-2}" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
passed=$(awk '/^test result: / { for (i = 1; i <= NF; i++) if ($i ~ /^passed;?$/) s += $(i-1) } END { print s + 0 }' "$LOG")
failed=$(awk '/^test result: / { for (i = 1; i <= NF; i++) if ($i ~ /^failed;?$/) s += $(i-1) } END { print s + 0 }' "$LOG")
if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi   # a build error or a crashed test binary
rm -f "$LOG"
echo "citus: $passed passed, $failed failed in $(( $(date +%s) - started )) s"
[ "$failed" = 0 ]
