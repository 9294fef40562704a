#!/usr/bin/env bash
# Create the demo avatar files that generated providers point at (/static/profile_pics/demo-NNN.EXT) under
# DIR/profile_pics/, DIR being the server's media root. Needs ImageMagick's convert.
#
# The set is fixed and matches schema/generate.sql: demo-001 .. demo-024; every 6th (006, 012, 018, 024) is a PNG
# with transparent corners, the rest JPEG; every 4th starting at 003 (003, 007, ...) is portrait 600x800, the rest
# landscape 800x600. Files are rebuilt only when missing; the same ImageMagick gives the same bytes.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 MEDIA_ROOT" >&2
    exit 2
fi
out="$1/profile_pics"
mkdir -p "$out"

colours=(tomato steelblue gold seagreen orchid coral teal slateblue darkorange firebrick cadetblue olivedrab)

for n in $(seq 1 24); do
    name=$(printf 'demo-%03d' "$n")
    if [ $((n % 6)) -eq 0 ]; then ext=png; else ext=jpg; fi
    if [ $((n % 4)) -eq 3 ]; then size=600x800; else size=800x600; fi
    file="$out/$name.$ext"
    [ -s "$file" ] && continue
    from=${colours[$((n % ${#colours[@]}))]}
    to=${colours[$(((n * 5 + 3) % ${#colours[@]}))]}
    if [ "$ext" = png ]; then
        # A plasma disc on a transparent canvas: the alpha channel is real.
        w=${size%x*} h=${size#*x}
        convert -seed "$n" -size "$size" "plasma:$from-$to" \
            \( -size "$size" xc:black -fill white -draw "circle $((w / 2)),$((h / 2)) $((w / 2)),$((h / 2 - h * 9 / 20))" \) \
            -alpha off -compose CopyOpacity -composite -compose Over \
            -gravity center -pointsize 72 -fill white -annotate 0 "$name" \
            -strip -define png:exclude-chunks=date,time "png32:$file"
    else
        convert -seed "$n" -size "$size" "plasma:$from-$to" \
            -gravity center -pointsize 72 -fill white -stroke black -strokewidth 2 -annotate 0 "$name" \
            -strip -quality 88 "jpg:$file"
    fi
done
