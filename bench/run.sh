#!/usr/bin/env bash
# The benchmark (`make bench`, `make bench BENCH_SCALE=small`): a throwaway
# cluster, two generated databases (full scale and 1/100 of its conversations
# and messages) and the membership sweep's, then bench/bench.py and
# bench/sweep.py measure and write bench/results/. BENCH_SWEEP=1
# (`make bench-sweep`) runs the sweep alone.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg_env.sh

SCALE=${BENCH_SCALE:-full}
SEED=${BENCH_SEED:-0.42}
case "$SCALE" in
full)  WORKSPACES=2000 USERS=20000 CONVERSATIONS=1000000 MESSAGES=5000000 Q6_ROWS=10000 ;;
small) WORKSPACES=2000 USERS=20000 CONVERSATIONS=100000  MESSAGES=500000  Q6_ROWS=2500 ;;
*) echo "BENCH_SCALE must be full or small, not $SCALE" >&2; exit 2 ;;
esac
Q6_QUEUES=6
LONG_MESSAGES=600
# The growth database: same workspaces and users, 1/100 of the regular
# conversations (and so of the messages) of every workspace; no Q6 queues.
REGULAR=$((CONVERSATIONS - Q6_QUEUES * Q6_ROWS))
GROWTH_CONVERSATIONS=$((REGULAR / 100))

python3 -c 'import psycopg, matplotlib' 2>/dev/null || {
    echo "bench: installing psycopg and matplotlib (pip)"
    python3 -m pip install --quiet "psycopg[binary]" matplotlib 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages "psycopg[binary]" matplotlib
}

