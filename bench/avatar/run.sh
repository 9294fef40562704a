#!/usr/bin/env bash
# run.sh: the avatar endpoint through the server, next to vipsthumbnail on the same sources, sizes and qualities, in one
# run. Per image: cold (a variant nobody asked for yet: lookup, read, decode, crop, Lanczos-3, encode, send) and warm
# (the variant cached in process), as medians of curl's time_total over distinct providers pointing at the same file;
# vipsthumbnail's per-image time is the slope over a batch in one process (start-up excluded). Both sides
# single-threaded: one worker thread on our side, VIPS_CONCURRENCY=1 on theirs. Prints ratios (vipsthumbnail / ours:
# above 1, we are faster). Then HITs over HTTP/2 (h2c, h2load) with the repo's own h2o.conf, at the versioned URL the list
# emits and at a small variant, next to Debian's stock h2o serving the very same bytes as a static file, same threads,
# connections and streams, alternated, best of ROUNDS (target: at least 0.9).
#
# usage: bench/avatar/run.sh [BUILD_DIR]   (default build-avatar, a release build with booka-origin; needs ImageMagick,
#        curl, psql and the local stack of scripts/stack.sh; installs libvips-tools when vipsthumbnail is missing)
#   COUNT (cold requests per case, 15); the HIT comparison: REQUESTS (100000), CONNECTIONS (32), STREAMS (10), THREADS
#   (server threads, 2), ROUNDS (3); h2load and h2o (Debian's) are needed for it, skipped without them
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh" avatar
build=$(cd "${1:-$root/build-avatar}" && pwd)
bin=$build/booka-origin
count=${COUNT:-15} # providers (cold requests) per case
port=${BOOKA_BENCH_PORT:-18481}
[ -x "$bin" ] || { echo "no $bin: cmake --build $build --target booka-origin" >&2; exit 2; }
if ! command -v vipsthumbnail >/dev/null; then
    echo "installing libvips-tools for vipsthumbnail"
    apt-get install -y -qq libvips-tools >/dev/null
fi
for tool in convert identify curl psql bc; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done

"$root/scripts/stack.sh" start >/dev/null
eval "$("$root/scripts/stack.sh" env)"
db=$(echo "$BOOKA_PG_ADMIN_URL" | sed 's|/[^/]*$|/booka_avatar_bench|')
psql "$BOOKA_PG_ADMIN_URL" -X -q -c "DROP DATABASE IF EXISTS booka_avatar_bench WITH (FORCE)" -c "CREATE DATABASE booka_avatar_bench"
"$root/schema/migrate.sh" "$db" >/dev/null

work=$(mktemp -d /tmp/booka-avatar-bench.XXXXXX)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/media/profile_pics"
cd "$work/media/profile_pics"

echo "sources (ImageMagick, fixed seeds):"
convert -size 1600x1200 -seed 42 plasma:fractal -blur 0x1 PNG24:photo1600.png
convert photo1600.png -resize 4000x3000! -seed 7 -attenuate 0.4 +noise Gaussian -quality 90 photo4000.jpg
convert photo1600.png -resize 2000x1500! -quality 90 photo2000.webp
convert -size 1200x1600 -seed 5 plasma:fractal -blur 0x1 -quality 90 -interlace Plane portrait1600.jpg
sources=(photo4000.jpg photo1600.png photo2000.webp portrait1600.jpg)
for f in "${sources[@]}"; do
    printf '  %-18s %s, %s bytes\n' "$f" "$(identify -format '%wx%h' "$f")" "$(stat -c %s "$f")"
done

# providers: for source number s (0-based) and case c, ids s*10000 + c*100 + 1 .. + count, all pointing at the file, so
# every one of them is a cold variant once.
cases=("512 jpeg 85" "512 webp 85" "256 webp 85" "256 jpeg 90")
{
    echo "BEGIN;"
    for s in "${!sources[@]}"; do
        for c in "${!cases[@]}"; do
            first=$((s * 10000 + c * 100 + 1))
            echo "INSERT INTO users (id, email, user_type) SELECT i, 'p' || i || '@bench', 'service_provider'" \
                "FROM generate_series($first, $((first + count - 1))) i;"
            echo "INSERT INTO service_provider_profiles (user_id, profile_picture_url) SELECT i," \
                "'/static/profile_pics/${sources[$s]}' FROM generate_series($first, $((first + count - 1))) i;"
        done
    done
    echo "COMMIT;"
} | psql "$db" -X -q

cat >"$work/h2o.conf" <<YAML
user: root # booka-origin, like H2O, leaves root for nobody unless told otherwise
listen: {port: $port, host: 127.0.0.1}
num-threads: 1
booka.postgres: {url: "$db", pool-size: 2}
hosts:
  default:
    paths:
      /api/v1/img/avatar:
        booka.avatar:
          media-root: $work/media
          worker-threads: 1
          cache-budget: 256M
      /status:
        status: ON
