#!/usr/bin/env python3
"""The agent's inbox at bench scale (docs/performance.md, "Unread counts" and
"Queue and SLA figures"):
support.unread_counts() for an agent with 200 open conversations, inside the
generated `bench` database (its 5M messages around them), as PostgREST runs
it (bench.py's Variant: BEGIN; role and claims set locally; the statement,
prepared; COMMIT; only the statement timed).

The agent is a member of 4 workspaces of its own, each with 50 open
conversations and 2,000 resolved ones (resolved conversations are not
counted: they are there to show that they cost nothing), 8 messages each
(customer, agent, ...; the agent writes the even ones). Of the open ones, a
third are read to the end, a third up to message 3, a third never. Before
timing, the rows are checked against the rule computed by the owner.

The figures: a support lead, member of a workspace of 100,000 conversations
(arriving over a year; the newest 15% open, a third each active, escalated and
claimed by one of 20 agents; the rest resolved, one in ten reopened once) and
of a small one: support.queue_figures(), agent_figures() and sla_figures()
(the last 30 days, the default, and a whole year), each under 50 ms p50.

Message search over the database's 5M messages: support.search_messages()
for a user with 1 membership (of the biggest workspace), one with 20 (the
first bench probe) and one with 1,000 (of the biggest workspaces), for a
common word ("mother", in about a quarter of the messages) and a rare one
("zebrafish", added to about 50 messages across the tenants). The rare
word's rows are checked against the owner's count of matches first.

  python3 bench/inbox.py --host DIR --port PORT [--db bench] [--rounds 300] [--out DIR] [--name inbox]
Writes DIR/NAME.json and DIR/NAME.md. Targets: p50 under 5 ms (unread counts), under 50 ms (the figures
over 30 days); exit status 1 when one is missed.
"""
import argparse
import json
import os
import re
import sys
import time

import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Variant, connect, summary_ms  # noqa: E402
from scratch import build as scratch_build  # noqa: E402

AGENT = "0000000e-0000-4000-8000-000000000001"
WORKSPACES = 4
OPEN_PER_WS = 50
RESOLVED_PER_WS = 2000
MESSAGES = 8
TARGET_MS = 5.0
LEAD = "0000000e-0000-4000-8000-000000000002"
BIG = "0000000e-0003-4000-8000-000000000001"
SMALL = "0000000e-0003-4000-8000-000000000002"
BIG_CONVERSATIONS = 100_000
AGENTS = 20
FIGURES_TARGET_MS = 50.0

FIGURES_FIXTURE = f"""
SET LOCAL row_security = off;
SET LOCAL session_replication_role = replica;
INSERT INTO support.users (id, kind, display_name)
SELECT ('0000000e-0004-4000-8000-' || lpad(a::text, 12, '0'))::uuid, 'human', 'agent ' || a FROM generate_series(1, {AGENTS}) a
UNION ALL SELECT '{LEAD}', 'human', 'lead';
INSERT INTO support.workspaces (id, name) VALUES ('{BIG}', 'figures big'), ('{SMALL}', 'figures small');
INSERT INTO support.workspace_members (workspace_id, user_id, role)
SELECT '{BIG}'::uuid, ('0000000e-0004-4000-8000-' || lpad(a::text, 12, '0'))::uuid, 'agent' FROM generate_series(1, {AGENTS}) a
UNION ALL SELECT '{BIG}', '{LEAD}', 'owner' UNION ALL SELECT '{SMALL}', '{LEAD}', 'owner';
INSERT INTO support.conversations (id, workspace_id, status, subject, claimed_by, claimed_at, escalated_at,
                                   resolved_at, first_agent_reply_at, reopen_count, created_at, updated_at, number)
SELECT ('0000000e-0005-4000-8000-' || lpad(n::text, 12, '0'))::uuid, '{BIG}', g.status, 'figures ' || n,
       CASE WHEN g.status = 'claimed' THEN ('0000000e-0004-4000-8000-' || lpad((1 + n % {AGENTS})::text, 12, '0'))::uuid END,
       CASE WHEN g.status = 'claimed' THEN g.t + interval '20 minutes' END,
       CASE WHEN g.status IN ('escalated', 'claimed') OR g.status = 'resolved' THEN g.t + interval '5 minutes' END,
       CASE WHEN g.status = 'resolved' THEN g.t + (1 + n % 48) * interval '10 minutes' END,
       CASE WHEN g.status IN ('claimed', 'resolved') THEN g.t + (1 + n % 30) * interval '1 minute' END,
       CASE WHEN g.status = 'resolved' AND n % 10 = 0 THEN 1 ELSE 0 END,
       g.t, g.t, n
  FROM (SELECT n, now() - interval '365 days' + n * (interval '365 days' / {BIG_CONVERSATIONS}) AS t,
               CASE WHEN n <= {BIG_CONVERSATIONS} * 85 / 100 THEN 'resolved'
                    ELSE (ARRAY['active', 'escalated', 'claimed'])[1 + n % 3] END AS status
          FROM generate_series(1, {BIG_CONVERSATIONS}) n) g;
INSERT INTO support.conversations (workspace_id, status, subject, escalated_at, created_at, updated_at, number)
VALUES ('{SMALL}', 'escalated', 'small one', now() - interval '1 hour', now() - interval '2 hours', now(), 1);
INSERT INTO support.conversation_counters (workspace_id, last_number)
VALUES ('{BIG}', {BIG_CONVERSATIONS}), ('{SMALL}', 1);
"""

