#!/usr/bin/env bash
# run.sh: booka-thumb against vipsthumbnail on the same sources, sizes and qualities: CPU and wall time and peak RSS per
# process (medians of RUNS runs; RSS from /usr/bin/time -v), with ratios; then shrink-on-load against full decode, and the
# JPEG encoder modes.
#
# usage: bench/image/run.sh [BUILD_DIR]   (default build-image; needs the booka-thumb target built, ImageMagick's convert,
#        libvips-tools' vipsthumbnail and GNU time). Both tools run single-threaded (VIPS_CONCURRENCY=1), as one request
#        does on our worker pool.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh" image
build=$(cd "${1:-$root/build-image}" && pwd)
thumb=$(find "$build" -name booka-thumb -type f -perm -u+x | head -n 1)
runs=${RUNS:-5}
[ -x "$thumb" ] || { echo "booka-thumb not found under $build: cmake --build $build --target booka-thumb" >&2; exit 2; }
for tool in convert vipsthumbnail /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done

work=$(mktemp -d /tmp/booka-thumb-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "sources (ImageMagick, fixed seeds):"
convert -size 1600x1200 -seed 42 plasma:fractal -blur 0x1 PNG24:photo1600.png
convert photo1600.png -resize 4000x3000! -seed 7 -attenuate 0.4 +noise Gaussian -quality 90 photo4000.jpg
convert photo1600.png -resize 2000x1500! -quality 90 photo2000.webp
convert -size 1200x1600 -seed 5 plasma:fractal -blur 0x1 -quality 90 -interlace Plane portrait1600.jpg
for f in photo4000.jpg photo1600.png photo2000.webp portrait1600.jpg; do
    printf '  %-18s %s, %s bytes\n' "$f" "$(identify -format '%wx%h' "$f")" "$(stat -c %s "$f")"
done

# measure COMMAND...: runs COMMAND $runs times; prints "cpu_ms wall_ms peak_rss_kb": the medians of CPU time (user + system,
# from bash's `time`, which is what to compare on a shared machine) and of wall time, and the largest max RSS (GNU time).
# Each run's CPU time is left in cpu.runs, one a line.
measure() {
    local cpus=() walls=() rss=0 kb TIMEFORMAT='%3R %3U %3S'
    for _ in $(seq "$runs"); do
        if ! { time /usr/bin/time -v -o time.txt "$@" >/dev/null 2>&1; } 2>times.txt; then
            echo "failed: $*" >&2
            exit 1
        fi
        read -r wall user sys <times.txt
        cpus+=("$(echo "($user + $sys) * 1000" | bc -l)")
        walls+=("$(echo "$wall * 1000" | bc -l)")
        kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' time.txt)
        ((kb > rss)) && rss=$kb
    done
    printf '%s\n' "${cpus[@]}" >cpu.runs
    printf '%s %s %s\n' "$(median "${cpus[@]}")" "$(median "${walls[@]}")" "$rss"
}

median() {
    printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {printf "%.0f", a[int((NR + 1) / 2)]}'
}

# compare SRC SIDE FORMAT Q: booka-thumb and vipsthumbnail producing the same square, format and quality.
compare() {
    local src=$1 side=$2 format=$3 q=$4 ext ours vips
    ext=$([ "$format" = jpeg ] && echo jpg || echo webp)
    read -r ours_cpu ours_wall ours_kb < <(measure "$thumb" "$src" "ours.$ext" "$side" "$format" "$q")
    mv cpu.runs ours.runs
    read -r vips_cpu vips_wall vips_kb < <(VIPS_CONCURRENCY=1 measure vipsthumbnail "$src" --size "${side}x${side}" --smartcrop centre \
        -o "$work/vips.$ext[Q=$q,strip]")
    ours=$(stat -c %s "ours.$ext")
    vips=$(stat -c %s "vips.$ext")
    printf '%-16s %4s %-4s %3s | %5d %5d %6d %6d | %5d %5d %6d %6d | %5.2fx %5.2fx\n' "$src" "$side" "$format" "$q" "$ours_cpu" \
        "$ours_wall" "$ours_kb" "$ours" "$vips_cpu" "$vips_wall" "$vips_kb" "$vips" "$(echo "$vips_cpu / $ours_cpu" | bc -l)" \
        "$(echo "$vips_kb / $ours_kb" | bc -l)"
    local label="$src ${side}px $format q$q"
    bench_result "$label" "CPU per image (process)" ms "$ours_cpu" "$vips_cpu" "$(printf '%.2f' "$(echo "$vips_cpu / $ours_cpu" | bc -l)")" \
        "vipsthumbnail / booka-thumb (higher is better)"
    bench_result "$label" "peak RSS (process)" KiB "$ours_kb" "$vips_kb" "$(printf '%.2f' "$(echo "$vips_kb / $ours_kb" | bc -l)")" \
        "vipsthumbnail / booka-thumb (higher is better)"
    bench_latency "$label" "booka-thumb CPU" 1 1 ours.runs
    bench_latency "$label" "vipsthumbnail CPU" 1 1 cpu.runs
}

echo
echo "booka-thumb vs vipsthumbnail, medians of $runs runs: CPU ms (user + sys), wall ms, peak RSS KB, output bytes;"
echo "ratios are vipsthumbnail / booka-thumb for CPU time and peak RSS (above 1: we use less)"
printf '%-16s %4s %-4s %3s | %5s %5s %6s %6s | %5s %5s %6s %6s | %6s %6s\n' source side fmt q cpu wall rss bytes cpu wall rss bytes \
    cpu rss
compare photo4000.jpg 512 jpeg 85
compare photo4000.jpg 512 webp 85
compare photo4000.jpg 256 webp 85
compare photo1600.png 256 webp 85
compare photo1600.png 512 jpeg 90
compare photo2000.webp 256 webp 85
compare photo2000.webp 512 jpeg 85
compare portrait1600.jpg 256 jpeg 85

echo
echo "shrink-on-load vs full decode, photo4000.jpg to 512 px JPEG q85 (medians of $runs runs):"
read -r shrink_cpu shrink_wall shrink_kb < <(measure "$thumb" photo4000.jpg shrink.jpg 512 jpeg 85)
read -r full_cpu full_wall full_kb < <(measure "$thumb" --full-decode photo4000.jpg full.jpg 512 jpeg 85)
printf '  shrink-on-load (DCT 1/2): %5d ms CPU %5d ms wall %6d KB\n' "$shrink_cpu" "$shrink_wall" "$shrink_kb"
printf '  full decode:              %5d ms CPU %5d ms wall %6d KB  (%.2fx the CPU time)\n' "$full_cpu" "$full_wall" "$full_kb" \
    "$(echo "$full_cpu / $shrink_cpu" | bc -l)"
bench_result "photo4000.jpg 512px jpeg q85" "shrink-on-load vs full decode, CPU" ms "$shrink_cpu" "$full_cpu" \
    "$(printf '%.2f' "$(echo "$full_cpu / $shrink_cpu" | bc -l)")" "full decode / shrink-on-load (higher: shrink-on-load saves more)"

echo
echo "JPEG encoder modes (encode only, best of 20):"
for src in photo4000.jpg photo1600.png photo2000.webp; do
    "$thumb" --jpeg-modes "$src" 512 85
    "$thumb" --jpeg-modes "$src" 256 85
done
