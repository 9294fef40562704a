#!/usr/bin/env bash
# Remove from the database named by $1 or $DATABASE_URL everything schema/migrate.sh added, and nothing else
# (schema/uninstall.sql says what that is). The other application's tables, rows, indexes, triggers and functions are
# left exactly as they were; DATA-MODEL's tables stay with their rows also when the project created them. Writers go
# on meanwhile: each trigger is dropped in a statement of its own, under the lock_timeout and retries of schema/lib.sh.
# Running schema/migrate.sh afterwards adopts the database again.
set -euo pipefail

conninfo=${1:-${DATABASE_URL:-}}
if [ -z "$conninfo" ]; then
    echo "usage: $0 CONNINFO (or set DATABASE_URL)" >&2
    exit 2
fi
# shellcheck source=schema/lib.sh
. "$(dirname "$0")/lib.sh"
core=$(core_schema)
core_ident=$(quote_ident "$core")
run_file "$(dirname "$0")/uninstall.sql"
echo "uninstall: removed the schema booka and the project's triggers and indexes on the tables in schema $core" >&2
