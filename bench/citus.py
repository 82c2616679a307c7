#!/usr/bin/env python3
"""Single PostgreSQL server vs a 3-node Citus cluster, the same data and statements.

Run by bench/citus.sh (which builds the extension into a private copy of
PostgreSQL 15, starts both servers, and stops them again):

  citus.py load --side single --host DIR --port P --scale full|small
  citus.py load --side citus  --host 127.0.0.1 --port BASE --workers P1,P2 --scale ...
      CREATE EXTENSION conversations_ext, the application role support_app
      (LOGIN: Citus connects to the workers as the current role),
      support.grant_usage(), on Citus support.distribute(32), then the
      generated rows (deterministic: ids and values derived from row numbers
      and hashtext(), no random()), inserted by the superuser, then
      VACUUM (ANALYZE) and CHECKPOINT (on every node).
  citus.py run --single-host DIR --single-port P --citus-port BASE --workers P1,P2 ...
      measures and writes citus.{md,json} (citus-small.* at the small scale).

Every measured operation is one transaction of the application role, the
same on both sides: the connection (superuser) runs `SET ROLE support_app`
once (session level: a SET LOCAL ROLE would be propagated by Citus and would
break the SECURITY DEFINER functions); then per operation
  BEGIN; SELECT set_config('support.user_id', <agent>, true);
  SELECT support.propagate_identity(); <statement>; COMMIT
Two times are taken: the statement alone (execute + fetch, client side) and
the whole transaction (BEGIN .. COMMIT, 5 round trips). Statements are sent
prepared (psycopg prepare=True), the default plan_cache_mode.

Interleaving: every round runs each statement on both sides, the side that
goes first alternating from round to round; the first rounds are a warm-up
(not timed). Results are compared between the sides in every round (the
data are the same rows, and both sides take the same sequence of claims).
"""
import argparse
import datetime
import hashlib
import json
import os
import re
import statistics
import sys
import time
import uuid

import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

SHARDS = 32
SCALES = {
    # conversations includes the queue rows; messages ~ conversations * 4 (+ the long transcript)
    "full": dict(workspaces=400, conversations=100_000, queue_rows=3_000, long_messages=600,
                 rounds=1000, warmup=50),
    "small": dict(workspaces=400, conversations=10_000, queue_rows=600, long_messages=600,
                  rounds=200, warmup=30),
}
# Messages per ordinary conversation: 1 + hash % 7 (mean 4).
MSG_SPREAD = 7


def uid(kind, n):
    return uuid.UUID(f"{kind:08x}-0000-4000-8000-{n:012x}")


def conv_id(n):
    return uuid.UUID(hashlib.md5(f"c{n}".encode()).hexdigest())


AGENT_N = 100_001                      # the measured agent (user kind 1)
AGENT = uid(1, AGENT_N)
AGENT_WORKSPACES = [1, 2, 3, 200, 400]  # ranks; 1 = the queue workspace


def ids(scale):
    q = SCALES[scale]["queue_rows"]
    return {
        "agent": AGENT,
        "queue_ws": uid(2, 1),               # Q1 and claim_next
        "transcript_ws": uid(2, 2),          # Q3 and the insert
        "transcript_c": conv_id(q + 1),      # resolved, long_messages messages
        "insert_c": conv_id(q + 2),          # claimed by the agent
        "claimed_ws": uid(2, 3),
        "claimed_c": conv_id(q + 3),         # claimed by the agent (idempotent claim)
    }


# ---------------------------------------------------------------------------
# The data (the same statements on both sides, run by the superuser).
UID_SQL = "(lpad(to_hex({k}), 8, '0') || '-0000-4000-8000-' || lpad(to_hex({n}), 12, '0'))::uuid"


def u(k, n):
    return UID_SQL.format(k=k, n=n)