YAML
# without REDIS_URL: variants of an earlier run must not answer this run's cold requests
env -u REDIS_URL "$bin" -c "$work/h2o.conf" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 0.1
done
cd "$work"

median() {
    printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {printf "%.2f", a[int((NR + 1) / 2)]}'
}

# fetch ID SIDE FMT Q: one request; prints its time_total in ms.
fetch() {
    curl -s -o "out.$3" -w '%{time_total}\n' "http://127.0.0.1:$port/api/v1/img/avatar/$1?w=$2&fmt=$3&q=$4" |
        awk '{printf "%.3f\n", $1 * 1000}'
}

# vips_per_image SRC SIDE FMT Q: vipsthumbnail's milliseconds per image: (time for 1 + N images - time for 1) / N, the N
# images being copies under other names (libvips caches operations on a file it has already opened).
vips_per_image() {
    local src=$1 side=$2 fmt=$3 q=$4 ext files=() one many TIMEFORMAT='%3R'
    ext=$([ "$fmt" = jpeg ] && echo jpg || echo webp)
    mkdir -p copies
    for i in $(seq "$count"); do
        [ -f "copies/$i-$src" ] || cp "media/profile_pics/$src" "copies/$i-$src"
        files+=("copies/$i-$src")
    done
    one=$({ time VIPS_CONCURRENCY=1 vipsthumbnail "media/profile_pics/$src" --size "${side}x${side}" --smartcrop centre \
        -o "$work/vips.$ext[Q=$q,strip]" >/dev/null 2>&1; } 2>&1)
    many=$({ time VIPS_CONCURRENCY=1 vipsthumbnail "media/profile_pics/$src" "${files[@]}" --size "${side}x${side}" \
        --smartcrop centre -o "$work/vips.$ext[Q=$q,strip]" >/dev/null 2>&1; } 2>&1)
    echo "($many - $one) * 1000 / $count" | bc -l
}

echo
echo "through the server (one loop thread, one worker) vs vipsthumbnail (VIPS_CONCURRENCY=1), ms per image, $count images"
echo "per case; ratios are vipsthumbnail / ours"
printf '%-16s %4s %-4s %3s | %8s %8s %7s | %8s %7s | %7s %7s\n' source side fmt q cold warm bytes vips bytes cold× warm×
for s in "${!sources[@]}"; do
    for c in "${!cases[@]}"; do
        read -r side fmt q <<<"${cases[$c]}"
        first=$((s * 10000 + c * 100 + 1))
        cold=() warm=()
        for i in $(seq 0 $((count - 1))); do cold+=("$(fetch $((first + i)) "$side" "$fmt" "$q")"); done
        for i in $(seq 0 $((count - 1))); do warm+=("$(fetch $((first + i)) "$side" "$fmt" "$q")"); done
        printf '%s\n' "${cold[@]}" >cold.ms
        printf '%s\n' "${warm[@]}" >warm.ms
        ours_bytes=$(stat -c %s "out.$fmt")
        vips=$(vips_per_image "${sources[$s]}" "$side" "$fmt" "$q")
        ext=$([ "$fmt" = jpeg ] && echo jpg || echo webp)
        cold_ms=$(median "${cold[@]}")
        warm_ms=$(median "${warm[@]}")
        printf '%-16s %4s %-4s %3s | %8.2f %8.2f %7d | %8.2f %7d | %6.2fx %6.1fx\n' "${sources[$s]}" "$side" "$fmt" "$q" \
            "$cold_ms" "$warm_ms" "$ours_bytes" "$vips" "$(stat -c %s "vips.$ext")" "$(echo "$vips / $cold_ms" | bc -l)" \
            "$(echo "$vips / $warm_ms" | bc -l)"
        label="${sources[$s]} ${side}px $fmt q$q"
        bench_result "$label" "cold (decode, resize, encode)" ms "$cold_ms" "$(printf '%.2f' "$vips")" \
            "$(printf '%.2f' "$(echo "$vips / $cold_ms" | bc -l)")" "vipsthumbnail / booka-origin per image (higher is better)"
        bench_result "$label" "warm (cached variant)" ms "$warm_ms" "$(printf '%.2f' "$vips")" \
            "$(printf '%.2f' "$(echo "$vips / $warm_ms" | bc -l)")" "vipsthumbnail / booka-origin per image (higher is better)"
        echo "$vips" >vips.ms
        bench_latency "$label" "booka-origin cold" 1 1 cold.ms
        bench_latency "$label" "booka-origin warm" 1 1 warm.ms
        bench_latency "$label" "vipsthumbnail (per image)" 1 1 vips.ms
    done
