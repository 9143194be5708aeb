#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, in ./build-fuzz) and runs one of them.
#   scripts/fuzz.sh TARGET SECONDS [extra libFuzzer flags]
#   scripts/fuzz.sh list            # the targets
# TARGET is a folder under fuzz/corpus (safetensors_header, safetensors_index, model_config, gguf,
# tokenizer_json, llama2c_tokenizer). The run starts from the seed corpus fuzz/corpus/TARGET plus
# the regression inputs fuzz/regressions/TARGET; new interesting inputs go to
# build-fuzz/corpus/TARGET (not into the repository). A crash, leak or sanitizer report stops the
# run with a non-zero exit and leaves the input in build-fuzz/artifacts/TARGET/: fix the bug, then
# copy the input into fuzz/regressions/TARGET/ so that the normal test suite replays it.
# BUILD_DIR and JOBS (parallel compile jobs) may be set in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
  echo "usage: scripts/fuzz.sh TARGET SECONDS [libFuzzer flags] | scripts/fuzz.sh list" >&2
  exit 2
fi
TARGET=$1
if [ "$TARGET" = list ]; then ls fuzz/corpus; exit 0; fi
SECONDS_TO_RUN=${2:?seconds}
shift 2
if [ ! -d "fuzz/corpus/$TARGET" ]; then
  echo "fuzz.sh: unknown target '$TARGET' (known: $(ls fuzz/corpus | tr '\n' ' '))" >&2
  exit 2
fi
BUILD_DIR=${BUILD_DIR:-build-fuzz}
# clang and its libFuzzer runtime are needed only here (not by the normal build or CI).
if ! command -v clang++ >/dev/null || ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "ok installed"; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "fuzz.sh: installing clang libclang-rt-14-dev"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev
fi
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
  -DRAMQ_FUZZ=ON -DRAMQ_BUILD_TESTS=OFF -DRAMQ_MPI=OFF >/dev/null
cmake --build "$BUILD_DIR" -j"${JOBS:-$(nproc)}" --target "fuzz_$TARGET"

WORK="$BUILD_DIR/corpus/$TARGET"
ARTIFACTS="$BUILD_DIR/artifacts/$TARGET"
mkdir -p "$WORK" "$ARTIFACTS" "fuzz/regressions/$TARGET"
# libFuzzer's options: max_len 64 KiB (seeds are smaller), 2 GB RSS limit, 10 s per input.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
exec "$BUILD_DIR/fuzz/fuzz_$TARGET" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -rss_limit_mb=2048 \
  -timeout=10 -print_final_stats=1 -artifact_prefix="$ARTIFACTS/" "$@" \
  "$WORK" "fuzz/corpus/$TARGET" "fuzz/regressions/$TARGET"
