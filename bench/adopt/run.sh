#!/usr/bin/env bash
# run.sh: how long the marketplace's own writes wait while schema/migrate.sh adopts its database of N providers
# (default 1,000,000) in place, and while schema/uninstall.sh takes the project's objects out again (the issue: "no
# write of the other application waits more than a few seconds at any point of the migration").
#
#   eval "$(scripts/stack.sh env)"; nice bench/adopt/run.sh [N]
#   WRITERS=4 RATE=40 QUIET=30 bench/adopt/run.sh 100000
#
# The database booka_bench_adopt is made as the marketplace made it (spec/support/marketplace/: schema.sql as its role
# booka_bench_marketplace, data.sql for N providers), once: a later run finds it loaded for the same N (its COMMENT)
# and first takes out what an earlier run's migration added (schema/uninstall.sh). Then four phases, with the same
# writers running throughout each: WRITERS pgbench clients (default 4) at RATE transactions/s in all (default 40), the
# mix of bench/adopt/writes/*.sql (weights below), as the marketplace's role, every transaction logged:
#   baseline   QUIET s (default 30) before anything
#   migrate    schema/migrate.sh, each line it prints time-stamped
#   adopted    QUIET s on the adopted database (schema/check.sql first)
#   uninstall  schema/uninstall.sh
# A write's wait is its time from start to commit (pgbench's latency less the schedule lag of the rate limit: a write
# held up counts once, not again in the writes queued behind it). Printed per phase: writes, failures, p50, p99, the
# longest write with its kind and the migration step it began in, the longest of each kind; the phase's duration and
# the load average (1 min) at its start, its highest (sampled every 5 s) and at its end. Logs stay in the directory it
# names. The marketplace has no index on bookings.service_id, so each service delete scans bookings for its foreign key
# (about 0.6 s at 1M on an idle machine, before any migration): the longest write of a phase is often that one.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh" adopt
N=${1:-1000000}
WRITERS=${WRITERS:-4}
RATE=${RATE:-40}
QUIET=${QUIET:-30}
: "${BOOKA_PG_ADMIN_URL:?run.sh: set the stack environment: eval \"\$(scripts/stack.sh env)\"}"
for tool in psql pgbench awk; do
    command -v $tool >/dev/null || { echo "run.sh: $tool not found" >&2; exit 1; }
done

