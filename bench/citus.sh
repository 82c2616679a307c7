#!/usr/bin/env bash
# Single PostgreSQL server vs a 3-node Citus cluster, side by side on this
# machine: the same rows and the same statements on both, latency ratios
# cluster ÷ single (bench/results/citus.md and .json). One machine: it
# measures Citus's overhead, not a speed-up.
#
#   bench/citus.sh                         default size (~100k conversations, 400k messages)
#   BENCH_CITUS_SCALE=small bench/citus.sh quick run (10k conversations; writes citus-small.*)
#
# What it does:
#   1. a private copy of the PostgreSQL 15 installation that PG_CONFIG names
#      (default: the system's, which must have Citus) in BENCH_CITUS_PG
#      (default /tmp/cx-pg-bench), via scripts/private_pg.sh, and the release
#      build of this work tree installed into it (cargo pgrx install --release,
#      plus the released install scripts); the system directories are not touched;
#   2. a single server (scripts/cluster.sh) and a coordinator + 2 workers
#      (scripts/citus_cluster.sh), all from the copy, same settings;
#   3. bench/citus.py load on both at once (extension, support_app,
#      support.distribute(32) on Citus, the generated rows, VACUUM ANALYZE);
#   4. bench/citus.py run: the interleaved measurement, writes the results;
#   5. stops both (also on failure or Ctrl-C: trap).
# Environment: PG_CONFIG, BENCH_CITUS_PG, BENCH_CITUS_SCALE (full|small),
# BENCH_CITUS_ROUNDS (override the round count), BENCH_OUT (default
# bench/results), BENCH_AWAKE=0 (no idle-class spinners, see bench/run.sh),
# BENCH_PYTHON (a python with psycopg 3).
set -euo pipefail
cd "$(dirname "$0")/.."
T0=$SECONDS
SCALE=${BENCH_CITUS_SCALE:-full}
case "$SCALE" in full|small) ;; *) echo "BENCH_CITUS_SCALE must be full or small, not $SCALE" >&2; exit 2 ;; esac
SRC_PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
COPY=${BENCH_CITUS_PG:-/tmp/cx-pg-bench}
OUT=${BENCH_OUT:-bench/results}
PY=${BENCH_PYTHON:-/var/cache/conversations_ext/venv/bin/python}
[ -x "$PY" ] && "$PY" -c 'import psycopg' 2>/dev/null || PY=python3
"$PY" -c 'import psycopg' 2>/dev/null || { echo "citus bench: no python with psycopg 3 (set BENCH_PYTHON)" >&2; exit 1; }
[ -x "$SRC_PG_CONFIG" ] || { echo "citus bench: no pg_config at $SRC_PG_CONFIG" >&2; exit 1; }
[ -f "$("$SRC_PG_CONFIG" --pkglibdir)/citus.so" ] \
    || { echo "citus bench: no Citus in $("$SRC_PG_CONFIG" --pkglibdir) (scripts/citus_build.sh)" >&2; exit 1; }
case "$COPY" in /tmp/cx-pg-private|/tmp/cx-pg-private/*) echo "citus bench: BENCH_CITUS_PG must not be $COPY" >&2; exit 2 ;; esac

# What is measured: the commit, -dirty when tracked files differ from it.
BUILD=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY_FILES=$(git diff --name-only HEAD -- 2>/dev/null | tr '\n' ' ' || true)
[ -z "$DIRTY_FILES" ] || BUILD="$BUILD-dirty"

DIR=$(mktemp -d /tmp/cx-bench-citus.XXXXXX)
chmod 755 "$DIR"
SPINNERS=()
cleanup() {
    local rc=$?
    [ ${#SPINNERS[@]} -eq 0 ] || kill "${SPINNERS[@]}" 2>/dev/null || true
    if [ "$rc" != 0 ]; then
        for log in "$DIR"/single/server.log "$DIR"/citus/*/server.log; do
            [ -f "$log" ] && { echo "--- tail of $log" >&2; tail -15 "$log" >&2; }
        done
    fi
    # PG_CONFIG names the copy once it is built; stopping what never started is a no-op.
    scripts/citus_cluster.sh stop "$DIR/citus" || true
    scripts/cluster.sh stop "$DIR/single" || true
    rm -rf "$DIR"
    echo "citus bench: both clusters stopped ($((SECONDS - T0)) s in all)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The private copy and the build under test.
