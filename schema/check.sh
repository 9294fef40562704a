#!/usr/bin/env bash
# Verify the list triggers on a loaded database ($1 or $DATABASE_URL; schema/seed.sh 10000 first): check, random
# serial churn (schema/churn.sql), check, concurrent churn from 4 pgbench clients (schema/churn-concurrent.sql), check.
# Exits non-zero on the first mismatch. The churn changes the data: re-seed afterwards for benchmarks.
set -euo pipefail
conninfo=${1:-${DATABASE_URL:-}}
if [ -z "$conninfo" ]; then
    echo "usage: $0 CONNINFO (or set DATABASE_URL)" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
check() {
    psql "$conninfo" -X -q -v ON_ERROR_STOP=1 -f "$here/check.sql"
}
check
psql "$conninfo" -X -q -v ON_ERROR_STOP=1 -v rounds="${CHURN_ROUNDS:-3000}" -f "$here/churn.sql"
check
pgbench -n -c 4 -j 2 -T "${CHURN_SECONDS:-30}" --max-tries=10 -f "$here/churn-concurrent.sql" "$conninfo" |
    grep -E 'processed|failed|retried'
check
