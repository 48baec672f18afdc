#!/usr/bin/env bash
# The one test command: install dependencies, build everything (CPU and CUDA code), check
# formatting, run every non-GPU CTest test and the Python tests, and build + briefly run the
# safetensors header fuzzer with clang. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

scripts/install-deps.sh
scripts/build.sh
cmake --build build --target format-check

ctest --test-dir build -LE gpu --output-on-failure -j"$(nproc)" --timeout 900

# libFuzzer target: builds with clang in its own tree; 20 s of fuzzing from an empty corpus.
BUILD_DIR=build-fuzz BUILD_TARGET=safetensors_header_fuzzer scripts/build.sh -DR1_CUDA=OFF \
  -DR1_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug
mkdir -p build-fuzz/corpus
build-fuzz/common/safetensors_header_fuzzer -max_total_time=20 -rss_limit_mb=2048 \
  build-fuzz/corpus 2>build-fuzz/fuzz.log || { tail -50 build-fuzz/fuzz.log; exit 1; }
echo "fuzz: $(grep -c . build-fuzz/fuzz.log) log lines, no crash"

R1_BUILD_DIR=build .venv/bin/python -m pytest -q tests/python
echo "test.sh: all passed in $(( $(date +%s) - start )) s"