echo "citus bench: $BUILD, scale $SCALE; private copy of $(dirname "$(dirname "$SRC_PG_CONFIG")") in $COPY"
PGC=$(PG_CONFIG=$SRC_PG_CONFIG scripts/private_pg.sh "$COPY")
t=$SECONDS
PGRX_HOME=$COPY/pgrx cargo pgrx install --release --pg-config "$PGC" >"$DIR/install.log" 2>&1 \
    || { tail -30 "$DIR/install.log" >&2; exit 1; }
install -m 644 sql/released/conversations_ext--*.sql "$("$PGC" --sharedir)/extension/"
BUILD_S=$((SECONDS - t))
echo "citus bench: release build installed into the copy ($BUILD_S s)"
export PG_CONFIG=$PGC

# 2. The servers. Ports: one for the single server, three consecutive for Citus.
SINGLE_PORT=$(scripts/free_port.sh)
BASE=
for _ in $(seq 1 50); do
    p=$(scripts/free_port.sh) || exit 1
    ok=1
    for q in "$p" $((p + 1)) $((p + 2)); do
        if [ "$q" = "$SINGLE_PORT" ] || [ -e /tmp/.s.PGSQL.$q ] || [ -e /var/run/postgresql/.s.PGSQL.$q ] \
           || (exec 3<>/dev/tcp/127.0.0.1/$q) 2>/dev/null; then ok=0; fi
    done
    [ "$ok" = 1 ] && { BASE=$p; break; }
done
[ -n "$BASE" ] || { echo "citus bench: no three free consecutive ports" >&2; exit 1; }
# The same settings on every server: room for the data in shared buffers, no
# JIT, no autovacuum during the measurement (the load ends with VACUUM
# ANALYZE), no parallel query (as make bench).
OPTS="-c shared_buffers=1GB -c jit=off -c autovacuum=off -c max_parallel_workers_per_gather=0 -c max_wal_size=8GB -c checkpoint_timeout=1h"
t=$SECONDS
CLUSTER_OPTS=$OPTS scripts/cluster.sh start "$DIR/single" "$SINGLE_PORT"
CLUSTER_OPTS=$OPTS scripts/citus_cluster.sh start "$DIR/citus" "$BASE"
echo "citus bench: single server on port $SINGLE_PORT (socket in $DIR/single), Citus on $BASE-$((BASE + 2)) ($((SECONDS - t)) s)"

# 3. The data, on both at once (one core each).
t=$SECONDS
"$PY" bench/citus.py load --side single --host "$DIR/single" --port "$SINGLE_PORT" --scale "$SCALE" \
    >"$DIR/load-single.log" 2>&1 &
single_pid=$!
"$PY" bench/citus.py load --side citus --host "$DIR/citus" --port "$BASE" \
    --workers "$((BASE + 1)),$((BASE + 2))" --scale "$SCALE" >"$DIR/load-citus.log" 2>&1 &
citus_pid=$!
rc=0
wait "$single_pid" || rc=1
single_s=$((SECONDS - t))
wait "$citus_pid" || rc=1
citus_s=$((SECONDS - t))
cat "$DIR/load-single.log" "$DIR/load-citus.log"
[ "$rc" = 0 ] || { echo "citus bench: loading failed" >&2; exit 1; }

# 4. The measurement. Idle-class spinners keep the cores from going idle
# between round trips (bench/run.sh, keep_awake).
if [ "${BENCH_AWAKE:-1}" = 1 ]; then
    for _ in $(seq "$(nproc)"); do
        chrt -i 0 sh -c 'while :; do :; done' &
        SPINNERS+=($!)
    done
    AWAKE=--awake
else
    AWAKE=
fi
"$PY" bench/citus.py run --single-host "$DIR/single" --single-port "$SINGLE_PORT" \
    --citus-host "$DIR/citus" --citus-port "$BASE" --scale "$SCALE" --rounds "${BENCH_CITUS_ROUNDS:-0}" \
    --out "$OUT" --build "$BUILD" --dirty-files "$DIRTY_FILES" $AWAKE \
    --load-seconds "{\"single\": $single_s, \"citus\": $citus_s}" \
    --phases "{\"build_install_s\": $BUILD_S, \"started_epoch\": $(( $(date +%s) - (SECONDS - T0) ))}"
