#!/usr/bin/env bash
# build.sh [release|asan|both]: configures and builds into build/ (release) and build-asan/ (ASan + UBSan).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
build_one() {
    local dir=$1
    shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir.cmake.log" 2>&1 || {
        cat "$dir.cmake.log"
        return 1
    }
    cmake --build "$dir" -j "$jobs" 2>&1 | grep -v -E '^\[ *[0-9]+%\]|^-- ' || true
    test "${PIPESTATUS[0]}" -eq 0
}
mkdir -p build build-asan
case "${1:-release}" in
release) build_one build ;;
asan) build_one build-asan -DBOOKA_SANITIZE=ON ;;
both)
    build_one build
    build_one build-asan -DBOOKA_SANITIZE=ON
    ;;
esac
