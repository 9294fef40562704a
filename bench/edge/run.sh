#!/usr/bin/env bash
# run.sh: the edge with purging (issue 13), through a real Varnish running plugin/edge/varnish.vcl in front of one
# booka-origin (release build), on a database of its own (1000 generated providers, written to):
#   1. write to visible: a provider renamed WRITES times; after each commit, the milliseconds until the list shows
#      the new name at the origin and through Varnish keeping lists an hour (s-maxage 3600, purged by tag);
#      p50/p90/p99 of both (bench/edge/visible.py);
#   2. origin load: the list requests reaching the origin while h2load sends a fixed load of category and whole-set
#      lists through Varnish for DURATION s, with a write every WRITE_EVERY s, with edge lifetimes of 60 s and no
#      purging (the shipped h2o.conf) against an hour with purging;
#   3. write to visible through a real streaming replica: a private primary (1000 providers) and a hot standby made
#      from it with pg_basebackup -R, applying WAL REPLICA_DELAY ms late (recovery_min_apply_delay); the origin reads
#      lists from the standby (booka.postgres-replica); per rename, the ms until the origin lists it against the ms
#      until the standby itself has it (the origin cannot be earlier than the standby without reading the primary).
#
#   eval "$(scripts/stack.sh env)"; bench/edge/run.sh
#   WRITES=100 DURATION=90 WRITE_EVERY=5 CLIENTS=8 RPS=50 REPLICA_DELAY=500 bench/edge/run.sh
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
REPLICA_DELAY=${REPLICA_DELAY:-500} # ms the standby of part 3 applies WAL late
PROVIDERS=1000

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
for tool in varnishd h2load psql python3 curl "$PG_BIN/pg_basebackup"; do
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
# PostgreSQL refuses to run as root: the clusters of part 3 run as `postgres` in a folder of their own
CLUSTERS=
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}
stop_clusters() {
    [ -n "$CLUSTERS" ] || return 0
    for data in "$CLUSTERS"/standby "$CLUSTERS"/primary; do
        [ ! -f "$data/postmaster.pid" ] || as_postgres "'$PG_BIN/pg_ctl' -D '$data' -m immediate -w stop" >/dev/null 2>&1 || true
    done
    rm -rf "$CLUSTERS"
    CLUSTERS=
}
cleanup() {
    stop_pair
    stop_clusters
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

# start_pair LIST_SETTINGS EDGE_SETTINGS [REPLICA_URL]: an origin with booka.list LIST_SETTINGS (and booka.edge
# EDGE_SETTINGS unless empty; reading lists from REPLICA_URL if given, writes of $DB), Varnish in front of it; returns
# when both answer and the origin's LISTEN connection is up.
start_pair() {
    PORT=$(free_port)
    VPORT=$(free_port)
    {
        echo "listen: {port: $PORT, host: 127.0.0.1}"
        echo "num-threads: 2"
        [ -z "$2" ] || echo "booka.edge: $(echo "$2" | sed "s/VPORT/$VPORT/")"
        echo "booka.postgres: {url: \"$DB\", pool-size: 4}"
        [ -z "${3:-}" ] || echo "booka.postgres-replica: {url: \"$3\"}"
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

# ---- 3. write to visible through a streaming replica ----
CLUSTERS=$(mktemp -d /tmp/booka-bench-replica.XXXXXX)
chmod 755 "$CLUSTERS"
[ "$(id -u)" -ne 0 ] || chown postgres "$CLUSTERS"
primary_port=$(free_port)
standby_port=$(free_port)
as_postgres "'$PG_BIN/initdb' -D '$CLUSTERS/primary' -A trust -U postgres --no-sync" >/dev/null
as_postgres "'$PG_BIN/pg_ctl' -D '$CLUSTERS/primary' -l '$CLUSTERS/primary.log' -w \
    -o '-p $primary_port -k $CLUSTERS -c listen_addresses=127.0.0.1' start" >/dev/null
DB="postgresql://postgres@127.0.0.1:$primary_port/booka"
psql "postgresql://postgres@127.0.0.1:$primary_port/postgres" -X -q -c "CREATE DATABASE booka"
"$ROOT/schema/migrate.sh" "$DB" >/dev/null 2>&1
"$ROOT/schema/seed.sh" "$PROVIDERS" "$DB" >/dev/null
as_postgres "'$PG_BIN/pg_basebackup' -D '$CLUSTERS/standby' -R -X stream -c fast -h 127.0.0.1 -p $primary_port -U postgres"
as_postgres "'$PG_BIN/pg_ctl' -D '$CLUSTERS/standby' -l '$CLUSTERS/standby.log' -w -o '-p $standby_port -k $CLUSTERS \
    -c listen_addresses=127.0.0.1 -c hot_standby=on -c recovery_min_apply_delay=${REPLICA_DELAY}ms' start" >/dev/null
STANDBY="postgresql://postgres@127.0.0.1:$standby_port/booka"
read -r provider category < <(psql "$DB" -X -A -t -F ' ' -c "SELECT m.user_id, c.slug FROM booka.provider_categories m
    JOIN service_categories c ON c.id = m.category_id JOIN service_provider_profiles p ON p.user_id = m.user_id
    ORDER BY p.created_at DESC, p.user_id DESC LIMIT 1")
start_pair ON '' "$STANDBY"
i=0
until curl -sf "http://127.0.0.1:$PORT/readyz" | grep -q '"replica_status": *"streaming"'; do
    i=$((i + 1))
    [ $i -lt 300 ] || { echo "run.sh: the origin never read from the standby" >&2; tail -20 "$WORK/origin.log" >&2; exit 1; }
    sleep 0.1
done
query="?category=$category&limit=5&fields=id,business_name"
python3 "$ROOT/bench/edge/visible.py" "$DB" "$provider" "$WRITES" "http://127.0.0.1:$PORT$LIST$query" "$STANDBY" \
    "$WORK/replica-origin.log" "$WORK/replica-standby.log"
replica_reads=$(curl -sf "http://127.0.0.1:$PORT/metrics" | awk '/^booka_db_queries_total\{pool="replica"/ { n += $NF } END { print n + 0 }')
stop_pair
stop_clusters
read -r _ rorigin_p50 _ rorigin_p99 _ < <(bench_percentiles 1 1 "$WORK/replica-origin.log")
read -r _ rstandby_p50 _ rstandby_p99 _ < <(bench_percentiles 1 1 "$WORK/replica-standby.log")
# per write, how much later the origin listed it than the standby had it (the fence's own cost)
paste "$WORK/replica-origin.log" "$WORK/replica-standby.log" | awk '{ d = $1 - $2; print (d < 0 ? 0 : d) }' >"$WORK/replica-after.log"
read -r _ after_p50 _ after_p99 _ < <(bench_percentiles 1 1 "$WORK/replica-after.log")
echo "write to visible through a standby applying WAL ${REPLICA_DELAY} ms late, $WRITES writes: the origin listed it after" \
    "p50 $rorigin_p50 ms, p99 $rorigin_p99 ms; the standby had it after p50 $rstandby_p50 ms, p99 $rstandby_p99 ms;" \
    "the origin after the standby: p50 $after_p50 ms, p99 $after_p99 ms ($replica_reads list queries read the standby)"
[ "${replica_reads%.*}" -gt 0 ] || { echo "run.sh: no list query read the standby" >&2; exit 1; }
bench_result "write to visible through a standby ${REPLICA_DELAY} ms behind, p99" latency ms "$rorigin_p99" "$rstandby_p99" \
    "$(awk -v a="$rorigin_p99" -v b="$rstandby_p99" 'BEGIN { printf "%.2f", a / b }')" "listed at the origin / replayed on the standby"
bench_latency "write to visible through a standby, $WRITES writes" "at the origin (list from the standby)" 1 1 "$WORK/replica-origin.log"
bench_latency "write to visible through a standby, $WRITES writes" "on the standby itself" 1 1 "$WORK/replica-standby.log"
