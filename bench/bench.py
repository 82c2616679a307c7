#!/usr/bin/env python3
"""Measures the RLS path against the hand-filtered baseline and the naive policy.

Run by bench/run.sh once the databases are generated (see bench/README.md):
  bench      full scale (or the small scale), with the naive copy in bench_naive
  bench_growth  the same workspaces and users, 1/100 of the conversations

Every timed statement runs in its own transaction, as a PostgREST request
does: BEGIN; set_config('role'), set_config('request.jwt.claims') (one prepared
statement, not timed); the query, prepared, default plan cache (timed: execute
+ fetch); COMMIT. Parallel query is off. Variants are interleaved in a seeded
random order inside each round, so machine noise hits all of them alike; ratios
are p50 / p50 of the same run, both sides in the same plan-cache mode (see
bench/README.md, "Why two harnesses disagreed").
"""
import argparse
import datetime
import json
import os
import platform
import random
import re
import statistics
import subprocess
import time

import psycopg
from psycopg import ClientCursor

SEED = 42
# What PostgREST runs at the start of each request's transaction: the role and
# the claims, transaction-local. Every variant runs it (the baseline with its
# own role), so all sides take the same client and server steps on the same
# connection; only the timed statement differs.
IDENTITY_SQL = "SELECT set_config('role', %s, true), set_config('request.jwt.claims', %s, true)"
CLAIMS_SQL = "SELECT set_config('request.jwt.claims', %s, true)"

# The queries. `rls` is what the application sends (PostgREST style: no tenant
# filter unless the query is about one workspace); `baseline` is the same result
# computed by the table owner with the hand-written filter; `naive` is the
# application query against the copy with the per-row EXISTS policy.
QUERIES = {
    "Q1": {
        "title": "agent queue: escalated conversations of one workspace, oldest first, LIMIT 50",
        "rls": "SELECT id, subject, channel, escalated_at FROM {s}.conversations"
               " WHERE workspace_id = %(ws)s AND status = 'escalated'"
               " ORDER BY escalated_at, id LIMIT 50",
        "baseline": "SELECT id, subject, channel, escalated_at FROM support.conversations"
                    " WHERE workspace_id = %(ws)s AND status = 'escalated'"
                    " ORDER BY escalated_at, id LIMIT 50",
        "params": lambda p: {"ws": p["queue_ws"]},
        "target": ("ratio_max", 1.10),
        "growth": True,
    },
    "Q2": {
        "title": "inbox: newest 50 conversations across all my workspaces",
        "rls": "SELECT id, workspace_id, subject, status, created_at FROM {s}.conversations"
               " ORDER BY created_at DESC, id LIMIT 50",
        "baseline": "SELECT id, workspace_id, subject, status, created_at FROM support.conversations"
                    " WHERE workspace_id = ANY(%(wss)s) ORDER BY created_at DESC, id LIMIT 50",
        "params": lambda p: {"wss": p["workspaces"]},
        "target": ("ratio_max", 1.25),
        "growth": True,
    },
    # Q2 written per workspace (newest 50 of each, then the newest 50 of those):
    # with an index on (workspace_id, created_at) its cost no longer grows with
    # the size of the workspaces (bench/README.md, "Getting there").
    "Q2L": {
        "title": "inbox, per-workspace LATERAL shape: newest 50 across my workspaces",
        "rls": "SELECT c.id, c.workspace_id, c.subject, c.status, c.created_at"
               " FROM unnest((SELECT support.member_workspaces())) AS w(id)"
               " CROSS JOIN LATERAL (SELECT x.id, x.workspace_id, x.subject, x.status, x.created_at"
               " FROM {s}.conversations AS x WHERE x.workspace_id = w.id"
               " ORDER BY x.created_at DESC, x.id LIMIT 50) AS c ORDER BY c.created_at DESC, c.id LIMIT 50",
        "baseline": "SELECT c.id, c.workspace_id, c.subject, c.status, c.created_at"
                    " FROM unnest(%(wss)s::uuid[]) AS w(id)"
                    " CROSS JOIN LATERAL (SELECT x.id, x.workspace_id, x.subject, x.status, x.created_at"
                    " FROM support.conversations AS x WHERE x.workspace_id = w.id"
                    " ORDER BY x.created_at DESC, x.id LIMIT 50) AS c ORDER BY c.created_at DESC, c.id LIMIT 50",
        "params": lambda p: {"wss": p["workspaces"]},
        "target": ("ratio_max", 1.25),
        "growth": True,
    },
    "Q3": {
        "title": "transcript: last 100 messages of a 600-message conversation",
        "rls": "SELECT id, role, author_id, content, created_at FROM {s}.conversation_messages"
               " WHERE conversation_id = %(c)s ORDER BY created_at DESC LIMIT 100",
        "baseline": "SELECT id, role, author_id, content, created_at FROM support.conversation_messages"
                    " WHERE conversation_id = %(c)s AND workspace_id = %(ws)s ORDER BY created_at DESC LIMIT 100",
        "params": lambda p: {"c": p["transcript_c"], "ws": p["transcript_ws"]},
        "target": ("ratio_max", 1.10),
        "growth": True,
    },
    "Q4": {
        "title": "open conversations per status across all my workspaces",
        "rls": "SELECT status, count(*) FROM {s}.conversations"
               " WHERE status IN ('active', 'escalated', 'claimed') GROUP BY status ORDER BY status",
        "baseline": "SELECT status, count(*) FROM support.conversations"
                    " WHERE workspace_id = ANY(%(wss)s) AND status IN ('active', 'escalated', 'claimed')"
                    " GROUP BY status ORDER BY status",
        "params": lambda p: {"wss": p["workspaces"]},
        "target": ("ratio_max", 1.25),
        "growth": False,
    },
}
# Q5/Q6 target (issue 10): RLS throughput at least 0.90 of the baseline's.
WRITE_TARGET = 0.90
Q5_SQL = ("INSERT INTO {s}.conversation_messages (workspace_id, conversation_id, role, author_id, content)"
          " VALUES (%(ws)s, %(c)s, 'agent', %(me)s, 'Thanks for waiting, I am looking into it now.')")
