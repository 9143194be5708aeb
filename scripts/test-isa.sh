#!/usr/bin/env bash
# Runs the already-built test suite (scripts/test.sh builds it) again under each SIMD level below
# the CPU's own, by capping the run-time dispatch with RAMQ_ISA (src/encode/simd/dispatch.cpp):
# avx512, avx2, portable. scripts/test.sh has already run the native (best) level; a level this
# CPU lacks is skipped, and said so. Every level runs even after a failure; the exit status is
# non-zero if any failed.
#
#   scripts/test-isa.sh [--build DIR] [LEVEL...]    (default: build, and every level below native)
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
levels=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    avx512|avx2|portable) levels+=("$1"); shift ;;
    *) echo "test-isa: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
if [[ ! -f "$build/CTestTestfile.cmake" ]]; then
  echo "test-isa: no built suite in '$build' (run scripts/test.sh first)" >&2
  exit 2
fi

# What the CPU has, by the dispatcher's own rule (cpu_has in src/encode/simd/dispatch.cpp):
# avx512 needs avx2's set and AVX-512 F, BW, DQ and VL; avx2 needs AVX2, F16C, BMI1, BMI2 and
# POPCNT; portable is always there.
flags=" $(grep -m1 -E '^flags[[:space:]]*:' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
has() {
  case "$1" in
    portable) return 0 ;;
    avx2)
      [[ "$(uname -m)" == x86_64 ]] || return 1
      local g
      for g in avx2 f16c bmi1 bmi2 popcnt; do [[ "$flags" == *" $g "* ]] || return 1; done ;;
    avx512)
      has avx2 || return 1
      local f
      for f in avx512f avx512bw avx512dq avx512vl; do [[ "$flags" == *" $f "* ]] || return 1; done ;;
  esac
}
native=portable
for l in avx2 avx512; do if has "$l"; then native=$l; fi; done
rank() { case "$1" in portable) echo 0 ;; avx2) echo 1 ;; avx512) echo 2 ;; esac; }

explicit=1
if [[ ${#levels[@]} -eq 0 ]]; then
  explicit=0
  levels=(avx512 avx2 portable)
fi
echo "test-isa: this CPU's native SIMD level is $native"
failed=()
for level in "${levels[@]}"; do
  if ! has "$level"; then
    echo "test-isa: $level skipped: this CPU lacks it"
    continue
  fi
  if [[ $explicit -eq 0 && $(rank "$level") -ge $(rank "$native") ]]; then
    echo "test-isa: $level skipped: it is the native level, already run by scripts/test.sh"
    continue
  fi
  echo "test-isa: RAMQ_ISA=$level"
  start=$SECONDS
  if RAMQ_ISA=$level ctest --test-dir "$build" --output-on-failure -j"$(nproc)"; then
    echo "test-isa: RAMQ_ISA=$level passed ($((SECONDS - start)) s)"
  else
    echo "test-isa: RAMQ_ISA=$level FAILED ($((SECONDS - start)) s)"
    failed+=("$level")
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "test-isa: failed at: ${failed[*]}" >&2
  exit 1
fi