ROLE=booka_bench_marketplace
DB=booka_bench_adopt
URL=${BOOKA_PG_ADMIN_URL%/*}/$DB
APP=$(sed "s|//[^@/]*@|//$ROLE@|" <<<"$URL")
MARKETPLACE=$ROOT/spec/support/marketplace
OUT=$(mktemp -d /tmp/booka-adopt.XXXXXX)
SCRIPTS=(booking booking_status review service service_add service_delete profile provider)
WEIGHTS=(4 3 2 2 1 1 2 1)
PHASES=(baseline migrate adopted uninstall)
echo "adopt bench: N=$N, $WRITERS writers at $RATE/s in all; logs in $OUT"

admin() {
    psql "$BOOKA_PG_ADMIN_URL" -X -q -v ON_ERROR_STOP=1 "$@"
}

admin -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN CREATE ROLE $ROLE LOGIN; END IF; END \$\$"
marker=$(admin -At -c "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$DB'")
if [ "$marker" != "marketplace N=$N" ]; then
    echo "adopt bench: loading the marketplace database with $N providers" >&2
    start=$(date +%s)
    admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB OWNER $ROLE"
    psql "$APP" -X -q -v ON_ERROR_STOP=1 -f "$MARKETPLACE/schema.sql"
    psql "$URL" -X -q -v ON_ERROR_STOP=1 -v n="$N" -f "$MARKETPLACE/data.sql" >/dev/null
    psql "$URL" -X -q -c "VACUUM (ANALYZE)"
    admin -c "COMMENT ON DATABASE $DB IS 'marketplace N=$N'"
    echo "adopt bench: loaded in $(($(date +%s) - start)) s" >&2
elif psql "$URL" -X -At -c "SELECT to_regnamespace('booka') IS NOT NULL" | grep -q t; then
    echo "adopt bench: taking out what an earlier run's migration added" >&2
    "$ROOT/schema/uninstall.sh" "$URL"
fi
clients=$(psql "$URL" -X -At -c "SELECT count(*) FROM users WHERE user_type = 'client'")

# writers PHASE: pgbench in 10 s rounds until $OUT/stop appears (each round's log is complete when it exits).
writers() {
    local phase=$1 round=0 files=() i
    for i in "${!SCRIPTS[@]}"; do
        files+=(-f "$ROOT/bench/adopt/writes/${SCRIPTS[$i]}.sql@${WEIGHTS[$i]}")
    done
    while [ ! -e "$OUT/stop" ]; do
        round=$((round + 1))
        pgbench -n -c "$WRITERS" -j 2 -R "$RATE" -T 10 --max-tries=5 -D n="$N" -D clients="$clients" -l \
            --log-prefix="$OUT/$phase.$round" "${files[@]}" "$APP" >"$OUT/$phase.$round.out" 2>&1 || true
    done
}

# loadavg PHASE: the 1-minute load average every 5 s until $OUT/stop appears.
loadavg() {
    while [ ! -e "$OUT/stop" ]; do
        cut -d' ' -f1 /proc/loadavg >>"$OUT/$1.load"
        sleep 5
    done
}

# stamp: each input line prefixed with the epoch time it arrived at.
stamp() {
    while IFS= read -r line; do
        printf '%s %s\n' "$(date +%s.%N)" "$line"
    done
}

# phase NAME COMMAND...: COMMAND with the writers running from a second before it until it ends.
phase() {
    local name=$1 writers_pid load_pid status=0
    shift
    rm -f "$OUT/stop"
    writers "$name" &
    writers_pid=$!
    loadavg "$name" &
    load_pid=$!
    sleep 1
    echo "$(date +%s.%N) start" >"$OUT/$name.steps"
    "$@" 2>&1 | stamp >>"$OUT/$name.steps" || status=$?
    echo "$(date +%s.%N) end" >>"$OUT/$name.steps"
    cut -d' ' -f1 /proc/loadavg >>"$OUT/$name.load"
    touch "$OUT/stop"
    wait "$writers_pid" "$load_pid"
    return "$status"
}

# waits NAME: "wait_ms kind begin_epoch" per write of the phase, "failed kind begin_epoch" per failed one. pgbench's
# log: client, transaction, latency µs (or "failed"), script, end epoch s, µs, schedule lag µs, retries.
waits() {
    cat "$OUT/$1".*.[0-9]* | awk -v names="${SCRIPTS[*]}" '
        BEGIN { split(names, kind, " ") }
        { end = $5 + $6 / 1e6 }
        $3 !~ /^[0-9]+$/ { print "failed", kind[$4 + 1], end; next }
        { ms = ($3 - $7) / 1000; printf "%.3f %s %.6f\n", ms, kind[$4 + 1], end - ms / 1000 }'
}

# report NAME: one line about the phase; its numbers, tab-separated, in $OUT/NAME.summary: longest wait (ms), its kind,
# duration (s), load average at start, highest, at end, failed writes.
report() {
    local name=$1 samples p50 p90 p99 p999 max kind begin step failed seconds load_first load_top load_last
    waits "$name" >"$OUT/$name.waits"
    awk '$1 != "failed"' "$OUT/$name.waits" | sort -g -k1,1 >"$OUT/$name.sorted"
    bench_latency "$name" "marketplace writes" 1 1 "$OUT/$name.sorted"
    read -r samples p50 p90 p99 p999 < <(bench_percentiles 1 1 "$OUT/$name.sorted")
    if [ "$samples" -eq 0 ]; then
        printf '%-9s no writes logged\n' "$name"
        return
    fi
    read -r max kind begin < <(tail -n 1 "$OUT/$name.sorted")
    failed=$(grep -c '^failed' "$OUT/$name.waits" || true)
    # the last line migrate.sh (or the phase) printed before the longest write began
    step=$(awk -v t="$begin" '$1 <= t { sub(/^[^ ]+ /, ""); s = $0 } END { print s }' "$OUT/$name.steps")
    seconds=$(awk 'NR == 1 { a = $1 } { b = $1 } END { printf "%.0f", b - a }' "$OUT/$name.steps")
    read -r load_first load_top load_last < <(awk 'NR == 1 { f = $1 } { l = $1; if ($1 + 0 > t + 0) t = $1 }
                                                  END { print f, t, l }' "$OUT/$name.load")
    printf '%-9s %5s s: %6d writes, %d failed; p50 %6.1f ms, p99 %7.1f ms, p99.9 %7.1f ms, longest %8.1f ms (%s, began %s during: %s); load %s / %s / %s (start / highest / end)\n' \
        "$name" "$seconds" "$samples" "$failed" "$p50" "$p99" "$p999" "$max" "$kind" \
        "$(date -d "@$begin" +%T)" "$step" "$load_first" "$load_top" "$load_last"
    awk '$1 != "failed" { if ($1 + 0 > m[$2] + 0) m[$2] = $1 } END { for (k in m) printf "%s %.1f\n", k, m[k] }' \
        "$OUT/$name.waits" | sort |
        awk '{ printf "%s%s %s ms", NR == 1 ? "          longest per kind: " : ", ", $1, $2 } END { print "" }'
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$max" "$kind" "$seconds" "$load_first" "$load_top" "$load_last" "$failed" \
        >"$OUT/$name.summary"
}

phase baseline sleep "$QUIET"
phase migrate "$ROOT/schema/migrate.sh" "$URL"
psql "$URL" -X -q -v ON_ERROR_STOP=1 -f "$ROOT/schema/check.sql"
phase adopted sleep "$QUIET"
phase uninstall "$ROOT/schema/uninstall.sh" "$URL"

echo
for name in "${PHASES[@]}"; do
    report "$name"
done
base_max=$(cut -f1 "$OUT/baseline.summary")
for name in migrate adopted uninstall; do
    IFS=$'\t' read -r max _ seconds _ top _ failed <"$OUT/$name.summary"
    bench_result "$name" "longest write wait" ms "$max" "$base_max" \
        "$(awk -v a="$max" -v b="$base_max" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')" \
        "the longest write during the $name phase over the longest before the migration"
    bench_result "$name" "duration" s "$seconds" - - "the phase's length, writers running throughout"
    bench_result "$name" "highest load average" 1-min "$top" - - "sampled every 5 s; $(nproc) cores online"
    bench_result "$name" "failed writes" count "$failed" - - "pgbench transactions that failed after 5 tries"
done
echo
echo "migration steps (epoch time, what migrate.sh printed):"
cat "$OUT/migrate.steps"
