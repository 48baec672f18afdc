#!/usr/bin/env python3
"""Plots bench/serving/r1_rank results: output tok/s per GPU against decode batch size (measured,
and projected with the transport's time added), with the field's published anchors drawn as
horizontal lines.

    .venv/bin/python tools/plot_r1_rank.py RESULTS.jsonl [MORE.jsonl ...] --out plot.png

Each input is the --json output of r1_rank_bench (one line per measurement).
"""

from __future__ import annotations

import argparse
import json
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Published output-token throughputs per GPU for DeepSeek-R1/V3 serving (issue 14's anchors).
ANCHORS = [
    ("TensorRT-LLM 8×H200", 1436),
    ("DeepSeek 1.85k/H800", 1850),
    ("vLLM wide-EP 2.2k/H200", 2200),
    ("SGLang 96×H100 2.8k/GPU", 2800),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("results", nargs="+")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    fig, ax = plt.subplots(figsize=(8, 5))
    for path in a.results:
        rows = [json.loads(l) for l in pathlib.Path(path).read_text().splitlines() if l.strip()]
        decode = sorted((r for r in rows if r["kind"] == "decode"), key=lambda r: r["batch"])
        if not decode:
            continue
        r0 = decode[0]
        label = f'{r0["gpu"]}, W={r0["ranks"]}, {"INT4" if r0["int4"] else "FP8"}, {r0["layers"]} layers'
        # How the timed steps ran (results before CUDA graphs have no such field: launched).
        if r0.get("decode_graph") == "replay":
            label += ", CUDA graphs"
        elif "decode_graph" in r0:
            label += ", launched"
        if r0.get("fixed_capacity_max_tokens", 0) == 0:
            label += ", counted exchange"
        xs = [r["batch"] for r in decode]
        ax.plot(xs, [r["tok_s_gpu"] for r in decode], "o-", label=f"{label} (no transport)")
        if any(r["exchange_us"] > 0 for r in decode):
            ax.plot(xs, [r["projected_tok_s_gpu"] for r in decode], "s--",
                    label=f'{label} + {decode[0]["exchange_us"]:.0f} µs/layer transport')
    for name, value in ANCHORS:
        ax.axhline(value, color="gray", linestyle=":", linewidth=1)
        ax.text(1, value, f" {name}", va="bottom", fontsize=7, color="gray")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("decode batch (sequences per rank, 2K context)")
    ax.set_ylabel("output tok/s per GPU")
    ax.set_title("r1serve: one rank of DeepSeek-R1 (synthetic weights, simulated peers)")
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(a.out, dpi=120)


if __name__ == "__main__":
    main()
