#!/usr/bin/env python3
""""Getting there": which policy shapes, helpers, statistics and indexes reach
the targets. Runs against a cluster left running by `BENCH_KEEP=1 make bench`
(it changes policies and adds objects: never point it at a real database).

  python3 bench/experiments.py --host /tmp/cx-bench.XXXX --port NNNN [--out bench/results]

Each configuration is applied by the table owner, then Q1-Q5 are measured as in
bench.py (baseline and RLS interleaved, ratio of p50s); configurations run in
the order listed and the first one is repeated at the end to show the drift.
Q2 shapes and the claim path are separate experiments (see the functions).
Writes experiments.md / experiments.json next to the results.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

TABLE_POLICIES = {
    # table: [(policy, command)]
    "support.conversations": [("conversations_select_member", "SELECT"), ("conversations_insert_member", "INSERT"),
                              ("conversations_update_member", "UPDATE"), ("conversations_delete_member", "DELETE")],
    "support.conversation_messages": [("conversation_messages_select_member", "SELECT"),
                                      ("conversation_messages_insert_member", "INSERT"),
                                      ("conversation_messages_update_member", "UPDATE"),
                                      ("conversation_messages_delete_member", "DELETE")],
}

SETUP = """
CREATE SCHEMA IF NOT EXISTS bench_alt;
GRANT USAGE ON SCHEMA bench_alt TO bench_app, bench_app_replan;
-- (a) the membership as a security-barrier view owned by the table owner: the
--     policy reads it as a plain sub-query (no function call; the owner's
--     rights bypass workspace_members' own policy).
CREATE OR REPLACE VIEW bench_alt.my_workspaces WITH (security_barrier) AS
    SELECT m.workspace_id FROM support.workspace_members AS m
     WHERE m.user_id OPERATOR(pg_catalog.=) support.current_user_id();
GRANT SELECT ON bench_alt.my_workspaces TO bench_app, bench_app_replan;
-- (b) PL/pgSQL SECURITY DEFINER helper (plan cached by PL/pgSQL).
CREATE OR REPLACE FUNCTION bench_alt.member_workspaces_plpgsql() RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN ARRAY(SELECT m.workspace_id FROM support.workspace_members AS m
                  WHERE m.user_id OPERATOR(pg_catalog.=) support.current_user_id());
END $$;
-- (c) SQL SECURITY DEFINER helper (re-planned on every call).
CREATE OR REPLACE FUNCTION bench_alt.member_workspaces_sql() RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT ARRAY(SELECT m.workspace_id FROM support.workspace_members AS m
                  WHERE m.user_id OPERATOR(pg_catalog.=) support.current_user_id())
$$;
GRANT EXECUTE ON FUNCTION bench_alt.member_workspaces_plpgsql(), bench_alt.member_workspaces_sql() TO bench_app, bench_app_replan;
-- (d) claim_next_conversation in PL/pgSQL (same checks and UPDATE, plans cached).
CREATE OR REPLACE FUNCTION bench_alt.claim_next_plpgsql(p_workspace uuid) RETURNS support.conversations
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me uuid := support.current_user_id();
    r text;
    result support.conversations;
BEGIN
    IF me IS NULL THEN RAISE EXCEPTION 'no identity' USING ERRCODE = '28000'; END IF;
    SELECT m.role INTO r FROM support.workspace_members AS m
     WHERE m.workspace_id OPERATOR(pg_catalog.=) p_workspace AND m.user_id OPERATOR(pg_catalog.=) me;
    IF r IS NULL THEN RAISE EXCEPTION 'workspace % not found', p_workspace USING ERRCODE = 'P0002'; END IF;
    IF r NOT IN ('agent', 'admin', 'owner') THEN RAISE EXCEPTION 'role % cannot claim', r USING ERRCODE = '42501'; END IF;
    UPDATE support.conversations AS c
       SET status = 'claimed', claimed_by = me, claimed_at = pg_catalog.now()
     WHERE (c.workspace_id, c.id) OPERATOR(pg_catalog.=)
           (SELECT q.workspace_id, q.id FROM support.conversations AS q
             WHERE q.workspace_id OPERATOR(pg_catalog.=) p_workspace
               AND q.status OPERATOR(pg_catalog.=) 'escalated'
             ORDER BY q.escalated_at, q.id LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING c.* INTO result;
    RETURN result;
END $$;
-- (e) the same in one statement on the success path: the role check folded
--     into the UPDATE (as claim_conversation does); the role is looked up only
--     to explain an empty result.
CREATE OR REPLACE FUNCTION bench_alt.claim_next_plpgsql_one(p_workspace uuid) RETURNS support.conversations
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me uuid := support.current_user_id();
    r text;
    result support.conversations;
BEGIN
    IF me IS NULL THEN RAISE EXCEPTION 'no identity' USING ERRCODE = '28000'; END IF;
    UPDATE support.conversations AS c
       SET status = 'claimed', claimed_by = me, claimed_at = pg_catalog.now()
     WHERE (c.workspace_id, c.id) OPERATOR(pg_catalog.=)
           (SELECT q.workspace_id, q.id FROM support.conversations AS q
             WHERE q.workspace_id OPERATOR(pg_catalog.=) p_workspace
               AND q.status OPERATOR(pg_catalog.=) 'escalated'
               AND EXISTS (SELECT 1 FROM support.workspace_members AS m
                            WHERE m.workspace_id OPERATOR(pg_catalog.=) p_workspace
                              AND m.user_id OPERATOR(pg_catalog.=) me
                              AND m.role OPERATOR(pg_catalog.=) ANY ('{agent,admin,owner}'::text[]))
             ORDER BY q.escalated_at, q.id LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING c.* INTO result;
    IF result.id IS NULL THEN  -- empty queue, or not allowed: say which
        SELECT m.role INTO r FROM support.workspace_members AS m
         WHERE m.workspace_id OPERATOR(pg_catalog.=) p_workspace AND m.user_id OPERATOR(pg_catalog.=) me;
        IF r IS NULL THEN RAISE EXCEPTION 'workspace % not found', p_workspace USING ERRCODE = 'P0002'; END IF;
        IF r NOT IN ('agent', 'admin', 'owner') THEN RAISE EXCEPTION 'role % cannot claim', r USING ERRCODE = '42501'; END IF;
        RETURN NULL;
    END IF;
    RETURN result;
END $$;
GRANT EXECUTE ON FUNCTION bench_alt.claim_next_plpgsql(uuid), bench_alt.claim_next_plpgsql_one(uuid)
    TO bench_app, bench_app_replan;
"""

CURRENT = "workspace_id OPERATOR(pg_catalog.=) ANY ((SELECT support.member_workspaces())::uuid[])"
SHAPES = {
    "current: = ANY((SELECT support.member_workspaces())::uuid[]), Rust helper": CURRENT,
    "view: = ANY((SELECT array_agg(workspace_id) FROM my_workspaces)::uuid[])":
        "workspace_id OPERATOR(pg_catalog.=) ANY ((SELECT pg_catalog.array_agg(w.workspace_id) FROM bench_alt.my_workspaces AS w)::uuid[])",
    "view, semi-join: IN (SELECT workspace_id FROM my_workspaces)":
        "workspace_id IN (SELECT w.workspace_id FROM bench_alt.my_workspaces AS w)",
    "PL/pgSQL SECURITY DEFINER helper": "workspace_id OPERATOR(pg_catalog.=) ANY ((SELECT bench_alt.member_workspaces_plpgsql())::uuid[])",
    "SQL SECURITY DEFINER helper": "workspace_id OPERATOR(pg_catalog.=) ANY ((SELECT bench_alt.member_workspaces_sql())::uuid[])",
}
STATS = ("CREATE STATISTICS IF NOT EXISTS support.conversation_messages_conversation_workspace (dependencies)"
         " ON conversation_id, workspace_id FROM support.conversation_messages")


def set_policies(conn, expr):
    with conn.transaction():
        for table, pols in TABLE_POLICIES.items():
            for name, cmd in pols:
                if cmd == "INSERT":
                    conn.execute(f"ALTER POLICY {name} ON {table} WITH CHECK ({expr})")
                elif cmd == "UPDATE":
                    conn.execute(f"ALTER POLICY {name} ON {table} USING ({expr}) WITH CHECK ({expr})")
                else:
                    conn.execute(f"ALTER POLICY {name} ON {table} USING ({expr})")


def measure_pair(d, probes, sql_b, sql_r, params_fn, rounds, rng, with_claims_baseline=False):
    """p50 of baseline and RLS, interleaved, over the probes in rotation; each
    side both prepared (plan cache auto) and re-planned every time (the *_replan
    roles); the ratio compares the default (auto) mode of both, as in bench.py."""
    conns = {"b": (d["conn"], "postgres"), "b_replan": (d["conn_replan"], "bench_owner_replan"),
             "r": (d["conn"], "bench_app"), "r_replan": (d["conn_replan"], "bench_app_replan")}
    vs = {k: [bench.Variant(k, c, "/* exp */ " + (sql_r if k.startswith("r") else sql_b), params_fn(p),
                            p["claims"], role) for p in probes]
          for k, (c, role) in conns.items()}
    for i in range(len(probes)):  # same answer, warm-up
        ref = bench.canon(vs["b"][i].run(timed=False)[0])
        for k in vs:
            if bench.canon(vs[k][i].run(timed=False)[0]) != ref:
                raise SystemExit(f"different results: {k} vs baseline\n{sql_r}")
            for _ in range(5):
                vs[k][i].run(timed=False)
    d["owner"].execute("SELECT pg_stat_statements_reset()")
    for r in range(rounds):
        order = list(vs)
        rng.shuffle(order)
        for k in order:
            vs[k][r % len(probes)].run()
    p50 = {k: statistics.median([s for v in vl for s in v.samples]) / 1e6 for k, vl in vs.items()}
    # Server side: mean execution time of the statement per role (pg_stat_statements).
    users = {"postgres": "b", "bench_owner_replan": "b_replan", "bench_app": "r", "bench_app_replan": "r_replan"}
    server = {}
    for user, mean in d["owner"].execute(
            "SELECT r.rolname, sum(s.total_exec_time) / sum(s.calls) FROM pg_stat_statements s"
            " JOIN pg_roles r ON r.oid = s.userid WHERE s.query LIKE '/* exp */%%'"
            " AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) GROUP BY 1").fetchall():
        server[users.get(user, user)] = mean
    # Both sides in the default plan cache mode, as bench.py's ratio (not each
    # side's better mode: README, "Why two harnesses disagreed").
    return p50["b"], p50["r"], server.get("b"), server.get("r")


def measure_insert(d, probe, batches, batch, rng):
    params = {"ws": probe["insert_ws"], "c": probe["insert_c"], "me": probe["user_id"]}
    sql = bench.Q5_SQL.format(s="support")
    kinds = {"baseline": (d["conn"], None), "rls": (d["conn"], ("bench_app", probe["claims"]))}
    curs = {k: c.cursor() for k, (c, _) in kinds.items()}

    def one(kind):
        conn, identity = kinds[kind]
        cur = curs[kind]
        with conn.pipeline():
            cur.execute("BEGIN")
            if identity:
                cur.execute(bench.IDENTITY_SQL, list(identity), prepare=True)
            cur.execute(sql, params, prepare=True)
            cur.execute("COMMIT")

    for k in kinds:
        for _ in range(30):
            one(k)
    tput = {k: [] for k in kinds}
    for _ in range(batches):
        order = list(kinds)
        rng.shuffle(order)
        for k in order:
            t0 = time.perf_counter()
            for _ in range(batch):
                one(k)
            tput[k].append(batch / (time.perf_counter() - t0))
    return statistics.median(tput["baseline"]), statistics.median(tput["rls"])


OPEN_INDEX = ("CREATE INDEX IF NOT EXISTS conversations_open_idx ON support.conversations (workspace_id, status)"
              " WHERE status IN ('active', 'escalated', 'claimed')")


def policy_experiment(args, dbs, rng, log):
    d = dbs["main"]
    rows = []
    # (name, policy expression, dependency statistics on messages, partial index of open conversations)
    configs = [("current (as shipped)", None, False, False),
               ("+ dependency statistics (messages: conversation_id → workspace_id)", None, True, False),
               ("+ dependency statistics + partial index of open conversations", None, True, True)]
    configs += [(f"{name} (+ both)", expr, True, True) for name, expr in SHAPES.items() if expr != CURRENT]
    configs += [("current policy + both (again, drift check)", None, True, True)]
    for name, expr, stats, open_index in configs:
        owner = d["conn"]
        if stats:
            owner.execute(STATS)
        else:
            owner.execute("DROP STATISTICS IF EXISTS support.conversation_messages_conversation_workspace")
        if open_index:
            owner.execute(OPEN_INDEX)
        else:
            owner.execute("DROP INDEX IF EXISTS support.conversations_open_idx")
        owner.execute("ANALYZE support.conversation_messages")
        owner.execute("ANALYZE support.conversations")
        set_policies(owner, expr or CURRENT)
        row = {"config": name, "policy": expr or CURRENT, "dependency_statistics": stats, "open_index": open_index}
        for qname in ("Q1", "Q2", "Q3", "Q4"):
            q = bench.QUERIES[qname]
            b, r, sb, sr = measure_pair(d, d["probes"], q["baseline"], q["rls"].format(s="support"), q["params"],
                                        args.rounds if qname not in ("Q2",) else max(30, args.rounds // 10), rng)
            row[qname] = {"baseline_ms": b, "rls_ms": r, "ratio": r / b, "server_baseline_ms": sb,
                          "server_rls_ms": sr, "server_ratio": (sr / sb) if sb and sr else None}
        b, r = measure_insert(d, d["probes"][0], args.q5_batches, 100, rng)
        row["Q5"] = {"baseline_per_s": b, "rls_per_s": r, "ratio": r / b}
        log(f"{name}: " + ", ".join(f"{q} {row[q]['ratio']:.2f}" for q in ("Q1", "Q2", "Q3", "Q4", "Q5"))
            + "; server-side " + ", ".join(f"{q} {row[q]['server_ratio']:.2f}" for q in ("Q1", "Q2", "Q3", "Q4")
                                           if row[q]["server_ratio"]))
        rows.append(row)
    set_policies(d["conn"], CURRENT)
    return rows


def q4_experiment(args, dbs, rng, log):
    """Q4 on the statistics the benchmark run left (no new ANALYZE), before and
    after adding the partial index of open conversations; with the RLS plan."""
    d = dbs["main"]
    q = bench.QUERIES["Q4"]
    conn = d["conn"]

    def rls_plan():
        with conn.transaction():
            conn.execute(bench.IDENTITY_SQL, ["bench_app", d["probes"][0]["claims"]])
            conn.execute("PREPARE exp_q4 AS " + q["rls"].format(s="support"))
            for _ in range(6):
                conn.execute("EXECUTE exp_q4")
            plan = [r[0] for r in conn.execute("EXPLAIN (ANALYZE, COSTS OFF) EXECUTE exp_q4").fetchall()]
            conn.execute("DEALLOCATE exp_q4")
        return plan

    rows = []
    conn.execute("DROP INDEX IF EXISTS support.conversations_open_idx")
    for with_index in (False, True):
        if with_index:
            conn.execute(OPEN_INDEX)
        b, r, sb, sr = measure_pair(d, d["probes"], q["baseline"], q["rls"].format(s="support"), q["params"],
                                    args.rounds, rng)
        row = {"open_index": with_index, "baseline_ms": b, "rls_ms": r, "ratio": r / b,
               "server_ratio": (sr / sb) if sb and sr else None, "rls_plan": rls_plan()}
        log(f"Q4 open index={with_index}: baseline {b:.3f} ms, RLS {r:.3f} ms, ratio {r / b:.2f}")
        rows.append(row)
    return rows


Q2_LATERAL_RLS = ("SELECT c.id, c.workspace_id, c.subject, c.status, c.created_at"
                  " FROM unnest((SELECT support.member_workspaces())) AS w(id)"
                  " CROSS JOIN LATERAL (SELECT x.id, x.workspace_id, x.subject, x.status, x.created_at"
                  "   FROM support.conversations AS x WHERE x.workspace_id = w.id"
                  "   ORDER BY x.created_at DESC, x.id LIMIT 50) AS c"
                  " ORDER BY c.created_at DESC, c.id LIMIT 50")
Q2_LATERAL_BASE = Q2_LATERAL_RLS.replace("(SELECT support.member_workspaces())", "%(wss)s::uuid[]")
Q2_INDEX = ("CREATE INDEX IF NOT EXISTS conversations_workspace_created_idx"
            " ON support.conversations (workspace_id, created_at DESC, id)")


def q2_experiment(args, dbs, rng, log):
    """The inbox: the plain shape vs a per-workspace LATERAL, with and without
    an index on (workspace_id, created_at); at full and 1/100 scale."""
    rows = []
    q = bench.QUERIES["Q2"]
    for with_index in (False, True):
        for label in ("main", "growth"):
            d = dbs[label]
            if with_index:
                d["owner"].execute(Q2_INDEX)
                d["owner"].execute("ANALYZE support.conversations")
            else:
                d["owner"].execute("DROP INDEX IF EXISTS support.conversations_workspace_created_idx")
        for shape, sb, sr in (("plain: ORDER BY created_at DESC LIMIT 50", q["baseline"], q["rls"].format(s="support")),
                              ("LATERAL per workspace, then top 50", Q2_LATERAL_BASE, Q2_LATERAL_RLS)):
            row = {"index": "(workspace_id, created_at DESC, id)" if with_index else "none added", "shape": shape}
            for label in ("main", "growth"):
                d = dbs[label]
                b, r, srvb, srvr = measure_pair(d, d["probes"], sb, sr, q["params"], max(30, args.rounds // 10), rng)
                row[label] = {"baseline_ms": b, "rls_ms": r, "ratio": r / b, "server_baseline_ms": srvb,
                              "server_rls_ms": srvr}
            row["growth_rls"] = row["main"]["rls_ms"] / row["growth"]["rls_ms"]
            log(f"Q2 index={with_index} {shape}: ratio {row['main']['ratio']:.2f}, RLS {row['main']['rls_ms']:.3f} ms,"
                f" growth {row['growth_rls']:.2f}")
            rows.append(row)
    return rows


def claim_experiment(args, dbs, log):
    """claim_next_conversation (Rust, as built) vs the same function in
    PL/pgSQL (plans cached; two statements, or one on the success path) vs the
    plain UPDATE."""
    d = dbs["main"]
    owner = d["owner"]
    users, workspaces = owner.execute("SELECT users, workspaces FROM bench.params").fetchone()
    agent_base = users - 11
    queue = f"00000002-0000-4000-8000-{workspaces:012x}"
    scripts = {"baseline": bench.Q6_BASELINE, "baseline_identity": bench.Q6_BASELINE_TX, "rls_rust": bench.Q6_RLS,
               "rls_plpgsql": bench.Q6_RLS.replace("support.claim_next_conversation", "bench_alt.claim_next_plpgsql"),
               "rls_plpgsql_one": bench.Q6_RLS.replace("support.claim_next_conversation",
                                                       "bench_alt.claim_next_plpgsql_one")}
    os.makedirs(args.tmp, exist_ok=True)
    paths = {}
    for k, text in scripts.items():
        paths[k] = os.path.join(args.tmp, f"exp_q6_{k}.sql")
        with open(paths[k], "w") as f:
            f.write(text.format(agent_base=agent_base))
    tps = {k: [] for k in scripts}
    order = ["baseline", "rls_rust", "rls_plpgsql", "rls_plpgsql_one", "baseline_identity"]
    order = order + order[::-1]
    per_client = args.q6_tx
    for k in order:
        # Put the queue back (restore mode: no events), then vacuum it.
        with owner.transaction():
            owner.execute("SET LOCAL row_security = off")
            owner.execute("SET LOCAL session_replication_role = replica")
            owner.execute("UPDATE support.conversations SET status = 'escalated', claimed_by = NULL, claimed_at = NULL"
                          " WHERE workspace_id = %s AND status = 'claimed'", [queue])
        owner.execute("VACUUM support.conversations")
        user = "postgres"  # the scripts set their role themselves
        out = subprocess.run([args.pgbench, "-h", args.host, "-p", str(args.port), "-U", user, "-n", "-M", "prepared",
                              "-c", "8", "-j", "8", "-t", str(per_client), "-D", f"ws={queue}", "-f", paths[k], "bench"],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(out.stdout + out.stderr)
        t = float(out.stdout.split("tps = ")[1].split()[0])
        tps[k].append(t)
        log(f"Q6 {k}: {t:.0f} claims/s")
    res = {k: statistics.median(v) for k, v in tps.items()}
    return {"throughput_per_s": res, "rounds": tps,
            "ratios": {k: res[k] / res["baseline"] for k in res}}


HELPERS = {
    "nothing (PERFORM 1)": "PERFORM 1",
    "support.current_user_id() (Rust)": "PERFORM support.current_user_id()",
    "support.member_workspaces() (Rust, kept SPI plan)": "PERFORM support.member_workspaces()",
    "(SELECT array_agg(workspace_id) FROM my_workspaces) (view, inline)":
        "PERFORM (SELECT pg_catalog.array_agg(w.workspace_id) FROM bench_alt.my_workspaces AS w)",
    "PL/pgSQL SECURITY DEFINER helper": "PERFORM bench_alt.member_workspaces_plpgsql()",
    "SQL SECURITY DEFINER helper": "PERFORM bench_alt.member_workspaces_sql()",
}


def helper_experiment(args, dbs, log, calls=50000, repeats=3):
    """Server-side cost of one evaluation of each membership expression (the
    per-statement price of the policy's initPlan), in a PL/pgSQL loop as the
    member role, best of `repeats`."""
    d = dbs["main"]
    conn = d["conn"]
    claims = d["probes"][0]["claims"]
    out = {}
    for name, stmt in HELPERS.items():
        best = None
        for _ in range(repeats):
            with conn.transaction():
                conn.execute(bench.IDENTITY_SQL, ["bench_app", claims])
                conn.execute("DO $$ BEGIN " + stmt + "; END $$")  # warm
                t0 = time.perf_counter()
                conn.execute(f"DO $$ BEGIN FOR i IN 1..{calls} LOOP {stmt}; END LOOP; END $$")
                dt = (time.perf_counter() - t0) / calls * 1e6
            best = dt if best is None else min(best, dt)
        out[name] = best
        log(f"helper {name}: {best:.2f} µs per call")
    base = out["nothing (PERFORM 1)"]
    return {k: {"us_per_call": v, "us_net": v - base} for k, v in out.items()}


def write(args, out, log):
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "experiments.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1, default=str)
    lines = ["# Getting there: policy shapes, helpers, statistics, indexes (measured)", "",
             "Run by `bench/experiments.py` against the cluster a `BENCH_KEEP=1 make bench` left running.", "",
             f"The benchmark database ({out['facts']['conversations']:,} conversations, "
             f"{out['facts']['conversation_messages']:,} messages), {out['finished_at']}. Ratio = RLS p50 ÷ baseline p50 "
             "(Q1–Q4; each side in its better plan-cache mode, as in latest.md) or RLS ÷ baseline throughput (Q5), "
             "baseline and RLS interleaved; configurations measured one "
             "after the other in one run (the first one is repeated last to show the drift).", "",
             "## Policy shape and helper (all tables' policies switched together)", "",
             "| configuration | Q1 | Q2 | Q3 | Q4 | Q5 |", "|---|---|---|---|---|---|"]
    for row in out["policies"]:
        lines.append(f"| {row['config']} | " + " | ".join(
            f"{row[q]['ratio']:.2f}" for q in ("Q1", "Q2", "Q3", "Q4", "Q5")) + " |")
    lines += ["", "Server side (pg_stat_statements mean execution time of the same statements, same modes): ratio RLS ÷ "
              "baseline. Without the client's round trip and driver, the cost of the policy is not diluted:", "",
              "| configuration | Q1 | Q2 | Q3 | Q4 |", "|---|---|---|---|---|"]
    for row in out["policies"]:
        lines.append(f"| {row['config']} | " + " | ".join(
            (f"{row[q]['server_ratio']:.2f}" if row[q]["server_ratio"] else "–") for q in ("Q1", "Q2", "Q3", "Q4")) + " |")
    lines += ["", "p50 in ms (baseline / RLS):", "", "| configuration | Q1 | Q2 | Q3 | Q4 | Q5 (per s) |",
              "|---|---|---|---|---|---|"]
    for row in out["policies"]:
        lines.append(f"| {row['config']} | " + " | ".join(
            f"{row[q]['baseline_ms']:.3f} / {row[q]['rls_ms']:.3f}" for q in ("Q1", "Q2", "Q3", "Q4"))
            + f" | {row['Q5']['baseline_per_s']:,.0f} / {row['Q5']['rls_per_s']:,.0f} |")
    lines += ["", "## Q4 and the partial index of open conversations (statistics as the benchmark left them)", "",
              "| index | baseline p50 | RLS p50 | ratio | server-side ratio |", "|---|---|---|---|---|"]
    for row in out["q4"]:
        sr = "–" if row["server_ratio"] is None else f"{row['server_ratio']:.2f}"
        lines.append(f"| {'+ conversations_open_idx' if row['open_index'] else 'as shipped'} | {row['baseline_ms']:.3f} ms | "
                     f"{row['rls_ms']:.3f} ms | {row['ratio']:.2f} | {sr} |")
    for row in out["q4"]:
        lines += ["", f"RLS plan, {'with' if row['open_index'] else 'without'} the partial index "
                      "(generic plan, after 6 executions):", "", "```"] + row["rls_plan"] + ["```"]
    lines += ["", "## Q2 (inbox) shapes and index, full vs 1/100 scale", "",
              "| index | query shape | baseline p50 | RLS p50 | ratio | RLS growth (full ÷ 1/100) |", "|---|---|---|---|---|---|"]
    for row in out["q2"]:
        lines.append(f"| {row['index']} | {row['shape']} | {row['main']['baseline_ms']:.3f} ms | "
                     f"{row['main']['rls_ms']:.3f} ms | {row['main']['ratio']:.2f} | {row['growth_rls']:.2f} |")
    lines += ["", "## Cost of one evaluation of the membership expression (PL/pgSQL loop of 50,000, member role, "
              "probe with 20 workspaces, best of 3)", "", "| expression | µs per call | net of the loop |", "|---|---|---|"]
    for k, v in out["helpers"].items():
        lines.append(f"| {k} | {v['us_per_call']:.2f} | {v['us_net']:.2f} |")
    c = out["claims"]
    lines += ["", "## Q6 claim path (8 clients, pgbench, claims/s, median of 2 rounds)", "",
              "| variant | claims/s | ÷ baseline |", "|---|---|---|"]
    names = {"baseline": "plain UPDATE by the table owner (baseline)",
             "baseline_identity": "same UPDATE in the RLS path's transaction shape (BEGIN; set_config; UPDATE; END)",
             "rls_rust": "support.claim_next_conversation (Rust, as built from this work tree)",
             "rls_plpgsql": "the same function in PL/pgSQL (plans cached)",
             "rls_plpgsql_one": "PL/pgSQL, plans cached, one statement when a row is claimed (role check inside the UPDATE)"}
    for k in ("baseline", "baseline_identity", "rls_rust", "rls_plpgsql", "rls_plpgsql_one"):
        lines.append(f"| {names[k]} | {c['throughput_per_s'][k]:,.0f} | {c['ratios'][k]:.2f} |")
    with open(os.path.join(args.out, "experiments.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    log(f"wrote {args.out}/experiments.{{md,json}}")


def pgbench_of_installation():
    """pgbench of the PostgreSQL that scripts/pg_env.sh (the one place that finds it) names."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bindir = subprocess.run([os.path.join(root, "scripts", "pg_env.sh"), "PG_BINDIR"],
                            check=True, capture_output=True, text=True).stdout.strip()
    return os.path.join(bindir, "pgbench")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--q5-batches", type=int, default=6)
    ap.add_argument("--q6-tx", type=int, default=600)
    ap.add_argument("--pgbench", default=None, help="pgbench of the installation under test (default: the one scripts/pg_env.sh finds)")
    ap.add_argument("--tmp", default="bench/tmp")
    ap.add_argument("--only", default="q4,policies,q2,claims,helpers")
    args = ap.parse_args()
    if args.pgbench is None:
        args.pgbench = pgbench_of_installation()
    started = time.time()

    def log(msg):
        print(f"experiments [{time.time() - started:6.1f}s] {msg}", flush=True)

    rng = random.Random(bench.SEED)
    dbs = {}
    for label, db in (("main", "bench"), ("growth", "bench_growth")):
        conn = bench.connect(args, db, "postgres")
        dbs[label] = {"conn": conn, "owner": conn, "probes": bench.load_probes(conn),
                      "conn_replan": bench.connect(args, db, "bench_owner_replan")}
        conn.execute(SETUP)
    out = {"finished_at": None, "facts": bench.db_facts(dbs["main"]["owner"])}
    only = args.only.split(",")
    if "q4" in only:  # first: the others re-ANALYZE
        out["q4"] = q4_experiment(args, dbs, rng, log)
    if "policies" in only:
        out["policies"] = policy_experiment(args, dbs, rng, log)
    if "q2" in only:
        out["q2"] = q2_experiment(args, dbs, rng, log)
    if "claims" in only:
        out["claims"] = claim_experiment(args, dbs, log)
    if "helpers" in only:
        out["helpers"] = helper_experiment(args, dbs, log)
    out["finished_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if set(only) >= {"q4", "policies", "q2", "claims", "helpers"}:
        write(args, out, log)
    else:
        print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
