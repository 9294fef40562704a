#!/usr/bin/env bash
# run.sh: requests/s through the trailing-slash rewrite (mruby/rewrites.rb + reproxy) against the same resource
# requested at its canonical URL, on loopback with h2load (h2c, prior knowledge). Prints both rates and their ratio.
#
#   bench/mruby/run.sh                      # uses build/booka-origin
#   BOOKA_BIN=build-x/booka-origin DURATION=10 ROUNDS=5 THREADS=2 bench/mruby/run.sh
#
# The rewrite is mounted as in h2o.conf. The canonical path is served by file.dir from a small JSON file, so the
# numbers measure the rewrite (one mruby call, one internal re-dispatch), not a handler behind it.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh" mruby
BIN=${BOOKA_BIN:-$ROOT/build/booka-origin}
case $BIN in /*) ;; *) BIN=$ROOT/$BIN ;; esac
DURATION=${DURATION:-5}  # seconds measured per URL and round, after a 1 s warm-up
ROUNDS=${ROUNDS:-3}      # measurements per URL, alternating; the medians are compared
THREADS=${THREADS:-2}    # server threads; h2load gets as many
CLIENTS=${CLIENTS:-32}   # connections
STREAMS=${STREAMS:-10}   # concurrent streams per connection
QUERY='sort=newest&page=1&limit=20'

command -v h2load >/dev/null || { echo "run.sh: h2load not found (Debian package nghttp2-client)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "run.sh: $BIN is not built" >&2; exit 1; }

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/list"
printf '{"data": [{"id": 1, "business_name": "Stand-in"}], "total": 1, "page": 1, "limit": 20}\n' >"$WORK/list/list.json"
cat >"$WORK/h2o.conf" <<EOF
user: root # booka-origin, like H2O, leaves root for nobody unless told otherwise (no backquotes: this heredoc expands them)
listen:
  port: $PORT
  host: 127.0.0.1
num-threads: $THREADS
hosts:
  default:
    paths:
      /api/v1/service-provider-profiles/:
        file.dir: $WORK/list
        file.index: [list.json]
      /api/v1/service-provider-profiles:
        reproxy: ON
        mruby.handler-file: $ROOT/mruby/rewrites.rb
EOF

"$BIN" -c "$WORK/h2o.conf" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
i=0
until curl -sf -o /dev/null "http://127.0.0.1:$PORT/api/v1/service-provider-profiles/"; do
    i=$((i + 1))
    [ $i -lt 100 ] || { cat "$WORK/server.log" >&2; exit 1; }
    sleep 0.1
done
# the rewrite must answer 200 with the canonical body before it is worth timing
[ "$(curl -s "http://127.0.0.1:$PORT/api/v1/service-provider-profiles?$QUERY")" = "$(cat "$WORK/list/list.json")" ] ||
    { echo "run.sh: the rewritten URL does not serve the canonical body" >&2; exit 1; }

# rate URL LOG: requests/s h2load reaches on URL (every response must be 2xx); each request's latency appended to LOG
rate() {
    out=$(h2load -D "$DURATION" --warm-up-time=1 -c "$CLIENTS" -m "$STREAMS" -t "$THREADS" --log-file="$WORK/round.log" "$1")
    cat "$WORK/round.log" >>"$2"
    echo "$out" | grep -q "status codes: [0-9]* 2xx, 0 3xx, 0 4xx, 0 5xx" || { echo "$out" >&2; exit 1; }
    echo "$out" | awk '/^finished in/ { gsub(",", "", $4); print $4 }'
}

# median of the arguments
median() {
    printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# alternate the two URLs so that drift in the machine's load hits both alike; report the medians
direct_rates=
rewritten_rates=
i=0
while [ $i -lt "$ROUNDS" ]; do
    direct_rates="$direct_rates $(rate "http://127.0.0.1:$PORT/api/v1/service-provider-profiles/?$QUERY" "$WORK/direct.log")"
    rewritten_rates="$rewritten_rates $(rate "http://127.0.0.1:$PORT/api/v1/service-provider-profiles?$QUERY" "$WORK/rewritten.log")"
    i=$((i + 1))
done
# shellcheck disable=SC2086
direct=$(median $direct_rates)
# shellcheck disable=SC2086
rewritten=$(median $rewritten_rates)
echo "canonical  /api/v1/service-provider-profiles/?$QUERY: $direct req/s (rounds:$direct_rates)"
echo "rewritten  /api/v1/service-provider-profiles?$QUERY: $rewritten req/s (rounds:$rewritten_rates)"
ratio=$(awk -v r="$rewritten" -v d="$direct" 'BEGIN { printf "%.3f", r / d }')
echo "ratio rewritten/canonical: $ratio"
bench_result "rewrite (mruby + reproxy), h2c ${CLIENTS}x$STREAMS" throughput req/s "$rewritten" "$direct" "$ratio" \
    "rewritten URL / canonical URL (higher is better)"
bench_latency "no trailing slash, rewritten" booka-origin 3 1000 "$WORK/rewritten.log"
bench_latency "canonical URL" booka-origin 3 1000 "$WORK/direct.log"
