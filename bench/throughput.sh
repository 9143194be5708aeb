#!/usr/bin/env bash
# Whole-run throughput and peak memory of ramq on a deterministic synthetic Llama-shaped model
# (bench/make_synthetic_model.cpp), against llama.cpp's data-free Q4_K_M quantization
# (llama_model_quantize from the npm prebuilt libllama, through tests/peer's llama_peer).
# Every stage is timed by /usr/bin/time -v (wall time, max RSS); throughput is GB/s of input
# weights (the checkpoint's tensor bytes, BF16), each stage also as a multiple of the time to
# read the input once from the page cache (the floor).
#
#   bench/throughput.sh [--preset 1b] [--threads N] [--build DIR] [--model DIR] [--no-llama]
#   bench/throughput.sh --memory-check [--preset 30gb]   # full pipeline only; exit 1 if peak RSS > bound
#   bench/throughput.sh --memory-check --preset tiny      # the same in seconds (CI)
#
# Options: --preset tiny|1b|8b|30gb|30b-a3b|397b-a17b (default 1b; 30gb with --memory-check); --model DIR uses an
# existing Hugging Face directory instead of generating one; --threads N for ramq and llama.cpp
# (default: nproc); --build DIR holds bin/ramq, bin/ramq_make_synthetic, tests/peer/llama_peer
# (default: build). Synthetic models are cached in $RAMQ_BENCH_DIR (default DIR/models) and
# reused while their synthetic.json stamp matches; outputs go to a temporary directory beside
# them, removed at the end.
# Memory bound (issue 6): 2 x (largest tensor as float32) + 512 MiB, the largest tensor taken
# from the safetensors headers (`ramq inspect --json`).
# Exit status: 0 ok, 1 peak RSS above the bound (--memory-check), 2 usage, 3 a stage failed.
set -euo pipefail
cd "$(dirname "$0")/.."

PRESET="" MODEL="" BUILD=build THREADS=$(nproc) MEMCHECK=0 LLAMA=1
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) PRESET=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --memory-check) MEMCHECK=1; shift ;;
    --no-llama) LLAMA=0; shift ;;
    -h|--help) usage ;;
    *) echo "throughput.sh: unknown argument $1" >&2; usage ;;
  esac
