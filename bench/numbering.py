#!/usr/bin/env python3
"""What gapless conversation numbers cost (docs/api.md, "Conversation
numbers"): 16 sessions inserting conversations into ONE workspace, whose
counter row they take in turn, against the same 16 sessions spread over 16
workspaces (session i into workspace i), which never wait for each other.

Makes its own database (cx_numbering_bench: never point it at a database you
need) on the server named, then runs pgbench twice per mode, interleaved:
each transaction is one conversation opened as an application role does it
(BEGIN; role and end user set locally; INSERT; COMMIT).

  python3 bench/numbering.py --host DIR --port PORT --pgbench PATH [--seconds 10] [--out FILE.json]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scratch import build as scratch_build, pgbench_tps, scratch_database  # noqa: E402

SESSIONS = 16
USER = "0000000b-0000-4000-8000-000000000001"


def workspace(i):
    return f"0000000a-0000-4000-8000-{i:012d}"


SCRIPT = """BEGIN;
SET LOCAL ROLE support_app;
SET LOCAL support.user_id = '{user}';
INSERT INTO support.conversations (workspace_id, subject) VALUES ({ws}, 'bench');
COMMIT;
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", required=True)
    ap.add_argument("--pgbench", required=True)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--out")
    args = ap.parse_args()
    with scratch_database(args.host, args.port, "cx_numbering_bench") as c:
        measure(args, c)


def measure(args, c):
    c.execute("INSERT INTO support.users (id) VALUES (%s)", (USER,))
    for i in range(1, SESSIONS + 1):
        c.execute("INSERT INTO support.workspaces (id, name) VALUES (%s, %s)", (workspace(i), f"w{i}"))
        c.execute("INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES (%s, %s, 'agent')",
                  (workspace(i), USER))
    version = c.execute("SELECT current_setting('server_version')").fetchone()[0]
    modes = {
        "one workspace": SCRIPT.format(user=USER, ws=f"'{workspace(1)}'"),
        # pgbench's client_id is 0..15: client i writes workspace i + 1.
        "16 workspaces": SCRIPT.format(
            user=USER, ws="('0000000a-0000-4000-8000-' || lpad((:client_id + 1)::text, 12, '0'))::uuid"),
    }
    results = {m: [] for m in modes}
    for _ in range(2):
        for mode, script in modes.items():
            results[mode].append(pgbench_tps(args, "cx_numbering_bench", script, SESSIONS, mode))
    # The numbers are what they promise, after all of it: 1..n in every workspace.
    bad = c.execute("""SELECT count(*) FROM (
                         SELECT workspace_id, count(*) AS n, max(number) AS top, count(DISTINCT number) AS d
                           FROM support.conversations GROUP BY 1) s
                        WHERE n <> top OR n <> d""").fetchone()[0]
    assert bad == 0, "a workspace's numbers are not exactly 1..n"
    best = {m: max(v) for m, v in results.items()}
    result = {"postgres": version, "build": scratch_build(), "sessions": SESSIONS, "seconds": args.seconds, "runs": results,
              "inserts_per_s": best,
              "ratio_one_to_spread": best["one workspace"] / best["16 workspaces"]}
    print(f"numbering: PostgreSQL {version}: {SESSIONS} sessions opening conversations: one workspace "
          f"{best['one workspace']:,.0f}/s, 16 workspaces {best['16 workspaces']:,.0f}/s "
          f"(best of {len(results['one workspace'])} runs of {args.seconds} s each; ratio "
          f"{result['ratio_one_to_spread']:.2f})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
