#!/usr/bin/env bash
# Builds ramq and its tests with AddressSanitizer + UndefinedBehaviorSanitizer (gcc, -O1, in
# ./build-asan unless BUILD_DIR is set) and runs the test suite; any sanitizer report fails it
# (reports abort the process: exit status 134 instead of ramq's own 0-3).
#   scripts/test-asan.sh [extra ctest arguments, e.g. -L parsers]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-asan}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
# gcc 12 at -O1 with the sanitizers reports false -Wmaybe-uninitialized positives inside <regex>
# and std::function; every other warning stays an error.
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" \
  "-DCMAKE_CXX_FLAGS=$SAN -Wno-maybe-uninitialized" "-DCMAKE_EXE_LINKER_FLAGS=$SAN" "-DCMAKE_SHARED_LINKER_FLAGS=$SAN" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:halt_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-abort_on_error=1:halt_on_error=1:print_stacktrace=1}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)" "$@"
