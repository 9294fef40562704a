#!/usr/bin/env bash
# bench/list/run.sh: the list endpoint's cold path (straight to Postgres, its cache kept empty) next to the same SQL run by pgbench,
# for each sort, with and without a category, at page 1 and a deep page. Prints requests/s and p50/p99 of both, the
# server's CPU time per request, and the ratios server/SQL (target: p50 at most 1.15). Server and SQL runs alternate
# twice per case and each side keeps its better run, so a burst of background load does not decide the comparison.
#
#   bench/list/run.sh [--url URL] [--load N] [--duration S] [--threads T] [--pool P] [--clients C] [--deep-page N]
#                     [--fields LIST] [--cases 'QUERY ...']
#
# --url       database (default $BENCH_DATABASE_URL, else the schema cluster's 1M set postgresql://postgres@127.0.0.1:55432/b1m)
# --load N    first replace the database's data with N generated providers (schema/migrate.sh + schema/seed.sh)
# --threads/--pool: server threads (default 1) and connections per thread (default 4); --clients (default threads*pool)
#             is the concurrency of both h2load (one stream per connection) and pgbench, so both keep the same number
#             of queries in flight. On a 2-core box one loop thread is the fair shape: every extra thread competes
#             with Postgres and the load generator for the same cores.
# The server binary is $BOOKA_BIN (default build/booka-origin), the SQL dumper $BOOKA_LIST_SQL (default next to it).
# Both clients run on this machine over loopback: keep durations short on a shared box.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh" list
url=${BENCH_DATABASE_URL:-postgresql://postgres@127.0.0.1:55432/b1m}
load=
duration=2
threads=1
pool=4
clients=
deep_page=1000
fields=
cases=

while [ $# -gt 0 ]; do
    case $1 in
    --url) url=$2; shift 2 ;;
    --load) load=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --pool) pool=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --deep-page) deep_page=$2; shift 2 ;;
    --fields) fields=$2; shift 2 ;;
    --cases) cases=$2; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done
clients=${clients:-$((threads * pool))}
bin=${BOOKA_BIN:-$root/build/booka-origin}
list_sql=${BOOKA_LIST_SQL:-$(dirname "$bin")/booka-list-sql}
for tool in h2load pgbench psql python3 "$bin" "$list_sql"; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool not found" >&2; exit 1; }
done

if [ -n "$load" ]; then
    "$root/schema/migrate.sh" "$url"
    "$root/schema/seed.sh" "$load" "$url"
fi
providers=$(psql "$url" -X -At -c 'SELECT count(*) FROM service_provider_profiles')
category=$(psql "$url" -X -At -c "SELECT c.slug FROM service_categories c JOIN booka.provider_categories m ON m.category_id = c.id
                                  GROUP BY c.slug ORDER BY count(*) DESC LIMIT 1")

if [ -z "$cases" ]; then
    for sort in newest most_booked top_rated price_low price_high; do
        for cat in "" "&category=$category"; do
            for page in 1 "$deep_page"; do
                cases="$cases sort=$sort$cat&page=$page"
            done
        done
    done
fi

tmp=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$tmp/h2o.conf" <<EOF
user: root # booka-origin, like H2O, leaves root for nobody unless told otherwise (no backquotes: this heredoc expands them)
listen:
  port: $port
  host: 127.0.0.1
num-threads: $threads
booka.redis: OFF
booka.postgres:
  url: "$url"
  pool-size: $pool
  query-timeout: 30000
  queue-limit: 100000
hosts:
  default:
    paths:
      # the cold path: nothing kept in process (cache-size 0), no Redis, and no waiting on another request's fill
      # (cache-wait 0), so every request runs its own query, as every pgbench transaction does
      /api/v1/service-provider-profiles/:
        booka.list: {cache-size: 0, cache-wait: 0, cache-ttl: 0, cache-jitter: 0, cache-stale: 0}
      /readyz:
        booka.readiness: ON
EOF
"$bin" -c "$tmp/h2o.conf" >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$tmp/server.log" >&2; exit 1; }

# p50_p99 FILE...: "p50 p99" in ms of the microsecond latencies in column 3 of the h2load or pgbench logs
p50_p99() {
    local p50 p99
    read -r _ p50 _ p99 _ < <(bench_percentiles 3 1000 "$@")
    printf '%.2f %.2f\n' "$p50" "$p99"
}

# pgbench's sessions get the settings the server's connections start with (plugin/db/configurator.c)
export PGOPTIONS="-c plan_cache_mode=force_custom_plan -c jit=off"

# cpu_ticks PID: user+system clock ticks the process has used so far
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}
hz=$(getconf CLK_TCK)

# run_server TARGET ROUND: "rps p50 p99 cpu_us_per_request log" for one h2load run
run_server() {
    local before after out rps done_requests p50 p99 log=$tmp/h2.$2.log
    rm -f "$log"
    before=$(cpu_ticks "$server_pid")
    out=$(h2load -D "$duration" -c "$clients" -m 1 --log-file="$log" "$1")
    after=$(cpu_ticks "$server_pid")
    rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")
    done_requests=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' <<<"$out")
    read -r p50 p99 < <(p50_p99 "$log")
    echo "$rps $p50 $p99 $(awk -v t=$((after - before)) -v hz="$hz" -v n="$done_requests" 'BEGIN { printf "%.0f", n ? t * 1e6 / hz / n : 0 }') $log"
}

