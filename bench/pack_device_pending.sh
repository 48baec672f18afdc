#!/usr/bin/env bash
# Here (no GPU needed): packs the programs that bench/run_device_pending.sh and
# bench/serving/run_device_serving_pending.sh run into .devpack5/dev.tar.xz and
# .devpack-serving/dev.tar.xz (both ignored by git; carry them to the GPU machine with
# ../shared/device's NCCL in .devpack-nccl). Build first (cmake --build build); the bundles stay
# under the device call's 64 MiB with the working tree (≈ 14.6 + 22.3 MB, one per call).
#   bash bench/pack_device_pending.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
bundle=../shared/tools/device-bundle.sh
pack() {  # out_dir programs...
  local out=$1; shift
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && "$OLDPWD/$bundle" .device "$@" > /dev/null)
  strip "$tmp"/.device/bin/*
  mkdir -p "$out"
  tar cf - -C "$tmp" .device | xz -T0 -6 > "$out/dev.tar.xz"
  rm -rf "$tmp"
  ls -l "$out/dev.tar.xz"
}
root=$PWD
pack .devpack5 \
  "$root/$build/kernels/kernels_moe_gating_gpu_test" \
  "$root/$build/worker/backend/cuda_model_graphs_gpu_test" \
  "$root/$build/worker/backend/cuda_ep_moe_gpu_test" \
  "$root/$build/kernels/kernels_moe_gemm_cutlass_gpu_test" \
  "$root/$build/worker/backend/cuda_mtp_gpu_test" \
  "$root/$build/worker/backend/cuda_model_r1_shaped_gpu_test" \
  "$root/$build/bench/serving/r1_rank/mirror_peers_communicator_gpu_test" \
  "$root/$build/bench/serving/r1_rank/r1_rank_bench" \
  "$root/$build/bench/serving/r1_rank/load_bench" \
  "$root/$build/bench/comm/comm_bench" \
  "$root/$build/bench/comm/ep_moe_bench" \
  "$root/$build/r1ctl/r1ctl" \
  "$root/$build/worker/backend/dense_cuda_model_gpu_test" \
  "$root/$build/bench/kernels/dense_decode_bench"
pack .devpack-serving \
  "$root/$build/worker/r1-worker" \
  "$root/$build/coordinator/r1-coordinator" \
  "$root/$build/r1ctl/r1ctl"
