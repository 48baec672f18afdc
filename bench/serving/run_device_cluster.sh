#!/usr/bin/env bash
# On a GPU machine: a coordinator and one CUDA worker (group size 1) serving models/r1-tiny, one
# streamed answer, then bench/serving/heldout_client.py at concurrency 1 and 64. Expects the
# bundle made by the device bundling tool unpacked at $1 (bin/, lib/, env.sh); logs go to $OUT.
set -uo pipefail
dev=$1
out=${OUT:-/tmp}
source "$dev/env.sh"
"$dev/bin/r1-coordinator" --model=models/r1-tiny --served_model_name=r1-tiny --group_size=1 \
  --grpc_address=127.0.0.1:50151 --http_address=127.0.0.1:8100 >"$out/coordinator.log" 2>&1 &
c=$!
"$dev/bin/r1-worker" --coordinator=127.0.0.1:50151 --device=cuda --kv_cache_mb=2048 \
  --max_running=256 --max_step_tokens=2048 >"$out/worker.log" 2>&1 &
w=$!
trap 'kill $w $c 2>/dev/null; wait' EXIT
for _ in $(seq 1 300); do curl -fs http://127.0.0.1:8100/ready >/dev/null && break; sleep 0.2; done
curl -fs http://127.0.0.1:8100/ready || { tail -20 "$out"/*.log; exit 1; }
echo
curl -s http://127.0.0.1:8100/v1/chat/completions -H 'Content-Type: application/json' \
  -d '{"model":"r1-tiny","temperature":0,"max_tokens":200,"messages":[{"role":"user","content":"What is 4821 + 397?"}]}'
echo
for n in 1 64; do python3 bench/serving/heldout_client.py --url http://127.0.0.1:8100 --concurrency $n; done
grep -E "assigned|error|Error" "$out/worker.log" | head -5
