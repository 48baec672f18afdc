#!/usr/bin/env python3
"""Compares answer files written by heldout_client.py --answers against a reference run.

usage: compare_answers.py REFERENCE.jsonl RUN.jsonl [RUN.jsonl ...]

For each run: how many answers differ from the reference, their indices, and for the first few
where the texts part (character offset) with a little of each side, so that a difference at the
first generated token (prefill) can be told from one late in decoding.
"""
import json
import os
import sys


def load(path):
    answers = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            try:
                row = json.loads(line)
                answers[int(row["index"])] = row["content"]
            except (ValueError, KeyError, TypeError) as e:
                sys.exit(f"{path}:{n}: not an answer row ({e})")
    return answers


def parting(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    ref = load(argv[1])
    for path in argv[2:]:
        got = load(path)
        missing = sorted(set(ref) - set(got))
        diff = [i for i in sorted(ref) if i in got and got[i] != ref[i]]
        print(f"{os.path.basename(path)}: {len(got)} answers, {len(diff)} differ from "
              f"{os.path.basename(argv[1])} {diff[:32]}" + (f", {len(missing)} missing" if missing else ""))
        for i in diff[:6]:
            at = parting(ref[i], got[i])
            print(f"  #{i}: parts at char {at} of {len(ref[i])}: "
                  f"want {ref[i][at:at + 24]!r} got {got[i][at:at + 24]!r}")


if __name__ == "__main__":
    main(sys.argv)
