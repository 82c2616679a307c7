#!/usr/bin/env python3
"""The two-version tables of docs/performance.md ("PostgreSQL 15 and 18"),
generated from the benchmark's results of each version, measured back to back
on one build: bench/results/pg15/ (`make bench BENCH_OUT=bench/results/pg15`)
and bench/results/pg18/ (`make bench PG=18`), each with latest.json,
sweep.json and per_row.json (bench/per_row.py).

    python3 bench/versions.py           print the tables
    python3 bench/versions.py --write   put them into docs/performance.md
    python3 bench/versions.py --check   exit 1 unless docs/performance.md holds them

Every figure comes from the JSON files; nothing here is typed by hand.
CX_PERFORMANCE_MD names another file to write or check (the tests' control).
"""
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DOC = os.environ.get("CX_PERFORMANCE_MD") or os.path.join(ROOT, "docs", "performance.md")
BEGIN, END = "<!-- versions:begin -->\n", "<!-- versions:end -->\n"
VERSIONS = [("15", "bench/results/pg15"), ("18", "bench/results/pg18")]
SWEEP_QUERIES = ["Q7", "Q1", "Q3", "Q4", "Q2L", "QI"]
SWEEP_COUNTS = [1, 10, 100, 1000, 5000, 10000]


def load(rel, name):
    with open(os.path.join(ROOT, rel, name)) as f:
        return json.load(f)


def ms(v):
    if v >= 100:
        return f"{v:,.0f} ms"
    if v >= 10:
        return f"{v:.1f} ms"
    return f"{v:.3f} ms"


def per_s(v):
    return f"{v:,.0f}/s"


