"""A throwaway database for the small benches (bench/per_row.py,
bench/numbering.py): made fresh on the server named, with the extension, the
application role support_app given support.grant_usage, and dropped when the
bench is done. Never point them at a database you need."""
import contextlib
import os
import subprocess

import psycopg


@contextlib.contextmanager
def scratch_database(host, port, name, options=""):
    """Yields a superuser connection (autocommit) to a new database `name`."""
    admin = psycopg.connect(host=host, port=port, user="postgres", dbname="postgres", autocommit=True)
    admin.execute(f"DROP DATABASE IF EXISTS {name}")
    admin.execute(f"CREATE DATABASE {name}")
    admin.execute("DO $$ BEGIN CREATE ROLE support_app NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    c = psycopg.connect(host=host, port=port, user="postgres", dbname=name, autocommit=True, options=options)
    c.execute("CREATE EXTENSION conversations_ext")
    c.execute("SELECT support.grant_usage('support_app')")
    try:
        yield c
    finally:
        c.close()
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


def build():
    """This checkout's commit, and whether the extension's sources differ from it."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=root).stdout.strip()
    if subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "src", "sql"], cwd=root).returncode != 0:
        rev += " + uncommitted changes to src/ or sql/"
    return rev