# Q6: the statement claim_next_conversation runs, run directly by the table
# owner (baseline), against the function called by an agent (RLS path).
Q6_BASELINE = """\\set agent {agent_base} + :client_id
UPDATE support.conversations AS c SET status = 'claimed', claimed_by = ('00000001-0000-4000-8000-' || lpad(to_hex(:agent::int), 12, '0'))::uuid, claimed_at = now() WHERE (c.workspace_id, c.id) = (SELECT q.workspace_id, q.id FROM support.conversations AS q WHERE q.workspace_id = :ws AND q.status = 'escalated' ORDER BY q.escalated_at, q.id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING c.id;
"""
# The baseline in the RLS path's shape: same pipelined transaction and identity
# statement, then the plain UPDATE (splits protocol/identity cost from the rest).
Q6_BASELINE_TX = """\\set agent {agent_base} + :client_id
\\startpipeline
BEGIN;
SELECT set_config('role', 'postgres', true), set_config('request.jwt.claims', '{{"sub":"00000001-0000-4000-8000-' || lpad(to_hex(:agent::int), 12, '0') || '"}}', true);
UPDATE support.conversations AS c SET status = 'claimed', claimed_by = ('00000001-0000-4000-8000-' || lpad(to_hex(:agent::int), 12, '0'))::uuid, claimed_at = now() WHERE (c.workspace_id, c.id) = (SELECT q.workspace_id, q.id FROM support.conversations AS q WHERE q.workspace_id = :ws AND q.status = 'escalated' ORDER BY q.escalated_at, q.id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING c.id;
END;
\\endpipeline
"""
Q6_RLS = """\\set agent {agent_base} + :client_id
\\startpipeline
BEGIN;
SELECT set_config('role', 'bench_app', true), set_config('request.jwt.claims', '{{"sub":"00000001-0000-4000-8000-' || lpad(to_hex(:agent::int), 12, '0') || '"}}', true);
SELECT id FROM support.claim_next_conversation(:ws);
END;
\\endpipeline
"""


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return None
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summary_ms(ns):
    ms = [x / 1e6 for x in ns]
    return {"n": len(ms), "p50_ms": pct(ms, 0.5), "p95_ms": pct(ms, 0.95),
            "mean_ms": statistics.fmean(ms), "min_ms": min(ms)}


class Variant:
    """One way of running a query: a connection, its SQL, its role and identity."""

    def __init__(self, name, conn, sql, params, claims, role):
        self.name, self.conn, self.sql, self.params, self.claims, self.role = name, conn, sql, params, claims, role
        self.cur = conn.cursor()
        self.samples = []
        self.requests = []  # the whole transaction: BEGIN .. COMMIT (JSON only)

    def run(self, timed=True):
        r0 = time.perf_counter_ns()
        with self.conn.transaction():
            self.cur.execute(IDENTITY_SQL, [self.role, self.claims], prepare=True)
            t0 = time.perf_counter_ns()
            self.cur.execute(self.sql, self.params, prepare=True)
            rows = self.cur.fetchall()
            t1 = time.perf_counter_ns()
        if timed:
            self.samples.append(t1 - t0)
            self.requests.append(time.perf_counter_ns() - r0)
        return rows, t1 - t0


# Parallel query off in every measuring session (run.sh also sets it for the
# cluster): none of the measured plans uses workers, and on a 2-core machine a
# worker would only add noise. The independent PostgREST-style harness of issue
# 10 runs with it off too.
SESSION_OPTIONS = "-c max_parallel_workers_per_gather=0"


def connect(args, db, user):
    """Statements are prepared, as PostgREST prepares them. The roles *_replan
    carry plan_cache_mode = force_custom_plan (re-planned with the actual
    parameters every time); the others keep the default (auto: a generic plan
    after 5 executions when it is not estimated worse), as PostgREST's
    connections do. The headline ratio compares the two sides in auto mode."""
    return psycopg.connect(host=args.host, port=args.port, dbname=db, user=user, autocommit=True,
                           options=SESSION_OPTIONS)


def load_probes(conn):
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    cur.execute("SELECT n, user_id, workspaces, queue_ws, transcript_c, transcript_ws, insert_c, insert_ws"
                " FROM bench.probe ORDER BY n")
    probes = cur.fetchall()
    for p in probes:
        p["claims"] = json.dumps({"sub": str(p["user_id"]), "role": "authenticated"})
    return probes


def db_facts(conn):
    cur = conn.cursor()
    facts = {}
    for t in ["users", "workspaces", "workspace_members", "conversations", "conversation_messages"]:
        cur.execute(f"SELECT count(*) FROM support.{t}")
        facts[t] = cur.fetchone()[0]
    cur.execute("SELECT status, count(*) FROM support.conversations GROUP BY 1 ORDER BY 1")
    facts["status_mix"] = dict(cur.fetchall())
    cur.execute("SELECT max(n), percentile_cont(0.5) WITHIN GROUP (ORDER BY n), count(*) FILTER (WHERE n >= 500)"
                " FROM (SELECT count(*) n FROM support.conversation_messages GROUP BY conversation_id) s")
    mx, med, long500 = cur.fetchone()
    facts["messages_per_conversation"] = {"max": mx, "median": med, "conversations_with_500_plus": long500}
    cur.execute("SELECT pg_database_size(current_database())")
    facts["database_bytes"] = cur.fetchone()[0]
    return facts


