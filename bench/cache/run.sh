#!/usr/bin/env bash
# bench/cache/run.sh: list cache HITs over HTTP/2 (h2c, h2load) with the repo's own h2o.conf, next to Debian's stock h2o
# serving the very same body as a static file, same threads, connections and streams, in the same run, without and then
# with an access log (h2o.conf's format, to a file) on both sides; prints both rates and their ratio (target: at least
# 0.9). Then the p99 of HITs while background refreshes run (cache-ttl 1 s). Loopback only, bounded in count.
#   REQUESTS (default 200000), CONNECTIONS (64), STREAMS (10), THREADS (server threads, 2), ROUNDS (3);
#   BENCH_DATABASE_URL: the database to fill the cache from (default: the local stack's demo data)
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh cache
requests=${REQUESTS:-200000}
conns=${CONNECTIONS:-64}
streams=${STREAMS:-10}
threads=${THREADS:-2}
rounds=${ROUNDS:-3}
scripts/deps.sh
scripts/build.sh release >/dev/null
scripts/stack.sh start >/dev/null
eval "$(scripts/stack.sh env)"
mkdir -p .state/media # h2o.conf's avatar media-root
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
    export DATABASE_URL=$BENCH_DATABASE_URL
else
    scripts/demo-data.sh
fi
work=$(mktemp -d)
chmod 755 "$work"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
stock_port=$((port + 1))
path='/api/v1/service-provider-profiles/?category=dj&sort=most_booked&limit=12'

# production_conf LOG [TTL]: the repo's own h2o.conf as `./dev run` uses it (bench_production_conf), at this run's port and
# thread count; LOG a file for the access log or empty for none; TTL the list's cache-ttl (default 600 s, so that no
# entry goes stale during the rounds: the HIT path is what is measured)
production_conf() {
    bench_production_conf "$port" "$threads" "$1" "$PWD/.state/media" "${2:-600}"
}

# serve_booka CONF: booka-origin started on the configuration in file CONF
serve_booka() {
    build/booka-origin -c "$1" >"$work/booka.log" 2>&1 &
    for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$port$path" && return 0; sleep 0.1; done
    echo "booka-origin did not start" >&2
    cat "$work/booka.log" >&2
    exit 1
}
stop_booka() {
    kill %1 2>/dev/null || true
    wait %1 2>/dev/null || true
}

rate() { # h2load's requests per second for URL $1, each request's latency logged to $2
    h2load -n "$requests" -c "$conns" -m "$streams" -t 1 --log-file="$2" "$1" 2>/dev/null | awk '/^finished in/ {print $4}'
}

production_conf "" >"$work/booka.conf"
serve_booka "$work/booka.conf"
curl -s -o "$work/body.json" "http://127.0.0.1:$port$path"
mkdir -p "$work/www"
cp "$work/body.json" "$work/www/list.json"
chmod 644 "$work/www/list.json"
# stock_conf LOG: stock h2o serving the body as a static file, same threads; LOG as for production_conf, same format
stock_conf() {
    bench_stock_conf "$stock_port" "$threads" "$work/www" "$1"
}

