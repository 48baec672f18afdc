#!/usr/bin/env bash
# On a one-GPU machine: greedy answers of expert-parallel clusters (2 CUDA worker processes on
# GPU 0) at concurrency 64, repeated and under variants, against one worker at concurrency 1.
# Localises answers that change with the group and the load. Expects the device bundle at $1 and
# the NCCL 2.30.7 tarball at $NCCL_TARBALL (default .devpack/nccl-2.30.7-sm90.tar.xz) for the
# NCCL variant; logs and answers go to $OUT (packed into $OUT/variants.tgz).
#   REPEATS=3: baseline repeats (host-staged, the cluster script's worker flags)
#   VARIANTS="staged steps256 blocking bf16 single eager nccl nccl-fixed" (default: all): which to
#   run (eager: one worker without CUDA graphs; nccl-fixed: the NCCL group with the fixed-capacity
#   exchange, whose decode steps run as CUDA graphs)
set -uo pipefail
variants=" ${VARIANTS:-staged steps256 blocking bf16 single eager nccl nccl-fixed} "
want() { [[ "$variants" == *" $1 "* ]]; }
dev=$1
final=${OUT:-/tmp}
out=$(mktemp -d)
trap 'tar czf "$final/variants.tgz" -C "$out" .' EXIT
run() { local name=$1; shift; echo "== $name"; local t0=$(date +%s)
  env OUT="$out" TAG_SUFFIX="$name" "$@" timeout 300 bench/serving/run_device_cluster.sh "$dev" \
    >"$out/$name.txt" 2>&1
  echo "== $name: rc=$? in $(( $(date +%s) - t0 )) s"; grep -E '"problems"|differ|error|Error' "$out/$name.txt" | head -8; }
run ref GROUP_SIZE=1 CONCURRENCY=1
if want staged; then
  for i in $(seq 1 "${REPEATS:-3}"); do run "staged$i" GROUP_SIZE=2 TRANSPORT=staged CONCURRENCY=64; done
fi
want steps256 && run staged-steps256 GROUP_SIZE=2 TRANSPORT=staged CONCURRENCY=64 \
  WORKER_FLAGS=--max_step_tokens=256
want blocking && run staged-blocking GROUP_SIZE=2 TRANSPORT=staged CONCURRENCY=64 \
  WORKER_ENV=CUDA_LAUNCH_BLOCKING=1
want bf16 && run staged-bf16 GROUP_SIZE=2 TRANSPORT=staged CONCURRENCY=64 WORKER_FLAGS=--dispatch_bf16
want single && run single-c64 GROUP_SIZE=1 CONCURRENCY=64
want eager && run single-c64-eager GROUP_SIZE=1 CONCURRENCY=64 WORKER_FLAGS=--cuda_graphs=false
tarball=${NCCL_TARBALL:-.devpack/nccl-2.30.7-sm90.tar.xz}
if ! want nccl && ! want nccl-fixed; then
  :
elif [ -f "$tarball" ]; then
  nccl=$(mktemp -d)
  tar xJf "$tarball" -C "$nccl"
  want nccl && run nccl GROUP_SIZE=2 TRANSPORT=nccl CONCURRENCY=64 R1_NCCL_LIB="$nccl/nccl-2.30.7-sm90/lib" \
    NCCL_MULTI_RANK_GPU_ENABLE=1 NCCL_DEBUG=VERSION NCCL_NVLS_ENABLE=0
  want nccl-fixed && run nccl-fixed GROUP_SIZE=2 TRANSPORT=nccl CONCURRENCY=64 \
    R1_NCCL_LIB="$nccl/nccl-2.30.7-sm90/lib" NCCL_MULTI_RANK_GPU_ENABLE=1 NCCL_DEBUG=VERSION \
    NCCL_NVLS_ENABLE=0 WORKER_FLAGS=--ep_fixed_capacity_tokens=256
else
  echo "== no NCCL 2.30.7 tarball at $tarball: the NCCL variant is not run"
fi
python3 bench/serving/compare_answers.py "$out/answers-g1-nccl-ref-c1.jsonl" "$out"/answers-*-c64.jsonl \
  | tee "$out/compare.txt"
