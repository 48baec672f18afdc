#!/usr/bin/env bash
# On a GPU machine: writes a synthetic checkpoint of R1's real shapes, LAYERS deep (3 dense + the
# rest MoE; 5 layers ≈ 29 GB of the machine's 64 GB disk), in SHARDS files with cross-shard scales
# as R1's own 163 shards have, then loads rank RANK of RANKS onto the GPU the way a CUDA worker
# does (only its routed experts read) and reports GB/s. The page cache is dropped between the
# two when the machine allows it (the output says whether it did: a warm cache measures memory,
# not disk). Expects the device bundle at $1 with r1ctl and load_bench in bin/.
#   LAYERS=5 SHARDS=16 RANKS=8 RANK=0 INT4=0 DIR=/tmp/r1-ckpt KEEP=0
set -uo pipefail
dev=$1
out=${OUT:-/tmp}
dir=${DIR:-/tmp/r1-ckpt}
source "$dev/env.sh"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
df -h "$(dirname "$dir")" | tail -1
rm -rf "$dir"
t0=$SECONDS
"$dev/bin/r1ctl" gen-checkpoint --config tests/fixtures/deepseek-r1-config.json \
  --out "$dir" --layers "${LAYERS:-5}" --shards "${SHARDS:-16}" --max-gib 60 --threads "$(nproc)"
echo "checkpoint written in $((SECONDS - t0)) s with $(nproc) threads"
du -sh "$dir"
sync
if echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
  echo "page cache dropped: a cold read"
else
  echo "page cache NOT dropped (not permitted): the checkpoint may be read from memory"
fi
int4=$([ "${INT4:-0}" = 1 ] && echo --int4 || echo --noint4)
"$dev/bin/load_bench" --checkpoint="$dir" --ranks="${RANKS:-8}" --rank="${RANK:-0}" "$int4" \
  --json="$out/load-${LAYERS:-5}layers-w${RANKS:-8}.jsonl"
[ "${KEEP:-0}" = 1 ] || rm -rf "$dir"
