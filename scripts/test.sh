#!/usr/bin/env bash
# The one test command: install dependencies, build everything (CPU and CUDA code), check
# formatting, run every CTest test but the GPU and soak ones and the Python tests, and build and
# briefly run the libFuzzer targets with clang (scripts/fuzz.sh). CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

scripts/install-deps.sh
scripts/build.sh
cmake --build build --target format-check

ctest --test-dir build -LE "gpu|soak" --output-on-failure -j"$(nproc)" --timeout 900

# libFuzzer targets: built with clang in build-fuzz/ (only the targets and what they link), each
# fuzzed 10 s from its checked-in seed corpus; `FUZZ_SECONDS=600 scripts/fuzz.sh` is the long run.
FUZZ_SECONDS=10 scripts/fuzz.sh

R1_BUILD_DIR=build .venv/bin/python -m pytest -q tests/python
echo "test.sh: all passed in $(( $(date +%s) - start )) s"
