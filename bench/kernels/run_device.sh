#!/usr/bin/env bash
# Runs the bundled kernel GPU tests and benches on a GPU machine (see bench/results/). Expects a
# bundle made by /work/shared/tools/device-bundle.sh in .device/; writes logs to $OUT (or /tmp).
# usage: bench/kernels/run_device.sh [tests|bench|all] [name-filter]
set -uo pipefail
what=${1:-all}
filter=${2:-}
out=${OUT:-/tmp}
test_timeout=${TEST_TIMEOUT:-120}
bench_timeout=${BENCH_TIMEOUT:-180}
dev=${DEV:-.device}  # the bundle (bin/, lib/, env.sh)
source "$dev/env.sh"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv
# The cuBLAS(Lt) and CUDA runtime the programs load (the GPU machine's own, see env.sh).
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
for d in ${LD_LIBRARY_PATH//:/ }; do ls "$d" 2>/dev/null | grep -E '^lib(cublasLt|cudart)\.so\.[0-9.]+$'; done
if [ "$what" = tests ] || [ "$what" = all ]; then
  for t in "$dev"/bin/*_gpu_test; do
    case "$t" in *"$filter"*) ;; *) continue ;; esac
    echo "== $t"
    timeout -k 10 "$test_timeout" "$t" >/tmp/test.log 2>&1
    rc=$?
    cat /tmp/test.log >>"$out/tests_full.log"
    grep -E "^\[  (PASSED|FAILED) |^\[  FAILED|Failure|Expected|Which is|actual|case|probe|fp8_gemm|max_rel|rel_l2" \
      /tmp/test.log | head -40
    echo "rc=$rc $t"
  done 2>&1 | tee "$out/tests.txt"
fi
if [ "$what" = bench ] || [ "$what" = all ]; then
  for b in "$dev"/bin/*_bench; do
    case "$b" in *"$filter"*) ;; *) continue ;; esac
    echo "== $b"
    timeout -k 10 "$bench_timeout" "$b"
    echo "rc=$? $b"
  done 2>&1 | tee "$out/bench.txt"
fi
