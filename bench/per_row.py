#!/usr/bin/env python3
"""What the policy's check costs per row, on the server it is pointed at.

Makes its own database (cx_per_row: never point it at a database you need)
with one workspace of --rows conversations and one member, then times, in
one interleaved run, a statement that checks every row (a count over a
sequential scan, parallel query off):

- owner: the table owner (no row-level security);
- RLS: the application role `support_app` (given support.grant_usage), its
  identity set in the transaction as PostgREST does (request.jwt.claims).

Per-row cost = (RLS p50 - owner p50) / rows. The identity is read for every
row the policy checks (docs/performance.md), so this includes reading it.

  python3 bench/per_row.py --host DIR --port PORT [--rows 200000] [--rounds 40] [--out FILE.json] [--build REV]
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scratch import build as scratch_build, scratch_database  # noqa: E402

WS = "0000000a-0000-4000-8000-000000000001"
USER = "0000000b-0000-4000-8000-000000000001"
COUNT = "SELECT count(*) FROM support.conversations WHERE subject IS NOT NULL"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", required=True)
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--out")
    ap.add_argument("--build", help="the build of the extension on that server (default: this checkout's HEAD)")
    args = ap.parse_args()
    with scratch_database(args.host, args.port, "cx_per_row",
                          options="-c max_parallel_workers_per_gather=0 -c jit=off") as c:
        measure(args, c)


def measure(args, c):
    c.execute("INSERT INTO support.users (id) VALUES (%s)", (USER,))
    c.execute("INSERT INTO support.workspaces (id, name) VALUES (%s, 'w')", (WS,))
    c.execute("INSERT INTO support.workspace_members (workspace_id, user_id) VALUES (%s, %s)", (WS, USER))
    c.execute("INSERT INTO support.conversations (workspace_id, subject) SELECT %s, 's' || g"
              " FROM generate_series(1, %s) g", (WS, args.rows))
    c.execute("VACUUM (ANALYZE) support.conversations")
    version = c.execute("SELECT current_setting('server_version')").fetchone()[0]
    claims = json.dumps({"sub": USER, "role": "authenticated"})

    def run(side):
        with c.transaction():
            if side == "rls":
                c.execute("SELECT set_config('role', 'support_app', true),"
                          " set_config('request.jwt.claims', %s, true)", (claims,))
            t0 = time.perf_counter()
            n = c.execute(COUNT, prepare=True).fetchone()[0]
            elapsed = (time.perf_counter() - t0) * 1000.0
        assert n == args.rows, f"{side} counted {n} rows, not {args.rows}"
        return elapsed

    for _ in range(3):
        run("owner"), run("rls")
    times = {"owner": [], "rls": []}
    for r in range(args.rounds):
        for side in (("owner", "rls") if r % 2 == 0 else ("rls", "owner")):
            times[side].append(run(side))
    p50 = {s: statistics.median(v) for s, v in times.items()}
    per_row_ns = (p50["rls"] - p50["owner"]) * 1e6 / args.rows
    build = args.build or scratch_build()
    result = {"postgres": version, "build": build, "rows": args.rows, "rounds": args.rounds,
              "owner_p50_ms": p50["owner"], "rls_p50_ms": p50["rls"], "per_row_ns": per_row_ns}
    print(f"per_row: PostgreSQL {version}: {args.rows:,} rows, owner {p50['owner']:.2f} ms, "
          f"RLS {p50['rls']:.2f} ms: {per_row_ns:.0f} ns per row checked")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
