#!/usr/bin/env bash
# Installs ramq's build and test dependencies from Debian bookworm packages (idempotent:
# does nothing when everything is already installed).
set -euo pipefail

PACKAGES=(
  cmake g++ make                  # toolchain
  libopenblas-dev liblapacke-dev  # BLAS / LAPACK (SVD, matrix products)
  nlohmann-json3-dev              # JSON
  libcli11-dev                    # command line
  libssl-dev                      # SHA-256 (OpenSSL libcrypto)
  libgtest-dev                    # tests
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
