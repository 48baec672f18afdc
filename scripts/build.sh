#!/usr/bin/env bash
# Configures and builds r1serve into build/ (CPU and, when nvcc is present, CUDA code for sm_90a).
# Extra arguments go to CMake's configure step, e.g. scripts/build.sh -DR1_CUDA=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
            -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
fi
cmake -S . -B "$BUILD_DIR" -G Ninja "${launcher[@]}" "$@" >/dev/null
# BUILD_TARGET: one or more targets separated by spaces (default: all).
# shellcheck disable=SC2086
cmake --build "$BUILD_DIR" -j"$(nproc)" --target ${BUILD_TARGET:-all}
