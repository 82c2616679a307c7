#!/usr/bin/env bash
# A throwaway 3-node Citus cluster on one machine (a coordinator and two
# workers), owned by the postgres user, for trying the extension's designs on
# distributed tables. Needs Citus installed into the PostgreSQL that
# scripts/pg_env.sh finds (/work/shared/citus/build.sh does that).
#   scripts/citus_cluster.sh start DIR BASEPORT
#       initdb (if needed) and start three nodes under DIR:
#         DIR/coordinator  port BASEPORT
#         DIR/worker1      port BASEPORT+1
#         DIR/worker2      port BASEPORT+2
#       each with shared_preload_libraries=citus, listening on 127.0.0.1 only
#       (and a unix socket in DIR), trust authentication, fsync=off; then
#       CREATE EXTENSION citus in the postgres database of every node, and on
#       the coordinator citus_set_coordinator_host('127.0.0.1', BASEPORT) and
#       citus_add_node('127.0.0.1', ...) for both workers. Connect with
#         psql -h 127.0.0.1 -p BASEPORT -U postgres postgres
#   scripts/citus_cluster.sh stop DIR
#       stop (fast) every node under DIR and remove DIR
#   CLUSTER_OPTS   extra server options for every node (e.g. "-c log_statement=all")
# Postgres refuses to run as root, so every server command runs as postgres.
set -euo pipefail
. "$(dirname "$0")/pg_env.sh"
BIN=$PG_BINDIR
usage() { echo "usage: $0 start DIR BASEPORT | stop DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1 dir=$2
nodes=(coordinator worker1 worker2)

psql_node() {  # psql_node PORT SQL
    as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres -d postgres \
        -c "SET client_min_messages = warning" -c "$2"
}

case "$cmd" in
start)
    [ $# -eq 3 ] || usage
    base=$3
    [[ $base =~ ^[0-9]+$ ]] || usage
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    for i in 0 1 2; do
        node=${nodes[$i]} port=$((base + i))
        data=$dir/$node/data
        if [ ! -f "$data/PG_VERSION" ]; then
            mkdir -p "$dir/$node"
            [ "$(id -u)" = 0 ] && chown postgres: "$dir/$node"
            as_pg "$BIN/initdb" -D "$data" -U postgres -A trust --no-sync -E UTF8 \
                --locale=C.UTF-8 >"$dir/$node/initdb.log"
        fi
        if [ ! -f "$data/postmaster.pid" ]; then
            as_pg "$BIN/pg_ctl" -D "$data" -l "$dir/$node/server.log" -w \
                -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c shared_preload_libraries=citus -c fsync=off -c max_connections=200 -c max_prepared_transactions=200 ${CLUSTER_OPTS:-}" \
                start >/dev/null
        fi
        psql_node "$port" "CREATE EXTENSION IF NOT EXISTS citus"
    done
    psql_node "$base" "SELECT citus_set_coordinator_host('127.0.0.1', $base)" >/dev/null
    for i in 1 2; do
        psql_node "$base" "SELECT citus_add_node('127.0.0.1', $((base + i)))" >/dev/null
    done
    echo "citus cluster: coordinator 127.0.0.1:$base, workers 127.0.0.1:$((base + 1)) and 127.0.0.1:$((base + 2)) (DIR=$dir)"
    ;;
stop)
    for node in "${nodes[@]}"; do
        if [ -f "$dir/$node/data/postmaster.pid" ]; then
            as_pg "$BIN/pg_ctl" -D "$dir/$node/data" -m fast -w stop >/dev/null || true
        fi
    done
    rm -rf "$dir"
    ;;
*) usage ;;
esac
