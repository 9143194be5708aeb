#!/usr/bin/env bash
# Per-token time of `ramq generate` (one token at a time through the KV cache) against `ramq eval`
# (windows of --ctx tokens in one pass each) on the same model. Loading is taken out of both:
#   generate: (time of -n N  - time of -n 1) / (N - 1)             greedy, prompt of a few tokens
#   eval:     (time of W windows - time of 1 window) / ((W - 1) x (ctx - 1) scored tokens)
# Each command runs REPEAT times and the fastest run counts (wall time, /usr/bin/time-free: bash's
# EPOCHREALTIME). Not a test: run it on an otherwise idle machine.
#
#   bench/generate_vs_eval.sh [--model DIR] [--text FILE] [--tokens N] [--ctx N] [--windows W]
#                             [--threads N] [--repeat R] [--build DIR]
#
# Defaults: --model /work/shared/models/kjv-llama-3.7M (else ../shared/models/kjv-llama-3.7M),
# --text MODEL/heldout.txt, --tokens 240 (with the prompt, within its 256 positions), --ctx 256,
# --windows 8, --threads nproc, --repeat 3, --build build. Prints one row per command and the
# ratio generate / eval per token.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL="" TEXT="" TOKENS=240 CTX=256 WINDOWS=8 THREADS=$(nproc) REPEAT=3 BUILD=build
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --model) MODEL=$2; shift 2 ;;
    --text) TEXT=$2; shift 2 ;;
    --tokens) TOKENS=$2; shift 2 ;;
    --ctx) CTX=$2; shift 2 ;;
    --windows) WINDOWS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "generate_vs_eval.sh: unknown argument $1" >&2; usage ;;
  esac
done
if [ -z "$MODEL" ]; then
  for m in /work/shared/models/kjv-llama-3.7M ../shared/models/kjv-llama-3.7M; do
    [ -d "$m" ] && MODEL=$m && break
  done
fi
[ -n "$MODEL" ] && [ -d "$MODEL" ] || { echo "generate_vs_eval.sh: no model directory (--model DIR)" >&2; exit 2; }
[ -n "$TEXT" ] || TEXT=$MODEL/heldout.txt
RAMQ=$BUILD/bin/ramq
[ -x "$RAMQ" ] || { echo "generate_vs_eval.sh: $RAMQ not built" >&2; exit 2; }
[ "$TOKENS" -ge 2 ] && [ "$WINDOWS" -ge 2 ] || { echo "generate_vs_eval.sh: --tokens and --windows must be >= 2" >&2; exit 2; }

# Fastest wall time in seconds of REPEAT runs of the command (its output discarded).
fastest() {
  local best="" t0 t1 dt
  for _ in $(seq "$REPEAT"); do
    t0=$EPOCHREALTIME
    "$@" >/dev/null
    t1=$EPOCHREALTIME
    dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    if [ -z "$best" ] || awk -v d="$dt" -v b="$best" 'BEGIN { exit !(d < b) }'; then best=$dt; fi
  done
  echo "$best"
}

PROMPT="In the beginning"
gen() { "$RAMQ" -q --threads "$THREADS" generate "$MODEL" -p "$PROMPT" --temp 0 --json -n "$1"; }
ev() { "$RAMQ" -q --threads "$THREADS" eval "$MODEL" --text "$TEXT" --ctx "$CTX" --max-tokens "$(( $1 * CTX ))" --json; }

# Greedy decoding may stop at an end-of-sequence token: count the tokens actually generated.
generated=$(gen "$TOKENS" | jq '.tokens | length')
[ "$generated" -ge 2 ] || { echo "generate_vs_eval.sh: the model stopped after $generated token(s)" >&2; exit 3; }
g_n=$(fastest gen "$TOKENS")
g_1=$(fastest gen 1)
e_w=$(fastest ev "$WINDOWS")
e_1=$(fastest ev 1)
g_per=$(awk -v l="$g_n" -v s="$g_1" -v n="$generated" 'BEGIN { printf "%.6f", (l - s) / (n - 1) * 1000 }')
e_per=$(awk -v l="$e_w" -v s="$e_1" -v w="$WINDOWS" -v c="$CTX" 'BEGIN { printf "%.6f", (l - s) / ((w - 1) * (c - 1)) * 1000 }')
printf 'model %s, %s threads, fastest of %s runs\n' "$MODEL" "$THREADS" "$REPEAT"
printf '%-44s %10s %10s %14s\n' "command" "long (s)" "short (s)" "ms per token"
printf '%-44s %10.3f %10.3f %14.4f\n' "generate -n $generated (vs -n 1)" "$g_n" "$g_1" "$g_per"
printf '%-44s %10.3f %10.3f %14.4f\n' "eval --ctx $CTX, $WINDOWS windows (vs 1)" "$e_w" "$e_1" "$e_per"
awk -v g="$g_per" -v e="$e_per" 'BEGIN { printf "generate / eval per token: %.2f\n", g / e }'
