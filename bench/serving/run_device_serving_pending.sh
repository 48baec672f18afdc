#!/usr/bin/env bash
# On a one-GPU machine: the serving runs built but not yet made on a GPU (as of 2026-12-07), each
# under its own limit: (1) a tiny dense R1-Distill-shaped checkpoint (tests/fixtures/tiny-qwen2)
# served by a coordinator and one CUDA worker (DenseCudaModel), 16 concurrent completions
# (issue 18); (2) the multi-turn bench with a shared 2K-token system prompt on CUDA workers, with
# and without prefix caching (issue 17); (3) r1-tiny served by one CUDA worker, the held-out
# problems at concurrency 64. Logs and results go to $OUT.
#
# Expects the bundle at $1 made from build/coordinator/r1-coordinator, build/worker/r1-worker and
# build/r1ctl/r1ctl (../shared/tools/device-bundle.sh), and python3 on the machine.
#   OUT=$OUT bash bench/serving/run_device_serving_pending.sh /tmp/s/.device
set -uo pipefail
dev=${1:?usage: run_device_serving_pending.sh BUNDLE}
out=${OUT:-/tmp}
source "$dev/env.sh"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
echo "== dense: tiny-qwen2 on one CUDA worker"
MODEL=tests/fixtures/tiny-qwen2 OUT=$out TAG_SUFFIX=qwen2 timeout -k 5 120 \
  bash bench/serving/run_device_cluster.sh "$dev"
echo "== multi-turn, shared system prompt, CUDA workers"
R1_BIN_DIR="$dev/bin" R1_WORKER_DEVICE=cuda timeout -k 5 300 \
  python3 bench/serving/multiturn_prefix.py --workers 1 --users 16 --turns 8 \
  --modes cache,nocache --json "$out/multiturn-gpu.json"
echo "== r1-tiny on one CUDA worker, held-out problems"
OUT=$out CONCURRENCY="64" timeout -k 5 180 bash bench/serving/run_device_cluster.sh "$dev"
