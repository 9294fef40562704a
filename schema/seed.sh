#!/usr/bin/env bash
# Replace all data in the database ($2 or $DATABASE_URL) with the deterministic demo/scale data set for N providers
# ($1): schema/generate.sql, fed with a few small real avatar images made here with ImageMagick's convert and
# embedded as data: URLs. The schema must be migrated first (schema/migrate.sh), on a database whose tables the project
# created (never an adopted one: the load replaces every row of every table). Needs a superuser connection
# (the load runs with session_replication_role = replica). Same N, same rows.
set -euo pipefail

if [ $# -lt 1 ] || ! [[ $1 =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 N [CONNINFO]   (CONNINFO defaults to \$DATABASE_URL)" >&2
    exit 2
fi
n=$1
conninfo=${2:-${DATABASE_URL:-}}
if [ -z "$conninfo" ]; then
    echo "$0: no connection: pass CONNINFO or set DATABASE_URL" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
# never on a database another application owns: the load replaces every row of every table
owned=$(psql "$conninfo" -X -At -c "SELECT booka.owns_core_tables()" 2>/dev/null || true)
if [ "$owned" != t ]; then
    echo "$0: refusing to load: the tables of this database belong to another application (booka.settings)," \
        "or it is not migrated (schema/migrate.sh)" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The data: URL avatars. The last one is a large legacy upload that only a few providers carry.
convert -size 64x64 radial-gradient:gold-none -strip -define png:exclude-chunks=date,time png32:"$tmp/1.png"
convert -size 96x96 gradient:'#1e3c72-#2a5298' -gravity center -pointsize 36 -fill white -annotate 0 DJ \
    -strip -quality 85 jpg:"$tmp/2.jpg"
convert -seed 3 -size 80x120 plasma:seagreen-gold -strip -quality 80 jpg:"$tmp/3.jpg"
convert -size 128x128 gradient:orchid-slateblue -gravity center -pointsize 40 -fill white -annotate 0 MC \
    -strip -define png:exclude-chunks=date,time png24:"$tmp/4.png"
convert -seed 5 -size 200x150 plasma:tomato-steelblue -strip -quality 80 jpg:"$tmp/5.jpg"
convert -seed 6 -size 1200x900 plasma:coral-teal -strip -quality 85 jpg:"$tmp/6.jpg"

i=0
for f in "$tmp"/1.png "$tmp"/2.jpg "$tmp"/3.jpg "$tmp"/4.png "$tmp"/5.jpg "$tmp"/6.jpg; do
    i=$((i + 1))
    case $f in *.png) mime=image/png ;; *) mime=image/jpeg ;; esac
    printf "\\\\set avatar_%d 'data:%s;base64,%s'\n" "$i" "$mime" "$(base64 -w0 "$f")"
done >"$tmp/avatars.sql"

start=$(date +%s)
psql "$conninfo" -X -q -v ON_ERROR_STOP=1 -v n="$n" -f "$tmp/avatars.sql" -f "$here/generate.sql"
psql "$conninfo" -X -q -v ON_ERROR_STOP=1 -c "VACUUM (ANALYZE) users, service_provider_profiles, service_categories,
    services, bookings, reviews, booka.providers, booka.provider_categories, booka.provider_list_counts"
echo "seed: $n providers loaded in $(($(date +%s) - start)) s" >&2
