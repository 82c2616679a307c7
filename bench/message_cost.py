#!/usr/bin/env python3
"""What 0.4.0's agent features cost a posted message (docs/performance.md,
"The agent's inbox"): one client inserting messages as an application role,
one transaction per insert, in four modes taken in turn in every round (so
that each is measured beside the others):
  all: as installed;
  without notifications: the trigger conversation_messages_notify disabled;
  without notifications or search index: and conversation_messages_search_idx dropped;
  without notifications or search: and the generated column search_vector dropped.
Nobody listens: a notification costs its trigger (channel, payload,
pg_notify) and the commit's queue entry.

Makes its own database (cx_message_bench: never point it at a database you
need) on the server named; the drops happen there only.

  python3 bench/message_cost.py --host DIR --port PORT --pgbench PATH [--seconds 8] [--rounds 3] [--out FILE.json]
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scratch import build as scratch_build, pgbench_tps, scratch_database  # noqa: E402

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
    with scratch_database(args.host, args.port, "cx_message_bench") as c:
        c.execute("INSERT INTO support.users (id) VALUES (%s)", (USER,))
        c.execute("INSERT INTO support.workspaces (id, name) VALUES (%s, 'w')", (WS,))
        c.execute("INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES (%s, %s, 'agent')",
                  (WS, USER))
        c.execute("INSERT INTO support.conversations (id, workspace_id, subject) VALUES (%s, %s, 'bench')", (CONV, WS))
        version = c.execute("SELECT current_setting('server_version')").fetchone()[0]
        column = ("ALTER TABLE support.conversation_messages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
                  "pg_catalog.to_tsvector(search_config, content) OPERATOR(pg_catalog.||) pg_catalog.array_to_tsvector("
                  "ARRAY['workspace:' OPERATOR(pg_catalog.||) workspace_id::text])) STORED")
        index = "CREATE INDEX conversation_messages_search_idx ON support.conversation_messages USING gin (search_vector)"
        modes = {
            "all": ["ALTER TABLE support.conversation_messages ENABLE TRIGGER conversation_messages_notify"],
            "without notifications": ["ALTER TABLE support.conversation_messages DISABLE TRIGGER conversation_messages_notify"],
            "without notifications or search index": ["DROP INDEX support.conversation_messages_search_idx"],
            "without notifications or search": ["ALTER TABLE support.conversation_messages DROP COLUMN search_vector"],
        }
        # What puts back what the previous round's last mode took away.
        restore = [column, index]
        runs = {m: [] for m in modes}
        for r in range(args.rounds):
            if r > 0:
                for sql in restore:
                    c.execute(sql)
            for mode, setup in modes.items():
                for sql in setup:
                    c.execute(sql)
                c.execute("CHECKPOINT")
                runs[mode].append(pgbench_tps(args, "cx_message_bench", SCRIPT, 1, mode))
    med = {m: statistics.median(v) for m, v in runs.items()}
    result = {"postgres": version, "build": scratch_build(), "seconds": args.seconds, "runs": runs,
              "inserts_per_s_median": med,
              "ratio_to_without_notifications_or_search": {m: v / med["without notifications or search"]
                                                           for m, v in med.items()}}
    print(f"message_cost: PostgreSQL {version}: one client posting messages (median of {args.rounds} rounds of "
          f"{args.seconds} s each, the modes in turn): " + "; ".join(f"{m} {v:,.0f}/s" for m, v in med.items()))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