def render():
    bench = {v: load(d, "latest.json") for v, d in VERSIONS}
    sweep = {v: load(d, "sweep.json") for v, d in VERSIONS}
    out = []
    builds = {bench[v]["git_commit"] for v, _ in VERSIONS} | {sweep[v]["meta"]["build"] for v, _ in VERSIONS}
    if len(builds) != 1:
        sys.exit(f"bench/versions.py: the results are of different builds {sorted(builds)}: measure both versions on one")
    measured = "; ".join(
        f"PostgreSQL {bench[v]['postgres']['version']}: `{d}/` ({bench[v]['finished_at']})" for v, d in VERSIONS
    )
    out.append(f"Measured: {measured}, one build (each JSON records it). Ratios compare the two sides of one "
               "run; compare the ratios across versions, and the milliseconds only as a rough guide (two runs, "
               "a shared machine).")
    out.append("")
    out.append("Full scale, 20 memberships per user (`bench.py`): p50 (Q5, Q6: throughput) and ratio = RLS ÷ baseline.")
    out.append("")
    out.append("| query | 15 baseline | 15 RLS | 15 ratio | 18 baseline | 18 RLS | 18 ratio | target |")
    out.append("|---|---|---|---|---|---|---|---|")
    rows15 = {r["query"]: r for r in bench["15"]["table"]}
    rows18 = {r["query"]: r for r in bench["18"]["table"]}
    for q, r15 in rows15.items():
        r18 = rows18[q]
        fmt = per_s if r15["unit"] == "per s" else ms
        cells = [f"{q} {r15['title']}"]
        for r in (r15, r18):
            mark = "" if r["met"] else "**"
            ratio = f"{r['ratio']:.2f}"
            if not r["met"] and ratio in r15["target"]:
                ratio = f"{r['ratio']:.3f}"  # a miss that two decimals would round onto the target
            cells += [fmt(r["baseline"]), fmt(r["rls"]), f"{mark}{ratio}{mark}"]
        cells.append(r15["target"])
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append("Membership sweep (`sweep.py`, full scale): ratio RLS ÷ baseline on 15 → on 18, "
               "RLS p50 in parentheses.")
    out.append("")
    out.append("| memberships | " + " | ".join(SWEEP_QUERIES) + " |")
    out.append("|---|" + "---|" * len(SWEEP_QUERIES))
    cell = {v: {(r["memberships"], r["query"]): r for r in sweep[v]["results"]} for v, _ in VERSIONS}
    for n in SWEEP_COUNTS:
        cells = [f"{n:,}"]
        for q in SWEEP_QUERIES:
            a, b = cell["15"].get((n, q)), cell["18"].get((n, q))
            if a is None or b is None:
                cells.append("–")
                continue
            cells.append(f"{a['ratio']:.2f} → {b['ratio']:.2f} ({ms(a['rls_p50_ms'])} → {ms(b['rls_p50_ms'])})")
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    per_row = {v: load(d, "per_row.json") for v, d in VERSIONS}
    out.append("The policy's check per row (`bench/per_row.py`: a count over a sequential scan of "
               f"{per_row['15']['rows']:,} rows of one workspace, RLS p50 − owner p50, ÷ rows): "
               + "; ".join(f"PostgreSQL {per_row[v]['postgres']}: owner "
                           f"{ms(per_row[v]['owner_p50_ms'])}, RLS {ms(per_row[v]['rls_p50_ms'])}, "
                           f"**{per_row[v]['per_row_ns']:.0f} ns per row**" for v, _ in VERSIONS) + ".")
    out.append("")
    out.append("`= ANY(array)` in the btree: the owner's Q4 is `workspace_id = ANY($1)` with the user's N "
               "workspaces as the array; under RLS the planner support adds `workspace_id = ANY "
               "(support.member_workspaces())` as the index condition. p50, 15 → 18 (change):")
    out.append("")
    out.append("| memberships | Q4 baseline (`= ANY($1)`) | Q4 RLS | Q2L baseline | Q2L RLS |")
    out.append("|---|---|---|---|---|")
    for n in SWEEP_COUNTS:
        cells = [f"{n:,}"]
        for q in ("Q4", "Q2L"):
            a, b = cell["15"].get((n, q)), cell["18"].get((n, q))
            for side in ("baseline_p50_ms", "rls_p50_ms"):
                if a is None or b is None:
                    cells.append("–")
                else:
                    cells.append(f"{ms(a[side])} → {ms(b[side])} (×{b[side] / a[side]:.2f})")
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    explain = {v: index_scans(os.path.join(ROOT, d, "sweep-explain.txt")) for v, d in VERSIONS}
    out.append("What the index scan of Q4 reads (`sweep-explain.txt`: EXPLAIN (ANALYZE, BUFFERS) of each side, "
               "re-planned for its parameters): shared buffers, 15 → 18, and on 18 the index searches "
               "(descents of the btree) it reports:")
    out.append("")
    out.append("| memberships | baseline buffers | baseline searches (18) | RLS buffers | RLS searches (18) |")
    out.append("|---|---|---|---|---|")
    for n in SWEEP_COUNTS:
        cells = [f"{n:,}"]
        for side in ("baseline", "rls"):
            a, b = explain["15"].get((n, side)), explain["18"].get((n, side))
            if a is None or b is None:
                cells += ["–", "–"]
            else:
                cells += [f"{a[0]:,} → {b[0]:,}", "–" if b[1] is None else f"{b[1]:,}"]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def index_scans(path):
    """{(memberships, side): (shared buffers hit, index searches or None)} of
    the index scan in each plan of a sweep-explain.txt (its innermost node:
    the last Buffers line before Planning)."""
    out = {}
    with open(path) as f:
        blocks = f.read().split("\n-- ")[1:]
    for block in blocks:
        head, *lines = block.split("\n")
        n, side = head.split(" memberships, ")
        buffers, searches = None, None
        for line in lines:
            line = line.strip()
            if line.startswith("Planning"):
                break
            if line.startswith("Buffers: shared hit="):
                buffers = int(line.split("=")[1].split(",")[0].split()[0])
            if line.startswith("Index Searches: "):
                searches = int(line.split(": ")[1])
        out[(int(n.replace(",", "")), side.strip())] = (buffers, searches)
    return out


def main():
    table = render()
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode not in ("", "--write", "--check"):
        sys.exit(__doc__)
    if not mode:
        sys.stdout.write(table)
        return
    with open(DOC) as f:
        doc = f.read()
    if BEGIN not in doc or END not in doc:
        sys.exit(f"{DOC}: no {BEGIN.strip()} ... {END.strip()} markers")
    head, rest = doc.split(BEGIN, 1)
    current, tail = rest.split(END, 1)
    if mode == "--check":
        if current != table:
            sys.exit("docs/performance.md does not hold the tables of bench/results: run python3 bench/versions.py --write")
        print("docs/performance.md: the two-version tables of bench/results")
        return
    with open(DOC, "w") as f:
        f.write(head + BEGIN + table + END + tail)


if __name__ == "__main__":
    main()
