#!/usr/bin/env bash
# On a GPU machine: r1_rank_bench at R1's real size with the largest share that fits the GPU —
# W = 8 ranks (32 FP8 experts per layer, ≈102 GB of weights) on a 141 GB H200, W = 16 (≈61 GB)
# on an 80 GB H100 — unless RANKS is set. Expects the device bundle at $1 (bin/, lib/, env.sh);
# writes the table to stdout and the JSON lines to $OUT/r1_rank-<gpu>-w<W>.jsonl.
#   RANKS=8 BATCHES=1,8,32,64,128 CONTEXT=2048 STEPS=10 LAYERS=0 EXCHANGE_US=0 INT4=0
#   KV_FRACTION=0.75 (0.85 for 256 sequences of 2K tokens at W = 8 on an H200)
#   TAG= (suffix of the JSON file name)
#   FIXED_CAPACITY=256 (steps of ≤ this many tokens per rank: fixed-capacity exchange; 0: off)
#   HOT_BIAS=0 (else: this rank is the group's hottest, its experts' router bias raised by this)
#   SPECULATIVE= (e.g. 1,2,3: MTP speculative steps with k drafts at SPECULATIVE_BATCHES=1)
#   GRAPHS=1 (decode steps as CUDA graphs; 0: launched eagerly)
set -uo pipefail
dev=$1
out=${OUT:-/tmp}
source "$dev/env.sh"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem,memory.total --format=csv
mem_mib=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -1)
ranks=${RANKS:-$([ "$mem_mib" -gt 120000 ] && echo 8 || echo 16)}
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr ' ' '_')
int4=$([ "${INT4:-0}" = 1 ] && echo --int4 || echo --noint4)
"$dev/bin/r1_rank_bench" --config=tests/fixtures/deepseek-r1-config.json --ranks="$ranks" \
  "$int4" --layers="${LAYERS:-0}" --batches="${BATCHES:-1,8,32,64,128}" \
  --context="${CONTEXT:-2048}" --steps="${STEPS:-10}" --exchange_us="${EXCHANGE_US:-0}" \
  --kv_fraction="${KV_FRACTION:-0.75}" --fixed_capacity_max_tokens="${FIXED_CAPACITY:-256}" \
  --hot_bias="${HOT_BIAS:-0}" --speculative="${SPECULATIVE:-}" --graphs="${GRAPHS:-1}" \
  --speculative_batches="${SPECULATIVE_BATCHES:-1}" \
  --json="$out/r1_rank-$gpu-w$ranks${TAG:+-$TAG}.jsonl"
