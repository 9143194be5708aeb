#!/usr/bin/env bash
# Quality benchmark: quantizes one model with several plans and evaluates each against the
# original with `ramq eval --reference` on one token file; prints one Markdown table (plan,
# format, bytes of the model files, bits per weight, PPL, median window PPL, mean KLD, top-1 agreement).
#
# Plans: uniform round-to-nearest MLX (--mlx-encoder minmax) at 2/3/4/8 bits x groups
# 32/64/128; uniform 4-bit with the default error-minimising encoder (search) at the same
# groups; the swan policy (MLX and GGUF); the budget policy at a few bits-per-weight targets;
# GGUF llama-mix Q4_K_M and Q8_0. Everything is deterministic: the same table on every run.
#
# Usage: bench/quality.sh [MODEL_DIR] [TOKENS.u32] [CTX]
#   defaults: ../shared/models/stories260K, ../shared/data/stories260K/tinystories_sample.u32,
#   256 (relative paths in the defaults are relative to the repository root; arguments are
#   relative to the current directory). Environment: RAMQ (default build/bin/ramq of the
#   repository), BUDGETS (default "6 8" for MLX; GGUF budget at the largest), THREADS
#   (ramq --threads, default 0 = all cores; results do not depend on it).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
abs() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$2/$1" ;; esac; }
MODEL=$(abs "${1:-../shared/models/stories260K}" "$([ $# -ge 1 ] && pwd || echo "$ROOT")")
TOKENS=$(abs "${2:-../shared/data/stories260K/tinystories_sample.u32}" "$([ $# -ge 2 ] && pwd || echo "$ROOT")")
CTX=${3:-256}
RAMQ=$(abs "${RAMQ:-build/bin/ramq}" "$([ -n "${RAMQ:-}" ] && pwd || echo "$ROOT")")
BUDGETS=${BUDGETS:-6.5 7.5 8.5}
THREADS=${THREADS:-0}

command -v jq >/dev/null || { echo "bench/quality.sh: jq is needed" >&2; exit 2; }
[ -x "$RAMQ" ] || { echo "bench/quality.sh: no ramq binary at $RAMQ (build first: scripts/build.sh, or set RAMQ)" >&2; exit 2; }
[ -d "$MODEL" ] || { echo "bench/quality.sh: model directory $MODEL not found" >&2; exit 2; }
[ -f "$TOKENS" ] || { echo "bench/quality.sh: token file $TOKENS not found" >&2; exit 2; }

W=$(mktemp -d "${TMPDIR:-/tmp}/ramq-quality.XXXXXX")
trap 'rm -rf "$W"' EXIT
trap 'exit 130' INT TERM HUP

ramq() { "$RAMQ" --threads "$THREADS" "$@"; }

# One plan per line: label | format | quantize options.
plans() {
  local bits group
  for bits in 2 3 4 8; do
    for group in 32 64 128; do
      echo "uniform RTN ${bits}-bit g${group}|mlx|--policy uniform --bits $bits --group $group --mlx-encoder minmax"
    done
  done
  for group in 32 64 128; do
    echo "uniform search 4-bit g${group}|mlx|--policy uniform --bits 4 --group $group"
  done
  echo "swan|mlx|--policy swan"
  echo "swan|gguf|--policy swan"
  local t
  for t in $BUDGETS; do
    echo "budget ${t} bpw|mlx|--policy budget --target-bpw $t"
    echo "budget ${t} bpw, probe self|mlx|--policy budget --target-bpw $t --probe self"
  done
  for t in $BUDGETS; do
    echo "budget ${t} bpw|gguf|--policy budget --target-bpw $t"
  done
  echo "llama-mix Q4_K_M|gguf|--policy llama-mix --mix Q4_K_M"
  echo "llama-mix Q8_0|gguf|--policy llama-mix --mix Q8_0"
}

commas() { sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta' <<<"$1"; }

# row LABEL FORMAT BYTES BPW EVAL_JSON
row() {
  local ev=$5
  printf '| %s | %s | %s | %.3f | %.4f | %.4f | %.6f | %.4f |\n' "$1" "$2" "$(commas "$3")" "$4" \
    "$(jq '.ppl' <<<"$ev")" "$(jq '.median_window_ppl' <<<"$ev")" "$(jq '.mean_kld' <<<"$ev")" \
    "$(jq '.top1_agreement' <<<"$ev")"
}

evaluate() { ramq eval "$1" --reference "$MODEL" --tokens "$TOKENS" --ctx "$CTX" --json 2>"$W/err"; }

echo "Model \`$(basename "$MODEL")\`, tokens \`$(basename "$TOKENS")\`, ctx $CTX; every plan evaluated against the original."
echo
echo "| plan | format | bytes | bits/weight | PPL | median PPL | mean KLD | top-1 |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"

info=$(ramq inspect "$MODEL" --json --no-tensors)
params=$(jq '.total_params' <<<"$info")
row "original" "HF $(jq -r '.torch_dtype // "float"' "$MODEL/config.json")" "$(jq '.total_bytes' <<<"$info")" \
  "$(jq '.bits_per_weight' <<<"$info")" "$(evaluate "$MODEL")"

notes=()
i=0
while IFS='|' read -r label format opts; do
  i=$((i + 1))
  out="$W/$i"
  [ "$format" = gguf ] && out="$W/$i.gguf"
  # shellcheck disable=SC2086  # opts is a list of options
  if ! q=$(ramq quantize "$MODEL" --format "$format" $opts --json -o "$out" 2>"$W/err"); then
    printf '| %s | %s | - | - | - | - | - | - |\n' "$label" "$format"
    notes+=("$label ($format): $(head -n 1 "$W/err")")
    continue
  fi
  if ! ev=$(evaluate "$out"); then
    printf '| %s | %s | - | - | - | - | - | - |\n' "$label" "$format"
    notes+=("$label ($format): eval failed: $(head -n 1 "$W/err")")
    rm -rf "$out"
    continue
  fi
  # The model files: the GGUF file, or the MLX safetensors shards (headers included).
  if [ "$format" = gguf ]; then bytes=$(stat -c %s "$out"); else bytes=$(cat "$out"/*.safetensors | wc -c); fi
  row "$label" "$format" "$bytes" "$(awk -v b="$bytes" -v p="$params" 'BEGIN {print 8 * b / p}')" "$ev"
  rm -rf "$out"
done < <(plans)

echo
echo "bytes: the model files (GGUF: the whole file, metadata and vocabulary included; MLX: the"
echo "safetensors files, headers included; the original: its tensor data); bits/weight: 8 x bytes /"
echo "parameters. A budget of B bits per weight is a budget for these bytes. RTN = \`--mlx-encoder minmax\` (plain min/max"
echo "round-to-nearest); search = the default error-minimising MLX encoder. A group that does not"
echo "divide a tensor's rows falls back to the largest of 32/64/128 that does (the plan says so),"
echo "so two groups can give the same row (64-wide rows: g128 = g64)."
for n in "${notes[@]+"${notes[@]}"}"; do echo "- not measured: $n"; done
