#!/usr/bin/env bash
# Prints docs/permissions.tsv (or the file given) as a Markdown table: the
# table between <!-- permissions:begin --> and <!-- permissions:end --> in
# docs/permissions.md. pg_test/tests/permissions.rs checks that they agree.
#   scripts/permissions_table.sh                 # print the table
#   scripts/permissions_table.sh --write         # refresh docs/permissions.md in place
set -euo pipefail
cd "$(dirname "$0")/.."
tsv=docs/permissions.tsv
write=0
for arg in "$@"; do
    case "$arg" in
        --write) write=1 ;;
        *) tsv=$arg ;;
    esac
done

table() {
    # Columns from the TSV's header: action, the subjects, what. A cell is ok,
    # a SQLSTATE (in backticks) or - (not applicable, shown as an em dash).
    awk -F'\t' '
        /^#/ || NF == 0 { next }
        !header {
            header = 1
            n = NF
            if ($1 != "action" || $n != "what") { printf "header: %s ... %s, expected action ... what\n", $1, $n > "/dev/stderr"; exit 1 }
            printf "|"
            for (i = 1; i <= n; i++) printf " %s |", $i
            printf "\n|---|"
            for (i = 2; i < n; i++) printf ":-:|"
            printf "---|\n"
            next
        }
        {
            if (NF != n) { printf "line %d: %d fields, expected %d\n", NR, NF, n > "/dev/stderr"; exit 1 }
            what = $n
            gsub(/\|/, "\\|", what)
            printf "| `%s` |", $1
            for (i = 2; i < n; i++) printf " %s |", ($i == "ok" ? "ok" : ($i == "-" ? "—" : "`" $i "`"))
            printf " %s |\n", what
        }
    ' "$tsv"
}

if [ "$write" = 0 ]; then
    table
    exit 0
fi
tmp=$(mktemp)
generated=$(mktemp)
trap 'rm -f "$tmp" "$generated"' EXIT
table >"$generated"
for md in docs/permissions.md; do
    awk -v gen="$generated" '
        /<!-- permissions:begin -->/ { print; while ((getline line < gen) > 0) print line; close(gen); skip = 1; next }
        /<!-- permissions:end -->/ { skip = 0 }
        !skip { print }
    ' "$md" >"$tmp"
    cat "$tmp" >"$md"
done
