#!/usr/bin/env bash
# Encode throughput of r1serve's tokenizer vs Hugging Face tokenizers, one thread each, on the
# same tokenizer.json and corpus. Prints both results and the ratio (ours / theirs).
#
#   BUILD_DIR=build bench/tokenizer/run.sh [tokenizer.json]
#
# Needs a build (r1-tokenizer-bench) and .venv (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
TOK=${1:-models/r1-tiny/tokenizer.json}
corpus="$BUILD_DIR/bench-tokenizer-corpus.jsonl"
.venv/bin/python bench/tokenizer/make_corpus.py --out "$corpus"
export RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)
ours=$("${pin[@]}" "$BUILD_DIR/common/tokenizer/r1-tokenizer-bench" --tokenizer="$TOK" --corpus="$corpus")
theirs=$("${pin[@]}" .venv/bin/python bench/tokenizer/hf_bench.py --tokenizer "$TOK" --corpus "$corpus")
echo "$ours"
echo "$theirs"
.venv/bin/python - "$ours" "$theirs" <<'PY'
import json, sys
ours, theirs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert ours["tokens"] == theirs["tokens"], f"token counts differ: {ours['tokens']} vs {theirs['tokens']}"
print(f"ratio (r1serve / hf tokenizers, single thread): {ours['mb_per_s'] / theirs['mb_per_s']:.2f}x "
      f"({ours['mb_per_s']:.1f} vs {theirs['mb_per_s']:.1f} MB/s, {ours['bytes']} bytes, {ours['tokens']} tokens)")
PY
