#!/usr/bin/env bash
# bench/cache/run.sh: list cache HITs over HTTP/2 (h2c, h2load) next to Debian's stock h2o serving the very same body
# as a static file, same threads, connections and streams, in the same run; prints both rates and their ratio (target:
# at least 0.9). Then the p99 of HITs while background refreshes run (cache-ttl 1 s). Loopback only, bounded in count.
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
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
    export DATABASE_URL=$BENCH_DATABASE_URL
else
    mkdir -p .state/media
    scripts/demo-data.sh
fi
work=$(mktemp -d)
chmod 755 "$work"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
stock_port=$((port + 1))
path='/api/v1/service-provider-profiles/?category=dj&sort=most_booked&limit=12'

serve_booka() { # $1: booka.list settings
    cat >"$work/booka.conf" <<CONF
user: root # booka-origin, like H2O, leaves root for `nobody` unless told otherwise
listen: {port: $port, host: 127.0.0.1}
num-threads: $threads
booka.redis: OFF
hosts:
  default:
    paths:
      /api/v1/service-provider-profiles/:
        booka.list: $1
CONF
    build/booka-origin -c "$work/booka.conf" >"$work/booka.log" 2>&1 &
    for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$port$path" && return 0; sleep 0.1; done
    echo "booka-origin did not start" >&2
    exit 1
}

rate() { # h2load's requests per second for URL $1, each request's latency logged to $2
    h2load -n "$requests" -c "$conns" -m "$streams" -t 1 --log-file="$2" "$1" 2>/dev/null | awk '/^finished in/ {print $4}'
}

serve_booka '{cache-ttl: 600}'
curl -s -o "$work/body.json" "http://127.0.0.1:$port$path"
mkdir -p "$work/www"
cp "$work/body.json" "$work/www/list.json"
chmod 644 "$work/www/list.json"
cat >"$work/h2o.conf" <<CONF
user: nobody
listen: {port: $stock_port, host: 127.0.0.1}
num-threads: $threads
hosts:
  default:
    paths:
      /: {file.dir: $work/www}
CONF
h2o -c "$work/h2o.conf" >"$work/h2o.log" 2>&1 &
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$stock_port/list.json" && break; sleep 0.1; done
cmp -s "$work/body.json" <(curl -s "http://127.0.0.1:$stock_port/list.json") || { echo "stock h2o does not serve the same bytes" >&2; exit 1; }

echo "body: $(wc -c <"$work/body.json") bytes; $requests requests, $conns connections x $streams streams, $threads server threads"
best_booka=0 best_stock=0
for round in $(seq 1 "$rounds"); do # alternate, keep each side's best (and its latency log): the machine is shared
    b=$(rate "http://127.0.0.1:$port$path" "$work/booka.$round.log")
    s=$(rate "http://127.0.0.1:$stock_port/list.json" "$work/stock.$round.log")
    echo "round $round: booka-origin HIT $b req/s, stock h2o static $s req/s"
    if awk -v a="$best_booka" -v b="$b" 'BEGIN {exit !(b > a)}'; then best_booka=$b; cp "$work/booka.$round.log" "$work/booka.best.log"; fi
    if awk -v a="$best_stock" -v b="$s" 'BEGIN {exit !(b > a)}'; then best_stock=$s; cp "$work/stock.$round.log" "$work/stock.best.log"; fi
done
ratio=$(awk -v b="$best_booka" -v s="$best_stock" 'BEGIN {printf "%.3f", b / s}')
printf 'HIT throughput: booka-origin %.0f req/s, stock h2o %.0f req/s, ratio %s (target >= 0.9)\n' "$best_booka" "$best_stock" "$ratio"
bench_result "list HIT, h2c ${conns}x$streams" throughput req/s "$best_booka" "$best_stock" "$ratio" \
    "booka-origin / stock h2o static file, same bytes (higher is better; target >= 0.9)"
bench_latency "list HIT" booka-origin 3 1000 "$work/booka.best.log"
bench_latency "list HIT" "stock h2o" 3 1000 "$work/stock.best.log"

# p99 of HITs while refreshes run: a 1 s TTL makes an entry go stale, get served STALE and refresh, over and over
kill %1 2>/dev/null || true
wait %1 2>/dev/null || true
serve_booka '{cache-ttl: 1, cache-jitter: 0, cache-stale: 600}'
h2load -n $((requests / 4)) -c "$conns" -m "$streams" -t 1 --log-file="$work/latency.log" "http://127.0.0.1:$port$path" >/dev/null 2>&1
read -r samples p50 _ p99 _ < <(bench_percentiles 3 1000 "$work/latency.log")
echo "latency with refreshes running: p50 $p50 ms, p99 $p99 ms over $samples requests"
read -r _ _ _ stock_p99 _ < <(bench_percentiles 3 1000 "$work/stock.best.log")
bench_result "HIT while refreshes run (TTL 1 s)" "p99 latency" ms "$p99" "$stock_p99" \
    "$(awk -v a="$p99" -v b="$stock_p99" 'BEGIN {printf "%.2f", a / b}')" "booka-origin / stock h2o static p99 (lower is better)"
bench_latency "HIT, refreshes running" booka-origin 3 1000 "$work/latency.log"