# run_sql ROUND: "tps p50 p99 logs" for one pgbench run of $tmp/case.sql (logs: a glob of pgbench's per-client logs)
run_sql() {
    local tps p50 p99 prefix=pgb$1
    rm -f "$tmp/$prefix".*
    (cd "$tmp" && pgbench -n -M prepared -c "$clients" -j 1 -T "$duration" -f case.sql "${vars[@]}" -l --log-prefix="$prefix" "$url" \
        >pgbench.out 2>&1) || { cat "$tmp/pgbench.out" >&2; exit 1; }
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$tmp/pgbench.out")
    read -r p50 p99 < <(p50_p99 "$tmp/$prefix".*)
    echo "$tps $p50 $p99 $tmp/$prefix.*"
}

# better LINE1 LINE2: the line with the lower p50 (field 2): each side keeps its best of two alternating rounds, so a
# burst of background load on a shared machine penalises neither side alone
better() {
    awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); print (x[2] + 0 <= y[2] + 0 ? a : b) }'
}

echo "providers: $providers   category: $category   server: $threads threads x $pool connections   clients: $clients   best of 2 x ${duration}s"
printf '%-42s | %8s %7s %7s %6s | %8s %7s %7s | %7s %7s %7s\n' case "server/s" p50ms p99ms "cpu/us" "sql/s" p50ms p99ms "p50 x" "tput x" "cpu x"
printf '%s\n' "$(printf -- '-%.0s' $(seq 130))"
ratios=()
cpu_ratios=()
for q in $cases; do
    query="$q${fields:+&fields=$fields}"
    target="http://127.0.0.1:$port/api/v1/service-provider-profiles/?$query"
    mapfile -t vars < <("$list_sql" "$query" "$tmp/case.sql")
    status=$(curl -s -o /dev/null -w '%{http_code}' "$target")
    [ "$status" = 200 ] || { echo "$q: HTTP $status" >&2; tail -5 "$tmp/server.log" >&2; exit 1; }
    x_cache=$(curl -s -o /dev/null -D - "$target" | tr -d '\r' | sed -n 's/^x-cache: //Ip')
    [ "$x_cache" = MISS ] || { echo "$q: a repeated request answered X-Cache: $x_cache, not MISS: not the cold path" >&2; exit 1; }

    # warm both paths (prepared statements on every connection, pages in cache)
    h2load -n $((clients * 50)) -c "$clients" -m 1 "$target" >/dev/null
    pgbench -n -M prepared -c "$clients" -j 1 -t 50 -f "$tmp/case.sql" "${vars[@]}" "$url" >/dev/null

    s1=$(run_server "$target" 1)
    q1=$(run_sql 1)
    s2=$(run_server "$target" 2)
    q2=$(run_sql 2)
    read -r server_rps server_p50 server_p99 server_cpu server_log <<<"$(better "$s1" "$s2")"
    read -r sql_tps sql_p50 sql_p99 sql_logs <<<"$(better "$q1" "$q2")"
    ratio=$(awk -v a="$server_p50" -v b="$sql_p50" 'BEGIN { printf "%.2f", a / b }')
    tput=$(awk -v a="$sql_tps" -v b="$server_rps" 'BEGIN { printf "%.2f", a / b }')
    # the server's own CPU per request added to the SQL's latency: its overhead without the scheduling noise
    cpu=$(awk -v c="$server_cpu" -v b="$sql_p50" 'BEGIN { printf "%.2f", 1 + c / 1000 / b }')
    ratios+=("$ratio")
    cpu_ratios+=("$cpu")
    printf '%-42s | %8.0f %7s %7s %6s | %8.0f %7s %7s | %7s %7s %7s\n' "$q" "$server_rps" "$server_p50" "$server_p99" "$server_cpu" \
        "$sql_tps" "$sql_p50" "$sql_p99" "$ratio" "$tput" "$cpu"
    bench_result "$q" "p50 latency" ms "$server_p50" "$sql_p50" "$ratio" "server / pgbench, same SQL (lower is better; target <= 1.15)"
    bench_result "$q" throughput req/s "$(printf '%.0f' "$server_rps")" "$(printf '%.0f' "$sql_tps")" "$tput" \
        "pgbench / server (lower is better)"
    bench_latency "$q" booka-origin 3 1000 "$server_log"
    # shellcheck disable=SC2086
    bench_latency "$q" pgbench 3 1000 $sql_logs
done
geomean() {
    printf '%s\n' "$@" | awk '{ s += log($1); n++ } END { printf "%.3f", exp(s / n) }'
}
echo "geometric mean, server p50 / SQL p50: $(geomean "${ratios[@]}") (target <= 1.15)"
bench_result "all cases ($providers providers)" "p50 latency, geometric mean of ratios" - - - "$(geomean "${ratios[@]}")" \
    "server / pgbench (target <= 1.15)"
echo "geometric mean, (SQL p50 + server CPU per request) / SQL p50: $(geomean "${cpu_ratios[@]}")"
bench_result "all cases ($providers providers)" "server CPU per request over SQL p50, geometric mean" - - - \
    "$(geomean "${cpu_ratios[@]}")" "(SQL p50 + server CPU per request) / SQL p50: the overhead without scheduling noise"
