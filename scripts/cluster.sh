#!/usr/bin/env bash
# A throwaway PostgreSQL cluster owned by the postgres user (the installation
# scripts/pg_env.sh finds).
#   scripts/cluster.sh start DIR PORT   initdb (if needed) + start, socket in DIR
#   scripts/cluster.sh stop DIR         stop (fast) and remove DIR
# Postgres refuses to run as root, so every server command runs as postgres.
set -euo pipefail
. "$(dirname "$0")/pg_env.sh"
BIN=$PG_BINDIR
cmd=$1 dir=$2

case "$cmd" in
start)
    port=$3
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_pg "$BIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
    fi
    as_pg "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-p $port -k $dir -c listen_addresses='' -c fsync=off -c max_connections=200 ${CLUSTER_OPTS:-}" start >/dev/null
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
*) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
