#!/usr/bin/env python3
"""Membership sweep: what row-level security costs a user who belongs to 1,
10, 100, 1,000, 5,000 or 10,000 workspaces (bench/sql/sweep_generate.sql).

For each probe user and query, the RLS statement (application role, identity
set per transaction as PostgREST does: set_config('role'), set_config(
'request.jwt.claims')) and the table owner's hand-filtered baseline run
interleaved, each as a prepared statement with the default plan cache, in
their own transaction; only the query is timed (execute + fetch). The same
method as bench/bench.py (its Variant.run). Each cell has its own prepared
statements, run 6 times untimed first so that the plan cache has settled (a
PostgREST connection's steady state); parallel query off. The ratio is
p50(RLS) / p50(baseline). Writes sweep[-small].{md,json,png} into --out.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import time

import psycopg

W1 = "00000002-0000-4000-8000-000000000001"        # every probe's own workspace 1
TRANSCRIPT = "00000003-0000-4000-8000-000000000000"  # 600 messages in workspace 1

QUERIES = {
    "Q7": {
        "title": "one conversation by id",
        "rls": "SELECT id, status, subject FROM support.conversations WHERE id = %(c)s",
        "baseline": "SELECT id, status, subject FROM support.conversations WHERE id = %(c)s AND workspace_id = %(ws)s",
    },
    "Q1": {
        "title": "queue of one workspace, oldest 50",
        "rls": "SELECT id, escalated_at FROM support.conversations WHERE workspace_id = %(ws)s"
               " AND status = 'escalated' ORDER BY escalated_at, id LIMIT 50",
        "baseline": "SELECT id, escalated_at FROM support.conversations WHERE workspace_id = %(ws)s"
                    " AND status = 'escalated' ORDER BY escalated_at, id LIMIT 50",
    },
    "Q3": {
        "title": "last 100 messages of a 600-message conversation",
        "rls": "SELECT id, role, content, created_at FROM support.conversation_messages"
               " WHERE conversation_id = %(t)s ORDER BY created_at DESC LIMIT 100",
        "baseline": "SELECT id, role, content, created_at FROM support.conversation_messages"
                    " WHERE conversation_id = %(t)s AND workspace_id = %(ws)s ORDER BY created_at DESC LIMIT 100",
    },
    "Q4": {
        "title": "open conversations per status, all my workspaces",
        "rls": "SELECT status, count(*) FROM support.conversations"
               " WHERE status IN ('active', 'escalated', 'claimed') GROUP BY status ORDER BY status",
        "baseline": "SELECT status, count(*) FROM support.conversations WHERE workspace_id = ANY(%(wss)s)"
                    " AND status IN ('active', 'escalated', 'claimed') GROUP BY status ORDER BY status",
    },
    # The README's per-workspace LATERAL (issue 10's Q2L): whole rows.
    "Q2L": {
        "title": "inbox, newest 50 across my workspaces (per-workspace LATERAL, whole rows)",
        "rls": "SELECT c.* FROM unnest((SELECT support.member_workspaces())) AS w(id)"
               " CROSS JOIN LATERAL (SELECT x.* FROM support.conversations AS x"
               " WHERE x.workspace_id = w.id ORDER BY x.created_at DESC, x.id LIMIT 50) AS c"
               " ORDER BY c.created_at DESC, c.id LIMIT 50",
        "baseline": "SELECT c.* FROM unnest(%(wss)s::uuid[]) AS w(id)"
                    " CROSS JOIN LATERAL (SELECT x.* FROM support.conversations AS x"
                    " WHERE x.workspace_id = w.id ORDER BY x.created_at DESC, x.id LIMIT 50) AS c"
                    " ORDER BY c.created_at DESC, c.id LIMIT 50",
        "ordered": True,
    },
    # The inbox function (sql/50_inbox.sql): the newest conversation of each
    # workspace first, then at most 50 of the 50 newest workspaces. Baseline:
    # the owner's per-workspace LATERAL over the probe's workspaces (Q2L's),
    # the same whole rows in the same order.
    "QI": {
        "title": "inbox function",
        "rls": "SELECT * FROM support.inbox(50)",
        "baseline": "SELECT c.* FROM unnest(%(wss)s::uuid[]) AS w(id)"
                    " CROSS JOIN LATERAL (SELECT x.* FROM support.conversations AS x"
                    " WHERE x.workspace_id = w.id ORDER BY x.created_at DESC, x.id LIMIT 50) AS c"
                    " ORDER BY c.created_at DESC, c.id LIMIT 50",
        "ordered": True,  # same rows in the same order (created_at DESC, id)
    },
}

# Issue 10's targets. "small": memberships 1-20; "all": every count swept.
# ratio = p50(RLS) / p50(baseline); ms = RLS p50.
SMALL = 20
TARGETS = [
    {"queries": ("Q7", "Q1", "Q3"), "kind": "ratio", "small": 1.10, "all": 1.25},
    {"queries": ("Q1", "Q7"), "kind": "ms_at_max", "limit": 1.0},
    {"queries": ("Q2L", "Q4"), "kind": "ratio", "small": 1.25, "all": 1.5},
    {"queries": ("QI",), "kind": "ms_at_max", "limit": 50.0},
    {"queries": ("QI",), "kind": "not_slower_than", "other": "Q2L"},
]
# One line per query under the table header.
TARGET_NOTE = {
    "Q7": "≤ 1.10 at 1–20, ≤ 1.25 to 10,000; < 1 ms at 10,000",
    "Q1": "≤ 1.10 at 1–20, ≤ 1.25 to 10,000; < 1 ms at 10,000",
    "Q3": "≤ 1.10 at 1–20, ≤ 1.25 to 10,000",
    "Q4": "≤ 1.25 at 1–20, ≤ 1.5 to 10,000",
    "Q2L": "≤ 1.25 at 1–20, ≤ 1.5 to 10,000",
    "QI": "< 50 ms at 10,000; at 1–20 no slower than Q2L",
}


def fmt_ratio(ratio, limit):
    """Two decimals, or more (up to four) while they would round onto the target itself."""
    for digits in (2, 3):
        if f"{ratio:.{digits}f}" != f"{limit:.{digits}f}":
            return f"{ratio:.{digits}f}"
    return f"{ratio:.4f}"


def check_targets(results):
    """[{target, met, detail}] for TARGETS over the swept cells."""
    cell = {(r["query"], r["memberships"]): r for r in results}
    ms = sorted({r["memberships"] for r in results})
    top = ms[-1]
    out = []
    for t in TARGETS:
        for q in t["queries"]:
            if t["kind"] == "ratio":
                for label, limit, counts in (("1–20", t["small"], [m for m in ms if m <= SMALL]),
                                             (f"1–{top:,}", t["all"], ms)):
                    worst = max((cell[(q, m)] for m in counts), key=lambda r: r["ratio"])
                    out.append({"query": q, "target": f"ratio ≤ {limit:.2f} at {label} memberships",
                                "met": worst["ratio"] <= limit,
                                "detail": f"worst {fmt_ratio(worst['ratio'], limit)} at {worst['memberships']:,}"})
            elif t["kind"] == "ms_at_max":
                r = cell[(q, top)]
                out.append({"query": q, "target": f"RLS p50 < {t['limit']:g} ms at {top:,} memberships",
                            "met": r["rls_p50_ms"] < t["limit"],
                            "detail": f"{r['rls_p50_ms']:.3f} ms (baseline {r['baseline_p50_ms']:.3f} ms)"})
            else:
                other = t["other"]
                worst = max((m for m in ms if m <= SMALL),
                            key=lambda m: cell[(q, m)]["rls_p50_ms"] / cell[(other, m)]["rls_p50_ms"])
                a, b = cell[(q, worst)]["rls_p50_ms"], cell[(other, worst)]["rls_p50_ms"]
                out.append({"query": q, "target": f"RLS p50 no slower than {other}'s RLS p50 at 1–20 memberships",
                            "met": a <= b,
                            "detail": f"worst at {worst:,}: {a:.3f} ms against {b:.3f} ms ({a / b:.2f}×)"})
    return out


def misses(q, r, top):
    """Does this cell miss one of its query's targets?"""
    for t in TARGETS:
        if q not in t["queries"]:
            continue
        if t["kind"] == "ratio" and r["ratio"] > (t["small"] if r["memberships"] <= SMALL else t["all"]):
            return True
        if t["kind"] == "ms_at_max" and r["memberships"] == top and r["rls_p50_ms"] >= t["limit"]:
            return True
    return False