def generator(p):
    q = p["queue_rows"]
    h = lambda salt, n="n": f"abs(hashtext('{salt}' || {n})::bigint)"  # noqa: E731
    return [
        "SET client_min_messages = warning",
        "SET max_parallel_workers_per_gather = 0",
        "SET synchronous_commit = off",
        # users: 1..W owners of workspace r, plus the agent
        f"""INSERT INTO support.users (id, kind, display_name, created_at)
            SELECT {u(1, 'n')}, 'human', 'user ' || n, timestamptz '2024-06-01 00:00:00+00' + n * interval '1 minute'
              FROM (SELECT generate_series(1, {p['workspaces']}) AS n UNION ALL SELECT {AGENT_N}) s""",
        f"""INSERT INTO support.workspaces (id, name, created_at)
            SELECT {u(2, 'r')}, 'workspace ' || r, timestamptz '2024-06-01 00:00:00+00' + r * interval '1 hour'
              FROM generate_series(1, {p['workspaces']}) r""",
        f"""INSERT INTO support.workspace_members (workspace_id, user_id, role, created_at)
            SELECT {u(2, 'r')}, {u(1, 'r')}, 'owner', timestamptz '2024-06-01 00:00:00+00'
              FROM generate_series(1, {p['workspaces']}) r""",
        f"""INSERT INTO support.workspace_members (workspace_id, user_id, role, created_at)
            SELECT {u(2, 'r')}, {u(1, AGENT_N)}, 'agent', timestamptz '2024-06-01 00:00:00+00'
              FROM unnest(ARRAY{AGENT_WORKSPACES}) r""",
        # The plan of every conversation. n <= queue_rows: the queue of workspace 1
        # (escalated, newest); then the transcript (resolved, long), the insert
        # target and the by-id target (both claimed by the agent); the rest spread
        # over all workspaces by hash: 7% escalated, 5% claimed, 15% active,
        # 73% resolved, arriving over 2025.
        f"""CREATE TEMP TABLE conv_plan AS
            SELECT g.n, g.ws, g.id, g.created_at, g.status, g.nmsg,
                   {u(1, 'CASE WHEN g.n IN (' + str(q + 2) + ', ' + str(q + 3) + ') THEN ' + str(AGENT_N) + ' ELSE g.ws END')} AS owner
              FROM (SELECT n,
                           CASE WHEN n <= {q} THEN 1 WHEN n IN ({q + 1}, {q + 2}) THEN 2 WHEN n = {q + 3} THEN 3
                                ELSE (1 + {h('w')} % {p['workspaces']})::int END AS ws,
                           md5('c' || n)::uuid AS id,
                           CASE WHEN n <= {q} THEN timestamptz '2025-12-30 00:00:00+00' + n * interval '1 second'
                                ELSE timestamptz '2025-01-01 00:00:00+00'
                                     + (n::float8 / {p['conversations']}) * interval '364 days' END AS created_at,
                           CASE WHEN n <= {q} THEN 'escalated'
                                WHEN n = {q + 1} THEN 'resolved'
                                WHEN n IN ({q + 2}, {q + 3}) THEN 'claimed'
                                WHEN {h('s')} % 100 < 7 THEN 'escalated'
                                WHEN {h('s')} % 100 < 12 THEN 'claimed'
                                WHEN {h('s')} % 100 < 27 THEN 'active'
                                ELSE 'resolved' END AS status,
                           CASE WHEN n = {q + 1} THEN {p['long_messages']}
                                ELSE (1 + {h('m')} % {MSG_SPREAD})::int END AS nmsg
                      FROM generate_series(1, {p['conversations']}) n) g""",
        f"""INSERT INTO support.conversations
                   (id, workspace_id, bot_user_id, channel, status, subject, claimed_by, claimed_at,
                    escalated_at, resolved_at, created_at, updated_at, first_agent_reply_at, reopen_count, number)
            SELECT c.id, {u(2, 'c.ws')}, NULL,
                   (ARRAY['web', 'web', 'web', 'email', 'email', 'sms', 'whatsapp', 'whatsapp', 'voice', 'api'])[1 + c.n % 10],
                   c.status,
                   'Conversation ' || c.n || ': ' || (ARRAY['where is my order', 'refund request', 'cannot log in',
                        'invoice copy', 'change of address', 'broken on arrival', 'subscription cancel',
                        'billing question'])[1 + c.n % 8],
                   CASE WHEN c.status = 'claimed' THEN c.owner END,
                   CASE WHEN c.status = 'claimed' THEN c.created_at + interval '20 minutes' END,
                   CASE WHEN c.status IN ('escalated', 'claimed') OR (c.status = 'resolved' AND c.n % 2 = 0)
                        THEN c.created_at + interval '10 minutes' END,
                   CASE WHEN c.status = 'resolved' THEN c.created_at + interval '2 hours' END,
                   c.created_at,
                   c.created_at + CASE WHEN c.status = 'resolved' THEN interval '2 hours' ELSE interval '20 minutes' END,
                   CASE WHEN c.status = 'claimed' OR (c.status = 'resolved' AND c.n % 2 = 0)
                        THEN c.created_at + interval '25 minutes' END,
                   0,
                   row_number() OVER (PARTITION BY c.ws ORDER BY c.created_at, c.n)
              FROM conv_plan c
             ORDER BY c.created_at, c.n""",
        # The numbers are given (restore mode): the counters follow them.
        """INSERT INTO support.conversation_counters (workspace_id, last_number)
            SELECT workspace_id, max(number) FROM support.conversations GROUP BY workspace_id""",
        # Messages in time order (a transcript is spread over the heap); agents
        # (the owner, or the agent in its own conversations) answer in claimed
        # and resolved conversations, bots in the others.
        f"""INSERT INTO support.conversation_messages
                   (id, workspace_id, conversation_id, role, author_id, content, created_at)
            SELECT md5('m' || c.n || '.' || k)::uuid, {u(2, 'c.ws')}, c.id,
                   CASE WHEN k % 2 = 1 THEN 'customer'
                        WHEN c.status IN ('claimed', 'resolved') AND k > 2 THEN 'agent' ELSE 'bot' END,
                   CASE WHEN k % 2 = 0 AND c.status IN ('claimed', 'resolved') AND k > 2 THEN c.owner END,
                   substr('Hello, I ordered a blender last week and it still has not arrived. Could you check the '
                          'tracking number for me? Thanks, and sorry for the trouble: it is a gift for my mother.',
                          1 + (k * 7) % 40, (60 + (c.n * 13 + k) % 100)::int),
                   c.created_at + k * interval '30 seconds'
              FROM conv_plan c, generate_series(1, c.nmsg) k
             ORDER BY c.created_at + k * interval '30 seconds', c.n, k""",
        "DROP TABLE conv_plan",
    ]


