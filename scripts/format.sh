#!/usr/bin/env bash
# usage: scripts/format.sh --check|--fix [clang-format binary]
# Checks (or rewrites) every C++, CUDA and proto source the project owns against .clang-format.
set -euo pipefail
mode=${1:---check}
cf=${2:-clang-format}
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -- '*.h' '*.cc' '*.cu' '*.cuh' '*.proto' 2>/dev/null || true)
[ ${#files[@]} -gt 0 ] || { echo "format: no files"; exit 0; }
if [ "$mode" = --fix ]; then
  "$cf" -i "${files[@]}"
else
  "$cf" --dry-run --Werror "${files[@]}"
  echo "format: ${#files[@]} files clean"
fi