KINDS = ("baseline", "rls", "naive", "baseline_replan", "rls_replan")


def make_variants(qname, q, dbs, probe_i, kinds=KINDS):
    """Variants of query qname for probe probe_i: {(db_label, kind): Variant}."""
    out = {}
    for label, d in dbs.items():
        if label == "growth" and not q["growth"]:
            continue
        p = d["probes"][probe_i]
        params = q["params"](p)
        # One connection per plan-cache mode; each transaction sets its role
        # (the member role for RLS and naive, the owner for the baseline) and
        # the claims, as PostgREST does, then runs the timed statement.
        mk = lambda kind, conn, role, sql: Variant(f"{qname}/{label}/{kind}", conn,  # noqa: E731
                                                   tagged(f"{qname} {label} {kind}", sql), params, p["claims"], role)
        out[(label, "baseline")] = mk("baseline", d["conn"], "postgres", q["baseline"])
        out[(label, "rls")] = mk("rls", d["conn"], "bench_app", q["rls"].format(s="support"))
        out[(label, "naive")] = mk("naive", d["conn"], "bench_app_naive", q["rls"].format(s="bench_naive"))
        # The same two, re-planned at every execution (a session of a role with
        # plan_cache_mode = force_custom_plan).
        out[(label, "baseline_replan")] = mk("baseline_replan", d["conn_replan"], "bench_owner_replan", q["baseline"])
        out[(label, "rls_replan")] = mk("rls_replan", d["conn_replan"], "bench_app_replan", q["rls"].format(s="support"))
    return {k: v for k, v in out.items() if k[1] in kinds}


def canon(rows):
    return sorted(tuple(str(x) for x in r) for r in rows)


