#!/usr/bin/env bash
# bench/memory/run.sh: the server's peak resident memory (VmHWM of /proc/PID/status) under 1,000 concurrent HTTP/2
# streams (h2load, h2c, CONNECTIONS x STREAMS, default 100 x 10), next to Debian's stock h2o serving the very same bytes
# as static files under the same load. Two workloads, each on a freshly started process, so each peak is its own:
#   list    one list URL, a cache HIT after the first request
#   avatar  AVATARS (default 200) distinct avatar URLs in turn, cold at first (decode, resize, encode on the worker
#           pool), then cached variants
# Both queue limits (Postgres pool, avatar workers) are raised to 1000 so that every stream is held and served, not
# shed with a 503 as the defaults would: the point is the memory of 1,000 streams in flight. Statuses are printed.
# Prints the idle and peak RSS of both servers and their ratio. Loopback only, bounded by REQUESTS (default 100000).
#   BENCH_DATABASE_URL (default: the local stack's DATABASE_URL), BOOKA_BIN (default build/booka-origin), THREADS (2)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh" memory
bin=${BOOKA_BIN:-$root/build/booka-origin}
requests=${REQUESTS:-100000}
conns=${CONNECTIONS:-100}
streams=${STREAMS:-10}
threads=${THREADS:-2}
avatars=${AVATARS:-200}
url=${BENCH_DATABASE_URL:-${DATABASE_URL:-}}
[ -n "$url" ] || { echo "memory: set BENCH_DATABASE_URL (a database loaded by schema/seed.sh)" >&2; exit 2; }
for tool in h2load h2o curl psql python3 "$bin"; do
    command -v "$tool" >/dev/null || { echo "memory: $tool not found" >&2; exit 1; }
done

work=$(mktemp -d /tmp/booka-memory-bench.XXXXXX)
chmod 755 "$work"
pid=
stop_server() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        pid=
    fi
}
trap 'stop_server; rm -rf "$work"' EXIT
"$root/schema/make-media.sh" "$work/media" >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
list_path='/api/v1/service-provider-profiles/?sort=most_booked&limit=20'

cat >"$work/booka.conf" <<CONF
user: root # booka-origin, like H2O, leaves root for nobody unless told otherwise (no backquotes: this heredoc expands them)
listen: {port: $port, host: 127.0.0.1}
num-threads: $threads
booka.redis: OFF
booka.postgres: {url: "$url", pool-size: 4, queue-limit: 1000}
hosts:
  default:
    paths:
      /api/v1/service-provider-profiles/:
        booka.list: ON
      /api/v1/img/avatar:
        booka.avatar: {media-root: $work/media, queue-limit: 1000}
      /readyz:
        booka.readiness: ON
CONF
cat >"$work/h2o.conf" <<CONF
user: nobody
listen: {port: $port, host: 127.0.0.1}
num-threads: $threads
hosts:
  default:
    paths:
      /: {file.dir: $work/www, file.index: [index.json]}
CONF

# start_server booka|h2o: a fresh process of that server on $port; sets $pid
start_server() {
    if [ "$1" = booka ]; then
        "$bin" -c "$work/booka.conf" >>"$work/booka.log" 2>&1 &
    else
        h2o -c "$work/h2o.conf" >>"$work/h2o.log" 2>&1 &
    fi
    pid=$!
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
        sleep 0.1
    done
    echo "memory: $1 did not start" >&2
    cat "$work/$1.log" >&2
    exit 1
}

# kib FIELD: the field (VmHWM, VmRSS) of the running server's /proc status, in KiB
kib() {
    awk -v f="$1:" '$1 == f { print $2 }' "/proc/$pid/status"
}

# load NAME URLS-FILE: h2load over the URLs in turn; prints "statuses" (2xx/5xx counts) and leaves NAME.log
load() {
    local out
    # shellcheck disable=SC2046
    out=$(h2load -n "$requests" -c "$conns" -m "$streams" -t 1 --log-file="$work/$1.log" $(cat "$2") 2>&1)
    sed -n 's/^status codes: \(.*\)/\1/p' <<<"$out"
}