SUPPORT_TABLES = ["support.users", "support.workspaces", "support.workspace_members", "support.staff",
                  "support.staff_workspaces", "support.conversations", "support.conversation_messages",
                  "support.conversation_events", "support.member_events"]

FACTS_SQL = {
    "workspaces": "SELECT count(*) FROM support.workspaces",
    "users": "SELECT count(*) FROM support.users",
    "memberships": "SELECT count(*) FROM support.workspace_members",
    "conversations": "SELECT count(*) FROM support.conversations",
    "escalated": "SELECT count(*) FROM support.conversations WHERE status = 'escalated'",
    "claimed": "SELECT count(*) FROM support.conversations WHERE status = 'claimed'",
    "active": "SELECT count(*) FROM support.conversations WHERE status = 'active'",
    "resolved": "SELECT count(*) FROM support.conversations WHERE status = 'resolved'",
    "messages": "SELECT count(*) FROM support.conversation_messages",
    "conversation_events": "SELECT count(*) FROM support.conversation_events",
}


def facts(conn):
    cur = conn.cursor()
    out = {}
    for k, sql in FACTS_SQL.items():
        cur.execute(sql)
        out[k] = cur.fetchone()[0]
    return out


def conninfo(host, port, user="postgres"):
    return dict(host=host, port=port, dbname="postgres", user=user)


def cmd_load(a):
    p = SCALES[a.scale]
    t0 = time.monotonic()
    conn = psycopg.connect(**conninfo(a.host, a.port), autocommit=True)
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("CREATE EXTENSION conversations_ext")
    cur.execute("CREATE ROLE support_app LOGIN")
    cur.execute("SELECT support.grant_usage('support_app')")
    if a.side == "citus":
        cur.execute("SELECT relation::text, citus_table_type FROM support.distribute(%s)", [SHARDS])
        print(f"load[{a.side}]: distributed: {cur.fetchall()}", flush=True)
    else:
        # The single server has no Citus: distribute() refuses (0A000), as documented.
        try:
            cur.execute("SELECT * FROM support.distribute(%s)", [SHARDS])
            raise SystemExit("load[single]: support.distribute() did not refuse on a server without Citus")
        except psycopg.errors.FeatureNotSupported:
            pass
    for sql in generator(p):
        t = time.monotonic()
        cur.execute(sql)
        first = sql.strip().split("\n")[0][:70]
        print(f"load[{a.side}]: {time.monotonic() - t:6.1f} s  {cur.rowcount if cur.rowcount >= 0 else '':>7}  {first}",
              flush=True)
    t = time.monotonic()
    cur.execute("VACUUM (ANALYZE) " + ", ".join(SUPPORT_TABLES))
    cur.execute("CHECKPOINT")
    for w in (a.workers.split(",") if a.workers else []):
        with psycopg.connect(**conninfo(a.host, int(w)), autocommit=True) as wc:
            wc.execute("CHECKPOINT")
    print(f"load[{a.side}]: {time.monotonic() - t:6.1f} s  VACUUM (ANALYZE), CHECKPOINT", flush=True)
    f = facts(conn)
    print(f"load[{a.side}]: done in {time.monotonic() - t0:.1f} s: {json.dumps(f)}", flush=True)


# ---------------------------------------------------------------------------
# The measurement.
STATEMENTS = [
    {
        "name": "Q1",
        "title": "agent queue: escalated of one workspace, oldest first, LIMIT 50",
        "sql": "SELECT id, subject, channel, escalated_at FROM support.conversations"
               " WHERE workspace_id = %(ws)s AND status = 'escalated' ORDER BY escalated_at, id LIMIT 50",
        "params": lambda i: {"ws": i["queue_ws"]},
    },
    {
        "name": "Q3",
        "title": "transcript: last 100 messages of a 600-message conversation",
        "sql": "SELECT id, role, author_id, content, created_at FROM support.conversation_messages"
               " WHERE workspace_id = %(ws)s AND conversation_id = %(c)s ORDER BY created_at DESC LIMIT 100",
        "params": lambda i: {"ws": i["transcript_ws"], "c": i["transcript_c"]},
    },
    {
        "name": "claim_next",
        "title": "support.claim_next_conversation(workspace): takes the oldest waiting one",
        "sql": "SELECT support.claim_next_conversation(%(ws)s)",
        "params": lambda i: {"ws": i["queue_ws"]},
        # the returned row's claimed_at/updated_at are now(): compare its id only
        "key": lambda rows: [str(r[0]).strip("()").split(",")[0] for r in rows],
    },
    {
        "name": "insert",
        "title": "INSERT of an agent message (workspace_id given)",
        "sql": "INSERT INTO support.conversation_messages (workspace_id, conversation_id, role, content)"
               " VALUES (%(ws)s, %(c)s, 'agent', 'Thanks for waiting')",
        "params": lambda i: {"ws": i["transcript_ws"], "c": i["insert_c"]},
    },
    {
        "name": "claim_by_id",
        "title": "support.claim_conversation(id) on my own claimed conversation (idempotent; id only)",
        "sql": "SELECT status FROM support.claim_conversation(%(c)s)",
        "params": lambda i: {"c": i["claimed_c"]},
    },
]