def measure_reads(args, dbs, rng, log, kinds=KINDS, budget=None, tag=""):
    """Q1-Q4: p50/p95 latency of each variant, interleaved."""
    results = {}
    budget = budget or args.budget
    for qname, q in QUERIES.items():
        nprobes = len(dbs["main"]["probes"])
        per_probe = [make_variants(qname, q, dbs, i, kinds) for i in range(nprobes)]
        keys = list(per_probe[0].keys())
        # Same answer from every path (per probe, per database).
        for vs in per_probe:
            for label in {k[0] for k in keys}:
                ref = canon(vs[(label, "baseline")].run(timed=False)[0])
                for kind in [k for k in kinds if k != "baseline"]:
                    got = canon(vs[(label, kind)].run(timed=False)[0])
                    if got != ref:
                        raise SystemExit(f"{qname} {label}: {kind} returns {len(got)} rows != baseline {len(ref)}")
                if not ref and label == "main":
                    raise SystemExit(f"{qname} {label}: empty result, the probe is wrong")
        # Warm up (fills the caches, lets the plan cache settle) and estimate cost.
        est = {}
        for k in keys:
            times = []
            for vs in per_probe:
                for _ in range(1 if k[1] == "naive" else 6):
                    times.append(vs[k].run(timed=False)[1])
                times = times[len(times) // 2:]  # after the plan cache settled
            est[k] = statistics.median(times) / 1e9
        # Repetitions: up to args.reps per variant within the time budget; the
        # naive variants run in every `every`-th round only when slow.
        fast = max(est[k] for k in keys if k[1] != "naive")
        rounds = max(30, min(args.reps, int(budget / max(fast * 2, 1e-6))))
        every = {k: 1 for k in keys}
        for k in keys:
            if k[1] == "naive":
                every[k] = max(1, int(est[k] * rounds / (budget * 0.5)) + 1) if est[k] > fast * 3 else 1
        log(f"{qname}{tag}: {rounds} rounds; estimates " +
            ", ".join(f"{k[0]}/{k[1]}={est[k] * 1e3:.3f}ms" for k in keys))
        reset_statements(dbs)
        for r in range(rounds):
            vs = per_probe[r % nprobes]
            order = [k for k in keys if r % every[k] == 0]
            rng.shuffle(order)
            for k in order:
                vs[k].run()
        server = server_times(dbs, qname)
        plans = plan_counts(dbs, qname)
        res = {"title": q["title"], "variants": {}}
        for k in keys:
            samples = [s for vs in per_probe for s in vs[k].samples]
            requests = [s for vs in per_probe for s in vs[k].requests]
            sv = server.get(k, {})
            g, c = plans.get(k, (0, 0))
            res["variants"][f"{k[0]}/{k[1]}"] = {
                **summary_ms(samples), "request_p50_ms": pct(requests, 0.5) / 1e6,
                "server_mean_ms": sv.get("total"), "server_exec_mean_ms": sv.get("exec"),
                "server_plan_mean_ms": sv.get("plan"),
                "generic_plans": g, "custom_plans": c, "plan": "generic" if g > c else "custom"}
        results[qname] = res
    return results


def plan_counts(dbs, qname):
    """Generic and custom plans of each variant's prepared statement(s), from
    pg_prepared_statements of the connections that ran them: {(db, kind): (g, c)}.
    A statement on custom plans is re-planned at every execution, which its
    client-side time includes and pg_stat_statements' execution time does not."""
    out = {}
    for label, d in dbs.items():
        for conn in {id(c): c for c in (d["conn"], d["conn_replan"])}.values():
            for stmt, g, c in conn.execute(
                    "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements").fetchall():
                m = re.search(r"/\* (\S+) (\S+) (\S+) \*/", stmt)
                if m and m.group(1) == qname and m.group(2) == label:
                    k = (label, m.group(3))
                    og, oc = out.get(k, (0, 0))
                    out[k] = (og + g, oc + c)
    return out


def tagged(tag, sql):
    """`sql` with the comment /* tag */ after its first word, where
    pg_stat_statements keeps it (PostgreSQL 18 drops a leading comment from
    the text it stores) and pg_prepared_statements shows it."""
    verb, rest = sql.lstrip().split(None, 1)
    return f"{verb} /* {tag} */ {rest}"


def reset_statements(dbs):
    for d in dbs.values():
        d["owner"].execute("SELECT pg_stat_statements_reset()")


def server_times(dbs, qname):
    """Mean server time per call of each variant from pg_stat_statements:
    {(db, kind): {"exec", "plan", "total"}} in ms. Planning time is recorded
    when run.sh's cluster sets pg_stat_statements.track_planning (else 0):
    a statement re-planned at every call pays it, a generic plan does not."""
    out = {}
    for label, d in dbs.items():
        cur = d["owner"].execute(
            "SELECT query, sum(total_exec_time) / sum(calls), sum(total_plan_time) / sum(calls) FROM pg_stat_statements"
            " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND query LIKE %s GROUP BY query", [f"%/* {qname} {label} %"])
        for query, ex, pl in cur.fetchall():
            m = re.search(r"/\* \S+ (\S+) (\S+) \*/", query)
            if m:
                out[(m.group(1), m.group(2))] = {"exec": ex, "plan": pl, "total": ex + pl}
    return out


def measure_insert(args, dbs, rng, log):
    """Q5: single-client insert throughput, each insert its own transaction
    (one round trip: BEGIN, [identity], INSERT, COMMIT pipelined)."""
    d = dbs["main"]
    p = d["probes"][0]
    params = {"ws": p["insert_ws"], "c": p["insert_c"], "me": p["user_id"]}
    # (connection, SQL, role and claims or None for no identity statement)
    variants = {
        "baseline": (d["conn"], tagged("Q5 main baseline", Q5_SQL.format(s="support")), None),
        # the owner, no RLS, but the same identity statement as the RLS path
        "baseline_identity": (d["conn"], tagged("Q5 main baseline_identity", Q5_SQL.format(s="support")),
                              ("postgres", p["claims"])),
        "rls": (d["conn"], tagged("Q5 main rls", Q5_SQL.format(s="support")), ("bench_app", p["claims"])),
        "naive": (d["conn"], tagged("Q5 main naive", Q5_SQL.format(s="bench_naive")), ("bench_app_naive", p["claims"])),
    }
    curs = {k: v[0].cursor() for k, v in variants.items()}

    def one(kind):
        conn, sql, identity = variants[kind]
        cur = curs[kind]
        t0 = time.perf_counter_ns()
        with conn.pipeline():
            cur.execute("BEGIN")
            if identity:
                cur.execute(IDENTITY_SQL, list(identity), prepare=True)
            cur.execute(sql, params, prepare=True)
            cur.execute("COMMIT")
        return time.perf_counter_ns() - t0

    for kind in variants:  # warm up
        for _ in range(50):
            one(kind)
    batch, rounds = args.q5_batch, args.q5_rounds
    reset_statements({"main": d})
    lat = {k: [] for k in variants}
    tput = {k: [] for k in variants}
    for _ in range(rounds):
        order = list(variants)
        rng.shuffle(order)
        for kind in order:
            t0 = time.perf_counter_ns()
            for _ in range(batch):
                lat[kind].append(one(kind))
            tput[kind].append(batch / ((time.perf_counter_ns() - t0) / 1e9))
    server = {k: v["total"] for k, v in server_times({"main": d}, "Q5").items()}
    # baseline and baseline_identity are one statement of one role: one pg_stat_statements entry
    for a, b in (("baseline", "baseline_identity"), ("baseline_identity", "baseline")):
        if ("main", a) not in server and ("main", b) in server:
            server[("main", a)] = server[("main", b)]
    res = {"title": "insert a message (WITH CHECK path), one client, one transaction per insert",
           "batch": batch, "rounds": rounds, "variants": {}}
    for kind in variants:
        res["variants"][f"main/{kind}"] = {**summary_ms(lat[kind]), "throughput_per_s": statistics.median(tput[kind]),
                                           "throughput_rounds": tput[kind], "server_mean_ms": server.get(("main", kind))}
    log("Q5: " + ", ".join(f"{k}={statistics.median(tput[k]):.0f}/s" for k in variants))
    return res


def measure_claims(args, dbs, log):
    """Q6: claim_next_conversation throughput, 8 clients (pgbench), rounds in
    ABBA order, each round on its own queue workspace."""
    d = dbs["main"]
    cur = d["owner"].execute("SELECT users, workspaces FROM bench.params")
    users, workspaces = cur.fetchone()
    agent_base = users - 11  # users U-11 .. U-4 (generate.sql)
    queues = [f"00000002-0000-4000-8000-{w:012x}" for w in range(workspaces - args.q6_queues + 1, workspaces + 1)]
    clients, per_client = 8, args.q6_tx
    order = ["baseline", "rls", "baseline_identity", "baseline_identity", "rls", "baseline"][: len(queues)]
    os.makedirs(args.tmp, exist_ok=True)
    scripts = {}
    for kind, text in (("baseline", Q6_BASELINE), ("baseline_identity", Q6_BASELINE_TX), ("rls", Q6_RLS)):
        path = os.path.join(args.tmp, f"q6_{kind}.sql")
        with open(path, "w") as f:
            f.write(text.format(agent_base=agent_base))
        scripts[kind] = path
    tps = {k: [] for k in scripts}
    lat = {k: [] for k in scripts}
    d["owner"].execute("CHECKPOINT")
    for kind, ws in zip(order, queues):
        user = "postgres"  # the RLS script switches to bench_app itself, as PostgREST does
        cmd = [args.pgbench, "-h", args.host, "-p", str(args.port), "-U", user, "-n", "-M", "prepared",
               "-c", str(clients), "-j", str(clients), "-t", str(per_client), "-D", f"ws={ws}",
               "-f", scripts[kind], "bench"]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"pgbench failed: {out.stdout}\n{out.stderr}")
        m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout)
        m2 = re.search(r"latency average = ([\d.]+) ms", out.stdout)
        tps[kind].append(float(m.group(1)))
        lat[kind].append(float(m2.group(1)))
        c = d["owner"].execute("SELECT count(*) FILTER (WHERE status = 'claimed'), count(*) FILTER (WHERE status = 'escalated')"
                               " FROM support.conversations WHERE workspace_id = %s", [ws]).fetchone()
        if c[0] != clients * per_client or c[1] == 0:
            raise SystemExit(f"Q6 {kind} on {ws}: {c[0]} claimed, {c[1]} left; expected {clients * per_client} and > 0")
        log(f"Q6 {kind}: {float(m.group(1)):.0f} claims/s ({c[0]} claimed, {c[1]} still waiting)")
    res = {"title": "claim_next_conversation, 8 concurrent clients (pgbench -M prepared)",
           "clients": clients, "claims_per_round": clients * per_client, "order": order, "variants": {}}
    for kind in tps:
        res["variants"][f"main/{kind}"] = {"throughput_per_s": statistics.median(tps[kind]), "throughput_rounds": tps[kind],
                                           "latency_avg_ms_rounds": lat[kind]}
    return res


