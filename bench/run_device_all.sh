#!/usr/bin/env bash
# On a one-GPU machine: every bundled GPU test, then every bundled bench, newest work first, each
# under its own timeout, the whole run under TOTAL seconds. Expects the device bundle at $1 (bin/,
# lib/, env.sh) and, optionally, NCCL >= 2.30 at $2 (a folder with lib/libnccl.so.2) for the tests
# that put several NCCL ranks on one GPU. Writes four files to $OUT (a device call returns few):
#   summary.txt    GPU, clocks, and one line per program: rc, seconds, PASSED/FAILED counts
#   tests.log      every test's full output
#   bench.txt      every bench's full output
#   multirank.log  the multi-rank NCCL tests' output (only with $2)
# usage: bench/run_device_all.sh BUNDLE [NCCL_DIR]   (TEST_TIMEOUT=150 BENCH_TIMEOUT=90 TOTAL=560)
#   PART=1: only the first group (the newest tests and side-by-side benches); PART=2: the rest.
set -uo pipefail
dev=$1
nccl=${2:-}
out=${OUT:-/tmp}
start=$(date +%s)
total=${TOTAL:-560}
source "$dev/env.sh"
summary="$out/summary.txt"
{
  date -u +%FT%TZ
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem,clocks.sm,memory.total \
    --format=csv
} >"$summary"

left() { echo $((total - ($(date +%s) - start))); }

# run NAME LOG LIMIT CMD...: one program under min(LIMIT, time left), a summary line after it.
run() {
  local name=$1 log=$2 limit=$3
  shift 3
  local remain
  remain=$(left)
  if [ "$remain" -le 5 ]; then
    echo "skipped (no time left) $name" >>"$summary"
    return
  fi
  [ "$limit" -gt "$remain" ] && limit=$remain
  local t0=$(date +%s)
  echo "===== $name" >>"$log"
  timeout -k 5 "$limit" "$@" >>"$log" 2>&1
  local rc=$?
  local secs=$(($(date +%s) - t0))
  local passed failed
  passed=$(sed -n "/===== $name\$/,\$p" "$log" | grep -c '^\[       OK ' || true)
  failed=$(sed -n "/===== $name\$/,\$p" "$log" | grep -c '^\[  FAILED  \] [A-Za-z]' || true)
  echo "rc=$rc ${secs}s ok=$passed failed=$failed $name" >>"$summary"
}

tests=$(ls "$dev"/bin/*_gpu_test | grep -v multi_gpu)
# r1_rank_bench and load_bench have their own scripts; comm_bench and ep_moe_bench put two NCCL
# ranks on one GPU (with $2, above).
benches=$(ls "$dev"/bin/*_bench | grep -v -e r1_rank_bench -e load_bench -e comm_bench -e ep_moe_bench)
# The work not yet run on a GPU first, so a short call still measures it.
first="kernels_moe_gemm_cutlass_gpu_test kernels_mla_prefill_flashinfer_gpu_test kernels_moe_exchange_gpu_test \
  nccl_communicator_gpu_test cuda_model_r1_shaped_gpu_test \
  kernels_mla_decode_gpu_test kernels_kv_write_gpu_test kernels_mla_decode_flashinfer_gpu_test \
  kernels_moe_gemm_cutlass_int4_gpu_test kernels_gqa_attend_gpu_test dense_cuda_model_gpu_test \
  cuda_mtp_gpu_test"
part=${PART:-all}
[ "$part" = 2 ] && first_group=0 || first_group=1
[ "$part" = 1 ] && rest=0 || rest=1
# cuda_model_r1_shaped_gpu_test's CPU references take ~150 s per kernel on the device machine.
limit_of() { [ "$1" = cuda_model_r1_shaped_gpu_test ] && echo 330 || echo "${TEST_TIMEOUT:-150}"; }
[ $first_group = 1 ] && for t in $first; do
  run "$t" "$out/tests.log" "$(limit_of "$t")" "$dev/bin/$t"
done
first_benches="moe_gemm_cutlass_bench moe_gemm_cutlass_int4_bench mla_prefill_bench \
  mla_decode_bench dense_decode_bench"
[ $first_group = 1 ] && for b in $first_benches; do
  run "$b" "$out/bench.txt" "${BENCH_TIMEOUT:-90}" "$dev/bin/$b"
done
if [ $rest = 1 ] && [ -n "$nccl" ]; then
  for t in nccl_communicator_multi_gpu_test cuda_ep_moe_gpu_test comm_bench ep_moe_bench; do
    [ -x "$dev/bin/$t" ] || continue
    run "$t(nccl-multirank)" "$out/multirank.log" "${TEST_TIMEOUT:-150}" \
      env LD_LIBRARY_PATH="$nccl/lib:$LD_LIBRARY_PATH" NCCL_MULTI_RANK_GPU_ENABLE=1 \
      "$dev/bin/$t"
  done
fi
[ $rest = 1 ] && for t in $tests; do
  [ -n "$nccl" ] && [ "$(basename "$t")" = cuda_ep_moe_gpu_test ] && continue  # ran above
  case " $first " in *" $(basename "$t") "*) continue ;; esac
  run "$(basename "$t")" "$out/tests.log" "${TEST_TIMEOUT:-150}" "$t"
done
[ $rest = 1 ] && for b in $benches; do
  case " $first_benches " in *" $(basename "$b") "*) continue ;; esac
  run "$(basename "$b")" "$out/bench.txt" "${BENCH_TIMEOUT:-90}" "$b"
done
echo "total $(($(date +%s) - start))s" >>"$summary"
cat "$summary"
