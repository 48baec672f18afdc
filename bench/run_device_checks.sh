#!/usr/bin/env bash
# On a one-GPU machine: the token choice's GPU tests (new kernels and CudaTokenChooser), the
# single-GPU model's tests, then every kernel bench. Expects the device bundle at $1 (bin/, lib/,
# env.sh); logs packed into $OUT/checks-logs.tgz, the summary on stdout.
set -uo pipefail
dev=$1
final=${OUT:-/tmp}
out=$(mktemp -d)
trap 'tar czf "$final/checks-logs.tgz" -C "$out" .' EXIT
source "$dev/env.sh"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem,memory.total --format=csv
for t in cuda_token_chooser_gpu_test kernels_logits_process_gpu_test kernels_logprobs_gpu_test \
  kernels_sampling_gpu_test kernels_embedding_gpu_test kernels_bf16_gemm_gpu_test; do
  timeout 120 "$dev/bin/$t" >"$out/$t.txt" 2>&1
  echo "== $t rc=$?"; grep -E "^\[  (PASSED|FAILED) |Failure" "$out/$t.txt" | head -8
done
timeout "${MODEL_TIMEOUT:-300}" "$dev/bin/cuda_model_gpu_test" --gtest_filter='*R1Tiny*:*Golden*' \
  >"$out/cuda_model.txt" 2>&1
echo "== cuda_model_gpu_test rc=$?"
grep -E "^\[  (PASSED|FAILED) |^\[       OK|Failure|correct|identical" "$out/cuda_model.txt" | head -24
OUT=$out DEV=$dev BENCH_TIMEOUT=${BENCH_TIMEOUT:-60} bench/kernels/run_device.sh bench >/dev/null 2>&1
cat "$out/bench.txt"
