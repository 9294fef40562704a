#!/usr/bin/env bash
# Apply schema/migrations/*.sql in name order to the database named by $1 or $DATABASE_URL: on an empty database it
# creates DATA-MODEL.md's tables; on a database where another application already made them it adopts them in place,
# while that application keeps writing (docs/OPERATIONS.md, "Adopt an existing database").
#
# Everything the project adds lives in the schema `booka`, but the indexes and triggers on DATA-MODEL's tables
# (docs/OPERATIONS.md lists them); its record of applied migrations is booka.schema_migrations (name, sha256). A
# migration already recorded with the same checksum is skipped; one whose file changed since is applied again (every
# migration is idempotent) and re-recorded.
#
# Each file runs in one or more steps (schema/lib.sh: transactions, autocommit, lock_timeout and retries, and how the
# files name the schema of DATA-MODEL's tables, lib.sh core_schema).
# On error the failing step is rolled back, the ones before it stay applied, and the exit status is non-zero.
set -euo pipefail

conninfo=${1:-${DATABASE_URL:-}}
if [ -z "$conninfo" ]; then
    echo "usage: $0 CONNINFO (or set DATABASE_URL)" >&2
    exit 2
fi
dir=$(cd "$(dirname "$0")/migrations" && pwd)
# shellcheck source=schema/lib.sh
. "$(dirname "$0")/lib.sh"

# first: the answer must not depend on what this run creates (core_schema never answers booka)
core=$(core_schema)
core_ident=$(quote_ident "$core")
run_psql -c "SET client_min_messages = warning" -c "CREATE SCHEMA IF NOT EXISTS booka" \
    -c "CREATE TABLE IF NOT EXISTS booka.schema_migrations (
            name text PRIMARY KEY,
            sha256 text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now())"

for file in "$dir"/[0-9][0-9][0-9]_*.sql; do
    name=$(basename "$file")
    sum=$(sha256sum "$file" | cut -d' ' -f1)
    applied=$(run_psql -At -v name="$name" <<'SQL'
SELECT sha256 FROM booka.schema_migrations WHERE name = :'name'
SQL
)
    if [ "$applied" = "$sum" ]; then
        continue
    fi
    echo "migrate: applying $name" >&2
    run_file "$file"
    run_psql -v name="$name" -v sum="$sum" <<'SQL'
INSERT INTO booka.schema_migrations (name, sha256) VALUES (:'name', :'sum')
    ON CONFLICT (name) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = now();
SQL
done
