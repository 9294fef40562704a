#!/usr/bin/env bash
# Latency of every list query in this directory as a client sees it: pgbench, one client, extended protocol
# (parameters bound as the server binds them, no server-side prepare), each query repeated for SECONDS (default 5)
# on one connection, so the connection's first, catalog-loading execution is amortised; page queries at page 1 and
# page 500. Prints the average latency in ms.
# usage: bench/sql/run.sh CONNINFO [SECONDS] [PATTERN]   e.g. run.sh "$DATABASE_URL" 5 'page_category_*'
set -euo pipefail
conninfo=${1:?usage: $0 CONNINFO [SECONDS] [PATTERN]}
seconds=${2:-5}
pattern=${3:-*}
cd "$(dirname "$0")"
vars=(-D slug=dj -D location=gauteng -D when=2025-12-13 -D min_price=1000 -D max_price=5000)

latency() {
    pgbench -n -M extended -c 1 -T "$seconds" "${vars[@]}" "$@" "$conninfo" 2>&1 |
        awk '/latency average/ { print $4 }'
}

printf '%-42s %6s %10s\n' query page ms
for file in $pattern.sql; do
    case $file in
    page_*)
        for page in 1 500; do
            printf '%-42s %6s %10s\n' "$file" "$page" "$(latency -D page="$page" -f "$file")"
        done
        ;;
    *) printf '%-42s %6s %10s\n' "$file" - "$(latency -f "$file")" ;;
    esac
done
