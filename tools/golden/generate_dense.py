#!/usr/bin/env python3
"""Generates golden fixtures for the dense (R1-Distill family) CPU forward pass.

For each tiny config below this script

  1. draws random weights (seeded) and writes them as a real Hugging Face checkpoint of that
     family: config.json plus either one model.safetensors or model.safetensors.index.json and
     shards, in the config's dtype (BF16 or F32);
  2. loads the same values (BF16 widened exactly to fp32) with load_state_dict into
     transformers' Qwen2ForCausalLM / LlamaForCausalLM in float32, eager attention;
  3. records reference logits (prefill of every position, token-by-token decode through the HF
     KV cache) and a greedy continuation in dense_reference.safetensors, plus meta.json.

The reference file is not called reference.safetensors: worker/model/golden_test.cc takes every
tests/golden/ folder holding that name for a DeepSeek-V3 fixture.

Usage: python tools/golden/generate_dense.py --out tests/golden
Deterministic: same versions + same machine type -> byte-identical output.
"""

import argparse
import hashlib
import json
import math
import os
import platform
import sys

import numpy as np
import safetensors
import torch
import transformers
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

SEED = 20250301
DECODE_TOL = 1e-4  # max |decode - prefill| / max |prefill logit|
GREEDY_GAP = 1e-3  # min top-1 / top-2 gap (of max |logit|) at every greedy step
MAX_DRAWS = 50

CONFIGS = {
    # Qwen2 (R1-Distill-Qwen): q/k/v biases, GQA 4 heads / 2 KV heads, plain RoPE, not tied,
    # BF16 weights in two shards with an index.
    "dense_qwen2": dict(
        arch="Qwen2ForCausalLM",
        config=dict(
            vocab_size=256,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=512,
            rope_theta=10000.0,
            rms_norm_eps=1e-6,
            tie_word_embeddings=False,
        ),
        dtype=torch.bfloat16,
        shards=2,
        prompts=[1, 17, 70],
        decode=40,
        greedy=(8, 24),
    ),
    # Llama (R1-Distill-Llama): llama3 rope_scaling (factor 8, low 1, high 4, original 128 so
    # that head_dim 32 with θ 500000 has kept, interpolated and divided frequencies), tied
    # embeddings (no lm_head.weight), an explicit head_dim 32 ≠ hidden / heads, F32 weights in
    # one model.safetensors.
    "dense_llama": dict(
        arch="LlamaForCausalLM",
        config=dict(
            vocab_size=256,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=32,
            max_position_embeddings=1024,
            rope_theta=500000.0,
            rms_norm_eps=1e-5,
            tie_word_embeddings=True,
            attention_bias=False,
            mlp_bias=False,
            rope_scaling={
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 128,
                "rope_type": "llama3",
            },
        ),
        dtype=torch.float32,
        shards=1,
        prompts=[1, 17, 70],
        decode=40,
        greedy=(8, 24),
    ),
}


def config_json(spec):
    arch = spec["arch"]
    c = dict(spec["config"])
    c.update({
        "architectures": [arch],
        "attention_dropout": 0.0,
        "bos_token_id": 0,
        "eos_token_id": 1,
        "hidden_act": "silu",
        "initializer_range": 0.02,
        "torch_dtype": "bfloat16" if spec["dtype"] == torch.bfloat16 else "float32",
        "transformers_version": transformers.__version__,
        "use_cache": True,
    })
    if arch == "Qwen2ForCausalLM":
        c.update({"model_type": "qwen2", "use_sliding_window": False,
                  "sliding_window": c["max_position_embeddings"],
                  "max_window_layers": c["num_hidden_layers"]})
    else:
        c.update({"model_type": "llama", "pretraining_tp": 1})
    return c


def hf_model(spec, cfg):
    kwargs = {k: v for k, v in cfg.items()
              if k not in ("architectures", "transformers_version", "torch_dtype")}
    if spec["arch"] == "Qwen2ForCausalLM":
        model = Qwen2ForCausalLM(Qwen2Config(**kwargs, attn_implementation="eager"))
    else:
        model = LlamaForCausalLM(LlamaConfig(**kwargs, attn_implementation="eager"))
    return model.to(torch.float32).eval()


