#!/usr/bin/env bash
# A throwaway PgBouncer in transaction-pooling mode in front of a cluster
# started by scripts/cluster.sh (tests only; the Debian service stays off).
#   scripts/pgbouncer.sh start DIR PGHOST PGPORT LISTEN_PORT
#       writes DIR/pgbouncer.ini and starts pgbouncer as postgres, listening
#       on the unix socket DIR/.s.PGSQL.LISTEN_PORT only (no TCP)
#   scripts/pgbouncer.sh stop DIR
#       stops it (SIGINT, then SIGTERM/SIGKILL) and waits for it to exit;
#       DIR (with pgbouncer.log) is left to the caller
# Every database of the cluster is reachable under its own name; the admin
# console is database "pgbouncer" (admin user postgres).
# server_reset_query is empty on purpose: the tests show that the database
# itself refuses an identity left behind by an earlier client.
set -euo pipefail
cmd=${1:-} dir=${2:-}
. "$(dirname "$0")/pg_env.sh"
BOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

case "$cmd" in
start)
    [ $# -eq 5 ] || { echo "usage: $0 start DIR PGHOST PGPORT LISTEN_PORT" >&2; exit 2; }
    pghost=$3 pgport=$4 port=$5
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    cat >"$dir/userlist.txt" <<EOF
"postgres" ""
EOF
    cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=$pghost port=$pgport

[pgbouncer]
listen_addr =
listen_port = $port
unix_socket_dir = $dir
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = 3
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 200
server_reset_query =
server_reset_query_always = 0
ignore_startup_parameters = extra_float_digits,options
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
    [ "$(id -u)" = 0 ] && chown postgres: "$dir/userlist.txt" "$dir/pgbouncer.ini"
    as_pg "$BOUNCER" -d -q "$dir/pgbouncer.ini"
    # Ready when the socket answers.
    for _ in $(seq 1 100); do
        [ -S "$dir/.s.PGSQL.$port" ] && exit 0
        sleep 0.1
    done
    echo "pgbouncer did not start; see $dir/pgbouncer.log" >&2
    tail -n 20 "$dir/pgbouncer.log" >&2 || true
    exit 1
    ;;
stop)
    [ -n "$dir" ] || { echo "usage: $0 stop DIR" >&2; exit 2; }
    pidfile=$dir/pgbouncer.pid
    [ -f "$pidfile" ] || exit 0
    pid=$(cat "$pidfile")
    # Only signal the process if it is really this directory's pgbouncer.
    if [ -n "$pid" ] && grep -qs "$dir/pgbouncer.ini" "/proc/$pid/cmdline"; then
        kill -INT "$pid" 2>/dev/null || true
        for sig in 0 0 0 0 0 0 0 0 0 0 TERM 0 0 0 0 0 KILL; do
            kill -0 "$pid" 2>/dev/null || break
            [ "$sig" = 0 ] && sleep 0.1 || kill -"$sig" "$pid" 2>/dev/null || true
        done
    fi
    rm -f "$pidfile"
    ;;
*) echo "usage: $0 start DIR PGHOST PGPORT LISTEN_PORT | stop DIR" >&2; exit 2 ;;
esac