SEARCHER = "0000000e-0000-4000-8000-000000000003"
COMMON, RARE = "mother", "zebrafish"
SEARCH_FIXTURE = f"""
SET LOCAL row_security = off;
SET LOCAL session_replication_role = replica;
INSERT INTO support.users (id, kind, display_name) VALUES ('{SEARCHER}', 'human', 'searcher of 1000');
INSERT INTO support.workspace_members (workspace_id, user_id, role)
SELECT b.workspace_id, '{SEARCHER}', 'agent'
  FROM (SELECT c.workspace_id FROM support.conversations c GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1000) b;
UPDATE support.conversation_messages SET content = content || ' {RARE}'
 WHERE abs(hashtext(id::text)) % 100000 = 7;
"""
# A generated user with one membership, of the workspace with the most messages that has one.
ONE_MEMBERSHIP = """
SELECT m.user_id::text FROM support.workspace_members m
  JOIN (SELECT user_id FROM support.workspace_members GROUP BY 1 HAVING count(*) = 1) o ON o.user_id = m.user_id
  JOIN (SELECT workspace_id, count(*) AS n FROM support.conversation_messages GROUP BY 1) w
    ON w.workspace_id = m.workspace_id
 WHERE m.user_id::text NOT LIKE '0000000e-%'
 ORDER BY w.n DESC, 1 LIMIT 1
"""
MATCHES = """
SELECT count(*) FROM support.conversation_messages m
 WHERE m.workspace_id IN (SELECT workspace_id FROM support.workspace_members WHERE user_id = %s)
   AND to_tsvector(m.search_config, m.content) @@ websearch_to_tsquery(m.search_config, %s)
"""

FIGURES = {
    "queue_figures": "SELECT * FROM support.queue_figures()",
    "agent_figures": "SELECT * FROM support.agent_figures()",
    "sla_figures (30 days)": "SELECT * FROM support.sla_figures()",
    "sla_figures (365 days)": "SELECT * FROM support.sla_figures(now() - interval '365 days', now())",
}

FIXTURE = f"""
SET LOCAL row_security = off;
SET LOCAL session_replication_role = replica;
INSERT INTO support.users (id, kind, display_name) VALUES ('{AGENT}', 'human', 'inbox probe');
INSERT INTO support.workspaces (id, name)
SELECT ('0000000e-0001-4000-8000-' || lpad(w::text, 12, '0'))::uuid, 'inbox ' || w
  FROM generate_series(1, {WORKSPACES}) w;
INSERT INTO support.workspace_members (workspace_id, user_id, role)
SELECT ('0000000e-0001-4000-8000-' || lpad(w::text, 12, '0'))::uuid, '{AGENT}', 'agent'
  FROM generate_series(1, {WORKSPACES}) w;
CREATE TEMP TABLE plan ON COMMIT DROP AS
SELECT ('0000000e-0001-4000-8000-' || lpad(w::text, 12, '0'))::uuid AS ws,
       ('0000000e-0002-4000-8000-' || lpad((w * 100000 + j)::text, 12, '0'))::uuid AS id,
       j, j <= {OPEN_PER_WS} AS open,
       timestamptz '2026-01-01 00:00+00' + (j * interval '1 minute') AS t
  FROM generate_series(1, {WORKSPACES}) w, generate_series(1, {OPEN_PER_WS + RESOLVED_PER_WS}) j;
INSERT INTO support.conversations (id, workspace_id, status, subject, claimed_by, claimed_at, escalated_at,
                                   resolved_at, created_at, updated_at, number)
SELECT p.id, p.ws,
       CASE WHEN NOT p.open THEN 'resolved' WHEN p.j % 3 = 0 THEN 'active'
            WHEN p.j % 3 = 1 THEN 'escalated' ELSE 'claimed' END,
       'inbox ' || p.j,
       CASE WHEN p.open AND p.j % 3 = 2 THEN '{AGENT}'::uuid END,
       CASE WHEN p.open AND p.j % 3 = 2 THEN p.t END,
       CASE WHEN p.open AND p.j % 3 <> 0 THEN p.t END,
       CASE WHEN NOT p.open THEN p.t + interval '1 hour' END,
       p.t, p.t, p.j
  FROM plan p;
INSERT INTO support.conversation_counters (workspace_id, last_number)
SELECT ws, max(j) FROM plan GROUP BY ws;
INSERT INTO support.conversation_messages (id, workspace_id, conversation_id, role, author_id, content, created_at)
SELECT gen_random_uuid(), p.ws, p.id,
       CASE WHEN k % 2 = 1 THEN 'customer' ELSE 'agent' END,
       CASE WHEN k % 2 = 0 THEN '{AGENT}'::uuid END,
       'message ' || k, p.t + k * interval '30 seconds'
  FROM plan p, generate_series(1, {MESSAGES}) k;
-- Positions: a third read to the end, a third up to message 3, a third never.
INSERT INTO support.conversation_reads (workspace_id, conversation_id, user_id, read_created_at, read_message_id)
SELECT m.workspace_id, m.conversation_id, '{AGENT}', m.created_at, m.id
  FROM plan p JOIN support.conversation_messages m ON m.workspace_id = p.ws AND m.conversation_id = p.id
 WHERE p.open AND ((p.j % 3 = 0 AND m.content = 'message {MESSAGES}') OR (p.j % 3 = 1 AND m.content = 'message 3'));
"""