def fmt_ms(v):
    """RLS p50 for the table: three decimals below 10 ms, then fewer."""
    return f"{v:.3f} ms" if v < 10 else f"{v:.1f} ms" if v < 1000 else f"{v:,.0f} ms"


def git_build():
    return os.environ.get("BENCH_BUILD") or subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()


WARMUP = 6  # executions before timing: the plan cache picks generic or custom after 5


def timed(conn, role, claims, sql, params):
    """One transaction: identity (not timed), the query (timed), commit."""
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("SELECT set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                    (role, claims), prepare=True)
        t0 = time.perf_counter()
        cur.execute(sql, params, prepare=True)
        rows = cur.fetchall()
        elapsed = time.perf_counter() - t0
        cur.execute("COMMIT")
    return elapsed * 1000.0, rows


def plan_kinds(conn):
    """{tag: "generic" | "custom"} of this session's prepared statements that
    carry a /* tag */ comment (custom: re-planned at every execution)."""
    out = {}
    for stmt, g, c in conn.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"):
        if stmt.startswith("/* "):
            out[stmt[3:stmt.index(" */")]] = "generic" if g > c else "custom"
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--render", metavar="SWEEP_JSON",
                    help="only write the table and plot again from a sweep[-scale].json (into its directory)")
    ap.add_argument("--host")
    ap.add_argument("--port")
    ap.add_argument("--db", default="bench_sweep")
    ap.add_argument("--scale", default="full")
    ap.add_argument("--rounds", type=int, default=None, help="most timed rounds per cell (300; small scale 200)")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--cell-seconds", type=float, default=None,
                    help="a cell stops after this many seconds of timed rounds, at least 5 (8; small scale 3)")
    args = ap.parse_args()
    if args.render:
        with open(args.render) as f:
            data = json.load(f)
        data["targets"] = check_targets(data["results"])
        with open(args.render, "w") as f:
            json.dump(data, f, indent=1)
        write_report(os.path.dirname(args.render) or ".", data["meta"], data["results"], data["targets"])
        return
    if not (args.host and args.port):
        ap.error("--host and --port are required")
    small = args.scale != "full"
    if args.rounds is None:
        args.rounds = int(os.environ.get("BENCH_SWEEP_ROUNDS", "200" if small else "300"))
    if args.cell_seconds is None:
        args.cell_seconds = float(os.environ.get("BENCH_SWEEP_CELL_SECONDS", "3" if small else "8"))
    started_all = time.perf_counter()
    conn = psycopg.connect(host=args.host, port=args.port, user="postgres", dbname=args.db, autocommit=True,
                           options="-c max_parallel_workers_per_gather=0")
    conn.prepared_max = 1000  # one statement per cell and side: never evicted (re-preparing resets the plan cache)
    with conn.cursor() as cur:
        cur.execute("SELECT k, memberships, user_id::text FROM bench.sweep_probe ORDER BY k")
        probes = cur.fetchall()
        cur.execute("SELECT id::text FROM support.conversations WHERE workspace_id = %s"
                    " AND status = 'escalated' ORDER BY id LIMIT 1", (W1,))
        one = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM support.conversations")
        n_conv = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM support.conversation_messages")
        n_msg = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM support.workspaces")
        n_ws = cur.fetchone()[0]
        cur.execute("SELECT current_setting('server_version')")
        version = cur.fetchone()[0]
    results = []
    for _, m, user in probes:
        claims = json.dumps({"sub": user, "role": "authenticated"})
        with conn.cursor() as cur:
            cur.execute("SELECT array_agg(workspace_id ORDER BY workspace_id) FROM support.workspace_members"
                        " WHERE user_id = %s", (user,))
            wss = cur.fetchone()[0]
        params = {"c": one, "ws": W1, "t": TRANSCRIPT, "wss": wss}
        for q, spec in QUERIES.items():
            times = {"rls": [], "baseline": []}
            rows = {}
            # This cell's own prepared statements (the comment makes the text
            # unique), so that its plan-cache state is its own.
            sql = {side: f"/* {q} m{m} {side} */ " + spec[side] for side in times}
            role = {"rls": "bench_app", "baseline": "postgres"}
            for _ in range(WARMUP):
                for side in times:
                    rows[side] = timed(conn, role[side], claims, sql[side], params)[1]
            started = time.perf_counter()
            for r in range(args.rounds):
                # A slow cell stops after its time budget (at least 5 rounds).
                if r >= 5 and time.perf_counter() - started > args.cell_seconds:
                    break
                order = ("rls", "baseline") if r % 2 == 0 else ("baseline", "rls")
                for side in order:
                    ms, got = timed(conn, role[side], claims, sql[side], params)
                    times[side].append(ms)
                    rows[side] = got
            if spec.get("ordered"):
                same = list(map(repr, rows["rls"])) == list(map(repr, rows["baseline"]))
            else:
                same = sorted(map(repr, rows["rls"])) == sorted(map(repr, rows["baseline"]))
            p50 = {s: statistics.median(times[s]) for s in times}
            kinds = plan_kinds(conn)
            plans = {side: kinds.get(f"{q} m{m} {side}") for side in times}
            results.append({"memberships": m, "query": q, "rounds": len(times["rls"]), "rls_p50_ms": p50["rls"],
                            "baseline_p50_ms": p50["baseline"], "ratio": p50["rls"] / p50["baseline"],
                            "baseline_plan": plans["baseline"], "rls_plan": plans["rls"],
                            "same_rows": same, "rows": len(rows["rls"])})
            print(f"sweep: {m:>5} memberships {q:<3} baseline {p50['baseline']:.3f} ms  RLS {p50['rls']:.3f} ms"
                  f"  ratio {p50['rls'] / p50['baseline']:.2f}  rows {len(rows['rls'])}"
                  f"  plans {plans['baseline']}/{plans['rls']}{'' if same else '  ROWS DIFFER'}", flush=True)
            if not same:
                raise SystemExit(f"sweep: {q} at {m} memberships: RLS and baseline return different rows")
    suffix = "" if args.scale == "full" else f"-{args.scale}"
    meta = {"finished_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "build": git_build(), "postgres": version, "workspaces": n_ws, "conversations": n_conv,
            "messages": n_msg, "rounds": args.rounds, "cell_seconds": args.cell_seconds, "warmup": WARMUP,
            "scale": args.scale, "duration_s": round(time.perf_counter() - started_all, 1)}
    targets = check_targets(results)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"sweep{suffix}.json"), "w") as f:
        json.dump({"meta": meta, "results": results, "targets": targets}, f, indent=1)
    write_report(args.out, meta, results, targets)
    explain_any(conn, probes, W1, os.path.join(args.out, f"sweep{suffix}-explain.txt"), version)