def explain(args, dbs, path, log):
    """EXPLAIN (ANALYZE, BUFFERS) of every variant, as the plan cache runs it
    (a prepared statement after 6 executions)."""
    lines = []
    for qname, q in QUERIES.items():
        for label, d in dbs.items():
            if label == "growth" and not q["growth"]:
                continue
            p = d["probes"][0]
            params = q["params"](p)
            for kind in ("baseline", "rls", "naive"):
                sql = q["baseline"] if kind == "baseline" else q["rls"].format(s="bench_naive" if kind == "naive" else "support")
                conn = d["conn"]
                names = [n for n in params if f"%({n})s" in sql]
                psql = sql
                for i, n in enumerate(names, 1):
                    psql = psql.replace(f"%({n})s", f"${i}")
                with conn.transaction():
                    cur = ClientCursor(conn)
                    cur.execute(IDENTITY_SQL, ["postgres" if kind == "baseline" else "bench_app", p["claims"]])
                    cur.execute(f"PREPARE bench_x AS {psql}")
                    args_sql = ("(" + ", ".join(["%s"] * len(names)) + ")") if names else ""
                    for _ in range(1 if kind == "naive" else 6):
                        cur.execute(f"EXECUTE bench_x{args_sql}", [params[n] for n in names])
                    cur.execute(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_x{args_sql}", [params[n] for n in names])
                    plan = "\n".join(r[0] for r in cur.fetchall())
                    cur.execute("DEALLOCATE bench_x")
                lines.append(f"=== {qname} [{label} database] {kind}: {q['title']}\n-- {' '.join(sql.split())}\n{plan}\n")
    # Q5: the insert as the member (rolled back).
    d = dbs["main"]
    p = d["probes"][0]
    for kind, s in (("baseline", "support"), ("rls", "support"), ("naive", "bench_naive")):
        conn = d["conn"]
        cur = ClientCursor(conn)
        cur.execute("BEGIN")
        cur.execute(IDENTITY_SQL, ["postgres" if kind == "baseline" else "bench_app", p["claims"]])
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + Q5_SQL.format(s=s),
                    {"ws": p["insert_ws"], "c": p["insert_c"], "me": p["user_id"]})
        plan = "\n".join(r[0] for r in cur.fetchall())
        cur.execute("ROLLBACK")
        lines.append(f"=== Q5 [main database] {kind}: insert a message\n{plan}\n")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    log(f"wrote {path}")