class Side:
    def __init__(self, name, info, agent):
        self.name = name
        self.conn = psycopg.connect(**info, autocommit=True)
        self.cur = self.conn.cursor()
        self.cur.execute("SET ROLE support_app")
        self.agent = str(agent)

    def run(self, sql, params):
        """One transaction; returns (rows, statement ns, transaction ns)."""
        cur = self.cur
        r0 = time.perf_counter_ns()
        cur.execute("BEGIN")
        try:
            cur.execute("SELECT set_config('support.user_id', %s, true)", [self.agent], prepare=True)
            cur.execute("SELECT support.propagate_identity()", prepare=True)
            t0 = time.perf_counter_ns()
            cur.execute(sql, params, prepare=True)
            rows = cur.fetchall() if cur.description else []
            t1 = time.perf_counter_ns()
            cur.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return rows, t1 - t0, time.perf_counter_ns() - r0


def pct(xs, q):
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summary(ns):
    ms = [x / 1e6 for x in ns]
    return {"n": len(ms), "p50_ms": pct(ms, 0.5), "p95_ms": pct(ms, 0.95), "p99_ms": pct(ms, 0.99),
            "mean_ms": statistics.fmean(ms), "min_ms": min(ms), "max_ms": max(ms)}


def canon(rows):
    return [tuple(str(v) for v in r) for r in rows]


def remote_commands(info, agent, st, i):
    """One more transaction of the statement on the coordinator with
    citus.log_remote_commands: the commands Citus sends to the workers."""
    notices = []
    with psycopg.connect(**info, autocommit=True) as conn:
        conn.add_notice_handler(lambda d: notices.append((d.message_primary or "", d.message_detail or "")))
        conn.execute("SET citus.log_remote_commands = on")
        conn.execute("SET client_min_messages = log")
        conn.execute("SET ROLE support_app")
        conn.execute("BEGIN")
        conn.execute("SELECT set_config('support.user_id', %s, true)", [str(agent)])
        conn.execute("SELECT support.propagate_identity()")
        mark = len(notices)
        conn.execute(st["sql"], st["params"](i))
        in_statement = len([n for n, _ in notices[mark:] if n.startswith("issuing")])
        conn.execute("COMMIT")
    cmds = [n[len("issuing "):] for n, _ in notices if n.startswith("issuing")]
    return {
        "in_statement": in_statement,
        "in_transaction": len(cmds),
        "two_phase_commit": any(c.startswith("PREPARE TRANSACTION") for c in cmds),
        # each worker connection used in the transaction starts with a BEGIN
        "worker_connections": len([c for c in cmds if c.startswith("BEGIN")]),
        "shards_touched": len({m.group(0) for c in cmds for m in re.finditer(r"support\.\w+_\d{4,}", c)}),
        "workers": sorted({m.group(1) for n, d in notices if n.startswith("issuing")
                           for m in [re.search(r"(\d+\.\d+\.\d+\.\d+:\d+)", d)] if m}),
        "commands": [re.sub(r"\s+", " ", c)[:160] for c in cmds],
    }


def explain(info, agent, st, i):
    with psycopg.connect(**info, autocommit=True) as conn:
        conn.execute("SET ROLE support_app")
        conn.execute("BEGIN")
        conn.execute("SELECT set_config('support.user_id', %s, true)", [str(agent)])
        conn.execute("SELECT support.propagate_identity()")
        cur = psycopg.ClientCursor(conn)
        cur.execute("EXPLAIN (COSTS OFF) " + st["sql"], st["params"](i))
        plan = [r[0] for r in cur.fetchall()]
        conn.execute("ROLLBACK")
    return plan


def server_info(conn):
    cur = conn.cursor()
    cur.execute("SELECT current_setting('server_version'),"
                " (SELECT extversion FROM pg_extension WHERE extname = 'conversations_ext'),"
                " (SELECT extversion FROM pg_extension WHERE extname = 'citus')")
    pgv, ext, citus = cur.fetchone()
    out = {"server_version": pgv, "conversations_ext": ext, "citus": citus}
    if citus:
        cur.execute("SELECT citus_version()")
        out["citus_version"] = cur.fetchone()[0]
        cur.execute("SELECT nodename || ':' || nodeport || ' (group ' || groupid || ', ' || noderole || ')'"
                    " FROM pg_dist_node ORDER BY groupid")
        out["nodes"] = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'support.conversations'::regclass")
        out["shards_per_table"] = cur.fetchone()[0]
    for k in ("shared_buffers", "jit", "autovacuum", "max_parallel_workers_per_gather", "fsync",
              "plan_cache_mode"):
        cur.execute(f"SELECT current_setting('{k}')")
        out.setdefault("settings", {})[k] = cur.fetchone()[0]
    return out


def machine():
    """bench.py's machine facts, with psycopg's version, and the core count
    under the key this report has always had (`nproc`)."""
    info = bench.machine()
    info["nproc"] = info.pop("cpus")
    info["psycopg"] = psycopg.__version__
    return info