def shorten(line):
    """A plan line with its array literal of N elements written as '{N elements}'."""
    start = line.find("'{")
    end = line.find("}'", start)
    if start < 0 or end < 0 or end - start < 200:
        return line
    n = line.count(",", start, end) + 1
    return f"{line[:start]}'{{{n:,} elements}}'{line[end + 2:]}"


def explain_any(conn, probes, w1, path, version):
    """EXPLAIN (ANALYZE, BUFFERS) of Q4 for every probe, both sides: the
    btree's `workspace_id = ANY(array)` (the owner's parameter, the RLS side's
    index condition from the policy's planner support), whose handling
    PostgreSQL 17 and 18 changed. Written to `path`."""
    lines = [f"Q4 at each membership count, EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF); PostgreSQL {version}",
             ""]
    for _, m, user in probes:
        claims = json.dumps({"sub": user, "role": "authenticated"})
        with conn.cursor() as cur:
            cur.execute("SELECT array_agg(workspace_id ORDER BY workspace_id) FROM support.workspace_members"
                        " WHERE user_id = %s", (user,))
            wss = cur.fetchone()[0]
            for side, role in (("baseline", "postgres"), ("rls", "bench_app")):
                cur.execute("BEGIN")
                cur.execute("SELECT set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                            (role, claims))
                cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) " + QUERIES["Q4"][side],
                            {"wss": wss, "ws": w1})
                plan = [shorten(r[0]) for r in cur.fetchall()]
                cur.execute("COMMIT")
                lines += [f"-- {m:,} memberships, {side}"] + plan + [""]
    with open(path, "w") as f:
        f.write("\n".join(lines))
    print(f"sweep: wrote {path}", flush=True)


