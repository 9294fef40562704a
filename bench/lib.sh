# shellcheck shell=bash
# bench/lib.sh: sourced by the bench scripts (bash). Percentiles of latency logs, and the machine-readable results that
# bench/run's report is made from, written next to each script's console output.
#
# Results go to the directory $BENCH_RESULTS when it is set (nothing is written otherwise), into files named after
# $BENCH_SCENARIO (default: the name the caller gives when it sources this file, `. bench/lib.sh list`):
#   SCENARIO.tsv      case, metric, unit, ours, reference, ratio, what the ratio is      (bench_result)
#   SCENARIO.pct.tsv  case, side, samples, p50, p90, p99, p99.9 in ms                    (bench_latency)

BENCH_SCENARIO=${BENCH_SCENARIO:-${1:?usage: . bench/lib.sh DEFAULT-SCENARIO-NAME}}

# bench_percentiles COLUMN DIVISOR FILE...: "samples p50 p90 p99 p99.9" of the numbers in whitespace-separated COLUMN of
# the FILEs, each divided by DIVISOR (1000 turns microseconds into ms), nearest-rank; "0 - - - -" without samples.
bench_percentiles() {
    local column=$1 divisor=$2
    shift 2
    cat "$@" | awk -v c="$column" '$c != "" { print $c }' | sort -g | awk -v d="$divisor" '
        function rank(p,   i) { i = int(p * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; return v[i] / d }
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "0 - - - -"; exit }
            printf "%d %.3f %.3f %.3f %.3f\n", NR, rank(0.50), rank(0.90), rank(0.99), rank(0.999)
        }'
}

# bench_row FILE FIELD...: appends one tab-separated row to $BENCH_RESULTS/FILE, when results are being collected.
bench_row() {
    local file=$1
    shift
    [ -n "${BENCH_RESULTS:-}" ] || return 0
    mkdir -p "$BENCH_RESULTS"
    (IFS=$'\t' && echo "$*") >>"$BENCH_RESULTS/$file"
}

# bench_result CASE METRIC UNIT OURS REFERENCE RATIO MEANING: one comparison, as the console printed it.
bench_result() {
    bench_row "$BENCH_SCENARIO.tsv" "$@"
}

# bench_latency CASE SIDE COLUMN DIVISOR FILE...: the percentiles of one side of a case (SIDE names who was measured).
bench_latency() {
    local case=$1 side=$2 column=$3 divisor=$4
    shift 4
    # shellcheck disable=SC2046
    bench_row "$BENCH_SCENARIO.pct.tsv" "$case" "$side" $(bench_percentiles "$column" "$divisor" "$@")
}

# bench_production_conf PORT THREADS LOG MEDIA [TTL]: the repo's own h2o.conf (run from the repo root) as `./dev run` uses
# it, moved to PORT and THREADS, without its TLS listener (h2load speaks h2c), its relative paths made absolute (the copy
# lives elsewhere); LOG is a file for the access log (its format unchanged) or empty for none; MEDIA the avatar
# media-root; TTL, when given, the list's cache-ttl. Postgres and Redis come from DATABASE_URL and REDIS_URL, as for the
# real server. Fails when h2o.conf no longer has the shape this rewrite expects: anything else would measure another
# configuration without saying so.
bench_production_conf() {
    awk -v port="$1" -v threads="$2" -v logfile="$3" -v media="$4" -v ttl="${5:-}" -v root="$PWD" '
        /^listen:/ { listen++ }
        listen == 2 && /^[a-z]/ && !/^listen:/ { listen = 3 }   # the second (TLS) listener ends at the next top-level key
        listen == 2 { next }
        /^access-log:/ { in_log = 1; if (logfile == "") next; print; next }
        in_log && /^[a-z]/ { in_log = 0 }
        in_log && logfile == "" { next }
        in_log && /^  path:/ { print "  path: " logfile; logs++; next }
        /^  port: 8080$/ { print "  port: " port; ports++; next }
        /^          media-root: \.state\/media$/ { print "          media-root: " media; medias++; next }
        /^        booka.list:$/ { print; if (ttl != "") print "          cache-ttl: " ttl; lists++; next }
        { sub(/handler-file: mruby\//, "handler-file: " root "/mruby/"); sub(/file\.dir: web$/, "file.dir: " root "/web"); print }
        END {
            print "num-threads: " threads
            if (ports != 1 || medias != 1 || lists != 1 || (logfile != "" && logs != 1)) {
                print "bench_production_conf: h2o.conf no longer has the expected shape" > "/dev/stderr"; exit 1
            }
        }' h2o.conf
}

# bench_stock_conf PORT THREADS DIR [LOG]: stock h2o serving DIR as static files on PORT with THREADS, the reference the
# HIT benches compare with; LOG, when given, an access log in the repo's h2o.conf format (run from the repo root)
bench_stock_conf() {
    cat <<CONF
user: nobody
listen: {port: $1, host: 127.0.0.1}
num-threads: $2
hosts:
  default:
    paths:
      /: {file.dir: $3}
CONF
    [ -z "${4:-}" ] || printf 'access-log:\n  path: %s\n  format: %s\n' "$4" \
        "$(awk '/^access-log:/ { in_log = 1 } in_log && /^  format:/ { sub(/^  format: /, ""); print; exit }' h2o.conf)"
}