def fmt(x):
    return "—" if x is None else (f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}")


def pc(st, side):
    x = (st.get("plans") or {}).get(side)
    return "—" if not x else f"{x['generic']} generic / {x['custom']} custom"


def write_markdown(path, r):
    p = r["params"]
    d = r["data"]["single"]
    L = []
    L.append("# Single server vs a 3-node Citus cluster (one machine)\n")
    L.append(f"Generated by `bench/citus.sh` ({'`BENCH_CITUS_SCALE=small`' if r['scale'] == 'small' else 'default size'})"
             f" on {r['date']}. Commit measured: **{r['build']}**"
             + (f" (uncommitted changes to: {', '.join(r['dirty_files'])})" if r["dirty_files"] else "") + ".\n")
    m = r["machine"]
    s, c = r["servers"]["single"], r["servers"]["citus"]
    L.append(f"- Machine: {m['nproc']} cores (`nproc`), {m.get('cpu') or '?'}, "
             f"{round(m.get('memory_kb', 0) / 1048576)} GiB; load average at start "
             f"{', '.join(f'{x:.2f}' for x in m.get('loadavg_at_start', []))}, at the end "
             f"{', '.join(f'{x:.2f}' for x in r.get('loadavg_at_end', []))} (the machine is shared: other "
             "work running at the same time hits both sides alike, being interleaved, but not necessarily equally).")
    L.append(f"- **Everything runs on these {m['nproc']} cores**: the single server, the Citus coordinator and both "
             "workers (3 PostgreSQL servers), and the client. So this measures Citus's *overhead* "
             "(routing, an extra network hop over 127.0.0.1 TCP, worker connections, distributed commit), not "
             "a speed-up: a real cluster has a machine per node and a network round trip of its own.")
    L.append(f"- PostgreSQL {s['server_version']}, conversations_ext {s['conversations_ext']} (release build, "
             f"private copy of the installation); {c.get('citus_version', 'Citus ' + c['citus']).split(' on ')[0]}, "
             f"{c['shards_per_table']} shards per distributed table, nodes: {'; '.join(c['nodes'])}.")
    L.append(f"- Connections: the client reaches the single server and the Citus coordinator alike over a unix "
             f"socket; the coordinator reaches the workers over TCP 127.0.0.1. Settings on every server: "
             + ", ".join(f"{k}={v}" for k, v in s["settings"].items()) + ".")
    L.append(f"- Data (identical rows on both sides, checked): {d['workspaces']} workspaces, {d['users']} users, "
             f"{d['memberships']} memberships, {d['conversations']:,} conversations ({d['escalated']:,} escalated, "
             f"{d['claimed']:,} claimed, {d['active']:,} active, {d['resolved']:,} resolved; "
             f"{p['queue_rows']:,} of the escalated ones queue in the agent's queue workspace), "
             f"{d['messages']:,} messages (mean ~4 per conversation; one conversation of {p['long_messages']}), "
             f"{d['conversation_events']:,} conversation events. The agent (kind human, role agent) is a member "
             f"of {len(AGENT_WORKSPACES)} workspaces.")
    ph = r.get("phases", {})
    L.append(f"- Run time: {ph.get('total_s', '?')} s from the start of `bench/citus.sh` to this file "
             f"(build + install into the copy {ph.get('build_install_s', '?')} s; loading single "
             f"{r.get('load_seconds', {}).get('single', '?')} s and Citus {r.get('load_seconds', {}).get('citus', '?')} s, "
             f"in parallel, as the superuser, triggers on; measuring {r['measure_seconds']} s); stopping both "
             "clusters follows.")
    L.append(f"- Method: {r['rounds']} rounds after {r['warmup']} warm-up rounds; each round runs every statement "
             "once on each side, the side going first alternating per round. Each operation is its own "
             "transaction of `support_app` (session-level `SET ROLE support_app` once per connection): "
             "`BEGIN; SELECT set_config('support.user_id', <agent>, true); SELECT support.propagate_identity(); "
             "<statement>; COMMIT`. **Main table: the statement alone** (execute + fetch, client side, "
             "prepared); the second table times the whole transaction (5 round trips). Results are compared "
             f"between the sides every round: {r['mismatches']} mismatches."
             + (" Idle-class spinners kept the cores awake (as `make bench`)." if r.get("awake") else ""))
    L.append("")
    L.append("## The statement alone\n")
    L.append("| statement | single p50 ms | single p95 ms | Citus p50 ms | Citus p95 ms | **ratio p50** (Citus ÷ single) |")
    L.append("|---|---:|---:|---:|---:|---:|")
    for st in r["statements"]:
        a, b = st["single"]["statement"], st["citus"]["statement"]
        L.append(f"| {st['name']}: {st['title']} | {fmt(a['p50_ms'])} | {fmt(a['p95_ms'])} | {fmt(b['p50_ms'])} | "
                 f"{fmt(b['p95_ms'])} | **{st['ratio_p50']:.2f}×** |")
    L.append("")
    L.append("## The whole transaction (BEGIN … COMMIT)\n")
    L.append("| statement | single p50 ms | single p95 ms | Citus p50 ms | Citus p95 ms | ratio p50 |")
    L.append("|---|---:|---:|---:|---:|---:|")
    for st in r["statements"]:
        a, b = st["single"]["transaction"], st["citus"]["transaction"]
        L.append(f"| {st['name']} | {fmt(a['p50_ms'])} | {fmt(a['p95_ms'])} | {fmt(b['p50_ms'])} | "
                 f"{fmt(b['p95_ms'])} | {st['ratio_p50_transaction']:.2f}× |")
    L.append("")
    L.append("Plan cache of the measuring sessions (`pg_prepared_statements`: executions on a generic plan / "
             "re-planned with the values): "
             + "; ".join(f"{st['name']}: single {pc(st, 'single')}, Citus coordinator {pc(st, 'citus')}"
                         for st in r["statements"]) + ".\n")
    L.append("## What the coordinator sent to the workers (one transaction each, `citus.log_remote_commands`)\n")
    L.append("| statement | remote commands during the statement | in the whole transaction | shards named (reference tables' included) | worker connections used | workers | two-phase commit |")
    L.append("|---|---:|---:|---:|---:|---:|---|")
    for st in r["statements"]:
        rc = st.get("remote")
        if rc:
            L.append(f"| {st['name']} | {rc['in_statement']} | {rc['in_transaction']} | {rc['shards_touched']} | "
                     f"{rc['worker_connections']} | "
                     f"{len(rc['workers'])} | "
                     f"{'yes' if rc['two_phase_commit'] else 'no'} |")
    L.append("")
    L.append("Citus plans of the plain statements (`EXPLAIN (COSTS OFF)`, as the agent): "
             + "; ".join(f"{st['name']}: " + ", ".join(x.strip() for x in st["explain"] if "Task Count" in x
                                                      or "Custom Scan" in x)
                         for st in r["statements"] if st.get("explain")) + ".")
    L.append("")
    if r.get("notes"):
        L.append("## Notes\n")
        L.extend(f"- {n}" for n in r["notes"])
        L.append("")
    L.append(f"Raw numbers (every percentile, min/mean/max, the remote commands, the plans): "
             f"`{os.path.basename(path)[:-3]}.json`.")
    with open(path, "w") as f:
        f.write("\n".join(x for x in L if x is not None) + "\n")


