#!/usr/bin/env python3
"""What notifications cost a posted message (docs/performance.md,
"Notifications"): one client inserting messages as an application role, one
transaction per insert, with the trigger conversation_messages_notify
enabled and disabled in turn (ABAB...), in one run.

Makes its own database (cx_notify_bench: never point it at a database you
need) on the server named. Nobody listens: the cost measured is the
trigger's (channel, payload, pg_notify) and the commit's queue entry.

  python3 bench/notify_cost.py --host DIR --port PORT --pgbench PATH [--seconds 8] [--rounds 3] [--out FILE.json]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scratch import build as scratch_build, scratch_database  # noqa: E402

USER = "0000000b-0000-4000-8000-000000000001"
WS = "0000000a-0000-4000-8000-000000000001"
CONV = "0000000c-0000-4000-8000-000000000001"

SCRIPT = f"""BEGIN;
SET LOCAL ROLE support_app;
SET LOCAL support.user_id = '{USER}';
INSERT INTO support.conversation_messages (workspace_id, conversation_id, role, content)
VALUES ('{WS}', '{CONV}', 'agent', 'hello, how can I help?');
COMMIT;
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", required=True)
    ap.add_argument("--pgbench", required=True)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out")
    args = ap.parse_args()
    with scratch_database(args.host, args.port, "cx_notify_bench") as c:
        c.execute("INSERT INTO support.users (id) VALUES (%s)", (USER,))
        c.execute("INSERT INTO support.workspaces (id, name) VALUES (%s, 'w')", (WS,))
        c.execute("INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES (%s, %s, 'agent')",
                  (WS, USER))
        c.execute("INSERT INTO support.conversations (id, workspace_id, subject) VALUES (%s, %s, 'bench')", (CONV, WS))
        version = c.execute("SELECT current_setting('server_version')").fetchone()[0]
        runs = {"with notifications": [], "without": []}
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)
            path = os.path.join(tmp, "insert.sql")
            with open(path, "w") as f:
                f.write(SCRIPT)
            os.chmod(path, 0o644)
            for _ in range(args.rounds):
                for mode, switch in (("with notifications", "ENABLE"), ("without", "DISABLE")):
                    c.execute(f"ALTER TABLE support.conversation_messages {switch} TRIGGER conversation_messages_notify")
                    cmd = [args.pgbench, "-h", args.host, "-p", str(args.port), "-U", "postgres", "-n",
                           "-c", "1", "-T", str(args.seconds), "-f", path, "cx_notify_bench"]
                    if os.getuid() == 0:
                        cmd = ["runuser", "-u", "postgres", "--"] + cmd
                    out = subprocess.run(cmd, capture_output=True, text=True, cwd="/")
                    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout)
                    if not m or "number of failed transactions: 0" not in out.stdout:
                        raise SystemExit(f"pgbench ({mode}) failed:\n{out.stdout}\n{out.stderr}")
                    runs[mode].append(float(m.group(1)))
            c.execute("ALTER TABLE support.conversation_messages ENABLE TRIGGER conversation_messages_notify")
    med = {m: statistics.median(v) for m, v in runs.items()}
    ratio = med["with notifications"] / med["without"]
    result = {"postgres": version, "build": scratch_build(), "seconds": args.seconds, "runs": runs,
              "inserts_per_s_median": med, "ratio_with_to_without": ratio}
    print(f"notify_cost: PostgreSQL {version}: one client posting messages: {med['with notifications']:,.0f}/s with "
          f"notifications, {med['without']:,.0f}/s without (median of {args.rounds} runs of {args.seconds} s each, "
          f"interleaved; ratio {ratio:.2f})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
