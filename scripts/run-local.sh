#!/usr/bin/env bash
# The main job: installs dependencies, builds, starts a local cluster on loopback — one
# r1-coordinator and 4 CPU r1-workers forming two engine groups (expert parallelism 2 each) —
# serving the repository's small model, waits until it is ready, streams one chat answer with
# curl, and keeps serving until Ctrl-C. Worker i serves Prometheus metrics on port 9100+i, the
# targets of deploy/prometheus/prometheus.yml.
#
# usage: scripts/run-local.sh [--once]      (--once: stop after the answer)
# environment: R1_HTTP_PORT (8000), R1_GRPC_PORT (50051), R1_WORKERS (4), R1_GROUP_SIZE (2),
# R1_MODEL (a model directory; default models/r1-tiny, or a random model of its architecture when
# that has no weights).
set -euo pipefail
cd "$(dirname "$0")/.."
once=0
for a in "$@"; do
  case "$a" in
    --once) once=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "run-local: unknown argument $a" >&2; exit 2 ;;
  esac
done
http_port=${R1_HTTP_PORT:-8000}
grpc_port=${R1_GRPC_PORT:-50051}
workers=${R1_WORKERS:-4}
group_size=${R1_GROUP_SIZE:-2}

scripts/install-deps.sh
BUILD_TARGET="r1-coordinator r1-worker r1ctl" scripts/build.sh

model=${R1_MODEL:-models/r1-tiny}
if [ ! -f "$model/model.safetensors.index.json" ] && [ -z "${R1_MODEL:-}" ]; then
  model=build/models/r1-tiny-random
  if [ ! -f "$model/model.safetensors.index.json" ]; then
    echo "run-local: models/r1-tiny has no weights; writing a random model of its architecture"
    build/r1ctl/r1ctl gen-checkpoint --config deploy/local/r1-tiny-random.config.json \
      --out "$model" --seed 7 >/dev/null
    cp models/r1-tiny/tokenizer.json models/r1-tiny/tokenizer_config.json "$model/"
  fi
fi

logs=build/local
mkdir -p "$logs"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build/coordinator/r1-coordinator --model="$model" --served_model_name=r1-tiny --group_size="$group_size" \
  --grpc_address="127.0.0.1:$grpc_port" --http_address="127.0.0.1:$http_port" \
  >"$logs/coordinator.out" 2>"$logs/coordinator.log" &
pids+=($!)
for i in $(seq 1 "$workers"); do
  build/worker/r1-worker --coordinator="127.0.0.1:$grpc_port" --device=cpu --worker_id="local-$i" \
    --metrics_address="127.0.0.1:$((9100 + i))" >"$logs/worker-$i.log" 2>&1 &
  pids+=($!)
done

echo "run-local: coordinator and $workers workers starting (logs in $logs/)"
for _ in $(seq 1 600); do
  if curl -fs "http://127.0.0.1:$http_port/ready" >/dev/null 2>&1; then break; fi
  for p in "${pids[@]}"; do
    if ! kill -0 "$p" 2>/dev/null; then
      echo "run-local: a process exited early; logs:" >&2
      tail -n 20 "$logs"/*.log >&2
      exit 1
    fi
  done
  sleep 0.2
done
curl -fs "http://127.0.0.1:$http_port/ready" >/dev/null || {
  echo "run-local: the cluster did not become ready in 120 s; logs:" >&2
  tail -n 20 "$logs"/*.log >&2
  exit 1
}
build/r1ctl/r1ctl status --coordinator "127.0.0.1:$grpc_port"

question="What is 4821 + 397?"
echo
echo "run-local: POST /v1/chat/completions (stream) — $question"
curl -sN "http://127.0.0.1:$http_port/v1/chat/completions" -H 'Content-Type: application/json' \
  -d "{\"model\": \"r1-tiny\", \"stream\": true, \"max_tokens\": 200, \"temperature\": 0,
       \"stream_options\": {\"include_usage\": true},
       \"messages\": [{\"role\": \"user\", \"content\": \"$question\"}]}"
echo

if [ "$once" = 1 ]; then
  exit 0
fi
echo "run-local: serving the OpenAI API at http://127.0.0.1:$http_port/v1 (Ctrl-C to stop)"
echo "run-local: metrics at http://127.0.0.1:$http_port/metrics and" \
  "http://127.0.0.1:9101..$((9100 + workers))/metrics; Prometheus:" \
  "prometheus --config.file=deploy/prometheus/prometheus.yml (deploy/prometheus/README.md)"
wait "${pids[0]}"
