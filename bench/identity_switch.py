#!/usr/bin/env python3
"""What the per-backend membership cache saves, and when it does not: the
sweep's Q7 and Q1 (bench/sweep.py) for the probe users of bench_sweep, timed
as sweep.py times them, in three situations of the connection:

- same: every request on the connection is the probe's (the sweep's case):
  the cached set is used; the snapshot is unchanged between requests (nothing
  else commits), so not even the version row is read again.
- write: the same, but another session commits a transaction before each
  request (as writers do on a busy database): the snapshot differs, so the
  cache re-reads the user's version row, and keeps the set.
- switch: every other request on the connection is another user's (a pooled
  connection serving users in turn, as PostgREST's pool does).
- crowd: before each of the probe's requests, one request of each of
  CROWD other users (more users than a backend keeps sets of), so that the
  probe's set has been evicted and is loaded again.

Only the probe's query is timed (execute + fetch), RLS and the owner's
baseline interleaved; the other user's request runs RLS Q7 for a user of one
workspace. Run against the cluster of `BENCH_KEEP=1 make bench-sweep`:

    python3 bench/identity_switch.py --host /tmp/cx-bench.XXXXXX --port NNNNN
"""
import argparse
import json
import statistics
import sys
import time

import psycopg

sys.dont_write_bytecode = True
from sweep import QUERIES, W1, WARMUP, timed

MODES = ("same", "write", "switch", "crowd")
CROWD = 20  # other users between two of the probe's requests in mode crowd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", required=True)
    ap.add_argument("--db", default="bench_sweep")
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--queries", default="Q7,Q1")
    args = ap.parse_args()
    conn = psycopg.connect(host=args.host, port=args.port, user="postgres", dbname=args.db, autocommit=True,
                           options="-c max_parallel_workers_per_gather=0")
    conn.prepared_max = 1000
    writer = psycopg.connect(host=args.host, port=args.port, user="postgres", dbname=args.db, autocommit=True)
    writer.execute("CREATE TABLE IF NOT EXISTS bench.tick (n bigint)")
    probes = conn.execute("SELECT memberships, user_id::text FROM bench.sweep_probe ORDER BY k").fetchall()
    one = conn.execute("SELECT id::text FROM support.conversations WHERE workspace_id = %s"
                       " AND status = 'escalated' ORDER BY id LIMIT 1", (W1,)).fetchone()[0]
    # The other users on the connection: owners of workspaces 2, 3, ... (one membership each).
    others = [r[0] for r in conn.execute(
        "SELECT m.user_id::text FROM support.workspace_members m JOIN support.workspaces w ON w.id = m.workspace_id"
        " WHERE m.role = 'owner' AND w.name IN (SELECT 'workspace ' || n FROM generate_series(2, %s) n)"
        " ORDER BY w.name", (CROWD + 1,)).fetchall()]
    assert len(others) == CROWD, others
    other_claims = [json.dumps({"sub": o, "role": "authenticated"}) for o in others]
    other_sql = "/* other */ " + QUERIES["Q7"]["rls"]
    role = {"rls": "bench_app", "baseline": "postgres"}
    out = []
    for m, user in probes:
        claims = json.dumps({"sub": user, "role": "authenticated"})
        wss = conn.execute("SELECT array_agg(workspace_id ORDER BY workspace_id) FROM support.workspace_members"
                           " WHERE user_id = %s", (user,)).fetchone()[0]
        params = {"c": one, "ws": W1, "wss": wss}
        for q in args.queries.split(","):
            row = {"memberships": m, "query": q}
            for mode in MODES:
                sql = {side: f"/* {q} m{m} {mode} {side} */ " + QUERIES[q][side] for side in role}
                times = {side: [] for side in role}
                for r in range(WARMUP + args.rounds):
                    for side in (("rls", "baseline") if r % 2 == 0 else ("baseline", "rls")):
                        if mode == "write":
                            writer.execute("INSERT INTO bench.tick VALUES (1)")
                        elif mode == "switch":
                            timed(conn, "bench_app", other_claims[0], other_sql, {"c": one})
                        elif mode == "crowd":
                            for oc in other_claims:
                                timed(conn, "bench_app", oc, other_sql, {"c": one})
                        ms, _ = timed(conn, role[side], claims, sql[side], params)
                        if r >= WARMUP:
                            times[side].append(ms)
                b, rls = statistics.median(times["baseline"]), statistics.median(times["rls"])
                row[mode] = {"baseline_p50_ms": b, "rls_p50_ms": rls, "ratio": rls / b}
            out.append(row)
            print(f"{m:>6} {q}: " + "  ".join(
                f"{mode} {row[mode]['ratio']:.2f} ({row[mode]['rls_p50_ms']:.3f} ms,"
                f" {1000 * (row[mode]['rls_p50_ms'] - row[mode]['baseline_p50_ms']):+.0f} µs)" for mode in MODES),
                flush=True)
    writer.execute("DROP TABLE bench.tick")
    print("| memberships | query | " + " | ".join(f"{mode}: ratio (RLS p50, RLS − baseline)" for mode in MODES)
          + " |")
    print("|---|---|" + "---|" * len(MODES))
    for row in out:
        print(f"| {row['memberships']:,} | {row['query']} | " + " | ".join(
            f"{row[mode]['ratio']:.2f} ({row[mode]['rls_p50_ms']:.3f} ms,"
            f" {1000 * (row[mode]['rls_p50_ms'] - row[mode]['baseline_p50_ms']):+,.0f} µs)" for mode in MODES) + " |")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"({time.perf_counter() - t0:.0f} s)")
