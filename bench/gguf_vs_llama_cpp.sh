#!/usr/bin/env bash
# Compares, on one model (default: the example model), ramq's GGUF files with llama.cpp's own
# Q4_K_M and Q8_0 made by llama_model_quantize (the prebuilt libllama from npm, via
# tests/peer's llama_peer) from the same F32 GGUF: file size, bits per weight, and quality
# (perplexity and KL divergence against the original, both by `ramq eval`; llama.cpp's own
# perplexity of each file as a cross-check).
# Usage: bench/gguf_vs_llama_cpp.sh [MODEL_DIR] [TOKENS.u32]   (after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-../shared/models/stories260K}
TOKENS=${2:-../shared/data/stories260K/tinystories_sample.u32}
RAMQ=build/bin/ramq
PEER=build/tests/peer/llama_peer
[ -x "$RAMQ" ] && [ -x "$PEER" ] || { echo "build first: scripts/build.sh (and scripts/install-deps.sh for the npm peer)" >&2; exit 1; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

"$RAMQ" quantize "$MODEL" --format gguf --policy uniform --bits 16 --keep-dtype -o "$W/f32.gguf" >/dev/null
"$PEER" quantize "$W/f32.gguf" "$W/llama-Q4_K_M.gguf" Q4_K_M >/dev/null 2>&1
"$PEER" quantize "$W/f32.gguf" "$W/llama-Q8_0.gguf" Q8_0 >/dev/null 2>&1
"$RAMQ" quantize "$MODEL" --format gguf -o "$W/ramq-swan.gguf" >/dev/null
"$RAMQ" quantize "$MODEL" --format gguf --policy llama-mix --mix Q4_K_M -o "$W/ramq-mix-Q4_K_M.gguf" >/dev/null
"$RAMQ" quantize "$MODEL" --format gguf --policy llama-mix --mix Q8_0 -o "$W/ramq-mix-Q8_0.gguf" >/dev/null
# llama.cpp's Q3_K_M and Q5_K_M too, and ramq's budget policy at exactly each llama.cpp file's size.
"$PEER" quantize "$W/f32.gguf" "$W/llama-Q3_K_M.gguf" Q3_K_M >/dev/null 2>&1
"$PEER" quantize "$W/f32.gguf" "$W/llama-Q5_K_M.gguf" Q5_K_M >/dev/null 2>&1
for m in Q3_K_M Q4_K_M Q5_K_M; do
  "$RAMQ" quantize "$MODEL" --format gguf --policy budget --target-size "$(stat -c %s "$W/llama-$m.gguf")" \
    -o "$W/ramq-budget@$m.gguf" >/dev/null
done

printf '%-22s %12s %8s %10s %10s %12s %8s\n' file "file bytes" bpw "PPL(ramq)" "PPL(llama)" "mean KLD" top-1
for f in f32 llama-Q8_0 ramq-mix-Q8_0 llama-Q5_K_M ramq-budget@Q5_K_M llama-Q4_K_M ramq-mix-Q4_K_M ramq-budget@Q4_K_M \
  llama-Q3_K_M ramq-budget@Q3_K_M ramq-swan; do
  g="$W/$f.gguf"
  size=$(stat -c %s "$g")
  bpw=$("$RAMQ" inspect "$g" --json --no-tensors | jq '.bits_per_weight')
  ev=$("$RAMQ" eval "$g" --reference "$MODEL" --tokens "$TOKENS" --json)
  lp=$("$PEER" ppl "$g" "$TOKENS" --ctx 256 | jq '.ppl')
  printf '%-22s %12d %8.3f %10.4f %10.4f %12.6f %8.4f\n' "$f" "$size" "$bpw" "$(jq '.ppl' <<<"$ev")" "$lp" \
    "$(jq '.mean_kld' <<<"$ev")" "$(jq '.top1_agreement' <<<"$ev")"
done
echo "(bpw over tensor data; bytes = whole file; tokens: $TOKENS)"
