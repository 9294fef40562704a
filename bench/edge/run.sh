#!/usr/bin/env bash
# run.sh: the edge with purging (issue 13), through a real Varnish running plugin/edge/varnish.vcl in front of one
# booka-origin (release build), on a database of its own (1000 generated providers, written to):
#   1. write to visible: a provider renamed WRITES times; after each commit, the milliseconds until the list shows
#      the new name at the origin and through Varnish keeping lists an hour (s-maxage 3600, purged by tag);
#      p50/p90/p99 of both (bench/edge/visible.py);
#   2. origin load: the list requests reaching the origin while h2load sends a fixed load of category and whole-set
#      lists through Varnish for DURATION s, with a write every WRITE_EVERY s, with edge lifetimes of 60 s and no
#      purging (the shipped h2o.conf) against an hour with purging.
#
#   eval "$(scripts/stack.sh env)"; bench/edge/run.sh
#   WRITES=100 DURATION=90 WRITE_EVERY=5 CLIENTS=8 RPS=50 bench/edge/run.sh
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh" edge
BIN=${BOOKA_BIN:-$ROOT/build/booka-origin}
case $BIN in /*) ;; *) BIN=$ROOT/$BIN ;; esac
WRITES=${WRITES:-100}         # renames timed in part 1
DURATION=${DURATION:-90}      # seconds of load per lifetime setting in part 2
WRITE_EVERY=${WRITE_EVERY:-5} # seconds between writes during that load
CLIENTS=${CLIENTS:-8}         # h2load connections to Varnish
RPS=${RPS:-50}                # requests per second per connection
PROVIDERS=1000

for tool in varnishd h2load psql python3 curl; do
    command -v $tool >/dev/null || { echo "run.sh: $tool not found (scripts/packages.txt)" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "run.sh: $BIN is not built" >&2; exit 1; }
: "${BOOKA_PG_ADMIN_URL:?run.sh: set the stack environment: eval \"\$(scripts/stack.sh env)\"}"
: "${REDIS_URL:?run.sh: set the stack environment: eval \"\$(scripts/stack.sh env)\"}"

WORK=$(mktemp -d)
ORIGIN_PID=
VARNISH_PID=
WRITER_PID=
stop_pair() {
    for pid in $WRITER_PID $VARNISH_PID $ORIGIN_PID; do
        kill "$pid" 2>/dev/null && { wait "$pid" 2>/dev/null || true; }
    done
    WRITER_PID= VARNISH_PID= ORIGIN_PID=
}
cleanup() {
    stop_pair
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

DB=${BOOKA_PG_ADMIN_URL%/*}/booka_bench_edge
psql "$BOOKA_PG_ADMIN_URL" -X -q -c "DROP DATABASE IF EXISTS booka_bench_edge WITH (FORCE)" -c "CREATE DATABASE booka_bench_edge"
"$ROOT/schema/migrate.sh" "$DB" >/dev/null 2>&1
"$ROOT/schema/seed.sh" "$PROVIDERS" "$DB" >/dev/null
LIST=/api/v1/service-provider-profiles/

# start_pair LIST_SETTINGS EDGE_SETTINGS: an origin with booka.list LIST_SETTINGS (and booka.edge EDGE_SETTINGS unless
# empty), Varnish in front of it; returns when both answer and the origin's LISTEN connection is up.
start_pair() {
    PORT=$(free_port)
    VPORT=$(free_port)
    {
        echo "listen: {port: $PORT, host: 127.0.0.1}"
        echo "num-threads: 2"
        [ -z "$2" ] || echo "booka.edge: $(echo "$2" | sed "s/VPORT/$VPORT/")"
        echo "booka.postgres: {url: \"$DB\", pool-size: 4}"
        echo "booka.redis: \"$REDIS_URL\""
        echo "hosts: {default: {paths: {$LIST: {booka.list: $1}, /metrics: {booka.metrics: ON},"
        echo "  /healthz: {booka.health: ON}, /readyz: {booka.readiness: ON}}}}"
    } >"$WORK/h2o.conf"
    "$BIN" -c "$WORK/h2o.conf" >>"$WORK/origin.log" 2>&1 &
    ORIGIN_PID=$!
    sed "s/\.port = \"8080\";/.port = \"$PORT\";/" "$ROOT/plugin/edge/varnish.vcl" >"$WORK/booka.vcl"
    rm -rf "$WORK/varnish"
    varnishd -F -j none -a "127.0.0.1:$VPORT" -T none -n "$WORK/varnish" -f "$WORK/booka.vcl" -s malloc,128m \
        >>"$WORK/varnish.log" 2>&1 &
    VARNISH_PID=$!
    local i=0
    until curl -sf "http://127.0.0.1:$PORT/readyz" | grep -q '"invalidation": *"up"' &&
        curl -sf -o /dev/null "http://127.0.0.1:$VPORT/healthz"; do
        i=$((i + 1))
        [ $i -lt 300 ] || { tail -20 "$WORK/origin.log" "$WORK/varnish.log" >&2; exit 1; }
        sleep 0.1
    done
}

# list_requests: list responses the origin has sent (its /metrics)
list_requests() {
    curl -sf "http://127.0.0.1:$PORT/metrics" |
        awk -v route="$LIST" 'index($0, "booka_http_requests_total{route=\"" route "\"") == 1 { n += $NF } END { print n + 0 }'
}

# ---- 1. write to visible ----
# the newest provider of a category: first on that category's default (newest) page, whatever its name becomes
read -r provider category < <(psql "$DB" -X -A -t -F ' ' -c "SELECT m.user_id, c.slug FROM booka.provider_categories m
    JOIN service_categories c ON c.id = m.category_id JOIN service_provider_profiles p ON p.user_id = m.user_id
    ORDER BY p.created_at DESC, p.user_id DESC LIMIT 1")
start_pair '{s-maxage: 3600}' '{varnish: http://127.0.0.1:VPORT/}'
query="?category=$category&limit=5&fields=id,business_name"
python3 "$ROOT/bench/edge/visible.py" "$DB" "$provider" "$WRITES" "http://127.0.0.1:$PORT$LIST$query" \
    "http://127.0.0.1:$VPORT$LIST$query" "$WORK/visible-origin.log" "$WORK/visible-edge.log"
read -r _ origin_p50 _ origin_p99 _ < <(bench_percentiles 1 1 "$WORK/visible-origin.log")
read -r _ edge_p50 _ edge_p99 _ < <(bench_percentiles 1 1 "$WORK/visible-edge.log")
stop_pair
echo "write to visible over $WRITES writes: origin p50 $origin_p50 ms, p99 $origin_p99 ms; through Varnish (s-maxage 1 h," \
    "purged) p50 $edge_p50 ms, p99 $edge_p99 ms"
bench_result "write to visible through Varnish (1 h, purged), p99" latency ms "$edge_p99" "$origin_p99" \
    "$(awk -v a="$edge_p99" -v b="$origin_p99" 'BEGIN { printf "%.2f", a / b }')" "through the edge / at the origin"
bench_latency "write to visible, $WRITES writes" "through Varnish" 1 1 "$WORK/visible-edge.log"
bench_latency "write to visible, $WRITES writes" "at the origin" 1 1 "$WORK/visible-origin.log"

# ---- 2. origin load: 60 s lifetimes vs an hour with purging ----
psql "$DB" -X -A -t -c "SELECT slug FROM service_categories ORDER BY id" | while read -r slug; do
    for page in 1 2; do echo "http://127.0.0.1:VPORT$LIST?category=$slug&limit=20&page=$page"; done
done >"$WORK/urls.template"
for page in 1 2 3; do echo "http://127.0.0.1:VPORT$LIST?limit=20&page=$page"; done >>"$WORK/urls.template"

# origin_rate LIST_SETTINGS EDGE_SETTINGS: sets rate (list requests/s at the origin during the load) and edge_rate
# (requests/s h2load got from Varnish)
origin_rate() {
    start_pair "$1" "$2"
    sed "s/VPORT/$VPORT/" "$WORK/urls.template" >"$WORK/urls"
    xargs -n 1 curl -sf -o /dev/null <"$WORK/urls" # every URL cached once before the clock starts
    (
        i=0
        while sleep "$WRITE_EVERY"; do
            i=$((i + 1))
            psql "$DB" -X -q -c "UPDATE service_provider_profiles SET business_name = 'Load $i'
                WHERE user_id = (SELECT user_id FROM service_provider_profiles ORDER BY random() LIMIT 1)"
        done
    ) &
    WRITER_PID=$!
    local before after out
    before=$(list_requests)
    out=$(h2load --h1 -i "$WORK/urls" -c "$CLIENTS" --rps "$RPS" -D "$DURATION")
    after=$(list_requests)
    echo "$out" | grep -q "status codes: [0-9]* 2xx, 0 3xx, 0 4xx, 0 5xx" || { echo "$out" >&2; exit 1; }
    edge_rate=$(echo "$out" | awk '/^finished in/ { gsub(",", "", $4); print $4 }')
    stop_pair
    rate=$(awk -v n=$((after - before)) -v d="$DURATION" 'BEGIN { printf "%.2f", n / d }')
}
origin_rate '{s-maxage: 60}' ''
short=$rate short_edge=$edge_rate
origin_rate '{s-maxage: 3600}' '{varnish: http://127.0.0.1:VPORT/, stale-if-error: 86400}'
long=$rate long_edge=$edge_rate
urls=$(wc -l <"$WORK/urls.template")
echo "origin list requests/s with $urls lists under $((CLIENTS * RPS)) req/s at Varnish and a write every ${WRITE_EVERY} s:" \
    "s-maxage 60 without purging $short (edge $short_edge req/s); s-maxage 3600 with purging $long (edge $long_edge req/s)"
bench_result "origin list requests/s, $urls lists at $((CLIENTS * RPS)) req/s, a write every ${WRITE_EVERY} s" throughput req/s \
    "$long" "$short" "$(awk -v a="$long" -v b="$short" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')" \
    "s-maxage 1 h + purge / s-maxage 60 s (lower is better)"
