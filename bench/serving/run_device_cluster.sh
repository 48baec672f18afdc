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
#   MODEL=models/r1-tiny (default) | tests/fixtures/tiny-qwen2 | tests/fixtures/tiny-llama ...:
#     another checkpoint (a dense R1-Distill-shaped one runs DenseCudaModel); a model other than
#     r1-tiny has no held-out problems, so 16 concurrent completions are checked instead
set -uo pipefail
dev=$1
out=${OUT:-/tmp}
group=${GROUP_SIZE:-1}
transport=${TRANSPORT:-nccl}
gpus=${GPUS:-1}
model=${MODEL:-models/r1-tiny}
name=$(basename "$model")
tag="g${group}-${transport}${TAG_SUFFIX:+-$TAG_SUFFIX}"
read -r -a worker_flags <<<"${WORKER_FLAGS:-}"
read -r -a worker_env <<<"${WORKER_ENV:-}"
source "$dev/env.sh"
# env.sh points at the machine's NCCL; R1_NCCL_LIB (e.g. NCCL 2.30.7 for several ranks on one
# GPU, see bench/comm/run_device_ep.sh) goes first when set.
[ -n "${R1_NCCL_LIB:-}" ] && export LD_LIBRARY_PATH=$R1_NCCL_LIB:$LD_LIBRARY_PATH
"$dev/bin/r1-coordinator" --model="$model" --served_model_name="$name" --group_size="$group" \
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
  -d '{"model":"'"$name"'","temperature":0,"max_tokens":200,"messages":[{"role":"user","content":"What is 4821 + 397?"}]}'
echo
if [ "$name" != r1-tiny ]; then
  # 16 concurrent greedy completions: each must come back with a choice and a finish reason.
  for i in $(seq 1 16); do
    curl -s http://127.0.0.1:8100/v1/chat/completions -H 'Content-Type: application/json' \
      -d '{"model":"'"$name"'","temperature":0,"max_tokens":64,"messages":[{"role":"user","content":"Count to '"$i"'."}]}' \
      >"$out/completion-$tag-$i.json" &
  done
  wait
  ok=$(grep -l '"finish_reason"' "$out"/completion-"$tag"-*.json | wc -l)
  echo "== $ok of 16 concurrent completions answered"
  cat "$out"/completion-"$tag"-*.json >"$out/completions-$tag.jsonl" && rm -f "$out"/completion-"$tag"-*.json
  grep -h -E "error|Error" "$out"/worker-"$tag"-*.log | head -12
  exit 0
fi
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
