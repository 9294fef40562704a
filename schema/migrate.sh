#!/usr/bin/env bash
# Apply schema/migrations/*.sql in name order to the database named by $1 or $DATABASE_URL: on an empty database it
# creates DATA-MODEL.md's tables; on a database where another application already made them it adopts them in place,
# while that application keeps writing (docs/OPERATIONS.md, "Adopt an existing database").
#
# Everything the project adds lives in the schema `booka` (schema/README.md); its record of applied migrations is
# booka.schema_migrations (name, sha256). A migration already recorded with the same checksum is skipped; one whose file
# changed since is applied again (every migration is idempotent) and re-recorded.
#
# A migration file is one transaction, unless it says otherwise in a line of its own:
#   -- migrate: commit       splits the file: what comes before and after it commit separately
#   -- migrate: autocommit   (anywhere in the file) no transaction at all: each statement commits by itself, which
#                            CREATE INDEX CONCURRENTLY and procedures that COMMIT need
# Every step runs under an advisory lock that serialises concurrent runs, with lock_timeout
# BOOKA_MIGRATE_LOCK_TIMEOUT (default 2s): a step that would queue longer behind another transaction's lock (and so
# make that table's writers queue behind it) gives up and is retried after a pause, BOOKA_MIGRATE_ATTEMPTS times
# (default 60). Steps are idempotent, so a retry is safe.
# psql variable `core` holds the schema of the DATA-MODEL tables (the one service_provider_profiles is in, else the
# connection's current schema), for the search_path of the functions that triggers run.
# On error the failing step is rolled back, the ones before it stay applied, and the exit status is non-zero.
set -euo pipefail

conninfo=${1:-${DATABASE_URL:-}}
if [ -z "$conninfo" ]; then
    echo "usage: $0 CONNINFO (or set DATABASE_URL)" >&2
    exit 2
fi
dir=$(cd "$(dirname "$0")/migrations" && pwd)
lock_timeout=${BOOKA_MIGRATE_LOCK_TIMEOUT:-2s}
attempts=${BOOKA_MIGRATE_ATTEMPTS:-60}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run_psql() {
    psql "$conninfo" -X -q -v ON_ERROR_STOP=1 "$@"
}

run_psql -c "SET client_min_messages = warning" -c "CREATE SCHEMA IF NOT EXISTS booka" \
    -c "CREATE TABLE IF NOT EXISTS booka.schema_migrations (
            name text PRIMARY KEY,
            sha256 text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now())"
core=$(run_psql -At -c "SELECT coalesce((SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                         WHERE c.oid = to_regclass('service_provider_profiles')), current_schema())")

# run_step FILE MODE: one step (MODE transaction or autocommit), retried while it fails on lock_timeout.
run_step() {
    local file=$1 mode=$2 attempt out
    local lock="SELECT pg_advisory_xact_lock(hashtext('booka schema_migrations'))" single=-1
    if [ "$mode" = autocommit ]; then
        lock="SELECT pg_advisory_lock(hashtext('booka schema_migrations'))"
        single=
    fi
    for attempt in $(seq 1 "$attempts"); do
        if out=$({
            echo "$lock \\g /dev/null"
            echo "SET client_min_messages = warning;"
            echo "SET lock_timeout = '$lock_timeout';"
            cat "$file"
        } | run_psql $single -v core="$core" -f - 2>&1); then
            [ -z "$out" ] || printf '%s\n' "$out" >&2
            return 0
        fi
        if ! grep -q 'canceling statement due to lock timeout' <<<"$out"; then
            printf '%s\n' "$out" >&2
            return 1
        fi
        echo "migrate: $name: waited $lock_timeout for a lock (attempt $attempt of $attempts); retrying" >&2
        sleep $((attempt < 5 ? attempt : 5))
    done
    echo "migrate: $name: gave up after $attempts attempts to take its locks" >&2
    return 1
}

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
    mode=transaction
    if grep -qx -- '-- migrate: autocommit' "$file"; then
        mode=autocommit
    fi
    rm -f "$tmp"/step.*
    awk -v out="$tmp/step." '{ if ($0 == "-- migrate: commit") { n++; next } print > (out sprintf("%03d", n)) }' "$file"
    for step in "$tmp"/step.*; do
        run_step "$step" "$mode"
    done
    run_psql -v name="$name" -v sum="$sum" <<'SQL'
INSERT INTO booka.schema_migrations (name, sha256) VALUES (:'name', :'sum')
    ON CONFLICT (name) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = now();
SQL
done
