#!/usr/bin/env bash
# fuzz.sh [SECONDS] [TARGET...]: builds the libFuzzer targets with clang into build-fuzz and runs each for SECONDS
# (default 10). Seed corpora live in test/fuzz/corpus/<target>; what a run discovers goes to build-fuzz/corpus/<target>
# (kept out of the repo), crashes to build-fuzz/crashes/. Exits non-zero when a target finds a crash or a leak, or when one
# input makes a single allocation over 256 MiB (the targets' limits keep honest inputs far below; a decoder that allocates
# what a header claims before reading it is the bug this catches).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(yaml_loader etag data_url image list_query)
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBOOKA_FUZZ=ON >build-fuzz.cmake.log 2>&1 || {
    cat build-fuzz.cmake.log
    exit 1
}
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}" 2>&1 | grep -E 'error|warning' || true
export LSAN_OPTIONS="suppressions=$PWD/test/lsan.supp"
status=0
for t in "${targets[@]}"; do
    mkdir -p "build-fuzz/corpus/$t" "build-fuzz/crashes/$t"
    echo "== fuzz $t for ${seconds}s"
    if ! build-fuzz/fuzz_"$t" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 \
        -artifact_prefix="build-fuzz/crashes/$t/" "build-fuzz/corpus/$t" "test/fuzz/corpus/$t" >"build-fuzz/$t.log" 2>&1; then
        echo "fuzz $t: FAILED (see build-fuzz/$t.log and build-fuzz/crashes/$t/)"
        tail -n 30 "build-fuzz/$t.log"
        status=1
    else
        grep -E '^#[0-9]+.*DONE|Done [0-9]+ runs' "build-fuzz/$t.log" | tail -n 1
    fi
done
exit $status
