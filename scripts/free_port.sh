#!/usr/bin/env bash
# Prints a TCP port nobody listens on (the cluster listens on a unix socket
# only, but the port number names the socket file, so it must be unused).
set -euo pipefail
for _ in $(seq 1 50); do
    p=$(( (RANDOM % 20000) + 30000 ))
    if ! ls /tmp/.s.PGSQL.$p /var/run/postgresql/.s.PGSQL.$p >/dev/null 2>&1 \
       && ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
        echo "$p"; exit 0
    fi
done
echo "no free port found" >&2; exit 1
