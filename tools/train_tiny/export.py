"""Exports r1-tiny in the official DeepSeek-V3/R1 checkpoint format.

The tensor inventory, FP8 block quantization, config.json key set and shard/index writer are
tools/golden/generate.py's (tensor_specs, quantize_fp8, dequantize_fp8, hf_config_json,
write_checkpoint), so the trained model and the golden fixtures share one definition of the
format (spec §3): FP8 e4m3 Linear weights with F32 `weight_scale_inv` [ceil(out/128),
ceil(in/128)], BF16 norms / router / embedding / lm_head / eh_proj, F32
`e_score_correction_bias`, and the MTP module as layer `num_hidden_layers` with copies of the
embedding and lm_head.
"""

import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden"))
import generate as golden  # noqa: E402  (tools/golden/generate.py)

from model import fp8_qdq  # noqa: E402

N_SHARDS = 2
SHARD_DIGITS = 6  # "model-00001-of-000002.safetensors", six digits like R1's shards


def config_json(arch):
    return golden.hf_config_json(arch)


def tensor_specs(arch):
    return golden.tensor_specs(arch)


def build_checkpoint(canon, specs):
    """Checkpoint tensors from canonical float32 tensors. Asserts that the fake quantization used
    in training (model.fp8_qdq) reproduces the exported FP8 values bit for bit."""
    ckpt = {}
    for name, _, kind in specs:
        if kind.startswith("copy:"):
            ckpt[name] = ckpt[kind[5:]].clone()
            continue
        w = canon[name].detach().float().cpu().contiguous()
        if kind == "fp8":
            q, s = golden.quantize_fp8(w)
            deq = golden.dequantize_fp8(q, s)
            assert torch.equal(deq, fp8_qdq(w)), f"fake quantization differs for {name}"
            ckpt[name] = q
            ckpt[name + "_scale_inv"] = s
        elif kind == "bias":
            ckpt[name] = w.to(torch.float32)
        else:  # norm, embed, router, linear_bf16
            ckpt[name] = w.to(torch.bfloat16)
    return ckpt


def dequantized_state(ckpt, specs):
    """Canonical float32 tensors exactly as a loader of the checkpoint sees them (spec §3.4)."""
    out = {}
    for name, _, kind in specs:
        if kind.startswith("copy:"):
            continue
        t = ckpt[name]
        if t.dtype == torch.float8_e4m3fn:
            out[name] = golden.dequantize_fp8(t, ckpt[name + "_scale_inv"])
        else:
            out[name] = t.to(torch.float32)
    return out


def write_model_dir(out_dir, cfg_json, ckpt, tokenizer_dir):
    """config.json, index, shards, generation_config.json and the tokenizer files."""
    golden.write_checkpoint(out_dir, cfg_json, ckpt, N_SHARDS, SHARD_DIGITS)
    gen = {
        "_from_model_config": True,
        "bos_token_id": cfg_json["bos_token_id"],
        "eos_token_id": cfg_json["eos_token_id"],
        # DeepSeek-R1's documented sampling recommendation (spec §12.4); tests decode greedily.
        "do_sample": True,
        "temperature": 0.6,
        "top_p": 0.95,
    }
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)
        f.write("\n")
    for fn in ("tokenizer.json", "tokenizer_config.json"):
        src = os.path.join(tokenizer_dir, fn)
        dst = os.path.join(out_dir, fn)
        if os.path.abspath(src) != os.path.abspath(dst):
            shutil.copyfile(src, dst)
