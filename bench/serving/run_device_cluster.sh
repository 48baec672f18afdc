#!/usr/bin/env bash
# On a GPU machine: a coordinator and GROUP_SIZE CUDA workers forming one engine group (expert
# parallelism GROUP_SIZE over TRANSPORT, every worker on GPU 0 unless CUDA_VISIBLE_DEVICES says
# otherwise per worker) serving models/r1-tiny; one streamed answer, then
# bench/serving/heldout_client.py at concurrency 1 and 64. Expects the bundle made by the device
# bundling tool at $1 (bin/, lib/, env.sh); logs go to $OUT.
#   GROUP_SIZE=1 (default) | 2 | 4 ...      TRANSPORT=nccl (default) | staged
#   GPUS=N: worker r uses GPU r % N (default 1: all share GPU 0)
#   CONCURRENCY="1 64" (default): the held-out client's concurrencies, in order
#   WORKER_FLAGS="...": extra r1-worker flags; WORKER_ENV="A=1 B=2": extra worker environment
#   TAG_SUFFIX=x: appended to the log and answer file names (several variants in one $OUT)
set -uo pipefail
dev=$1
out=${OUT:-/tmp}
group=${GROUP_SIZE:-1}
transport=${TRANSPORT:-nccl}
gpus=${GPUS:-1}
tag="g${group}-${transport}${TAG_SUFFIX:+-$TAG_SUFFIX}"
read -r -a worker_flags <<<"${WORKER_FLAGS:-}"
read -r -a worker_env <<<"${WORKER_ENV:-}"
source "$dev/env.sh"
# env.sh points at the machine's NCCL; R1_NCCL_LIB (e.g. NCCL 2.30.7 for several ranks on one
# GPU, see bench/comm/run_device_ep.sh) goes first when set.
[ -n "${R1_NCCL_LIB:-}" ] && export LD_LIBRARY_PATH=$R1_NCCL_LIB:$LD_LIBRARY_PATH
"$dev/bin/r1-coordinator" --model=models/r1-tiny --served_model_name=r1-tiny --group_size="$group" \
  --grpc_address=127.0.0.1:50151 --http_address=127.0.0.1:8100 >"$out/coordinator-$tag.log" 2>&1 &
pids=($!)
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT
for r in $(seq 0 $((group - 1))); do
  env CUDA_VISIBLE_DEVICES=$((r % gpus)) "${worker_env[@]}" "$dev/bin/r1-worker" \
    --coordinator=127.0.0.1:50151 --device=cuda --ep_transport="$transport" --kv_cache_mb=1024 \
    --max_running=256 --max_step_tokens=2048 --worker_id="w$r" "${worker_flags[@]}" \
    >"$out/worker-$tag-$r.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 1 600); do curl -fs http://127.0.0.1:8100/ready >/dev/null && break; sleep 0.2; done
curl -fs http://127.0.0.1:8100/ready || { tail -n 20 "$out"/*-"$tag"*.log; exit 1; }
echo
echo "== group of $group CUDA workers over $transport"
curl -s http://127.0.0.1:8100/v1/chat/completions -H 'Content-Type: application/json' \
  -d '{"model":"r1-tiny","temperature":0,"max_tokens":200,"messages":[{"role":"user","content":"What is 4821 + 397?"}]}'
echo
read -r -a concurrencies <<<"${CONCURRENCY:-1 64}"
for n in "${concurrencies[@]}"; do
  python3 bench/serving/heldout_client.py --url http://127.0.0.1:8100 --concurrency $n \
    --answers "$out/answers-$tag-c$n.jsonl"
done
# Greedy answers that differ between the first and the last concurrency (batch composition
# changes the FP8 GEMM paths and the expert rows each rank sees).
first="$out/answers-$tag-c${concurrencies[0]}.jsonl" last="$out/answers-$tag-c${concurrencies[-1]}.jsonl"
[ "$first" != "$last" ] && python3 bench/serving/compare_answers.py "$first" "$last"
grep -h -E "group .* rank|NCCL|error|Error" "$out"/worker-"$tag"-*.log | head -12
