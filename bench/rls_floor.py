#!/usr/bin/env python3
"""What any row-level security costs a one-row request, and what is ours.

Runs against the sweep database of a cluster left running by
`BENCH_KEEP=1 make bench` (it creates the schema bench_floor: never point it
at a real database):

  python3 bench/rls_floor.py --host /tmp/cx-bench.XXXX --port NNNN [--rounds 3000] [--memberships 10]

Q7 (one conversation by id, bench/sweep.py) five ways, interleaved in one
run, each request PostgREST-style (bench/sweep.py's `timed`: its own
transaction, identity statement untimed, the statement prepared):

- owner: the table owner's hand-filtered statement on a copy of
  support.conversations without row-level security (the sweep's baseline);
- app, no RLS: the same statement as the application role, on the same copy:
  what switching to another role per request costs by itself;
- app, USING (true): a copy with row-level security on and a policy that
  admits every row: what any policy costs;
- app, our policy: a copy with the extension's policy
  support.workspace_member(workspace_id), the statement without a tenant
  filter;
- app, support.conversations: the extension's own table (the sweep's RLS side).

Prints the p50 of each and its ratio to the owner's, and writes
rls_floor.json into --out.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sweep import W1, timed  # noqa: E402

SETUP = """
DROP SCHEMA IF EXISTS bench_floor CASCADE;
CREATE SCHEMA bench_floor;
CREATE TABLE bench_floor.no_rls AS SELECT * FROM support.conversations;
CREATE TABLE bench_floor.rls_true AS SELECT * FROM support.conversations;
CREATE TABLE bench_floor.rls_ours AS SELECT * FROM support.conversations;
ALTER TABLE bench_floor.no_rls ADD PRIMARY KEY (workspace_id, id);
ALTER TABLE bench_floor.rls_true ADD PRIMARY KEY (workspace_id, id);
ALTER TABLE bench_floor.rls_ours ADD PRIMARY KEY (workspace_id, id);
CREATE UNIQUE INDEX ON bench_floor.no_rls (id);
CREATE UNIQUE INDEX ON bench_floor.rls_true (id);
CREATE UNIQUE INDEX ON bench_floor.rls_ours (id);
ALTER TABLE bench_floor.rls_true ENABLE ROW LEVEL SECURITY;
CREATE POLICY everything ON bench_floor.rls_true USING (true);
ALTER TABLE bench_floor.rls_ours ENABLE ROW LEVEL SECURITY;
CREATE POLICY member ON bench_floor.rls_ours USING (support.workspace_member(workspace_id));
GRANT USAGE ON SCHEMA bench_floor TO bench_app;
GRANT SELECT ON ALL TABLES IN SCHEMA bench_floor TO bench_app;
"""

COLUMNS = "SELECT id, status, subject FROM"
VARIANTS = {
    "owner": ("postgres", f"{COLUMNS} bench_floor.no_rls WHERE id = %(c)s AND workspace_id = %(ws)s"),
    "app, no RLS": ("bench_app", f"{COLUMNS} bench_floor.no_rls WHERE id = %(c)s AND workspace_id = %(ws)s"),
    "app, USING (true)": ("bench_app", f"{COLUMNS} bench_floor.rls_true WHERE id = %(c)s AND workspace_id = %(ws)s"),
    "app, our policy": ("bench_app", f"{COLUMNS} bench_floor.rls_ours WHERE id = %(c)s"),
    "app, support.conversations": ("bench_app", f"{COLUMNS} support.conversations WHERE id = %(c)s"),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", required=True)
    ap.add_argument("--db", default="bench_sweep")
    ap.add_argument("--rounds", type=int, default=3000)
    ap.add_argument("--memberships", type=int, default=10)
    ap.add_argument("--out", default="bench/results")
    args = ap.parse_args()
    conn = psycopg.connect(host=args.host, port=args.port, user="postgres", dbname=args.db, autocommit=True,
                           options="-c max_parallel_workers_per_gather=0")
    conn.prepared_max = 100
    for statement in SETUP.split(";\n"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("VACUUM (ANALYZE) bench_floor.no_rls, bench_floor.rls_true, bench_floor.rls_ours")
    one = conn.execute("SELECT id::text FROM support.conversations WHERE workspace_id = %s"
                       " AND status = 'escalated' ORDER BY id LIMIT 1", (W1,)).fetchone()[0]
    user = conn.execute("SELECT user_id::text FROM bench.sweep_probe WHERE memberships = %s",
                        (args.memberships,)).fetchone()[0]
    claims = json.dumps({"sub": user, "role": "authenticated"})
    params = {"c": one, "ws": W1}
    times = {k: [] for k in VARIANTS}
    rows = {}
    for r in range(args.rounds + 6):
        order = list(VARIANTS) if r % 2 == 0 else list(reversed(VARIANTS))
        for k in order:
            role, sql = VARIANTS[k]
            ms, got = timed(conn, role, claims, f"/* floor {k} */ {sql}", params)
            rows[k] = got
            if r >= 6:
                times[k].append(ms)
    if any(rows[k] != rows["owner"] for k in VARIANTS):
        sys.exit(f"variants returned different rows: {rows}")
    base = statistics.median(times["owner"])
    build = os.environ.get("BENCH_BUILD") or subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    out = {"build": build, "memberships": args.memberships, "rounds": args.rounds, "variants": {}}
    print(f"Q7 at {args.memberships} memberships, {args.rounds} rounds, build {build}")
    for k in VARIANTS:
        p50 = statistics.median(times[k])
        out["variants"][k] = {"p50_ms": p50, "ratio": p50 / base, "added_us": (p50 - base) * 1000}
        print(f"{k:28s} p50 {p50 * 1000:7.1f} µs  ratio {p50 / base:.3f}  {(p50 - base) * 1000:+5.1f} µs")
    conn.execute("DROP SCHEMA bench_floor CASCADE")
    with open(os.path.join(args.out, "rls_floor.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
