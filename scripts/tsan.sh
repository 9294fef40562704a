#!/usr/bin/env bash
# tsan.sh [SPEC...]: builds the server with ThreadSanitizer into build-tsan/ and runs the request specs that drive
# threads against it (a "WARNING: ThreadSanitizer" in a server log fails its spec, like any sanitizer report):
#   avatar_spec       the worker pool, renders handed between loops and workers, the shared variant store
#   avatar_limits_spec  the workers' shared memory budget under a burst, signatures checked on every loop
#   avatar_fetch_spec the avatar resolver threads, source fetches shared between loops, the per-host counts
#   cache_spec        the in-process store shared by the event loops, single-flight across threads
#   metrics_spec      counters and histograms written by workers and loops, read by the scrape
#   redis_spec        the per-thread Redis connections and the fill locks
#   replica_spec      the replica monitor publishing generations read by every loop
# Extra arguments replace that list (e.g. ./dev tsan spec/list_spec.rb).
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh || exit 1
mkdir -p build-tsan
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBOOKA_TSAN=ON >build-tsan.cmake.log 2>&1 || {
    cat build-tsan.cmake.log
    exit 1
}
cmake --build build-tsan -j "$(nproc)" --target booka-origin 2>&1 | grep -v -E '^\[ *[0-9]+%\]|^-- ' || true
test -x build-tsan/booka-origin || exit 1
scripts/stack.sh start || exit 1
eval "$(scripts/stack.sh env)"
scripts/tls.sh .state/tls
specs=("$@")
[ ${#specs[@]} -gt 0 ] || specs=(spec/avatar_spec.rb spec/avatar_limits_spec.rb spec/avatar_fetch_spec.rb spec/cache_spec.rb spec/metrics_spec.rb spec/redis_spec.rb spec/replica_spec.rb)
echo "== request specs under ThreadSanitizer (build-tsan/booka-origin): ${specs[*]}"
BOOKA_BIN=build-tsan/booka-origin rspec --format progress "${specs[@]}"