# measure WORKLOAD SERVER URLS-FILE: one fresh server under the load; appends "server idle peak statuses" to WORKLOAD.res
measure() {
    local idle statuses
    start_server "$2"
    curl -s -o /dev/null "$(head -n 1 "$3")"
    idle=$(kib VmRSS)
    statuses=$(load "$1.$2" "$3")
    printf '%s\t%s\t%s\t%s\n' "$2" "$idle" "$(kib VmHWM)" "$statuses" >>"$work/$1.res"
    stop_server
}

# the bytes stock h2o serves: what booka-origin answered for each URL, saved under the same path
mirror() {
    local path
    start_server booka
    while read -r target; do
        path=${target#"http://127.0.0.1:$port"}
        path=${path%%\?*}
        [ "${path%/}" = "$path" ] || path=${path}index.json
        mkdir -p "$work/www$(dirname "$path")"
        curl -s -o "$work/www$path" "$target"
    done <"$1"
    stop_server
    chmod -R a+rX "$work/www"
}

echo "http://127.0.0.1:$port$list_path" >"$work/list.urls"
psql "$url" -X -At -c "SELECT user_id FROM service_provider_profiles WHERE profile_picture_url IS NOT NULL
                       ORDER BY user_id LIMIT $avatars" |
    sed "s|.*|http://127.0.0.1:$port/api/v1/img/avatar/&?w=256\&fmt=webp|" >"$work/avatar.urls"
mirror "$work/list.urls"
mirror "$work/avatar.urls"
sed 's|?.*||' "$work/list.urls" >"$work/list.static"
sed 's|?.*||' "$work/avatar.urls" >"$work/avatar.static"

echo "peak RSS under $((conns * streams)) concurrent HTTP/2 streams ($conns connections x $streams, h2c, $requests requests," \
    "$threads server threads)"
printf '%-8s %-13s | %10s %10s | %s\n' workload server "idle KiB" "peak KiB" "statuses"
for workload in list avatar; do
    measure "$workload" booka "$work/$workload.urls"
    measure "$workload" h2o "$work/$workload.static"
    while IFS=$'\t' read -r server idle peak statuses; do
        printf '%-8s %-13s | %10s %10s | %s\n' "$workload" "$server" "$idle" "$peak" "$statuses"
    done <"$work/$workload.res"
    read -r ours_idle ours_peak < <(awk -F'\t' '$1 == "booka" { print $2, $3 }' "$work/$workload.res")
    read -r ref_idle ref_peak < <(awk -F'\t' '$1 == "h2o" { print $2, $3 }' "$work/$workload.res")
    ratio=$(awk -v a="$ours_peak" -v b="$ref_peak" 'BEGIN { printf "%.2f", a / b }')
    growth=$(awk -v a="$((ours_peak - ours_idle))" -v b="$((ref_peak - ref_idle))" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    echo "  $workload: peak RSS booka-origin / stock h2o $ratio; growth over idle booka-origin / stock h2o $growth"
    label="$workload, $((conns * streams)) h2c streams"
    [ "$workload" = avatar ] && label="$avatars avatars (cold, then cached), $((conns * streams)) h2c streams"
    bench_result "$label" "peak RSS (VmHWM)" KiB "$ours_peak" "$ref_peak" "$ratio" "booka-origin / stock h2o, same bytes (lower is better)"
    bench_result "$label" "RSS growth over idle" KiB "$((ours_peak - ours_idle))" "$((ref_peak - ref_idle))" "$growth" \
        "booka-origin / stock h2o (lower is better)"
    bench_latency "$workload" booka-origin 3 1000 "$work/$workload.booka.log"
    bench_latency "$workload" "stock h2o" 3 1000 "$work/$workload.h2o.log"
done
