# lib.sh: running schema/ SQL files against $conninfo in steps, for migrate.sh and uninstall.sh (sourced; they set
# `conninfo`, and `core` (core_schema below) before running files).
#
# The files name every table, view, function and index outside pg_catalog with its schema: the core schema (the one of
# DATA-MODEL's tables, core_schema below) as the psql variable `core` (:'core' a literal, :"core" an identifier), and,
# inside function bodies, where psql substitutes no variable, as the text @core@, which run_step replaces with the
# quoted identifier before psql reads the file. Every step runs with search_path = pg_catalog, pg_temp, whatever the
# role's own search_path says: no name resolves through the project's schema booka (a role named booka has it first,
# as "$user"), nor through the core schema, where another role may create a function or operator that would shadow
# pg_catalog's (CVE-2018-1058) in what a view or an index binds when it is created.
#
# A file is one transaction, unless it says otherwise in a line of its own:
#   -- migrate: commit       splits the file: what comes before and after it commit separately
#   -- migrate: autocommit   (anywhere in the file) no transaction at all: each statement commits by itself, which
#                            CREATE/DROP INDEX CONCURRENTLY and procedures that COMMIT need
# Every step runs under an advisory lock that serialises concurrent runs, with lock_timeout
# BOOKA_MIGRATE_LOCK_TIMEOUT (default 2s): a step that would queue longer behind another transaction's lock (and so
# make that table's writers queue behind it) gives up and is retried after a pause, BOOKA_MIGRATE_ATTEMPTS times
# (default 60). Steps are idempotent, so a retry is safe. A file may set its own lock_timeout (004 sets 0 for its
# concurrent index builds, whose waits hold up no writer).

lock_timeout=${BOOKA_MIGRATE_LOCK_TIMEOUT:-2s}
attempts=${BOOKA_MIGRATE_ATTEMPTS:-60}
steps_dir=$(mktemp -d)
trap 'rm -rf "$steps_dir"' EXIT

run_psql() {
    psql "$conninfo" -X -q -v ON_ERROR_STOP=1 "$@"
}

# core_schema: the schema of DATA-MODEL's tables: the first schema of the connection's search_path that holds
# service_provider_profiles, else the first schema of that path (where 001 creates the tables). Never `booka`, the
# project's own (a role named booka has it first in its search_path, as "$user"): uninstall.sh drops it whole. A
# DATA-MODEL table found in booka stops both scripts. Prints the name; exits non-zero with a message otherwise.
core_schema() {
    local in_booka table found
    in_booka=$(run_psql -At -c "SELECT relname FROM pg_class WHERE relnamespace = to_regnamespace('booka')
                                  AND relname IN ('users', 'service_provider_profiles', 'service_categories',
                                                  'services', 'bookings', 'reviews') ORDER BY 1") || return 1
    for table in $in_booka; do
        echo "$(basename "$0"): $table is in the schema booka, the project's own" \
            "(schema/uninstall.sh drops it whole): move DATA-MODEL's tables out of it first" >&2
    done
    [ -z "$in_booka" ] || return 1
    found=$(run_psql -At <<'SQL'
WITH path AS (SELECT s, i FROM unnest(current_schemas(false)) WITH ORDINALITY AS p (s, i) WHERE s <> 'booka')
SELECT coalesce((SELECT path.s FROM path JOIN pg_namespace n ON n.nspname = path.s
                 JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = 'service_provider_profiles'
                 ORDER BY path.i LIMIT 1),
                (SELECT s FROM path ORDER BY i LIMIT 1))
SQL
) || return 1
    if [ -z "$found" ]; then
        echo "$(basename "$0"): no schema of the search_path but booka exists, to hold DATA-MODEL's tables" >&2
        return 1
    fi
    printf '%s\n' "$found"
}

# quote_ident NAME: NAME as an SQL identifier, quoted where it needs to be.
quote_ident() {
    run_psql -At -v name="$1" <<'SQL'
SELECT quote_ident(:'name')
SQL
}

# run_step FILE MODE: one step (MODE transaction or autocommit), retried while it fails on lock_timeout.
run_step() {
    local file=$1 mode=$2 attempt out sql
    sql=$(<"$file")
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
            echo "SET search_path = pg_catalog, pg_temp;"
            printf '%s\n' "${sql//@core@/"$core_ident"}"
        } | run_psql $single -v core="$core" -f - 2>&1); then
            [ -z "$out" ] || printf '%s\n' "$out" >&2
            return 0
        fi
        if ! grep -q 'canceling statement due to lock timeout' <<<"$out"; then
            printf '%s\n' "$out" >&2
            return 1
        fi
        echo "$(basename "$0"): $(basename "$current_file"): waited $lock_timeout for a lock" \
            "(attempt $attempt of $attempts); retrying" >&2
        sleep $((attempt < 5 ? attempt : 5))
    done
    echo "$(basename "$0"): $(basename "$current_file"): gave up after $attempts attempts to take its locks" >&2
    return 1
}

# run_file FILE: its steps in order; stops at the first that fails.
run_file() {
    local mode=transaction step
    current_file=$1
    if grep -qx -- '-- migrate: autocommit' "$current_file"; then
        mode=autocommit
    fi
    rm -f "$steps_dir"/step.*
    awk -v out="$steps_dir/step." '{ if ($0 == "-- migrate: commit") { n++; next } print > (out sprintf("%03d", n)) }' \
        "$current_file"
    for step in "$steps_dir"/step.*; do
        run_step "$step" "$mode"
    done
}