# The rule (docs/api.md, "Read state and unread counts"), by the owner.
TRUTH = f"""
SELECT c.workspace_id, c.id, count(*)
  FROM support.conversations c
  JOIN support.conversation_messages m ON m.workspace_id = c.workspace_id AND m.conversation_id = c.id
 WHERE c.workspace_id IN (SELECT workspace_id FROM support.workspace_members WHERE user_id = '{AGENT}')
   AND c.status <> 'resolved' AND m.author_id IS DISTINCT FROM '{AGENT}'
   AND NOT EXISTS (SELECT 1 FROM support.conversation_reads r
                    WHERE r.conversation_id = c.id AND r.user_id = '{AGENT}'
                      AND (m.created_at, m.id) <= (r.read_created_at, r.read_message_id))
 GROUP BY 1, 2 ORDER BY 1, 2
"""

UNREAD = "SELECT workspace_id, conversation_id, unread FROM support.unread_counts() ORDER BY 1, 2"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", required=True)
    ap.add_argument("--db", default="bench")
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--out")
    ap.add_argument("--name", default="inbox", help="file names: NAME.json, NAME.md (make bench: inbox, inbox-small)")
    args = ap.parse_args()
    owner = psycopg.connect(host=args.host, port=args.port, dbname=args.db, user="postgres", autocommit=True)
    with owner.transaction():
        owner.execute(FIXTURE)
    with owner.transaction():
        owner.execute(FIGURES_FIXTURE)
    owner.execute("VACUUM (ANALYZE) support.conversations, support.conversation_messages, support.conversation_reads")
    facts = owner.execute("""SELECT (SELECT count(*) FROM support.conversation_messages),
                                    (SELECT count(*) FROM support.conversations),
                                    current_setting('server_version')""").fetchone()
    truth = owner.execute(TRUTH).fetchall()
    claims = json.dumps({"sub": AGENT, "role": "authenticated"})
    app = connect(args, args.db, "bench_app")
    v = Variant("rls", app, UNREAD, None, claims, "bench_app")
    rows, _ = v.run(timed=False)
    if [tuple(r) for r in rows] != [tuple(r) for r in truth]:
        raise SystemExit(f"inbox: unread_counts() returned {len(rows)} rows, the rule gives {len(truth)}")
    for _ in range(6):
        v.run(timed=False)
    for _ in range(args.rounds):
        v.run()
    s = summary_ms(v.samples)
    # The plan of the function's query, as the agent (auto_explain is not
    # loaded: the query is run once more, by hand, under EXPLAIN).
    with app.transaction():
        app.execute("SELECT set_config('role', 'bench_app', true), set_config('request.jwt.claims', %s, true)",
                    [claims])
        src = owner.execute("SELECT prosrc FROM pg_proc WHERE oid = 'support.unread_counts()'::regprocedure").fetchone()[0]
        query = src[src.index("SELECT c.workspace_id"):src.index(";", src.index("GROUP BY"))]
        query = re.sub(r"\bme\b", f"'{AGENT}'::uuid", query)
        plan = "\n".join(r[0] for r in app.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) " + query))
    # The figures, as the lead (the big and the small workspace), the big
    # one's escalated count as the owner counts it.
    lead_claims = json.dumps({"sub": LEAD, "role": "authenticated"})
    escalated = owner.execute(f"SELECT count(*) FROM support.conversations WHERE workspace_id = '{BIG}' "
                              "AND status = 'escalated'").fetchone()[0]
    figures = {}
    for name, sql in FIGURES.items():
        fv = Variant(name, app, sql, None, lead_claims, "bench_app")
        frows, _ = fv.run(timed=False)
        # One row per workspace; agent_figures one per member who may claim:
        # the 20 agents and the lead (owner) in the big one, the lead in the small one.
        want = AGENTS + 2 if name == "agent_figures" else 2
        if len(frows) != want:
            raise SystemExit(f"inbox: {name} returned {len(frows)} rows for the lead, not {want}")
        if name == "queue_figures" and escalated not in [r[2] for r in frows]:
            raise SystemExit(f"inbox: queue_figures() does not count the {escalated} escalated conversations")
        for _ in range(6):
            fv.run(timed=False)
        for _ in range(max(args.rounds // 3, 30)):
            fv.run()
        figures[name] = summary_ms(fv.samples)
    # Message search.
    with owner.transaction():
        owner.execute(SEARCH_FIXTURE)
    owner.execute("VACUUM (ANALYZE) support.conversation_messages, support.workspace_members")
    searchers = {
        "1 membership": owner.execute(ONE_MEMBERSHIP).fetchone()[0],
        "20 memberships": str(owner.execute("SELECT user_id FROM bench.probe ORDER BY n LIMIT 1").fetchone()[0]),
        "1,000 memberships": SEARCHER,
    }
    search = {}
    for who, user in searchers.items():
        for word in (COMMON, RARE):
            matches = owner.execute(MATCHES, [user, word]).fetchone()[0]
            sv = Variant(f"search {who} {word}", app,
                         "SELECT message_id FROM support.search_messages(%s)", [word],
                         json.dumps({"sub": user, "role": "authenticated"}), "bench_app")
            srows, first = sv.run(timed=False)
            if len(srows) != min(50, matches):
                raise SystemExit(f"inbox: search for {word!r} as the user of {who} returned {len(srows)} rows, "
                                 f"{matches} messages match")
            started = time.perf_counter()
            while len(sv.samples) < 30 and (len(sv.samples) < 3 or time.perf_counter() - started < 20):
                sv.run()
            search[f"{who}, {word}"] = dict(summary_ms(sv.samples), matches=matches, who=who, word=word)
    result = {"postgres": facts[2], "build": scratch_build(), "database": args.db,
              "messages_in_database": facts[0], "conversations_in_database": facts[1],
              "open_conversations": WORKSPACES * OPEN_PER_WS, "rows": len(truth), "rounds": args.rounds,
              "unread_counts": s, "target_p50_ms": TARGET_MS, "meets_target": s["p50_ms"] < TARGET_MS,
              "figures_workspace_conversations": BIG_CONVERSATIONS, "figures": figures,
              "figures_target_p50_ms": FIGURES_TARGET_MS,
              "figures_meet_target": all(v["p50_ms"] < FIGURES_TARGET_MS for k, v in figures.items()
                                         if "365" not in k),
              "search": search}
    line = (f"inbox: PostgreSQL {facts[2]}: support.unread_counts() for an agent with "
            f"{WORKSPACES * OPEN_PER_WS} open conversations ({len(truth)} unread), {facts[0]:,} messages in the "
            f"database: p50 {s['p50_ms']:.2f} ms, p95 {s['p95_ms']:.2f} ms over {args.rounds} requests "
            f"(target p50 < {TARGET_MS:g} ms: {'met' if result['meets_target'] else 'MISSED'})")
    lines = [line] + [
        f"inbox: {name} for a lead of a {BIG_CONVERSATIONS:,}-conversation workspace and a small one: "
        f"p50 {v['p50_ms']:.2f} ms, p95 {v['p95_ms']:.2f} ms over {v['n']} requests"
        + ("" if "365" in name else f" (target p50 < {FIGURES_TARGET_MS:g} ms: "
           f"{'met' if v['p50_ms'] < FIGURES_TARGET_MS else 'MISSED'})")
        for name, v in figures.items()] + [
        f"inbox: search_messages('{v['word']}') for a user in {v['who']} ({v['matches']:,} matching messages): "
        f"p50 {v['p50_ms']:.2f} ms, p95 {v['p95_ms']:.2f} ms over {v['n']} requests"
        for v in search.values()]
    print("\n".join(lines))
    if args.out:
        with open(os.path.join(args.out, args.name + ".json"), "w") as f:
            json.dump(result, f, indent=1)
        with open(os.path.join(args.out, args.name + ".md"), "w") as f:
            f.write("# The agent's inbox\n\n" + "\n".join(f"- {x[len('inbox: '):]}" for x in lines)
                    + f"\n\nMeasured build: {result['build']}.\n\n"
                    f"The function's query as the agent, EXPLAIN (ANALYZE, BUFFERS):\n\n```\n{plan}\n```\n")
    if not (result["meets_target"] and result["figures_meet_target"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
