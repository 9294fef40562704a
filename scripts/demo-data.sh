#!/usr/bin/env bash
# demo-data.sh: creates the `booka` database on the local cluster, applies schema/ and loads demo data once
# (BOOKA_DEMO_PROVIDERS providers, default 5000), with the demo avatar files under .state/media.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/stack.sh env)"
providers=${BOOKA_DEMO_PROVIDERS:-5000}
if ! psql "$BOOKA_PG_ADMIN_URL" -X -tAc "SELECT 1 FROM pg_database WHERE datname = 'booka'" | grep -q 1; then
    psql "$BOOKA_PG_ADMIN_URL" -X -qc "CREATE DATABASE booka"
fi
[ -x schema/migrate.sh ] && schema/migrate.sh "$DATABASE_URL" >/dev/null
if [ -x schema/make-media.sh ] && [ ! -d .state/media/profile_pics ]; then
    schema/make-media.sh .state/media >/dev/null
fi
if [ -x schema/seed.sh ]; then
    count=$(psql "$DATABASE_URL" -X -tAc "SELECT count(*) FROM service_provider_profiles" 2>/dev/null || echo 0)
    if [ "${count:-0}" -eq 0 ]; then
        echo "demo-data: loading $providers providers"
        schema/seed.sh "$providers" "$DATABASE_URL" >/dev/null
    fi
fi
