# lib.sh: running schema/ SQL files against $conninfo in steps, for migrate.sh and uninstall.sh (sourced; they set
# `conninfo`, and `core` (psql variable :core of every step) when the files need it).
#
# A file is one transaction, unless it says otherwise in a line of its own:
#   -- migrate: commit       splits the file: what comes before and after it commit separately
#   -- migrate: autocommit   (anywhere in the file) no transaction at all: each statement commits by itself, which
#                            CREATE/DROP INDEX CONCURRENTLY and procedures that COMMIT need
# Every step runs under an advisory lock that serialises concurrent runs, with lock_timeout
# BOOKA_MIGRATE_LOCK_TIMEOUT (default 2s): a step that would queue longer behind another transaction's lock (and so
# make that table's writers queue behind it) gives up and is retried after a pause, BOOKA_MIGRATE_ATTEMPTS times
# (default 60). Steps are idempotent, so a retry is safe.

lock_timeout=${BOOKA_MIGRATE_LOCK_TIMEOUT:-2s}
attempts=${BOOKA_MIGRATE_ATTEMPTS:-60}
steps_dir=$(mktemp -d)
trap 'rm -rf "$steps_dir"' EXIT

run_psql() {
    psql "$conninfo" -X -q -v ON_ERROR_STOP=1 "$@"
}

# core_schema: the schema of DATA-MODEL's tables: the one service_provider_profiles is in, else the connection's current
# schema (where 001 creates them).
core_schema() {
    run_psql -At -c "SELECT coalesce((SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                      WHERE c.oid = to_regclass('service_provider_profiles')), current_schema())"
}

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
