#!/usr/bin/env bash
# test.sh: every test. C unit tests (release and ASan+UBSan builds), a short libFuzzer run of every fuzz target, then the
# RSpec request specs against the
# ASan+UBSan build (a sanitizer report in any server log fails its spec), with real Postgres, Redis and clients.
# Extra arguments go to rspec (e.g. ./dev test spec/server_spec.rb).
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh || exit 1
scripts/build.sh both || exit 1
scripts/stack.sh start || exit 1
eval "$(scripts/stack.sh env)"
# the pool's unit test talks to a real Postgres too
psql "$BOOKA_PG_ADMIN_URL" -X -qc "DROP DATABASE IF EXISTS booka_unit" -c "CREATE DATABASE booka_unit" >/dev/null || exit 1
export BOOKA_TEST_DATABASE_URL=${BOOKA_PG_ADMIN_URL%/*}/booka_unit
failed=0
for dir in build build-asan; do
    echo "== C unit tests ($dir)"
    ctest --test-dir "$dir" --output-on-failure 2>&1 | tail -n 3
    test "${PIPESTATUS[0]}" -eq 0 || failed=1
done
echo "== fuzzing (10 s per target; scripts/fuzz.sh 600 for a long run)"
scripts/fuzz.sh 10 || failed=1
scripts/tls.sh .state/tls
echo "== request specs (build-asan/booka-origin)"
BOOKA_BIN=build-asan/booka-origin rspec --format progress "${@:-spec}" || failed=1
exit $failed
