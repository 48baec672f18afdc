#!/usr/bin/env python3
"""Writes the benchmark corpus: documents of about 4 KB from tools/tokenizer/corpus.py with a
seed different from training (English, arithmetic with reasoning, code, numbers, CJK, Korean,
emoji, whitespace runs), as JSON lines {"text": ...}. Deterministic."""

import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools" / "tokenizer"))
import corpus  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--chars", type=int, default=3_000_000)
    ap.add_argument("--seed", type=int, default=777)
    args = ap.parse_args()
    docs, cur = [], ""
    for d in corpus.documents(args.seed, args.chars):
        cur += d + "\n"
        if len(cur) >= 4096:
            docs.append(cur)
            cur = ""
    if cur:
        docs.append(cur)
    with open(args.out, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"text": d}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
