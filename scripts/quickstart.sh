#!/usr/bin/env bash
# Installs dependencies, builds ramq and quantizes the example model (../shared/models/stories260K)
# to a mixed-precision MLX model with the SWAN policy.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
MODEL=${1:-../shared/models/stories260K}
OUT=${2:-out/stories260K-swan-mlx}
mkdir -p "$(dirname "$OUT")"
build/bin/ramq quantize "$MODEL" --format mlx -o "$OUT" --save-analysis "$OUT.analysis.json" --save-plan "$OUT.plan.json"
echo "output: $(realpath "$OUT") ($(du -sb "$OUT" | cut -f1) bytes; analysis and plan beside it)"
