#!/usr/bin/env bash
# Latency of the list's SQL as a client sees it. For each list query string, the statement plugin/list/sql.c builds for
# it is written as a pgbench script by booka-list-sql (the server's own builder: nothing here restates its SQL), then
# run by pgbench: one client, extended protocol (parameters bound as the server binds them, no server-side prepare),
# repeated for SECONDS (default 5) on one connection, so the connection's first, catalog-loading execution is
# amortised. Prints the average latency in ms.
# usage: bench/sql/run.sh CONNINFO [SECONDS [QUERY-STRING...]]
#   e.g. bench/sql/run.sh "$DATABASE_URL" 5 'category=dj&sort=most_booked&page=500'
set -euo pipefail
conninfo=${1:?usage: $0 CONNINFO [SECONDS [QUERY-STRING...]]}
seconds=${2:-5}
shift $(($# < 2 ? $# : 2))
root=$(cd "$(dirname "$0")/../.." && pwd)
list_sql=${BOOKA_LIST_SQL:-$root/build/booka-list-sql}
[ -x "$list_sql" ] || { echo "run.sh: $list_sql is not built (scripts/build.sh release)" >&2; exit 1; }

queries=("$@")
if [ ${#queries[@]} -eq 0 ]; then
    for sort in newest most_booked top_rated price_low price_high; do
        for category in "" "&category=dj"; do
            for page in 1 500; do queries+=("sort=$sort$category&page=$page"); done
        done
    done
    queries+=("location=gauteng&sort=most_booked" "when=2025-12-13" "min_price=1000&max_price=5000&sort=price_low"
        "category=dj&location=gauteng&min_price=1000&max_price=5000&when=2025-12-13&sort=most_booked"
        "sort=newest&fields=id,business_name,user.first_name,service_categories")
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%-90s %10s\n' query ms
for q in "${queries[@]}"; do
    mapfile -t vars < <("$list_sql" "$q" "$tmp/q.sql")
    ms=$(pgbench -n -M extended -c 1 -T "$seconds" "${vars[@]}" -f "$tmp/q.sql" "$conninfo" 2>&1 |
        awk '/latency average/ { print $4 }')
    printf '%-90s %10s\n' "$q" "${ms:-failed}"
done