# compare CASE LOG: alternating rounds of both sides (the machine is shared), each side's best kept with its latency log
compare() {
    local case=$1 log=$2 best_booka=0 best_stock=0 b s
    stop_booka
    production_conf "${log:+$work/booka-access.log}" >"$work/booka.conf"
    serve_booka "$work/booka.conf"
    stock_conf "${log:+$work/stock-access.log}" >"$work/h2o.conf"
    h2o -c "$work/h2o.conf" >"$work/h2o.log" 2>&1 &
    local stock_pid=$!
    for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$stock_port/list.json" && break; sleep 0.1; done
    cmp -s "$work/body.json" <(curl -s "http://127.0.0.1:$stock_port/list.json") || { echo "stock h2o does not serve the same bytes" >&2; exit 1; }
    cmp -s "$work/body.json" <(curl -s "http://127.0.0.1:$port$path") || { echo "booka-origin's HIT is not the same bytes" >&2; exit 1; }
    for round in $(seq 1 "$rounds"); do
        b=$(rate "http://127.0.0.1:$port$path" "$work/booka.$round.log")
        s=$(rate "http://127.0.0.1:$stock_port/list.json" "$work/stock.$round.log")
        echo "$case, round $round: booka-origin HIT $b req/s, stock h2o static $s req/s"
        if awk -v a="$best_booka" -v b="$b" 'BEGIN {exit !(b > a)}'; then best_booka=$b; cp "$work/booka.$round.log" "$work/booka.best.log"; fi
        if awk -v a="$best_stock" -v b="$s" 'BEGIN {exit !(b > a)}'; then best_stock=$s; cp "$work/stock.$round.log" "$work/stock.best.log"; fi
    done
    kill "$stock_pid"
    wait "$stock_pid" 2>/dev/null || true
    if [ -n "$log" ]; then # both logged every request, or the comparison is not fair
        local want=$((rounds * requests + 2))
        [ "$(wc -l <"$work/booka-access.log")" -ge $((rounds * requests)) ] && [ "$(wc -l <"$work/stock-access.log")" -ge $((rounds * requests)) ] ||
            { echo "an access log missed requests (want ~$want lines)" >&2; exit 1; }
        rm -f "$work/booka-access.log" "$work/stock-access.log"
    fi
    ratio=$(awk -v b="$best_booka" -v s="$best_stock" 'BEGIN {printf "%.3f", b / s}')
    printf '%s: booka-origin %.0f req/s, stock h2o %.0f req/s, ratio %s (target >= 0.9)\n' "$case" "$best_booka" "$best_stock" "$ratio"
    bench_result "$case, h2c ${conns}x$streams" throughput req/s "$best_booka" "$best_stock" "$ratio" \
        "booka-origin / stock h2o static file, same bytes (higher is better; target >= 0.9)"
    bench_latency "$case" booka-origin 3 1000 "$work/booka.best.log"
    bench_latency "$case" "stock h2o" 3 1000 "$work/stock.best.log"
}

echo "body: $(wc -c <"$work/body.json") bytes; $requests requests, $conns connections x $streams streams, $threads server threads;" \
    "booka-origin runs the repo's h2o.conf"
compare "list HIT" ""
cp "$work/stock.best.log" "$work/stock.nolog.log"
compare "list HIT, access log on both" file

# p99 of HITs while refreshes run: a 1 s TTL makes an entry go stale, get served STALE and refresh, over and over
stop_booka
production_conf "" 1 | sed 's/^          cache-ttl: 1$/&\n          cache-jitter: 0\n          cache-stale: 600/' >"$work/booka.conf"
grep -q 'cache-stale: 600$' "$work/booka.conf" || { echo "could not set the list's cache settings in h2o.conf's copy" >&2; exit 1; }
serve_booka "$work/booka.conf"
h2load -n $((requests / 4)) -c "$conns" -m "$streams" -t 1 --log-file="$work/latency.log" "http://127.0.0.1:$port$path" >/dev/null 2>&1
read -r samples p50 _ p99 _ < <(bench_percentiles 3 1000 "$work/latency.log")
echo "latency with refreshes running: p50 $p50 ms, p99 $p99 ms over $samples requests"
read -r _ _ _ stock_p99 _ < <(bench_percentiles 3 1000 "$work/stock.nolog.log")
bench_result "HIT while refreshes run (TTL 1 s)" "p99 latency" ms "$p99" "$stock_p99" \
    "$(awk -v a="$p99" -v b="$stock_p99" 'BEGIN {printf "%.2f", a / b}')" "booka-origin / stock h2o static p99 (lower is better)"
bench_latency "HIT, refreshes running" booka-origin 3 1000 "$work/latency.log"