def make_weights(model, spec, gen):
    """Random values for every tensor of the HF model's state dict, in the checkpoint dtype."""
    ckpt = {}
    tied = spec["config"]["tie_word_embeddings"]
    for name, p in model.state_dict().items():
        if tied and name == "lm_head.weight":
            continue
        shape = tuple(p.shape)
        if name.endswith("norm.weight"):
            w = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        elif name == "model.embed_tokens.weight":
            # Tied, the embedding is also the output projection: N(0, 1/hidden) keeps the
            # logits in the range of the untied fixture's.
            std = 1.0 / math.sqrt(shape[1]) if tied else 1.0
            w = std * torch.randn(shape, generator=gen)
        elif name.endswith(".bias"):
            w = 0.1 * torch.randn(shape, generator=gen)
        else:
            w = torch.randn(shape, generator=gen) / math.sqrt(shape[1])
        ckpt[name] = w.to(spec["dtype"]).contiguous()
    return ckpt


def write_checkpoint(out_dir, cfg, ckpt, n_shards):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    names = list(ckpt)
    if n_shards == 1:
        save_file(ckpt, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
        return ["model.safetensors"]
    nbytes = {n: ckpt[n].numel() * ckpt[n].element_size() for n in names}
    total = sum(nbytes.values())
    fname = [f"model-{k + 1:05d}-of-{n_shards:05d}.safetensors" for k in range(n_shards)]
    weight_map, acc = {}, 0
    for n in names:
        weight_map[n] = fname[min(n_shards - 1, acc * n_shards // total)]
        acc += nbytes[n]
    for f in fname:
        part = {n: ckpt[n] for n in names if weight_map[n] == f}
        save_file(part, os.path.join(out_dir, f), metadata={"format": "pt"})
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
        f.write("\n")
    return fname


def llama3_inv_freq(cfg):
    """The llama3 θ of common/dense_model_config.h in float64 (independent of transformers)."""
    d = cfg.get("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"])
    inv = 1.0 / cfg["rope_theta"] ** (np.arange(0, d, 2, dtype=np.float64) / d)
    rs = cfg.get("rope_scaling")
    if not rs:
        return inv
    L = rs["original_max_position_embeddings"]
    lo, hi, s = rs["low_freq_factor"], rs["high_freq_factor"], rs["factor"]
    out = []
    for f in inv:
        w = 2 * math.pi / f
        if w < L / hi:
            out.append(f)
        elif w > L / lo:
            out.append(f / s)
        else:
            sm = (L / w - lo) / (hi - lo)
            out.append((1 - sm) * f / s + sm * f)
    return np.array(out)


@torch.no_grad()
def prefill(model, tokens):
    return model(torch.tensor([tokens])).logits[0].to(torch.float32)


@torch.no_grad()
def decode(model, tokens):
    cache = transformers.DynamicCache()
    rows = []
    for t, tok in enumerate(tokens):
        out = model(torch.tensor([[tok]]), past_key_values=cache, use_cache=True,
                    position_ids=torch.tensor([[t]]))
        cache = out.past_key_values
        rows.append(out.logits[0, -1].to(torch.float32))
    return torch.stack(rows)


@torch.no_grad()
def greedy(model, prompt, n):
    """Greedy continuation; returns (tokens, min top-2 gap / max |logit|)."""
    cache = transformers.DynamicCache()
    out = model(torch.tensor([prompt]), past_key_values=cache, use_cache=True)
    tokens, gap = [], math.inf
    pos = len(prompt)
    for _ in range(n):
        row = out.logits[0, -1].to(torch.float32)
        top = row.topk(2).values
        gap = min(gap, float((top[0] - top[1]) / row.abs().max()))
        tok = int(row.argmax())
        tokens.append(tok)
        out = model(torch.tensor([[tok]]), past_key_values=out.past_key_values, use_cache=True,
                    position_ids=torch.tensor([[pos]]))
        pos += 1
    return tokens, gap


def generate_one(name, spec, out_root):
    gen = torch.Generator().manual_seed(SEED + sum(map(ord, name)))
    cfg = config_json(spec)
    model = hf_model(spec, cfg)
    ckpt = make_weights(model, spec, gen)
    state = {n: t.to(torch.float32) for n, t in ckpt.items()}
    if spec["config"]["tie_word_embeddings"]:
        state["lm_head.weight"] = state["model.embed_tokens.weight"]
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and not [m for m in missing if m != "lm_head.weight"], (missing,
                                                                                  unexpected)
    if spec["config"]["tie_word_embeddings"]:
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    out_dir = os.path.join(out_root, name)
    shards = write_checkpoint(out_dir, cfg, ckpt, spec["shards"])

    # RoPE: HF's fp32 inv_freq against the formula the C++ model implements.
    hf_inv = model.model.rotary_emb.inv_freq.to(torch.float64).numpy()
    ours = llama3_inv_freq(cfg)
    inv_rel = float(np.max(np.abs(hf_inv - ours) / ours))
    assert inv_rel < 1e-6, inv_rel
    assert float(model.model.rotary_emb.attention_scaling) == 1.0

    V = cfg["vocab_size"]
    ref = {}
    max_logit = 0.0
    prompts = []
    for i, T in enumerate(spec["prompts"]):
        tokens = torch.randint(0, V, (T,), generator=gen).tolist()
        logits = prefill(model, tokens)
        ref[f"prompt{i}.tokens"] = torch.tensor(tokens, dtype=torch.int32)
        ref[f"prompt{i}.logits"] = logits.contiguous()
        max_logit = max(max_logit, float(logits.abs().max()))
        prompts.append(tokens)
    dec_tokens = torch.randint(0, V, (spec["decode"],), generator=gen).tolist()
    dec = decode(model, dec_tokens)
    full = prefill(model, dec_tokens)
    dec_rel = float((dec - full).abs().max() / full.abs().max())
    assert dec_rel < DECODE_TOL, dec_rel
    ref["decode.tokens"] = torch.tensor(dec_tokens, dtype=torch.int32)
    ref["decode.logits"] = dec.contiguous()

    n_prompt, n_new = spec["greedy"]
    for draw in range(MAX_DRAWS):
        g_prompt = torch.randint(0, V, (n_prompt,), generator=gen).tolist()
        g_tokens, gap = greedy(model, g_prompt, n_new)
        if gap >= GREEDY_GAP:
            break
    else:
        raise RuntimeError(f"{name}: no greedy prompt with top-2 gap >= {GREEDY_GAP}")
    ref["greedy.prompt"] = torch.tensor(g_prompt, dtype=torch.int32)
    ref["greedy.tokens"] = torch.tensor(g_tokens, dtype=torch.int32)
    save_file(ref, os.path.join(out_dir, "dense_reference.safetensors"),
              metadata={"format": "r1serve-golden-dense-v1"})

    meta = {
        "name": name,
        "seed": SEED,
        "architecture": spec["arch"],
        "checkpoint_dtype": str(spec["dtype"]).replace("torch.", ""),
        "checkpoint_files": shards,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "safetensors": safetensors.__version__,
            "numpy": np.__version__,
        },
        "prompt_lengths": spec["prompts"],
        "decode_length": spec["decode"],
        "greedy": {"prompt": n_prompt, "new_tokens": n_new, "draws": draw + 1,
                   "min_top2_gap_over_max_logit": gap},
        "max_abs_logit": max_logit,
        "decode_vs_prefill_max_abs_diff_over_max_abs_logit": dec_rel,
        "rope": {
            "hf_inv_freq_fp32": [float(x) for x in hf_inv],
            "formula_vs_hf_inv_freq_max_rel_diff": inv_rel,
        },
        "notes": [
            "Reference = transformers, float32, eager attention, on the checkpoint's values "
            "(BF16 widened exactly to fp32).",
            "Token ids uniform random in [0, vocab); positions start at 0; no BOS.",
            "decode.logits: one token at a time through the HF DynamicCache; row t after "
            "token t. greedy.tokens: argmax continuation of greedy.prompt, one token at a time.",
        ],
    }
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")
    return out_dir, max_logit, dec_rel, gap


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="tests/golden", help="output folder")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    for name, spec in CONFIGS.items():
        out_dir, max_logit, dec_rel, gap = generate_one(name, spec, args.out)
        print(f"{name}: max|logit| {max_logit:.4f}  decode-vs-prefill rel {dec_rel:.2e}  "
              f"greedy min gap {gap:.2e}")
        for fn in sorted(os.listdir(out_dir)):
            p = os.path.join(out_dir, fn)
            print(f"  {fn:40s} {os.path.getsize(p):9d}  "
                  f"{hashlib.sha256(open(p, 'rb').read()).hexdigest()[:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