done
echo
decodes=$(curl -s "http://127.0.0.1:$port/status/json?show=avatar" | sed -n 's/.*"avatar-decodes": \([0-9]*\).*/\1/p')
echo "server decodes: $decodes (cold requests: $((${#sources[@]} * ${#cases[@]} * count)); warm ones decode nothing)"
if command -v h2load >/dev/null; then
    echo "warm throughput (h2load, 8 connections, one loop thread, a cached variant; each request still looks the token up):"
    out=$(h2load -n 4000 -c 8 "http://127.0.0.1:$port/api/v1/img/avatar/1?w=512&fmt=jpeg&q=85" 2>&1)
    grep -E 'finished in|time for request' <<<"$out"
    bench_result "photo4000.jpg 512px jpeg q85, h2load 8 connections" "warm throughput" req/s \
        "$(awk '/^finished in/ {print $4}' <<<"$out")" - - "absolute (one loop thread)"
fi

# ---- HITs against stock h2o: the production configuration (the list's LISTEN connection included, no Redis, no access
# log), warmed at two versioned URLs; stock h2o serves each body as a file, same threads, connections and streams ----
if ! command -v h2load >/dev/null || ! command -v h2o >/dev/null; then
    echo "no h2load or h2o: the HIT comparison with stock h2o is skipped"
    exit 0
fi
requests=${REQUESTS:-100000}
conns=${CONNECTIONS:-32}
streams=${STREAMS:-10}
threads=${THREADS:-2}
rounds=${ROUNDS:-3}
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=
(cd "$root" && bench_production_conf "$port" "$threads" "" "$work/media") >"$work/production.conf"
DATABASE_URL=$db env -u REDIS_URL "$bin" -c "$work/production.conf" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do # the LISTEN connection up: what a versioned HIT trusts (docs/AVATAR.md)
    curl -s "http://127.0.0.1:$port/readyz" | grep -q '"invalidation": "up"' && break
    sleep 0.1
done
stock_port=$((port + 1))
mkdir -p "$work/www"
chmod 755 "$work" "$work/www"
bench_stock_conf "$stock_port" "$threads" "$work/www" >"$work/stock.conf"
h2o -c "$work/stock.conf" >"$work/h2o.log" 2>&1 &
stock_pid=$!
trap 'kill "$stock_pid" 2>/dev/null; cleanup' EXIT
token=$(psql "$db" -X -At -c "SELECT picture_version FROM booka.providers WHERE user_id = 1")

rate() { # h2load's requests per second for URL $1
    h2load -n "$requests" -c "$conns" -m "$streams" -t 1 "$1" 2>/dev/null | awk '/^finished in/ {print $4}'
}

# hit_case NAME QUERY: warms provider 1's variant at QUERY, copies its bytes for stock h2o, and compares the rates
hit_case() {
    local name=$1 url="http://127.0.0.1:$port/api/v1/img/avatar/1?$2" best_booka=0 best_stock=0 b s file
    file=$(echo "$name" | tr -c 'a-z0-9\n' '-').jpg
    curl -s -o /dev/null "$url"
    [ "$(curl -s -o "$work/www/$file" -w '%{http_code} %header{x-cache}' "$url")" = "200 HIT" ] ||
        { echo "$name: the variant is not served as a HIT" >&2; exit 1; }
    chmod 644 "$work/www/$file"
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$stock_port/$file" && break; sleep 0.1; done
    cmp -s "$work/www/$file" <(curl -s "http://127.0.0.1:$stock_port/$file") || { echo "stock h2o does not serve the same bytes" >&2; exit 1; }
    for round in $(seq "$rounds"); do
        b=$(rate "$url")
        s=$(rate "http://127.0.0.1:$stock_port/$file")
        echo "$name, round $round: booka-origin HIT $b req/s, stock h2o static $s req/s"
        if awk -v a="$best_booka" -v b="$b" 'BEGIN {exit !(b > a)}'; then best_booka=$b; fi
        if awk -v a="$best_stock" -v b="$s" 'BEGIN {exit !(b > a)}'; then best_stock=$s; fi
    done
    ratio=$(awk -v b="$best_booka" -v s="$best_stock" 'BEGIN {printf "%.3f", b / s}')
    printf '%s (%d bytes): booka-origin %.0f req/s, stock h2o %.0f req/s, ratio %s (target >= 0.9)\n' "$name" \
        "$(stat -c %s "$work/www/$file")" "$best_booka" "$best_stock" "$ratio"
    bench_result "$name, h2c ${conns}x$streams" "HIT throughput" req/s "$best_booka" "$best_stock" "$ratio" \
        "booka-origin / stock h2o static file, same bytes (higher is better; target >= 0.9)"
}

echo
echo "avatar HITs vs stock h2o: the repo's h2o.conf (no access log), $requests requests, $conns connections x $streams streams," \
    "$threads server threads, best of $rounds"
hit_case "avatar HIT, the list's URL (512 px)" "w=256&dpr=2&q=90&v=$token"
hit_case "avatar HIT, 64 px" "w=64&q=85&fmt=jpeg&v=$token"