def cmd_run(a):
    p = SCALES[a.scale]
    rounds = a.rounds or p["rounds"]
    warmup = p["warmup"]
    i = ids(a.scale)
    single_info = conninfo(a.single_host, a.single_port)
    citus_info = conninfo(a.citus_host, a.citus_port)
    started = time.monotonic()
    report = {
        "scale": a.scale, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "build": a.build, "dirty_files": [f for f in (a.dirty_files or "").split() if f],
        "machine": machine(), "params": p, "rounds": rounds, "warmup": warmup, "awake": a.awake,
        "ids": {k: str(v) for k, v in i.items()},
        "timing": "statement = execute + fetch of the statement inside its transaction; transaction = BEGIN .. COMMIT",
    }
    with psycopg.connect(**single_info, autocommit=True) as c1, psycopg.connect(**citus_info, autocommit=True) as c2:
        report["servers"] = {"single": server_info(c1), "citus": server_info(c2)}
        report["data"] = {"single": facts(c1), "citus": facts(c2)}
    if report["data"]["single"] != report["data"]["citus"]:
        raise SystemExit(f"the two sides hold different data: {report['data']}")
    if a.load_seconds:
        report["load_seconds"] = json.loads(a.load_seconds)
    need = rounds + warmup
    if report["data"]["single"]["escalated"] < need:
        raise SystemExit(f"not enough escalated conversations for {need} claims")

    sides = {"single": Side("single", single_info, AGENT), "citus": Side("citus", citus_info, AGENT)}
    samples = {st["name"]: {s: {"statement": [], "transaction": []} for s in sides} for st in STATEMENTS}
    mismatches = []
    print(f"run: {warmup} warm-up + {rounds} rounds of {len(STATEMENTS)} statements on both sides", flush=True)
    for rnd in range(warmup + rounds):
        order = ("single", "citus") if rnd % 2 == 0 else ("citus", "single")
        for st in STATEMENTS:
            params = st["params"](i)
            got = {}
            for s in order:
                rows, stmt_ns, tx_ns = sides[s].run(st["sql"], params)
                got[s] = st.get("key", canon)(rows)
                if rnd >= warmup:
                    samples[st["name"]][s]["statement"].append(stmt_ns)
                    samples[st["name"]][s]["transaction"].append(tx_ns)
            if got["single"] != got["citus"]:
                mismatches.append({"round": rnd, "statement": st["name"]})
            if rnd == 0 and not got["single"] and st["name"] not in ("insert",):
                raise SystemExit(f"{st['name']} returned nothing")
        if rnd in (warmup - 1, warmup + rounds // 2) or rnd == warmup + rounds - 1:
            print(f"run: round {rnd + 1} done ({time.monotonic() - started:.0f} s)", flush=True)
    if mismatches:
        print(f"run: {len(mismatches)} result mismatches, first {mismatches[:5]}", file=sys.stderr)

    plans = {s: plan_counts(side) for s, side in sides.items()}
    results = []
    for st in STATEMENTS:
        e = {"name": st["name"], "title": st["title"], "sql": st["sql"]}
        prefix = st["sql"].split("%(")[0]
        e["plans"] = {s: next(({"generic": g, "custom": c} for text, g, c in plans[s] if text.startswith(prefix)),
                              None) for s in sides}
        for s in sides:
            e[s] = {k: summary(v) for k, v in samples[st["name"]][s].items()}
        e["ratio_p50"] = e["citus"]["statement"]["p50_ms"] / e["single"]["statement"]["p50_ms"]
        e["ratio_p95"] = e["citus"]["statement"]["p95_ms"] / e["single"]["statement"]["p95_ms"]
        e["ratio_p50_transaction"] = e["citus"]["transaction"]["p50_ms"] / e["single"]["transaction"]["p50_ms"]
        # One more transaction on the coordinator, logging its remote commands;
        # the same transaction on the single server keeps the data identical.
        try:
            e["remote"] = remote_commands(citus_info, AGENT, st, i)
        except psycopg.Error as err:
            e["remote_error"] = str(err).splitlines()[0]
        sides["single"].run(st["sql"], st["params"](i))
        if not st["sql"].startswith("SELECT support.") and "FROM support.claim" not in st["sql"]:
            e["explain"] = explain(citus_info, AGENT, st, i)
        results.append(e)
        print(f"run: {st['name']:<12} single p50 {e['single']['statement']['p50_ms']:.3f} ms, "
              f"citus p50 {e['citus']['statement']['p50_ms']:.3f} ms, ratio {e['ratio_p50']:.2f}; "
              f"transaction ratio {e['ratio_p50_transaction']:.2f}", flush=True)
    report["statements"] = results
    report["supplementary"] = supplementary(single_info, citus_info, i, warmup, min(rounds, 300))
    report["mismatches"] = len(mismatches)
    report["mismatch_detail"] = mismatches[:50]
    report["measure_seconds"] = round(time.monotonic() - started, 1)
    with psycopg.connect(**single_info, autocommit=True) as c1, psycopg.connect(**citus_info, autocommit=True) as c2:
        report["data_after"] = {"single": facts(c1), "citus": facts(c2)}
    report["data_after_equal"] = report["data_after"]["single"] == report["data_after"]["citus"]
    report["notes"] = notes(report)
    report["loadavg_at_end"] = os.getloadavg()
    report["phases"] = json.loads(a.phases)
    if "started_epoch" in report["phases"]:
        report["phases"]["total_s"] = round(time.time() - report["phases"]["started_epoch"])

    os.makedirs(a.out, exist_ok=True)
    stem = "citus" if a.scale == "full" else "citus-small"
    with open(os.path.join(a.out, stem + ".json"), "w") as f:
        json.dump(report, f, indent=1, default=str)
    write_markdown(os.path.join(a.out, stem + ".md"), report)
    print(f"run: wrote {a.out}/{stem}.md and .json ({report['measure_seconds']} s measuring)", flush=True)
    if mismatches:
        raise SystemExit(1)


def plan_counts(side):
    """The session's prepared statements: how often each ran a generic plan
    and how often it was re-planned (custom)."""
    cur = side.conn.cursor()
    cur.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
    return cur.fetchall()


def supplementary(single_info, citus_info, i, warmup, n):
    """Two read-only extras (the data stay the same on both sides):
    - Q1 with plan_cache_mode = force_custom_plan on both sides, interleaved:
      the single server's prepared Q1 may settle on a generic plan, while Citus
      sends the worker the query with the values in it, planned afresh each
      time; re-planning on both sides compares the same plan.
    - claim_by_id on Citus in a session that keeps up to 16 worker connections
      cached between transactions (citus.max_cached_conns_per_worker, default
      1): how much of its cost is opening connections."""
    out = {}
    q1 = next(s for s in STATEMENTS if s["name"] == "Q1")
    sides = {"single": Side("single-custom", single_info, AGENT), "citus": Side("citus-custom", citus_info, AGENT)}
    samples = {s: [] for s in sides}
    for side in sides.values():
        side.cur.execute("SET plan_cache_mode = force_custom_plan")
    for k in range(warmup + n):
        for s in (("single", "citus") if k % 2 == 0 else ("citus", "single")):
            _, a, _ = sides[s].run(q1["sql"], q1["params"](i))
            if k >= warmup:
                samples[s].append(a)
    e = {s: {"statement": summary(v)} for s, v in samples.items()}
    e["ratio_p50"] = e["citus"]["statement"]["p50_ms"] / e["single"]["statement"]["p50_ms"]
    e["plans"] = {s: plan_counts(side) for s, side in sides.items()}
    out["Q1, plan_cache_mode = force_custom_plan on both sides"] = e
    for side in sides.values():
        side.conn.close()

    st = next(s for s in STATEMENTS if s["name"] == "claim_by_id")
    side = Side("citus-cached", citus_info, AGENT)
    side.cur.execute("SET citus.max_cached_conns_per_worker = 16")
    stmt, tx = [], []
    for k in range(warmup + n):
        rows, a, b = side.run(st["sql"], st["params"](i))
        if k >= warmup:
            stmt.append(a)
            tx.append(b)
    side.conn.close()
    out["claim_by_id, citus.max_cached_conns_per_worker = 16"] = {
        "citus": {"statement": summary(stmt), "transaction": summary(tx)}}
    return out


def notes(r):
    out = []
    by = {s["name"]: s for s in r["statements"]}
    if "claim_by_id" in by and by["claim_by_id"].get("remote"):
        rc = by["claim_by_id"]["remote"]
        out.append(f"claim_by_id names a conversation by its id alone, so on Citus the lifecycle function's lookup "
                   f"cannot be routed to one shard: {rc['in_statement']} remote commands to "
                   f"{len(rc['workers'])} workers during the statement, {rc['shards_touched']} shards, "
                   f"{rc['worker_connections']} worker connections in the transaction"
                   + (", and the commit is two-phase" if rc["two_phase_commit"] else "")
                   + " (the commands are in the JSON). The statements that carry workspace_id go to one shard.")
        for k, v in r.get("supplementary", {}).items():
            if not k.startswith("claim_by_id"):
                continue
            base = by["claim_by_id"]["citus"]["statement"]["p50_ms"]
            cached = v["citus"]["statement"]["p50_ms"]
            verdict = ("so opening connections is a large part of its cost" if cached < 0.8 * base else
                       "so opening connections is not what makes it slow: the per-shard round trips are")
            out.append(f"Supplementary: {k} (the default, 1, closes every connection beyond one per worker at the "
                       f"end of each transaction): statement p50 {fmt(cached)} ms, p95 "
                       f"{fmt(v['citus']['statement']['p95_ms'])} ms, {v['citus']['statement']['n']} runs, vs p50 {fmt(base)} ms "
                       f"with the default; {verdict}.")
    for k, v in r.get("supplementary", {}).items():
        if not k.startswith("Q1") or "Q1" not in by:
            continue
        q = by["Q1"]
        pl = q.get("plans", {}).get("single") or {}
        d = r["data"]["single"]
        avg = (d["escalated"] - r["params"]["queue_rows"]) / d["workspaces"]
        text = (f"Q1's plan: the single server's prepared Q1 ran a generic plan {pl.get('generic', '?')} times "
                f"and a re-planned (custom) one {pl.get('custom', '?')} times; Citus sends the worker the query "
                "with the workspace id written into it, planned afresh each time. ")
        if pl.get("generic"):
            text += (f"The queue workspace holds {r['params']['queue_rows']:,}+ escalated conversations where an "
                     f"average workspace has ~{avg:.0f}: a generic plan, made for the average, may read all of "
                     "them and sort (bitmap scan + top-N sort) where the re-planned one reads 50 entries of the "
                     "queue index in order (seen with `EXPLAIN EXECUTE` on the default-size data). ")
        text += (f"Supplementary, {k} ({v['single']['statement']['n']} interleaved rounds): single p50 "
                 f"{fmt(v['single']['statement']['p50_ms'])} ms (p95 {fmt(v['single']['statement']['p95_ms'])}), "
                 f"Citus p50 {fmt(v['citus']['statement']['p50_ms'])} ms (p95 "
                 f"{fmt(v['citus']['statement']['p95_ms'])}): **ratio {v['ratio_p50']:.2f}×** with both sides "
                 f"re-planned (vs {q['ratio_p50']:.2f}× in the main table).")
        out.append(text)
    out.append("Seen while preparing this benchmark (not measured): in ONE transaction, a write by the application "
               "role (e.g. the INSERT of a message) followed by a lifecycle function whose by-id lookup reaches the "
               "same shard placement (claim_conversation(id)) fails on Citus with `cannot perform query on "
               "placements that were modified in this transaction by a different user` (the function is SECURITY "
               "DEFINER, so it runs as the extension's owner). Each operation here is its own transaction.")
    out.append("The ratios include what a real deployment also pays (the coordinator's routing, a TCP hop to a "
               "worker, the identity sent to the worker in each transaction), but on one machine the three "
               "servers and the client share 2 cores: a hop costs a context switch instead of a network round "
               "trip, and the nodes compete for the cores.")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    ld = sub.add_parser("load")
    ld.add_argument("--side", choices=["single", "citus"], required=True)
    ld.add_argument("--host", required=True)
    ld.add_argument("--port", type=int, required=True)
    ld.add_argument("--workers", default="")
    ld.add_argument("--scale", choices=list(SCALES), default="full")
    rn = sub.add_parser("run")
    rn.add_argument("--single-host", required=True)
    rn.add_argument("--single-port", type=int, required=True)
    rn.add_argument("--citus-host", default="127.0.0.1")
    rn.add_argument("--citus-port", type=int, required=True)
    rn.add_argument("--scale", choices=list(SCALES), default="full")
    rn.add_argument("--rounds", type=int, default=0, help="override the scale's round count")
    rn.add_argument("--out", default="bench/results")
    rn.add_argument("--build", default="unknown")
    rn.add_argument("--dirty-files", default="")
    rn.add_argument("--load-seconds", default="")
    rn.add_argument("--awake", action="store_true")
    rn.add_argument("--phases", default="{}")
    a = ap.parse_args()
    {"load": cmd_load, "run": cmd_run}[a.cmd](a)


if __name__ == "__main__":
    main()
