#!/usr/bin/env bash
# On a one-GPU machine: the expert-parallel checks of the CUDA backend. Expects the device bundle
# (bin/, lib/, env.sh) at $1 and the NCCL 2.30.7 tarball for sm_90 at $NCCL_TARBALL (default
# .devpack/nccl-2.30.7-sm90.tar.xz: the GPU machine sees only the checkout, so it travels in the
# carried .devpack; copy it there from ../shared/device) for the runs with several NCCL ranks on
# one GPU; writes one log per step, packed into $OUT/ep-logs.tgz.
#   1. kernels/moe_exchange GPU test; NcclCommunicator/HostStaged conformance (1 rank, GPU buffers)
#   2. cuda_ep_moe_gpu_test with the machine's NCCL (multi-rank NCCL cases skip, saying why)
#   3. with NCCL 2.30.7 + NCCL_MULTI_RANK_GPU_ENABLE=1: the multi-rank communicator tests and the
#      NCCL groups of cuda_ep_moe_gpu_test
#   4. clusters on the GPU: one CUDA worker (the reference), then groups of 2 worker processes
#      (host-staged, then NCCL 2.30.7); the greedy answers of every cluster are compared
#   bench/comm: ep_moe_bench (the whole CudaEpMoe exchange) and comm_bench (raw exchanges)
# (The single-GPU model's tests run with the kernel tests: bench/kernels/run_device.sh.)
set -uo pipefail
dev=$1
final=${OUT:-/tmp}
out=$(mktemp -d)  # every log; packed into $OUT/ep-logs.tgz at the end
trap 'tar czf "$final/ep-logs.tgz" -C "$out" .' EXIT
source "$dev/env.sh"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem,memory.total --format=csv \
  | tee "$out/gpu.txt"
step() { local name=$1; shift; echo "== $name: $*"; local t0=$(date +%s)
  timeout "${STEP_TIMEOUT:-300}" "$@" >"$out/$name.txt" 2>&1; local rc=$?
  echo "== $name: rc=$rc in $(( $(date +%s) - t0 )) s"; tail -n 4 "$out/$name.txt"; }
step moe_exchange "$dev/bin/kernels_moe_exchange_gpu_test"
step nccl_1rank "$dev/bin/nccl_communicator_gpu_test"
step ep_groups_nccl_system "$dev/bin/cuda_ep_moe_gpu_test"
for w in 1 2 4; do STEP_TIMEOUT=120 step "ep_bench_staged_w$w" "$dev/bin/ep_moe_bench" --transport=staged --world=$w; done
STEP_TIMEOUT=120 step ep_bench_nccl_w1 "$dev/bin/ep_moe_bench" --transport=nccl --world=1
STEP_TIMEOUT=120 step raw_bench_staged_w2 "$dev/bin/comm_bench" --transport=staged --world=2
OUT=$out GROUP_SIZE=1 TRANSPORT=nccl step cluster_g1 bench/serving/run_device_cluster.sh "$dev"
nccl=$(mktemp -d)
tarball=${NCCL_TARBALL:-.devpack/nccl-2.30.7-sm90.tar.xz}
[ -f "$tarball" ] || echo "== NCCL 2.30.7 tarball missing at $tarball: the multi-rank steps will fail"
tar xJf "$tarball" -C "$nccl"
export R1_NCCL_LIB=$nccl/nccl-2.30.7-sm90/lib
export LD_LIBRARY_PATH=$R1_NCCL_LIB:$LD_LIBRARY_PATH
export NCCL_MULTI_RANK_GPU_ENABLE=1 NCCL_DEBUG=VERSION NCCL_NVLS_ENABLE=0
step nccl_multi_230 "$dev/bin/nccl_communicator_multi_gpu_test"
step ep_groups_nccl_230 "$dev/bin/cuda_ep_moe_gpu_test" --gtest_filter='*nccl*'
STEP_TIMEOUT=120 step ep_bench_nccl230_w2 "$dev/bin/ep_moe_bench" --transport=nccl --world=2
STEP_TIMEOUT=120 step raw_bench_nccl230_w2 "$dev/bin/comm_bench" --transport=nccl --world=2
OUT=$out GROUP_SIZE=2 TRANSPORT=staged step cluster_g2_staged bench/serving/run_device_cluster.sh "$dev"
OUT=$out GROUP_SIZE=2 TRANSPORT=nccl step cluster_g2_nccl bench/serving/run_device_cluster.sh "$dev"
unset NCCL_MULTI_RANK_GPU_ENABLE
# Greedy answers of each cluster against one GPU's at concurrency 1.
python3 bench/serving/compare_answers.py "$out/answers-g1-nccl-c1.jsonl" "$out"/answers-*.jsonl \
  | tee "$out/answers-compare.txt"