def write_report(out, meta, results, targets):
    """sweep[-scale].{md,png} from the measurements (also `--render` of a JSON)."""
    scale = meta["scale"]
    suffix = "" if scale == "full" else f"-{scale}"
    n_conv, n_msg, n_ws, version = meta["conversations"], meta["messages"], meta["workspaces"], meta["postgres"]
    ms = sorted({r["memberships"] for r in results})
    top = ms[-1]
    lines = [f"# Membership sweep{'' if scale == 'full' else ' — ' + scale + ' scale'}", "",
             f"{n_conv:,} conversations, {n_msg:,} messages, {n_ws:,} workspaces; PostgreSQL {version}; "
             f"{meta['finished_at']}; extension built from {meta['build']}; up to {meta['rounds']} rounds per cell "
             f"(a cell stops after {meta['cell_seconds']:g} s, at least 5 rounds) after {meta['warmup']} untimed executions, "
             "RLS and baseline interleaved, each request its own transaction with role and claims set first "
             "(not timed), prepared statements (default plan cache), parallel query off; command "
             f"`make bench{'' if scale == 'full' else ' BENCH_SCALE=' + scale}` (or `make bench-sweep`).", "",
             "p50 ratio RLS ÷ baseline (in parentheses: RLS p50, and RLS p50 − baseline p50, the cost per "
             "request that the ratio divides by the query's own cost); † the two sides ran on different kinds of plan "
             "(one generic, one re-planned at every call: see the JSON), so that ratio compares planning too; "
             "**bold**: the cell misses its target (the line under the header; issue 10's targets are for the "
             "full scale). While it measures, bench/run.sh keeps the cores awake (bench/README.md). Q2L is the README's "
             "per-workspace LATERAL, whole rows. QI: `SELECT * FROM support.inbox(50)` against Q2L's baseline (the "
             "owner's per-workspace LATERAL over the user's workspaces), the same rows in the same order:", "",
             "| memberships | " + " | ".join(f"{q} {QUERIES[q]['title']}" for q in QUERIES) + " |",
             "|---|" + "---|" * len(QUERIES),
             "| *target* | " + " | ".join(f"*{TARGET_NOTE[q]}*" for q in QUERIES) + " |"]
    for m in ms:
        cells = []
        for q in QUERIES:
            r = next(x for x in results if x["memberships"] == m and x["query"] == q)
            dagger = "†" if r["baseline_plan"] != r["rls_plan"] else ""
            d = (r["rls_p50_ms"] - r["baseline_p50_ms"]) * 1000
            limits = [t["small"] if m <= SMALL else t["all"] for t in TARGETS
                      if q in t["queries"] and t["kind"] == "ratio"]
            ratio = fmt_ratio(r["ratio"], limits[0]) if limits else f"{r['ratio']:.2f}"
            text = f"{ratio}{dagger} ({fmt_ms(r['rls_p50_ms'])}, {d:+,.0f} µs)"
            cells.append(f"**{text}**" if misses(q, r, top) else text)
        lines.append(f"| {m:,} | " + " | ".join(cells) + " |")
    lines += ["", "Targets (issue 10):", "", "| query | target | met? | measured |", "|---|---|---|---|"]
    for t in targets:
        lines.append(f"| {t['query']} | {t['target']} | {'yes' if t['met'] else '**no**'} | {t['detail']} |")
    lines += ["", f"![ratio and RLS p50 against memberships](sweep{suffix}.png)"]
    with open(os.path.join(out, f"sweep{suffix}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, NullFormatter
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5.5))
        minor = FuncFormatter(lambda y, _: f"{y:g}" if round(y / 10 ** int(f"{y:e}".split("e")[1]), 6) in (2, 3, 5) else "")
        colors = {}
        for q in QUERIES:
            cells = [next(x for x in results if x["memberships"] == m and x["query"] == q) for m in ms]
            line, = ax.plot(ms, [c["ratio"] for c in cells], marker="o", label=f"{q} {QUERIES[q]['title']}")
            colors[q] = line.get_color()
            # hollow marker: the two sides ran on different kinds of plan (†)
            odd = [c for c in cells if c["baseline_plan"] != c["rls_plan"]]
            if odd:
                ax.scatter([c["memberships"] for c in odd], [c["ratio"] for c in odd], s=70, facecolors="white",
                           edgecolors=line.get_color(), zorder=3)
            ax2.plot(ms, [c["rls_p50_ms"] for c in cells], marker="o", color=line.get_color(), label=f"{q} RLS")
        base = [next(x for x in results if x["memberships"] == m and x["query"] == "QI") for m in ms]
        ax2.plot(ms, [c["baseline_p50_ms"] for c in base], linestyle="--", color=colors["QI"],
                 label="QI/Q2L baseline (owner's LATERAL)")
        # the targets: ratio bands, and the absolute ones at the largest count
        for y, text in ((1.10, "1.10 (Q7/Q1/Q3, 1–20)"), (1.25, "1.25 (Q7/Q1/Q3 all; Q2L/Q4 1–20)"),
                        (1.5, "1.5 (Q2L/Q4 all)")):
            ax.axhline(y, color="grey", linewidth=0.6, linestyle=":")
            ax.annotate(text, (ms[0], y), xytext=(2, 2), textcoords="offset points", fontsize=6, color="grey")
        for q, label, limit in (("QI", "QI", 50.0), ("Q1", "Q1/Q7", 1.0)):
            ax2.scatter([top], [limit], marker="v", s=90, color=colors[q], zorder=4)
            ax2.annotate(f"{label} target < {limit:g} ms at {top:,}", (top, limit), xytext=(-8, 6),
                         textcoords="offset points", ha="right", fontsize=7, color=colors[q])
        for a in (ax, ax2):
            a.set_xscale("log")
            a.set_yscale("log")
            a.set_xticks(ms, [f"{m:,}" for m in ms], fontsize=7, rotation=30, ha="right")
            a.xaxis.set_minor_formatter(NullFormatter())
            a.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
            a.yaxis.set_minor_formatter(minor)
            a.set_xlabel("workspaces the user belongs to (log)")
        ax.set_ylabel("p50 RLS ÷ baseline (log)")
        ax.axhline(1.0, color="grey", linewidth=0.5)
        ax.legend(fontsize=6.5, loc="lower left")
        ax.set_title("ratio (dotted: targets)", fontsize=9)
        ax2.set_ylabel("RLS p50, ms (log)")
        ax2.legend(fontsize=6.5, loc="upper left")
        ax2.set_title("RLS p50 (▼: absolute targets at the largest count)", fontsize=9)
        fig.suptitle(f"RLS cost against memberships ({scale} scale, {n_conv:,} conversations; "
                     f"build {meta['build'].split()[0]})", fontsize=10)
        fig.tight_layout()
        fig.savefig(os.path.join(out, f"sweep{suffix}.png"), dpi=110)
    except ImportError:
        pass
    print(f"sweep: wrote {out}/sweep{suffix}.{{md,json,png}}")


if __name__ == "__main__":
    main()