done
[ -n "$PRESET" ] || { [ $MEMCHECK = 1 ] && PRESET=30gb || PRESET=1b; }
RAMQ=$BUILD/bin/ramq GEN=$BUILD/bin/ramq_make_synthetic PEER=$BUILD/tests/peer/llama_peer
[ -x /usr/bin/time ] || { echo "throughput.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
command -v jq >/dev/null || { echo "throughput.sh: needs jq" >&2; exit 2; }
[ -x "$RAMQ" ] || { echo "throughput.sh: $RAMQ missing: cmake --build $BUILD --target ramq_cli" >&2; exit 2; }

if [ -z "$MODEL" ]; then
  [ -x "$GEN" ] || { echo "throughput.sh: $GEN missing: cmake --build $BUILD --target ramq_make_synthetic" >&2; exit 2; }
  CACHE=${RAMQ_BENCH_DIR:-$BUILD/models}
  mkdir -p "$CACHE"
  MODEL=$CACHE/synthetic-$PRESET
  "$GEN" --preset "$PRESET" --threads "$THREADS" -o "$MODEL" >&2 || exit 3
else
  CACHE=$(dirname "$MODEL")
fi
if [ $LLAMA = 1 ] && [ $MEMCHECK = 0 ] && [ ! -x "$PEER" ]; then
  echo "throughput.sh: $PEER missing: cmake --build $BUILD --target llama_peer (or pass --no-llama)" >&2; exit 2
fi
W=$(mktemp -d "$CACHE/.throughput-XXXXXX")
trap 'rm -rf "$W"' EXIT

SHARDS=$(jq -r '.weight_map | [.[]] | unique | .[]' "$MODEL/model.safetensors.index.json" 2>/dev/null ||
         (cd "$MODEL" && ls *.safetensors))
SHARDS=$(echo $SHARDS)  # one line: the floor stage passes the list inside a bash -c string
INPUT_BYTES=0
for s in $SHARDS; do INPUT_BYTES=$((INPUT_BYTES + $(stat -c %s "$MODEL/$s"))); done
LARGEST=$("$RAMQ" inspect "$MODEL" --json | jq '[.tensors[].params] | max')
BOUND_KB=$(( (2 * LARGEST * 4 + (512 << 20)) / 1024 ))

# run_stage NAME CMD...: runs CMD under /usr/bin/time -v; sets SECS (wall), CPU (user + system
# seconds) and RSS_KB (max resident set, KiB).
declare -A SECS_OF CPU_OF RSS_OF
run_stage() {
  local name=$1; shift
  if ! /usr/bin/time -v -o "$W/$name.time" "$@" >"$W/$name.log" 2>&1; then
    echo "throughput.sh: stage '$name' failed: $*" >&2; tail -n 20 "$W/$name.log" "$W/$name.time" >&2; exit 3
  fi
  SECS=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$W/$name.time")
  CPU=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$W/$name.time")
  RSS_KB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$W/$name.time")
  SECS_OF[$name]=$SECS CPU_OF[$name]=$CPU RSS_OF[$name]=$RSS_KB
  echo "  $name: ${SECS} s wall, ${CPU} s CPU, $((RSS_KB / 1024)) MiB peak RSS" >&2
}
read_input() { for s in $SHARDS; do cat "$MODEL/$s"; done >/dev/null; }

echo "model: $MODEL ($(awk -v b="$INPUT_BYTES" 'BEGIN {printf "%.3f GB", b / 1e9}') of weights in $(wc -w <<<"$SHARDS") shard(s)," \
     "largest tensor $LARGEST elements; bound $((BOUND_KB / 1024)) MiB; --threads $THREADS; $(nproc) cores;" \
     "load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
BUDGET=(--policy budget --target-bpw 4.5 --format gguf)
if [ $MEMCHECK = 1 ]; then
  run_stage full "$RAMQ" -q --threads "$THREADS" quantize "$MODEL" "${BUDGET[@]}" -o "$W/full.gguf"
  printf 'memory check (%s): full pipeline %.1f s, peak RSS %d MiB, bound %d MiB = 2 x %d x 4 B + 512 MiB: %s\n' \
    "$PRESET" "$SECS" $((RSS_KB / 1024)) $((BOUND_KB / 1024)) "$LARGEST" \
    "$([ "$RSS_KB" -le "$BOUND_KB" ] && echo PASS || echo FAIL)"
  [ "$RSS_KB" -le "$BOUND_KB" ] || exit 1
  exit 0
fi

read_input  # warm-up: the model in the page cache
run_stage floor bash -c "for s in $SHARDS; do cat \"$MODEL/\$s\"; done > /dev/null"
run_stage analyze "$RAMQ" -q --threads "$THREADS" analyze "$MODEL" -o "$W/analysis.json"
run_stage plan "$RAMQ" -q --threads "$THREADS" plan "$W/analysis.json" "${BUDGET[@]}" -o "$W/plan.json"
run_stage quantize "$RAMQ" -q --threads "$THREADS" quantize "$MODEL" --plan "$W/plan.json" --format gguf -o "$W/plan.gguf"
run_stage full "$RAMQ" -q --threads "$THREADS" quantize "$MODEL" "${BUDGET[@]}" -o "$W/full.gguf"
run_stage swan_analyze "$RAMQ" -q --threads "$THREADS" analyze "$MODEL" --no-rd -o "$W/swan.json"
run_stage swan_full "$RAMQ" -q --threads "$THREADS" quantize "$MODEL" --policy swan --format gguf -o "$W/swan.gguf"
if [ $LLAMA = 1 ]; then
  run_stage f16_gguf "$RAMQ" -q --threads "$THREADS" quantize "$MODEL" --format gguf --policy uniform --bits 16 -o "$W/f16.gguf"
  run_stage llama_q4km "$PEER" quantize "$W/f16.gguf" "$W/q4km.gguf" Q4_K_M --threads "$THREADS"
fi

bpw() { "$RAMQ" inspect "$1" --json --no-tensors | jq '.bits_per_weight'; }
FLOOR=${SECS_OF[floor]}
printf '\n%-12s %-60s %8s %8s %7s %8s %8s %8s %6s\n' stage command "wall s" "CPU s" "CPU %" "GB/s" "x floor" \
  "peak MiB" "<bound"
row() {
  local name=$1 what=$2 s=${SECS_OF[$1]} c=${CPU_OF[$1]} kb=${RSS_OF[$1]} b=$INPUT_BYTES
  [ "$name" = plan ] && b=0  # plan reads analysis.json, not the weights
  awk -v n="$name" -v w="$what" -v s="$s" -v c="$c" -v b="$b" -v f="$FLOOR" -v kb="$kb" -v bk="$BOUND_KB" 'BEGIN {
    printf "%-12s %-60s %8.2f %8.2f %7.0f %8s %8.1f %8d %6s\n", n, w, s, c, (s > 0 ? 100 * c / s : 0),
           (b > 0 && s > 0 ? sprintf("%.3f", b / 1e9 / s) : "-"), (f > 0 ? s / f : 0), kb / 1024, (kb <= bk ? "yes" : "NO") }'
}
row floor "cat shards > /dev/null (page cache, after a warm-up read)"
row analyze "ramq analyze (SWAN metrics + rate-distortion curves)"
row plan "ramq plan --policy budget --target-bpw 4.5 --format gguf"
row quantize "ramq quantize --plan plan.json --format gguf"
row full "ramq quantize --policy budget --target-bpw 4.5 --format gguf"
row swan_analyze "ramq analyze --no-rd (the four SWAN metrics, rSVD)"
row swan_full "ramq quantize --policy swan --format gguf"
if [ $LLAMA = 1 ]; then
  row f16_gguf "ramq quantize --policy uniform --bits 16 (llama.cpp's input)"
  row llama_q4km "llama_model_quantize f16.gguf Q4_K_M (llama_peer)"
fi
echo
printf 'input %.3f GB of weights; largest tensor %d elements; bound 2 x %.3f GB + 512 MiB = %d MiB\n' \
  "$(awk -v b="$INPUT_BYTES" 'BEGIN {print b / 1e9}')" "$LARGEST" "$(awk -v l="$LARGEST" 'BEGIN {print 4 * l / 1e9}')" $((BOUND_KB / 1024))
printf 'outputs: budget %.3f bpw (%d bytes), swan %.3f bpw' "$(bpw "$W/full.gguf")" "$(stat -c %s "$W/full.gguf")" "$(bpw "$W/swan.gguf")"
if [ $LLAMA = 1 ]; then
  printf ', llama.cpp Q4_K_M %.3f bpw (%d bytes)\n' "$(bpw "$W/q4km.gguf")" "$(stat -c %s "$W/q4km.gguf")"
  awk -v l="${SECS_OF[llama_q4km]}" -v r="${SECS_OF[full]}" -v t="$THREADS" 'BEGIN {
    printf "llama.cpp Q4_K_M time / ramq full budget pipeline time = %.2f (same --threads %d; target >= 2)\n", l / r, t }'
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other processes on this machine inflate wall times)"
else
  echo
fi
