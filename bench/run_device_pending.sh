#!/usr/bin/env bash
# On a one-GPU machine: the runs built but not yet made on a GPU (as of 2026-12-08), most
# important first, each under its own limit and all under TOTAL seconds (default 540): the decode
# CUDA graphs' test, r1_rank at full size with the fixed-capacity exchange, graphs and MTP
# speculative steps, the same without graphs, the re-runs of the tests
# changed after the H100 baseline, the expert-parallel group tests over two NCCL ranks per GPU,
# r1_rank with the counted exchange and with skewed routing, the comm benches, the CUTLASS FP8
# test, a larger batch and the full-size loader. Writes summary.txt, r1_rank.txt, tests.log,
# multirank.log, load.txt and jsonl.tgz (r1_rank's JSON lines) to $OUT (a device call returns at
# most 8 files).
#
# Expects the bundle at $1 (bin/, lib/, env.sh) with kernels_moe_gating_gpu_test,
# cuda_model_graphs_gpu_test, cuda_ep_moe_gpu_test,
# kernels_moe_gemm_cutlass_gpu_test, cuda_mtp_gpu_test, cuda_model_r1_shaped_gpu_test,
# mirror_peers_communicator_gpu_test, r1_rank_bench, load_bench, comm_bench, ep_moe_bench,
# r1ctl, dense_cuda_model_gpu_test and dense_decode_bench, and NCCL >= 2.30 at $2
# (../shared/device's sm_90 build, unpacked):
#   bash bench/pack_device_pending.sh    (here: packs them into .devpack5/dev.tar.xz)
#   bash bench/run_device_pending.sh /tmp/d/.device /tmp/d/nccl-2.30.7-sm90
set -uo pipefail
start=$(date +%s); total=${TOTAL:-540}
D=${1:?usage: run_device_pending.sh BUNDLE NCCL_DIR}; N=${2:?usage: run_device_pending.sh BUNDLE NCCL_DIR}
OUT=${OUT:-/tmp}
source $D/env.sh
S=$OUT/summary.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem,clocks.sm,memory.total --format=csv > $S
step() {  # name log limit cmd...
  local name=$1 log=$2 limit=$3; shift 3
  # ONLY="name ...": run just those steps (a second call picks up where the first stopped).
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then return; fi
  local remain=$((total - ($(date +%s) - start)))
  if [ $remain -le 10 ]; then echo "skipped $name" >> $S; return; fi
  [ $limit -gt $remain ] && limit=$remain
  local t0=$(date +%s)
  echo "===== $name" >> $log
  timeout -k 5 $limit "$@" >> $log 2>&1
  echo "rc=$? $(( $(date +%s) - t0 ))s $name" >> $S
}
mem=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -1)
if [ "$mem" -gt 120000 ]; then B=1,8,32,64,128; BIG=256; else B=1,8,32,64; BIG=128; fi
MR="env LD_LIBRARY_PATH=$N/lib:$LD_LIBRARY_PATH NCCL_MULTI_RANK_GPU_ENABLE=1"
step gating $OUT/tests.log 20 $D/bin/kernels_moe_gating_gpu_test
step graphs $OUT/tests.log 90 $D/bin/cuda_model_graphs_gpu_test
step r1_rank_fc256 $OUT/r1_rank.txt 120 env TAG=fc256 FIXED_CAPACITY=256 OUT=$OUT BATCHES=$B STEPS=5 SPECULATIVE=1,2,3 bash bench/serving/r1_rank/run_device.sh $D
step r1_shaped_batched $OUT/tests.log 60 $D/bin/cuda_model_r1_shaped_gpu_test --gtest_filter=*Batched*:*Prefill*:*Graphs*
step cuda_ep_moe $OUT/multirank.log 150 $MR $D/bin/cuda_ep_moe_gpu_test
step r1_rank_fc256_eager $OUT/r1_rank.txt 100 env TAG=fc256-eager GRAPHS=0 FIXED_CAPACITY=256 OUT=$OUT BATCHES=$B STEPS=5 bash bench/serving/r1_rank/run_device.sh $D
step cuda_mtp $OUT/tests.log 90 $D/bin/cuda_mtp_gpu_test
step mirror $OUT/tests.log 30 $D/bin/mirror_peers_communicator_gpu_test
step dense $OUT/tests.log 60 $D/bin/dense_cuda_model_gpu_test
step dense_bench $OUT/tests.log 60 bash -c "$D/bin/dense_decode_bench --graphs=1 && $D/bin/dense_decode_bench --graphs=0"
step r1_rank_fc0 $OUT/r1_rank.txt 120 env TAG=fc0 FIXED_CAPACITY=0 OUT=$OUT BATCHES=$B STEPS=5 bash bench/serving/r1_rank/run_device.sh $D
step r1_rank_hot $OUT/r1_rank.txt 90 env TAG=hot03 HOT_BIAS=0.3 FIXED_CAPACITY=0 OUT=$OUT BATCHES=8,64 STEPS=3 bash bench/serving/r1_rank/run_device.sh $D
step comm_bench $OUT/multirank.log 60 $MR $D/bin/comm_bench
step ep_moe_bench $OUT/multirank.log 60 $MR $D/bin/ep_moe_bench
step cutlass_fp8 $OUT/tests.log 120 $D/bin/kernels_moe_gemm_cutlass_gpu_test
step r1_rank_big $OUT/r1_rank.txt 90 env TAG=fc256-b$BIG FIXED_CAPACITY=256 OUT=$OUT BATCHES=$BIG STEPS=5 KV_FRACTION=0.9 bash bench/serving/r1_rank/run_device.sh $D
step load $OUT/load.txt 200 env OUT=$OUT bash bench/serving/r1_rank/run_device_load.sh $D
(cd $OUT && ls *.jsonl >/dev/null 2>&1 && tar czf jsonl.tgz *.jsonl && rm -f *.jsonl)
echo "total $(( $(date +%s) - start ))s" >> $S
cat $S
