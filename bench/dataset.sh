#!/usr/bin/env bash
# bench/dataset.sh [--check] N CONNINFO: makes the database CONNINFO hold exactly the generated data set for N providers,
# loading it only when it does not already (--check: never load; exit 1 when it does not hold that set). The database
# is created when missing (through the cluster's `postgres` database), migrated (schema/migrate.sh) and seeded
# (schema/seed.sh N) unless its marker says it holds that very set. The marker (table bench_dataset) records N and the
# SHA-256 of the generator, seed.sh and the migrations; it is dropped before a load and written after one that
# finished, and it counts only while the table holds N providers. Says on stderr whether it reused or loaded.
set -euo pipefail
check_only=
if [ "${1:-}" = --check ]; then
    check_only=1
    shift
fi
if [ $# -ne 2 ] || ! [[ $1 =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [--check] N CONNINFO" >&2
    exit 2
fi
n=$1
url=$2
root=$(cd "$(dirname "$0")/.." && pwd)
db=${url##*/}
db=${db%%\?*}
admin=${url%/*}/postgres

# the generator's parameters: N and every file whose change would change the rows
fingerprint=$(cat "$root/schema/generate.sql" "$root/schema/seed.sh" "$root"/schema/migrations/*.sql | sha256sum | cut -d' ' -f1)

if ! psql "$admin" -X -At -c "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    [ -z "$check_only" ] || { echo "dataset: no database $db (load it: bench/dataset.sh $n CONNINFO)" >&2; exit 1; }
    psql "$admin" -X -q -c "CREATE DATABASE \"$db\""
fi

marker_matches() {
    psql "$url" -X -At -v n="$n" -v fp="$fingerprint" 2>/dev/null <<'SQL' | grep -q '^t$'
SELECT EXISTS (SELECT 1 FROM bench_dataset WHERE providers = :n AND fingerprint = :'fp')
       AND (SELECT count(*) FROM service_provider_profiles) = :n
SQL
}

# vacuum: the visibility map and statistics every run should start from. A load's own VACUUM cannot mark pages
# all-visible while another transaction in the cluster is older (another data set loading, say), and the list's
# index-only scans then fetch every heap row; on a set that is already vacuumed this costs seconds.
vacuum() {
    psql "$url" -X -q -c "VACUUM (ANALYZE) users, service_provider_profiles, service_categories, services, bookings, reviews,
        booka.providers, booka.provider_categories, booka.provider_list_counts"
}

start=$(date +%s)
if marker_matches; then
    vacuum
    echo "dataset: $db holds the generated set for $n providers (marker matches): reused" >&2
    exit 0
fi
[ -z "$check_only" ] || { echo "dataset: $db does not hold the generated set for $n providers (its marker differs)" >&2; exit 1; }
echo "dataset: loading $n providers into $db (the marker is missing or differs)" >&2
psql "$url" -X -q -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS bench_dataset"
"$root/schema/migrate.sh" "$url" >/dev/null
"$root/schema/seed.sh" "$n" "$url"
psql "$url" -X -q -v n="$n" -v fp="$fingerprint" <<'SQL'
CREATE TABLE bench_dataset (providers integer NOT NULL, fingerprint text NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now());
INSERT INTO bench_dataset (providers, fingerprint) VALUES (:n, :'fp');
SQL
marker_matches || { echo "dataset: $db does not hold $n providers after the load" >&2; exit 1; }
echo "dataset: $n providers loaded into $db in $(($(date +%s) - start)) s" >&2
