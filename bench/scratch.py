"""A throwaway database for the small benches (bench/per_row.py,
bench/numbering.py, bench/message_cost.py): made fresh on the server named,
with the extension, the application role support_app given
support.grant_usage, and dropped when the bench is done. Never point them at a
database you need. And the pgbench run they share."""
import contextlib
import os
import re
import subprocess
import tempfile

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


def pgbench_tps(args, db, script, clients, label):
    """Transactions a second of `script` (a pgbench script's text) run by
    `clients` pgbench clients on `db` for args.seconds, as postgres (through
    runuser when this runs as root); SystemExit when any transaction failed."""
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        path = os.path.join(tmp, "script.sql")
        with open(path, "w") as f:
            f.write(script)
        os.chmod(path, 0o644)
        cmd = [args.pgbench, "-h", args.host, "-p", str(args.port), "-U", "postgres", "-n",
               "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(args.seconds), "-f", path, db]
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        out = subprocess.run(cmd, capture_output=True, text=True, cwd="/")
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout)
    if not m or "number of failed transactions: 0" not in out.stdout:
        raise SystemExit(f"pgbench ({label}) failed:\n{out.stdout}\n{out.stderr}")
    return float(m.group(1))