SYS_BIN=$PG_BINDIR
PORT=$(scripts/free_port.sh)
DIR=$(mktemp -d /tmp/cx-bench.XXXXXX)
SPINNERS=()
cleanup() {
    [ ${#SPINNERS[@]} -eq 0 ] || kill "${SPINNERS[@]}" 2>/dev/null || true
    if [ -f "$DIR/data/postmaster.pid" ]; then
        as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null || true
    fi
    rm -rf "$DIR"
}
trap cleanup EXIT
# The extension under test: the release build of this work tree, packaged
# (cargo pgrx package) and run from a private copy of the PostgreSQL of PG
# (scripts/pg_env.sh: 15, or 18 with `make bench PG=18`), so that a
# concurrent `make install` or `cargo pgrx test` (which installs a debug build
# into the system directories) can neither change nor crash what is measured.
# (PostgreSQL finds its share/ and lib/ relative to its binary: the copy keeps
# the installation's layout, the one scripts/pg_env.sh finds.)
# What is measured: the commit, and whether the extension's sources differ from it.
BENCH_BUILD=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git diff --quiet HEAD -- src sql Cargo.toml Cargo.lock conversations_ext.control 2>/dev/null; then
    BENCH_BUILD="$BENCH_BUILD + uncommitted changes to: $(git diff --name-only HEAD -- src sql Cargo.toml Cargo.lock conversations_ext.control | tr '\n' ' ')"
fi
export BENCH_BUILD
echo "bench: cargo pgrx package (release build of $BENCH_BUILD)"
cargo pgrx package --pg-config "$PG_CONFIG" --no-default-features --features "pg$PG_MAJOR" >"$DIR/package.log" 2>&1 \
    || { tail -30 "$DIR/package.log" >&2; exit 1; }
PKG=target/release/conversations_ext-pg$PG_MAJOR
SNAP=$DIR/pg
PG_HOME=$(dirname "$PG_BINDIR")   # e.g. /usr/lib/postgresql/15
mkdir -p "$SNAP$(dirname "$PG_HOME")" "$SNAP$(dirname "$PG_SHAREDIR")"
cp -a "$PG_HOME" "$SNAP$(dirname "$PG_HOME")/"
cp -a "$PG_SHAREDIR" "$SNAP$(dirname "$PG_SHAREDIR")/"
cp -a "$PKG/." "$SNAP/"
# A relocatable build (the PostgreSQL 18 wheel) finds its libraries through an
# RPATH relative to its binaries, in a *.libs directory beside the package.
for libs in "$(dirname "$(dirname "$PG_HOME")")"/*.libs; do
    if [ -d "$libs" ]; then
        mkdir -p "$SNAP$(dirname "$libs")"
        cp -a "$libs" "$SNAP$(dirname "$libs")/"
    fi
done
BIN=$SNAP$PG_BINDIR
chown postgres: "$DIR"
# Settings: room for the working set in shared_buffers, no JIT (its compile
# time is noise for OLTP queries), no autovacuum during the measurements
# (the harness runs VACUUM ANALYZE itself), no parallel query (none of the
# measured plans uses it; on 2 cores a worker is noise), pg_stat_statements
# with planning time for the server-side times (a statement re-planned at
# every call pays planning, one on a generic plan does not: the execution
# time alone hides that). Unix socket only, in $DIR.
# BENCH_AUTO_EXPLAIN=5ms logs the plan of every statement slower than that to
# $DIR/server.log (diagnosis; use with BENCH_KEEP=1).
EXTRA_OPTS=""
if [ -n "${BENCH_AUTO_EXPLAIN:-}" ]; then
    EXTRA_OPTS="-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=$BENCH_AUTO_EXPLAIN"
fi
as_pg "$BIN/initdb" -D "$DIR/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log"
as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -o "-p $PORT -k $DIR -c listen_addresses='' \
 -c fsync=off -c max_connections=100 -c shared_buffers=4GB -c maintenance_work_mem=1GB -c max_wal_size=16GB \
 -c checkpoint_timeout=1h -c wal_level=minimal -c max_wal_senders=0 -c jit=off -c autovacuum=off \
 -c max_parallel_workers_per_gather=0 \
 -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=top \
 -c pg_stat_statements.track_planning=on $EXTRA_OPTS" start >/dev/null
echo "bench: scale $SCALE, cluster in $DIR port $PORT"

pg() { as_pg "$SYS_BIN/$1" -h "$DIR" -p "$PORT" "${@:2}"; }
psql_db() { local db=$1; shift; as_pg "$SYS_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT" -d "$db" "$@"; }

generate() {  # db conversations q6_rows
    local db=$1 conv=$2 q6rows=$3 t0=$SECONDS
    pg createdb "$db"
    psql_db "$db" -v workspaces="$WORKSPACES" -v users="$USERS" -v conversations="$conv" \
        -v messages=$((MESSAGES * conv / CONVERSATIONS)) -v q6_queues="$Q6_QUEUES" -v q6_queue_rows="$q6rows" \
        -v long_messages="$LONG_MESSAGES" -v seed="$SEED" -f - < bench/sql/generate.sql
    psql_db "$db" -f - < bench/sql/naive.sql
    psql_db "$db" -f - < bench/sql/roles.sql
    psql_db "$db" -c 'VACUUM (ANALYZE)'
    echo "bench: $db generated in $((SECONDS - t0)) s"
}
# The membership sweep (bench/sweep.py): its own data set of 10,000 small
# workspaces and probe users in 1 ... 10,000 of them.
generate_sweep() {
    local t0=$SECONDS
    local conv
    conv=$([ "$SCALE" = full ] && echo 300000 || echo 30000)
    pg createdb bench_sweep
    psql_db bench_sweep -v workspaces=10000 -v conversations="$conv" -v seed="$SEED" \
        -f - < bench/sql/sweep_generate.sql
    psql_db bench_sweep -c "DO \$\$ BEGIN CREATE ROLE bench_app LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" \
        -c "SELECT support.grant_usage('bench_app')" -c 'VACUUM (ANALYZE)' -c 'CHECKPOINT' >/dev/null
    echo "bench: bench_sweep generated in $((SECONDS - t0)) s"
}
run_sweep() {
    python3 bench/sweep.py --host "$DIR" --port "$PORT" --scale "$SCALE" --out "$OUT"
}
# Every request is a ping-pong between the client and its backend. On this
# machine (a VM) a core that has gone idle takes tens of microseconds to wake,
# which more than doubled a short query's time (Q7: 93 µs instead of 39-60 µs, both
# sides) and so diluted every ratio, by an amount that depended on whatever
# else was running. While measuring, one spinner per core of the lowest
# scheduling class (SCHED_IDLE: it runs only when nothing else wants the core)
# keeps the cores awake. BENCH_AWAKE=0 measures without them.
keep_awake() {
    [ "${BENCH_AWAKE:-1}" = 1 ] || return 0
    for _ in $(seq "$(nproc)"); do
        chrt -i 0 sh -c 'while :; do :; done' &
        SPINNERS+=($!)
    done
    echo "bench: $(nproc) idle-class spinners keep the cores awake (BENCH_AWAKE=0: without)"
}
keep() {
    if [ -n "${BENCH_KEEP:-}" ]; then
        [ ${#SPINNERS[@]} -eq 0 ] || kill "${SPINNERS[@]}" 2>/dev/null || true
        echo "bench: BENCH_KEEP set: cluster left running in $DIR port $PORT"
        echo "  stop it: runuser -u postgres -- $BIN/pg_ctl -D $DIR/data -m fast stop && rm -rf $DIR"
        trap - EXIT
    fi
}
# PostgreSQL 15 (the system's) writes bench/results/, another version
# bench/results/pgNN/ (`make bench PG=18`).
OUT=${BENCH_OUT:-bench/results$([ "$PG_MAJOR" = 15 ] || echo "/pg$PG_MAJOR")}
mkdir -p "$OUT"

if [ -n "${BENCH_SWEEP:-}" ]; then
    generate_sweep
    keep_awake
    run_sweep
    keep
    exit 0
fi

# The databases load in parallel (one core each): the growth and sweep
# databases (small) one after the other beside the main one.
{ generate bench_growth "$GROWTH_CONVERSATIONS" 0 && generate_sweep; } &
growth_pid=$!
generate bench "$CONVERSATIONS" "$Q6_ROWS"
wait "$growth_pid"
# Quiet, warm start: flush the load's dirty buffers now rather than during the
# measurements, and read the measured tables and indexes into shared buffers
# (the naive copy into the OS cache).
for db in bench bench_growth; do
    psql_db "$db" -c 'CHECKPOINT' -c 'CREATE EXTENSION IF NOT EXISTS pg_prewarm' \
        -c "SELECT sum(pg_prewarm(c.oid, CASE WHEN n.nspname = 'support' THEN 'buffer' ELSE 'read' END)) AS blocks
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname IN ('support', 'bench_naive') AND c.relkind IN ('r', 'i')" >/dev/null
done

keep_awake
python3 bench/bench.py --host "$DIR" --port "$PORT" --scale "$SCALE" --out "$OUT" \
    --pgbench "$SYS_BIN/pgbench" --q6-queues "$Q6_QUEUES" --q6-rows "$Q6_ROWS"
# The agent's inbox (unread counts), in the main database after bench.py.
python3 bench/inbox.py --host "$DIR" --port "$PORT" --out "$OUT" --name "inbox$([ "$SCALE" = full ] || echo -small)"
run_sweep
keep
