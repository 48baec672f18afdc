#!/usr/bin/env python3
"""Single-threaded encode throughput of Hugging Face tokenizers on the same corpus as
tokenizer_bench.cc. Run with RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false (run.sh does).
Times both a per-document encode() loop and one encode_batch() call and reports the faster."""

import argparse
import json
import time

from tokenizers import Tokenizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    tok = Tokenizer.from_file(args.tokenizer)
    with open(args.corpus, encoding="utf-8") as f:
        docs = [json.loads(line)["text"] for line in f if line.strip()]
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    best = {}
    tokens = 0
    for mode in ("encode", "encode_batch"):
        for _ in range(args.reps):
            t0 = time.perf_counter()
            if mode == "encode":
                tokens = sum(len(tok.encode(d, add_special_tokens=False).ids) for d in docs)
            else:
                tokens = sum(len(e.ids) for e in tok.encode_batch(docs, add_special_tokens=False))
            dt = time.perf_counter() - t0
            best[mode] = min(best.get(mode, 1e30), dt)
    mode = min(best, key=best.get)
    print(json.dumps({"impl": f"hf-tokenizers {mode}", "docs": len(docs), "bytes": nbytes, "tokens": tokens,
                      "best_s": round(best[mode], 6), "mb_per_s": round(nbytes / best[mode] / 1e6, 3),
                      "best_s_by_mode": {k: round(v, 6) for k, v in best.items()}}))


if __name__ == "__main__":
    main()