def machine():
    info = {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            info["cpu"] = m.group(1) if m else None
        with open("/proc/meminfo") as f:
            info["memory_kb"] = int(re.search(r"MemTotal:\s*(\d+)", f.read()).group(1))
        info["loadavg_at_start"] = os.getloadavg()
    except OSError:
        pass
    return info


def verdicts(results):
    """Ratios and target checks, one row per target."""
    rows = []
    for qname in ("Q1", "Q2", "Q2L", "Q3", "Q4"):
        v = results[qname]["variants"]
        # Both sides as PostgREST runs a request: prepared, default plan cache
        # (auto). Not each side's better mode: that compared a re-planned
        # baseline with a generic-plan RLS statement (README, "Why two
        # harnesses disagreed").
        vb, vr = v["main/baseline"], v["main/rls"]
        b, r, n = vb["p50_ms"], vr["p50_ms"], v["main/naive"]["p50_ms"]
        sb, sr = vb.get("server_mean_ms"), vr.get("server_mean_ms")
        eb, er = vb.get("server_exec_mean_ms"), vr.get("server_exec_mean_ms")
        replan = v["main/rls_replan"]["p50_ms"] / v["main/baseline_replan"]["p50_ms"]
        limit = QUERIES[qname]["target"][1]
        # When the plan cache treats the two sides differently (one re-planned
        # at every call, the other on a generic plan), the ratio compares
        # planning as much as row-level security: the target must then hold
        # like for like too (both re-planned at every call).
        plans_differ = vb.get("plan") != vr.get("plan")
        met = r / b <= limit and (not plans_differ or replan <= limit)
        rows.append({"query": qname, "title": results[qname]["title"], "unit": "ms (p50)",
                     "baseline": b, "rls": r, "naive": n, "ratio": r / b, "naive_ratio": n / b,
                     "baseline_plan": vb.get("plan"), "rls_plan": vr.get("plan"), "plans_differ": plans_differ,
                     "rls_p95": vr["p95_ms"], "baseline_p95": vb["p95_ms"],
                     "server_ratio": (sr / sb) if sb and sr else None,
                     "server_exec_ratio": (er / eb) if eb and er else None,
                     "request_ratio": vr["request_p50_ms"] / vb["request_p50_ms"],
                     "replan_ratio": replan,
                     "target": f"≤ {limit:.2f}", "met": met})
    for qname in ("Q5", "Q6"):
        v = results[qname]["variants"]
        b, r = v["main/baseline"]["throughput_per_s"], v["main/rls"]["throughput_per_s"]
        n = v.get("main/naive", {}).get("throughput_per_s")
        sb = v["main/baseline"].get("server_mean_ms")
        sr = v["main/rls"].get("server_mean_ms")
        rows.append({"query": qname, "title": results[qname]["title"], "unit": "per s",
                     "server_ratio": (sb / sr) if sb and sr else None,
                     "baseline": b, "rls": r, "naive": n, "ratio": r / b,
                     "naive_ratio": (n / b) if n else None, "target": f"≥ {WRITE_TARGET:.2f}",
                     "met": r / b >= WRITE_TARGET})
    growth = []
    for qname in ("Q1", "Q2", "Q2L", "Q3"):
        v = results[qname]["variants"]
        g = {"query": qname}
        for kind in ("baseline", "rls", "naive"):
            # prepared, default plan cache at both scales (as PostgREST runs it)
            gp, mp = v[f"growth/{kind}"]["p50_ms"], v[f"main/{kind}"]["p50_ms"]
            g[kind] = {"growth_p50_ms": gp, "main_p50_ms": mp, "factor": mp / gp}
        g["target"] = "≤ 2.00"
        g["met"] = g["rls"]["factor"] <= 2.0
        growth.append(g)
    return rows, growth


def fmt_ratio(ratio, limit):
    """Two decimals, or three when two would round onto the target itself."""
    return f"{ratio:.3f}" if round(ratio, 2) == round(limit, 2) else f"{ratio:.2f}"


def fmt(x, unit):
    if x is None:
        return "–"
    if unit == "per s":
        return f"{x:,.0f}/s"
    return f"{x:.3f} ms" if x < 10 else f"{x:,.1f} ms"


def write_markdown(path, report):
    rows, growth = report["table"], report["growth"]
    sc = report["scale"]
    out = [f"# conversations_ext benchmark — {report['scale_name']} scale",
           "",
           f"{sc['facts']['conversations']:,} conversations, {sc['facts']['conversation_messages']:,} messages, "
           f"{sc['facts']['workspaces']:,} workspaces, {sc['facts']['users']:,} users "
           f"({sc['facts']['workspace_members']:,} memberships); PostgreSQL {report['postgres']['version_num']}, "
           f"{report['machine']['cpus']} cores; {report['finished_at']}; command `{report['command']}`; "
           f"extension built from {report.get('git_commit') or 'unknown'}.",
           "",
           "Ratio = RLS ÷ baseline (p50, same run, interleaved). Q1–Q4: latency of the statement as a client sees "
           "it, measured as a PostgREST request runs it (own transaction, role and claims set first and not timed, "
           "prepared statement, default plan cache on both sides, parallel query off); Q5–Q6: throughput, ratio = "
           "RLS ÷ baseline throughput. Naive ratio = naive ÷ baseline. Server-side ratio: mean planning + execution "
           "time of the same statements in pg_stat_statements (Q1–Q4: RLS ÷ baseline; Q5: baseline ÷ RLS, so that "
           "< 1 means RLS is slower in every column), without the client round trip that dilutes the client-side "
           "ratio. Plans: what the plan cache ran for baseline / RLS (generic, or custom = re-planned at every "
           "call). † the two sides ran on different kinds of plan, so the ratio compares planning as well as "
           "row-level security; the target must then also hold with both re-planned at every call (next column).",
           "",
           "| query | baseline p50 | RLS p50 | ratio | plans (baseline / RLS) | ratio, both re-planned | naive ratio | target | met? | server-side ratio |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        nr = "–" if r["naive_ratio"] is None else (f"{r['naive_ratio']:,.2f}" if r["naive_ratio"] < 100 else f"{r['naive_ratio']:,.0f}")
        limit = float(r["target"].split()[-1])
        if r["unit"] == "per s":
            plans, replan = "–", "–"
        else:
            plans = f"{r['baseline_plan']} / {r['rls_plan']}"
            replan = fmt_ratio(r["replan_ratio"], limit)
        out.append(f"| {r['query']} {r['title']} | {fmt(r['baseline'], r['unit'])} | {fmt(r['rls'], r['unit'])} | "
                   f"{fmt_ratio(r['ratio'], limit)}{'†' if r.get('plans_differ') else ''} | {plans} | {replan} | "
                   f"{nr} | {r['target']} | {'yes' if r['met'] else '**no**'} | "
                   f"{'–' if r.get('server_ratio') is None else format(r['server_ratio'], '.2f')} |")
    out += ["", "Growth: p50 at full scale ÷ p50 at 1/100 of the conversations and messages per workspace "
                "(same workspaces and users), target ≤ 2 for the RLS path.", "",
            "| query | RLS 1/100 | RLS full | growth | baseline growth | naive growth | target | met? |",
            "|---|---|---|---|---|---|---|---|"]
    for g in growth:
        out.append(f"| {g['query']} | {fmt(g['rls']['growth_p50_ms'], 'ms')} | {fmt(g['rls']['main_p50_ms'], 'ms')} | "
                   f"{fmt_ratio(g['rls']['factor'], 2.0)} | {g['baseline']['factor']:.2f} | {g['naive']['factor']:.1f} | "
                   f"{g['target']} | {'yes' if g['met'] else '**no**'} |")
    out += ["", "Q1–Q4 details. Every side is also measured re-planned at every execution (`force_custom_plan`, "
                "separate roles, interleaved with the rest). Server-side means per call (pg_stat_statements, default "
                "plan cache): execution, and planning, which only a statement on custom plans pays. Whole request: "
                "BEGIN, identity statement, query, COMMIT, as a client waits for them.", "",
            "| query | baseline p95 | RLS p95 | server: baseline exec + plan | server: RLS exec + plan | server-side ratio, execution only | ratio, whole request |",
            "|---|---|---|---|---|---|---|"]
    for r in rows[:5]:
        v = report["results"][r["query"]]["variants"]

        def srv(k):
            e, p = v[k].get("server_exec_mean_ms"), v[k].get("server_plan_mean_ms")
            return "–" if e is None else f"{e * 1000:,.0f} + {p * 1000:,.0f} µs"
        er = "–" if r.get("server_exec_ratio") is None else f"{r['server_exec_ratio']:.2f}"
        out.append(f"| {r['query']} | {fmt(r['baseline_p95'], 'ms')} | {fmt(r['rls_p95'], 'ms')} | {srv('main/baseline')} | "
                   f"{srv('main/rls')} | {er} | {r['request_ratio']:.2f} |")
    out += ["", "Where the write-path cost goes: the baseline run in the RLS path's own shape (same transaction, "
                "same `set_config('request.jwt.claims', …)` statement, by the table owner without RLS):", "",
            "| query | baseline | baseline + identity statement | RLS | identity statement alone | the rest (RLS, helper, function) |",
            "|---|---|---|---|---|---|"]
    for qname in ("Q5", "Q6"):
        v = report["results"][qname]["variants"]
        b, bi, r = (v[f"main/{k}"]["throughput_per_s"] for k in ("baseline", "baseline_identity", "rls"))
        out.append(f"| {qname} | {b:,.0f}/s | {bi:,.0f}/s | {r:,.0f}/s | ×{bi / b:.2f} | ×{r / bi:.2f} |")
    suffix = "" if report["scale_name"] == "full" else f"-{report['scale_name']}"
    out += ["", f"Membership sweep (RLS cost for users in 1 … 10,000 workspaces, own data set): [sweep{suffix}.md](sweep{suffix}.md).",
            "", f"![p50 per query](latest{suffix}.png)", ""]
    with open(path, "w") as f:
        f.write("\n".join(out))


def plot(path, report):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows, growth = report["table"], report["growth"]
    colors = {"baseline": "#4C72B0", "rls": "#55A868", "naive": "#C44E52"}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), gridspec_kw={"width_ratios": [4, 2, 3]})
    ax = axes[0]
    qs = [r for r in rows if r["unit"] != "per s"]
    w = 0.27
    for i, kind in enumerate(("baseline", "rls", "naive")):
        vals = [r[kind] for r in qs]
        bars = ax.bar([j + (i - 1) * w for j in range(len(qs))], vals, w, label={"rls": "RLS"}.get(kind, kind),
                      color=colors[kind])
        for b, v in zip(bars, vals):
            ax.annotate(f"{v:.2f}" if v < 10 else f"{v:.0f}", (b.get_x() + b.get_width() / 2, v), ha="center",
                        va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(range(len(qs)), [f"{r['query']}\nRLS×{r['ratio']:.2f}" for r in qs])
    ax.set_ylabel("p50 latency, ms (log)")
    ax.set_title("Q1–Q4 latency (lower is better)")
    ax.legend(fontsize=8)
    ax = axes[1]
    ts = [r for r in rows if r["unit"] == "per s"]
    for i, kind in enumerate(("baseline", "rls", "naive")):
        vals = [r[kind] or 0 for r in ts]
        ax.bar([j + (i - 1) * w for j in range(len(ts))], vals, w, color=colors[kind])
    ax.set_yscale("log")
    ax.set_xticks(range(len(ts)), [f"{r['query']}\nRLS×{r['ratio']:.2f}" for r in ts])
    ax.set_ylabel("throughput, per s (log)")
    ax.set_title("Q5 insert, Q6 claim (higher is better)")
    ax = axes[2]
    for i, kind in enumerate(("baseline", "rls", "naive")):
        for j, g in enumerate(growth):
            x = j + (i - 1) * w
            ax.plot([x, x], [g[kind]["growth_p50_ms"], g[kind]["main_p50_ms"]], color=colors[kind], lw=3)
            ax.scatter([x], [g[kind]["growth_p50_ms"]], color=colors[kind], marker="o", s=18)
            ax.scatter([x], [g[kind]["main_p50_ms"]], color=colors[kind], marker="^", s=28)
    ax.set_yscale("log")
    ax.set_xticks(range(len(growth)), [f"{g['query']}\nRLS×{g['rls']['factor']:.2f}" for g in growth])
    ax.set_ylabel("p50, ms (log): ● 1/100 scale → ▲ full")
    ax.set_title("growth with data (target ≤ 2×)")
    fig.suptitle(f"conversations_ext: RLS vs hand-filtered baseline vs naive EXISTS policy "
                 f"({report['scale']['facts']['conversations']:,} conversations, "
                 f"{report['scale']['facts']['conversation_messages']:,} messages)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def pgbench_of_installation():
    """pgbench of the PostgreSQL that scripts/pg_env.sh (the one place that finds it) names."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bindir = subprocess.run([os.path.join(root, "scripts", "pg_env.sh"), "PG_BINDIR"],
                            check=True, capture_output=True, text=True).stdout.strip()
    return os.path.join(bindir, "pgbench")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host")
    ap.add_argument("--port", type=int)
    ap.add_argument("--scale", default="full")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--pgbench", default=None, help="pgbench of the installation under test (default: the one scripts/pg_env.sh finds)")
    ap.add_argument("--q6-queues", type=int, default=6)
    ap.add_argument("--q6-rows", type=int, default=10000)
    ap.add_argument("--tmp", default="bench/tmp")
    ap.add_argument("--render", metavar="JSON", help="only re-render the .md and .png of a results JSON")
    args = ap.parse_args()
    if args.pgbench is None:
        args.pgbench = pgbench_of_installation()
    if args.render:
        with open(args.render) as f:
            report = json.load(f)
        base = args.render[:-len(".json")]
        write_markdown(base + ".md", report)
        plot(base + ".png", report)
        return
    small = args.scale == "small"
    args.reps = 300 if small else 600
    args.budget = 6.0 if small else 25.0  # seconds per query for the fast variants
    args.q5_batch, args.q5_rounds = (100, 6) if small else (200, 10)
    args.q6_tx = int(args.q6_rows * 0.8) // 8
    suffix = "" if args.scale == "full" else f"-{args.scale}"
    started = time.time()

    def log(msg):
        print(f"bench [{time.time() - started:6.1f}s] {msg}", flush=True)

    rng = random.Random(SEED)
    dbs = {}
    for label, db in (("main", "bench"), ("growth", "bench_growth")):
        conn = connect(args, db, "postgres")
        dbs[label] = {"conn": conn, "owner": conn, "probes": load_probes(conn), "facts": db_facts(conn),
                      "conn_replan": connect(args, db, "bench_owner_replan")}
    pgv = dbs["main"]["owner"].execute("SELECT current_setting('server_version'), current_setting('server_version_num'),"
                                       " (SELECT extversion FROM pg_extension WHERE extname = 'conversations_ext')").fetchone()
    log(f"PostgreSQL {pgv[0]}, conversations_ext {pgv[2]}; main {dbs['main']['facts']['conversations']:,} conversations,"
        f" growth {dbs['growth']['facts']['conversations']:,}")

    results = measure_reads(args, dbs, rng, log)
    # Plans right after the reads were measured, before Q5/Q6 write (the
    # writes change the table's size, which can tip a generic plan's costs).
    explain(args, dbs, os.path.join(args.out, f"explain{suffix}.txt"), log)
    results["Q5"] = measure_insert(args, dbs, rng, log)
    results["Q6"] = measure_claims(args, dbs, log)

    # run.sh records the build when it packages it (the tree may move on during the run).
    commit = os.environ.get("BENCH_BUILD")
    if not commit:
        try:
            commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        except OSError:
            commit = None
    report = {
        "scale_name": args.scale,
        "command": "make bench" + ("" if args.scale == "full" else f" BENCH_SCALE={args.scale}"),
        "finished_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": round(time.time() - started, 1),
        "git_commit": commit,
        "postgres": {"version": pgv[0], "version_num": pgv[1], "extension_version": pgv[2],
                     "settings": "shared_buffers=4GB jit=off autovacuum=off fsync=off max_parallel_workers_per_gather=0 "
                                 "pg_stat_statements.track_planning=on (throwaway cluster)"},
        "machine": machine(),
        "scale": {"facts": dbs["main"]["facts"], "growth_facts": dbs["growth"]["facts"],
                  "probes": len(dbs["main"]["probes"]), "seed": SEED},
        "method": {"timing": "client-side wall time of the statement (execute + fetch, prepared), each in its own "
                             "transaction that first sets role and request.jwt.claims (set_config, not timed), as "
                             "PostgREST does; parallel query off; ratio with both sides in plan_cache_mode auto "
                             "(force_custom_plan measured too, interleaved); variants interleaved in seeded random "
                             "order; 4 probe agents (20 workspaces each) in rotation",
                   "server_mean_ms": "pg_stat_statements mean planning + execution time of the same statements "
                                     "(server_exec_mean_ms, server_plan_mean_ms: the parts)",
                   "plans": "generic_plans / custom_plans of each prepared statement (pg_prepared_statements)",
                   "request_p50_ms": "whole transaction BEGIN .. COMMIT as the client waits for it"},
        "results": results,
    }
    report["table"], report["growth"] = verdicts(results)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"latest{suffix}.json"), "w") as f:
        json.dump(report, f, indent=1, default=str)
    write_markdown(os.path.join(args.out, f"latest{suffix}.md"), report)
    plot(os.path.join(args.out, f"latest{suffix}.png"), report)
    with open(os.path.join(args.out, f"latest{suffix}.md")) as f:
        print(f.read())
    log(f"wrote {args.out}/latest{suffix}.{{json,md,png}}")


if __name__ == "__main__":
    main()
