#!/usr/bin/env bash
# Apply schema/migrations/*.sql in name order to the database named by $1 or $DATABASE_URL.
#
# Each migration runs in one transaction together with its row in schema_migrations (name, sha256), under an
# advisory lock that serialises concurrent runs. A migration already recorded with the same checksum is
# skipped; one whose file changed since is applied again (every migration is idempotent) and re-recorded.
# On error, the failing migration is rolled back, the ones before it stay applied, and the exit status is non-zero.
set -euo pipefail

conninfo=${1:-${DATABASE_URL:-}}
if [ -z "$conninfo" ]; then
    echo "usage: $0 CONNINFO (or set DATABASE_URL)" >&2
    exit 2
fi
dir=$(cd "$(dirname "$0")/migrations" && pwd)

run_psql() {
    psql "$conninfo" -X -q -v ON_ERROR_STOP=1 "$@"
}

run_psql -c "SET client_min_messages = warning" -c "CREATE TABLE IF NOT EXISTS schema_migrations (
    name text PRIMARY KEY,
    sha256 text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now())"

for file in "$dir"/[0-9][0-9][0-9]_*.sql; do
    name=$(basename "$file")
    sum=$(sha256sum "$file" | cut -d' ' -f1)
    applied=$(run_psql -At -v name="$name" <<'SQL'
SELECT sha256 FROM schema_migrations WHERE name = :'name'
SQL
)
    if [ "$applied" = "$sum" ]; then
        continue
    fi
    echo "migrate: applying $name" >&2
    {
        echo "DO \$\$ BEGIN PERFORM pg_advisory_xact_lock(hashtext('booka schema_migrations')); END \$\$;"
        echo "SET client_min_messages = warning;"
        cat "$file"
        echo
        echo "INSERT INTO schema_migrations (name, sha256) VALUES (:'name', :'sum')"
        echo "    ON CONFLICT (name) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = now();"
    } | run_psql -1 -v name="$name" -v sum="$sum" -f -
done
