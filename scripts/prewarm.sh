#!/usr/bin/env bash
# prewarm.sh BASE_URL [FILE]: requests each list URL against a running server and prints status, X-Cache and time per
# URL, e.g. after a deploy (`./dev prewarm https://api.example.com`). FILE holds one path (with query) per line; without
# it, the hot set is every category in $DATABASE_URL (psql) x most_booked, top_rated, newest x limits 12 and 20.
set -euo pipefail
base=${1:?usage: prewarm.sh BASE_URL [FILE]}
base=${base%/}
list=/api/v1/service-provider-profiles/
paths() {
    if [ -n "${2:-}" ]; then
        grep -v '^\s*\(#\|$\)' "$2"
        return
    fi
    local slugs
    slugs=$(psql "${DATABASE_URL:?set DATABASE_URL or give a FILE}" -X -At -c "SELECT slug FROM service_categories ORDER BY name")
    for slug in $slugs ""; do
        for sort in most_booked top_rated newest; do
            for limit in 12 20; do
                echo "$list?${slug:+category=$slug&}sort=$sort&limit=$limit"
            done
        done
    done
}
failed=0
printf '%-6s %-6s %9s  %s\n' status cache seconds url
while IFS= read -r path; do
    out=$(curl -sS -k -o /dev/null -D - -w 'BOOKA-TIME %{time_total}\n' --max-time 30 "$base$path" 2>&1) || true
    status=$(printf '%s\n' "$out" | awk 'toupper($1) ~ /^HTTP\// {s=$2} END {print s ? s : "-"}')
    cache=$(printf '%s\n' "$out" | awk 'tolower($1) == "x-cache:" {gsub("\r", "", $2); print $2}')
    time=$(printf '%s\n' "$out" | awk '$1 == "BOOKA-TIME" {print $2}')
    printf '%-6s %-6s %9s  %s\n' "$status" "${cache:--}" "${time:--}" "$path"
    [ "$status" = 200 ] || failed=1
done < <(paths "$@")
exit $failed
