#!/usr/bin/env bash
# The budget policy against uniform round-to-nearest at matched sizes (MLX): for every uniform
# plan (bits 2/3/4/5/6/8 x groups 32/64, with and without --quantize-embeddings) of at most
# MAX_BPW bits per weight, the budget policy is given exactly the uniform output's size (its
# safetensors files, headers included) and both are evaluated against the original model.
# Prints one row per size: bits per weight, both KL divergences, and whether the budget policy won.
# Usage: bench/budget_vs_uniform.sh [MODEL_DIR] [TOKENS.u32] [extra budget options, e.g. --probe self]
# Environment: RAMQ (default build/bin/ramq), MAX_BPW (default 8.6), CTX (default 256).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-../shared/models/stories260K}
TOKENS=${2:-../shared/data/stories260K/tinystories_sample.u32}
shift $(( $# > 2 ? 2 : $# )) || true
EXTRA=("$@")
RAMQ=${RAMQ:-build/bin/ramq}
MAX_BPW=${MAX_BPW:-8.6}
CTX=${CTX:-256}
[ -x "$RAMQ" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

params=$("$RAMQ" inspect "$MODEL" --json --no-tensors | jq '.total_params')
files_bytes() { find "$1" -maxdepth 1 -name '*.safetensors' -printf '%s\n' | awk '{s += $1} END {print s}'; }
kld() { "$RAMQ" -q eval "$1" --reference "$MODEL" --tokens "$TOKENS" --ctx "$CTX" --json | jq '.mean_kld'; }

printf '%-16s %7s %8s %12s %12s %7s\n' "uniform plan" bpw bytes "KLD uniform" "KLD budget" result
wins=0; rows=0
for emb in yes no; do
  for bits in 2 3 4 5 6 8; do
    for group in 32 64; do
      args=(--policy uniform --bits "$bits" --group "$group")
      suffix=""
      if [ "$emb" = yes ]; then args+=(--quantize-embeddings); suffix=" +emb"; fi
      rm -rf "$W/u" "$W/b"
      "$RAMQ" -q quantize "$MODEL" "${args[@]}" -o "$W/u" >/dev/null
      size=$(files_bytes "$W/u")
      bpw=$(awk -v s="$size" -v p="$params" 'BEGIN {printf "%.3f", 8 * s / p}')
      if ! awk -v b="$bpw" -v m="$MAX_BPW" 'BEGIN {exit !(b <= m)}'; then continue; fi
      ku=$(kld "$W/u")
      if "$RAMQ" -q quantize "$MODEL" --policy budget --target-size "$size" "${EXTRA[@]}" -o "$W/b" >/dev/null 2>"$W/err"; then
        kb_raw=$(kld "$W/b")
        result=$(awk -v a="$kb_raw" -v b="$ku" 'BEGIN {print (a < b ? "lower" : (a == b ? "equal" : "HIGHER"))}')
        kb=$(awk -v a="$kb_raw" 'BEGIN {printf "%.6f", a}')
      else
        kb=nan; result="($(cut -c1-40 "$W/err"))"
      fi
      name="${bits}-bit g${group}${suffix}"
      printf '%-16s %7s %8d %12.6f %12s %7s\n' "$name" "$bpw" "$size" "$ku" "$kb" "$result"
      rows=$((rows + 1))
      if [ "$result" = lower ]; then wins=$((wins + 1)); fi
    done
  done
done
echo "(equal: the only plan of that size; the smallest MLX model, every tensor at 2-bit g64)"
echo "budget lower than uniform at $wins of $rows matched sizes (tokens: $TOKENS, ctx $CTX${EXTRA[*]:+, ${EXTRA[*]}})"
