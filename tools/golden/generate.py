#!/usr/bin/env python3
"""Generates golden fixtures for the r1serve CPU forward pass.

For each tiny DeepSeek-V3-architecture config below this script

  1. draws random weights (seeded) and writes them as a real Hugging Face DeepSeek-V3 FP8
     checkpoint: config.json, model.safetensors.index.json and 2-3 safetensors shards, with the
     tensor names and dtypes of the real checkpoint (spec §3.2), including the MTP layer
     (layer id num_hidden_layers);
  2. dequantizes the FP8 weights exactly as spec §3.4 says (W = float(Q) * S per 128x128 block,
     in fp32) and loads them with load_state_dict into transformers' DeepseekV3ForCausalLM in
     float32 (eager attention);
  3. records reference logits (full prefill and token-by-token decode through the HF KV cache),
     and one MoE layer's routing, in reference.safetensors, plus meta.json.

Router fill value (spec §15): transformers 4.57 fills the experts of excluded groups with 0.0,
the DeepSeek reference and the spec use -inf. This script replaces the router's
get_topk_indices with a version that computes BOTH rules and asserts, for every token of every
forward pass it runs, that they choose the same expert set (it returns the -inf choice). So the
fixtures are valid under either rule. It also asserts that every routing decision has a margin
of at least ROUTE_MARGIN (group choice and expert choice), redrawing a prompt otherwise, so that
fp32 rounding differences in another implementation cannot flip an expert choice.

Usage: python tools/golden/generate.py --out tests/golden
Deterministic: same versions + same machine type -> byte-identical output.
"""

import argparse
import hashlib
import json
import math
import os
import platform
import re
import sys

import numpy as np
import safetensors
import torch
import transformers
from safetensors.torch import save_file
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM
from transformers.models.deepseek_v3 import modeling_deepseek_v3 as hf_ds3

SEED = 20250217
BLOCK = 128
FP8_MAX = 448.0
ROUTE_MARGIN = 2e-5  # minimum gap at every group / expert selection boundary
DECODE_TOL = 1e-4  # max |decode - prefill| / max |prefill logit|
MAX_DRAWS = 200

QUANT_CONFIG = {
    "activation_scheme": "dynamic",
    "fmt": "e4m3",
    "quant_method": "fp8",
    "weight_block_size": [BLOCK, BLOCK],
}

# ---------------------------------------------------------------------------------------------
# The configs. Sizes are chosen so that everything under tests/golden/ stays below 5 MB.
# ---------------------------------------------------------------------------------------------
CONFIGS = {
    # R1-like: YaRN factor 40 with a tiny original context so that YaRN matters at test
    # lengths; kv_a_proj_with_mqa has 160 rows (one full + one 32-row partial block); a long
    # prompt spanning 4 KV blocks of 64 tokens and a 70-token decode crossing a block boundary.
    "tiny_a": dict(
        arch=dict(
            vocab_size=256,
            hidden_size=128,
            intermediate_size=384,
            moe_intermediate_size=16,
            num_hidden_layers=4,
            first_k_dense_replace=1,
            num_attention_heads=4,
            q_lora_rank=128,
            kv_lora_rank=128,
            qk_nope_head_dim=32,
            qk_rope_head_dim=32,
            v_head_dim=32,
            n_routed_experts=16,
            n_shared_experts=1,
            num_experts_per_tok=4,
            n_group=4,
            topk_group=2,
            max_position_embeddings=2560,  # = 64 * 40, as R1's 163840 = 4096 * 40
            rope_scaling={
                "beta_fast": 32,
                "beta_slow": 1,
                "factor": 40,
                "mscale": 1.0,
                "mscale_all_dim": 1.0,
                "original_max_position_embeddings": 64,
                "type": "yarn",
            },
        ),
        prompts=[1, 65, 200],
        logits_last={2: 64},  # prompt 2: only the last 64 positions' logits (size budget)
        decode=70,
        routing=dict(prompt=1, layer=2),
        shards=2,
        shard_digits=5,
    ),
    # 6 heads; q_lora_rank 256 so that q_b_proj [288, 256] has 3x2 scale blocks (last row block
    # partial); kv_lora_rank 160 + rope 32 = 192 kv_a_proj_with_mqa rows (partial second block)
    # and kv_b_proj [192, 160] (2x2 blocks, partial in both dims); 12 experts in 3 groups
    # keeping 2, top-3; YaRN factor 16 with mscale = mscale_all_dim = 0.707 (the softmax scale
    # uses mscale_all_dim); three shards named with a six-digit total like the real checkpoint.
    "tiny_b": dict(
        arch=dict(
            vocab_size=256,
            hidden_size=128,
            intermediate_size=256,
            moe_intermediate_size=16,
            num_hidden_layers=2,
            first_k_dense_replace=1,
            num_attention_heads=6,
            q_lora_rank=256,
            kv_lora_rank=160,
            qk_nope_head_dim=16,
            qk_rope_head_dim=32,
            v_head_dim=16,
            n_routed_experts=12,
            n_shared_experts=1,
            num_experts_per_tok=3,
            n_group=3,
            topk_group=2,
            max_position_embeddings=512,
            rope_scaling={
                "beta_fast": 32,
                "beta_slow": 1,
                "factor": 16,
                "mscale": 0.707,
                "mscale_all_dim": 0.707,
                "original_max_position_embeddings": 32,
                "type": "yarn",
            },
        ),
        prompts=[3, 31, 130],
        logits_last={},
        decode=20,
        routing=dict(prompt=1, layer=1),
        shards=3,
        shard_digits=6,
    ),
    # Plain RoPE (no rope_scaling) with rope dim 64 as in R1, 2 heads, 2 dense layers of 4, 32
    # experts in 8 groups keeping 3, top-6, 2 shared experts, vocab 200 (not a multiple of 64).
    "tiny_c": dict(
        arch=dict(
            vocab_size=200,
            hidden_size=128,
            intermediate_size=128,
            moe_intermediate_size=8,
            num_hidden_layers=4,
            first_k_dense_replace=2,
            num_attention_heads=2,
            q_lora_rank=128,
            kv_lora_rank=128,
            qk_nope_head_dim=32,
            qk_rope_head_dim=64,
            v_head_dim=32,
            n_routed_experts=32,
            n_shared_experts=2,
            num_experts_per_tok=6,
            n_group=8,
            topk_group=3,
            max_position_embeddings=1024,
            rope_scaling=None,
        ),
        prompts=[2, 17, 96],
        logits_last={},
        decode=24,
        routing=dict(prompt=1, layer=3),
        shards=2,
        shard_digits=5,
    ),
}


def hf_config_json(arch):
    """The config.json contents: the real DeepSeek-R1 key set with the tiny values."""
    c = {
        "architectures": ["DeepseekV3ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 0,
        "eos_token_id": 1,
        "ep_size": 1,
        "first_k_dense_replace": arch["first_k_dense_replace"],
        "hidden_act": "silu",
        "hidden_size": arch["hidden_size"],
        "initializer_range": 0.02,
        "intermediate_size": arch["intermediate_size"],
        "kv_lora_rank": arch["kv_lora_rank"],
        "max_position_embeddings": arch["max_position_embeddings"],
        "model_type": "deepseek_v3",
        "moe_intermediate_size": arch["moe_intermediate_size"],
        "moe_layer_freq": 1,
        "n_group": arch["n_group"],
        "n_routed_experts": arch["n_routed_experts"],
        "n_shared_experts": arch["n_shared_experts"],
        "norm_topk_prob": True,
        "num_attention_heads": arch["num_attention_heads"],
        "num_experts_per_tok": arch["num_experts_per_tok"],
        "num_hidden_layers": arch["num_hidden_layers"],
        # Must equal num_attention_heads: HF's eager attention calls repeat_kv with
        # num_attention_heads // num_key_value_heads on the already per-head K/V.
        "num_key_value_heads": arch["num_attention_heads"],
        "num_nextn_predict_layers": 1,
        "q_lora_rank": arch["q_lora_rank"],
        "qk_nope_head_dim": arch["qk_nope_head_dim"],
        "qk_rope_head_dim": arch["qk_rope_head_dim"],
        "quantization_config": QUANT_CONFIG,
        "rms_norm_eps": 1e-06,
        "rope_scaling": arch["rope_scaling"],
        "rope_theta": 10000,
        "routed_scaling_factor": 2.5,
        "scoring_func": "sigmoid",
        "tie_word_embeddings": False,
        "topk_group": arch["topk_group"],
        "topk_method": "noaux_tc",
        "torch_dtype": "bfloat16",
        "transformers_version": transformers.__version__,
        "use_cache": True,
        "v_head_dim": arch["v_head_dim"],
        "vocab_size": arch["vocab_size"],
    }
    return c


# ---------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------
def tensor_specs(a):
    """(name, shape, kind) for every checkpoint tensor except the *_scale_inv companions.

    kind: 'fp8' (Linear weight, F8_E4M3 + F32 scale), 'linear_bf16', 'norm', 'embed',
    'router' (BF16), 'bias' (F32 e_score_correction_bias), 'copy:<name>' (bit copy of <name>).
    """
    h = a["hidden_size"]
    nh = a["num_attention_heads"]
    qk = a["qk_nope_head_dim"] + a["qk_rope_head_dim"]
    specs = [("model.embed_tokens.weight", (a["vocab_size"], h), "embed")]

    def layer(i, moe):
        p = f"model.layers.{i}."
        out = [
            (p + "input_layernorm.weight", (h,), "norm"),
            (p + "self_attn.q_a_proj.weight", (a["q_lora_rank"], h), "fp8"),
            (p + "self_attn.q_a_layernorm.weight", (a["q_lora_rank"],), "norm"),
            (p + "self_attn.q_b_proj.weight", (nh * qk, a["q_lora_rank"]), "fp8"),
            (p + "self_attn.kv_a_proj_with_mqa.weight",
             (a["kv_lora_rank"] + a["qk_rope_head_dim"], h), "fp8"),
            (p + "self_attn.kv_a_layernorm.weight", (a["kv_lora_rank"],), "norm"),
            (p + "self_attn.kv_b_proj.weight",
             (nh * (a["qk_nope_head_dim"] + a["v_head_dim"]), a["kv_lora_rank"]), "fp8"),
            (p + "self_attn.o_proj.weight", (h, nh * a["v_head_dim"]), "fp8"),
            (p + "post_attention_layernorm.weight", (h,), "norm"),
        ]
        if not moe:
            inter = a["intermediate_size"]
            out += [
                (p + "mlp.gate_proj.weight", (inter, h), "fp8"),
                (p + "mlp.up_proj.weight", (inter, h), "fp8"),
                (p + "mlp.down_proj.weight", (h, inter), "fp8"),
            ]
        else:
            mi = a["moe_intermediate_size"]
            ne = a["n_routed_experts"]
            out += [
                (p + "mlp.gate.weight", (ne, h), "router"),
                (p + "mlp.gate.e_score_correction_bias", (ne,), "bias"),
            ]
            for e in range(ne):
                q = p + f"mlp.experts.{e}."
                out += [
                    (q + "gate_proj.weight", (mi, h), "fp8"),
                    (q + "up_proj.weight", (mi, h), "fp8"),
                    (q + "down_proj.weight", (h, mi), "fp8"),
                ]
            si = mi * a["n_shared_experts"]
            q = p + "mlp.shared_experts."
            out += [
                (q + "gate_proj.weight", (si, h), "fp8"),
                (q + "up_proj.weight", (si, h), "fp8"),
                (q + "down_proj.weight", (h, si), "fp8"),
            ]
        return out

    L = a["num_hidden_layers"]
    for i in range(L):
        specs += layer(i, i >= a["first_k_dense_replace"])
    specs += [
        ("model.norm.weight", (h,), "norm"),
        ("lm_head.weight", (a["vocab_size"], h), "linear_bf16"),
    ]
    # MTP module (spec §3.2 "layer 61"): layer id L.
    p = f"model.layers.{L}."
    specs += [
        (p + "embed_tokens.weight", (a["vocab_size"], h), "copy:model.embed_tokens.weight"),
        (p + "enorm.weight", (h,), "norm"),
        (p + "hnorm.weight", (h,), "norm"),
        (p + "eh_proj.weight", (h, 2 * h), "linear_bf16"),
    ]
    specs += layer(L, True)
    specs += [
        (p + "shared_head.norm.weight", (h,), "norm"),
        (p + "shared_head.head.weight", (a["vocab_size"], h), "copy:lm_head.weight"),
    ]
    return specs


def quantize_fp8(w):
    """Blockwise (128x128) e4m3 quantization: S = amax/448, Q = sat_e4m3(W / S) (RNE)."""
    o, i = w.shape
    ob, ib = -(-o // BLOCK), -(-i // BLOCK)
    wp = torch.zeros(ob * BLOCK, ib * BLOCK, dtype=torch.float32)
    wp[:o, :i] = w
    blocks = wp.view(ob, BLOCK, ib, BLOCK)
    amax = blocks.abs().amax(dim=(1, 3))
    assert bool((amax > 0).all())
    scale = (amax / FP8_MAX).to(torch.float32)
    qf = (blocks / scale[:, None, :, None]).clamp(-FP8_MAX, FP8_MAX)
    q = qf.to(torch.float8_e4m3fn).view(ob * BLOCK, ib * BLOCK)[:o, :i].contiguous()
    return q, scale.contiguous()


def dequantize_fp8(q, s):
    o, i = q.shape
    se = s.repeat_interleave(BLOCK, 0)[:o].repeat_interleave(BLOCK, 1)[:, :i]
    return q.to(torch.float32) * se


def make_weights(a, gen):
    """Returns (checkpoint tensors dict, fp32 HF state dict of the main model)."""
    ckpt = {}
    for name, shape, kind in tensor_specs(a):
        if kind.startswith("copy:"):
            ckpt[name] = ckpt[kind[5:]].clone()
            continue
        if kind == "norm":
            w = 1.0 + 0.1 * torch.randn(shape, generator=gen)
            ckpt[name] = w.to(torch.bfloat16)
        elif kind == "embed":
            ckpt[name] = torch.randn(shape, generator=gen).to(torch.bfloat16)
        elif kind in ("linear_bf16", "router"):
            w = torch.randn(shape, generator=gen) / math.sqrt(shape[1])
            ckpt[name] = w.to(torch.bfloat16)
        elif kind == "bias":
            ckpt[name] = (0.1 * torch.randn(shape, generator=gen)).to(torch.float32)
        elif kind == "fp8":
            w = torch.randn(shape, generator=gen) / math.sqrt(shape[1])
            q, s = quantize_fp8(w)
            ckpt[name] = q
            ckpt[name + "_scale_inv"] = s
        else:
            raise ValueError(kind)
    L = a["num_hidden_layers"]
    mtp_prefix = f"model.layers.{L}."
    state = {}
    for name, t in ckpt.items():
        if name.startswith(mtp_prefix) or name.endswith("_scale_inv"):
            continue
        if t.dtype == torch.float8_e4m3fn:
            state[name] = dequantize_fp8(t, ckpt[name + "_scale_inv"])
        else:
            state[name] = t.to(torch.float32)
    return ckpt, state


def natural_key(name):
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", name)]


def write_checkpoint(out_dir, cfg_json, ckpt, n_shards, digits):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg_json, f, indent=2, sort_keys=True)
        f.write("\n")
    names = sorted(ckpt, key=natural_key)
    nbytes = {n: ckpt[n].numel() * ckpt[n].element_size() for n in names}
    total = sum(nbytes.values())
    shard_of = {}
    acc = 0
    for n in names:
        shard_of[n] = min(n_shards - 1, acc * n_shards // total)
        acc += nbytes[n]
    # Real checkpoints put a weight and its scale in different shards at shard boundaries;
    # make sure it happens here: move the first layer-0 FP8 weight's scale to the last shard.
    split = "model.layers.0.self_attn.q_a_proj.weight"
    assert shard_of[split] != n_shards - 1
    shard_of[split + "_scale_inv"] = n_shards - 1
    fname = [f"model-{k + 1:05d}-of-{n_shards:0{digits}d}.safetensors" for k in range(n_shards)]
    weight_map = {}
    for k in range(n_shards):
        part = {n: ckpt[n].contiguous() for n in names if shard_of[n] == k}
        save_file(part, os.path.join(out_dir, fname[k]), metadata={"format": "pt"})
        for n in part:
            weight_map[n] = fname[k]
    cross = [n for n in names if n.endswith("_scale_inv")
             and weight_map[n] != weight_map[n[: -len("_scale_inv")]]]
    assert cross, "no weight/scale pair split across shards"
    index = {"metadata": {"total_size": total},
             "weight_map": {n: weight_map[n] for n in sorted(weight_map, key=natural_key)}}
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    return fname, cross


# ---------------------------------------------------------------------------------------------
# Router instrumentation
# ---------------------------------------------------------------------------------------------
class RouteStats:
    def __init__(self):
        self.reset()

    def reset(self):
        """Per-run statistics (one candidate prompt)."""
        self.min_group_margin = math.inf
        self.min_expert_margin = math.inf
        self.min_positive_in_kept = math.inf
        self.tokens = 0
        self.bias_changed = 0

    def new_config(self):
        """Totals over the accepted (recorded) runs of one config."""
        self.reset()
        self.all_min_positive = math.inf
        self.all_tokens = 0
        self.all_bias_changed = 0

    def accept(self):
        self.all_min_positive = min(self.all_min_positive, self.min_positive_in_kept)
        self.all_tokens += self.tokens
        self.all_bias_changed += self.bias_changed


ROUTE = RouteStats()


@torch.no_grad()
def checked_get_topk_indices(self, scores):
    """transformers' noaux_tc selection, computed with both fill values (0.0 and -inf)."""
    ne, ng, kg, k = self.n_routed_experts, self.n_group, self.topk_group, self.top_k
    per = ne // ng
    choice = scores.view(-1, ne) + self.e_score_correction_bias.unsqueeze(0)
    group_scores = choice.view(-1, ng, per).topk(2, dim=-1)[0].sum(dim=-1)
    group_idx = torch.topk(group_scores, k=kg, dim=-1, sorted=False)[1]
    group_mask = torch.zeros_like(group_scores)
    group_mask.scatter_(1, group_idx, 1)
    keep = group_mask.unsqueeze(-1).expand(-1, ng, per).reshape(-1, ne).bool()
    sel_zero = torch.topk(choice.masked_fill(~keep, 0.0), k=k, dim=-1, sorted=False)[1]
    masked = choice.masked_fill(~keep, float("-inf"))
    sel_inf = torch.topk(masked, k=k, dim=-1, sorted=False)[1]
    a, b = sel_zero.sort(dim=-1)[0], sel_inf.sort(dim=-1)[0]
    assert torch.equal(a, b), "fill value 0.0 and -inf choose different experts"
    # Margins at the decision boundaries.
    if kg < ng:
        gs = group_scores.sort(dim=-1, descending=True)[0]
        ROUTE.min_group_margin = min(ROUTE.min_group_margin,
                                     float((gs[:, kg - 1] - gs[:, kg]).min()))
    if kg * per > k:
        ms = masked.sort(dim=-1, descending=True)[0]
        ROUTE.min_expert_margin = min(ROUTE.min_expert_margin,
                                      float((ms[:, k - 1] - ms[:, k]).min()))
    positive = ((choice > 0) & keep).sum(dim=-1)
    ROUTE.min_positive_in_kept = min(ROUTE.min_positive_in_kept, int(positive.min()))
    # How often the correction bias changes the chosen set (fixtures should exercise it).
    unbiased = scores.view(-1, ne)
    ug = unbiased.view(-1, ng, per).topk(2, dim=-1)[0].sum(dim=-1)
    ugi = torch.topk(ug, k=kg, dim=-1)[1]
    um = torch.zeros_like(ug).scatter_(1, ugi, 1)
    ukeep = um.unsqueeze(-1).expand(-1, ng, per).reshape(-1, ne).bool()
    usel = torch.topk(unbiased.masked_fill(~ukeep, float("-inf")), k=k, dim=-1)[1]
    ROUTE.bias_changed += int((usel.sort(dim=-1)[0] != b).any(dim=-1).sum())
    ROUTE.tokens += choice.shape[0]
    return sel_inf


hf_ds3.DeepseekV3TopkRouter.get_topk_indices = checked_get_topk_indices


# ---------------------------------------------------------------------------------------------
# Reference runs
# ---------------------------------------------------------------------------------------------
@torch.no_grad()
def prefill(model, tokens):
    out = model(input_ids=torch.tensor(tokens, dtype=torch.long)[None], use_cache=False)
    return out.logits[0].to(torch.float32).contiguous()


@torch.no_grad()
def decode(model, tokens):
    cache = None
    rows = []
    for t in tokens:
        out = model(input_ids=torch.tensor([[t]], dtype=torch.long), past_key_values=cache,
                    use_cache=True)
        cache = out.past_key_values
        rows.append(out.logits[0, -1].to(torch.float32))
    return torch.stack(rows).contiguous()


def routing_ok():
    return (ROUTE.min_group_margin >= ROUTE_MARGIN and ROUTE.min_expert_margin >= ROUTE_MARGIN)


def draw_tokens(model, rng, vocab, length, run):
    """Draws random prompts until every routing decision of `run` has margin >= ROUTE_MARGIN."""
    for attempt in range(MAX_DRAWS):
        toks = [int(x) for x in rng.integers(2, vocab, size=length)]
        ROUTE.reset()
        result = run(model, toks)
        if routing_ok():
            ROUTE.accept()
            return toks, result, attempt + 1, (ROUTE.min_group_margin, ROUTE.min_expert_margin)
    raise RuntimeError(f"no prompt of length {length} with routing margin >= {ROUTE_MARGIN}")


def check_rope(model, cfg):
    """HF's de-interleave + rotate-half equals the interleaved-pair rotation of spec §6.3."""
    d = cfg.qk_rope_head_dim
    gen = torch.Generator().manual_seed(1)
    q = torch.randn(1, 2, 5, d, generator=gen)
    k = torch.randn(1, 1, 5, d, generator=gen)
    pos = torch.arange(100, 105)[None]
    cos, sin = model.model.rotary_emb(q, pos)
    qe, ke = hf_ds3.apply_rotary_pos_emb_interleave(q, k, cos, sin)
    inv = model.model.rotary_emb.inv_freq.to(torch.float64)
    att = model.model.rotary_emb.attention_scaling
    ang = pos[0].to(torch.float64)[:, None] * inv[None, :]  # [5, d/2]
    c, s = torch.cos(ang) * att, torch.sin(ang) * att

    def pairs(z):
        z = z.to(torch.float64)
        x0, x1 = z[..., 0::2], z[..., 1::2]
        r0, r1 = x0 * c - x1 * s, x0 * s + x1 * c
        # HF output order: [all even-pair outputs ; all odd-pair outputs].
        return torch.cat([r0, r1], dim=-1)

    err = max(float((pairs(q) - qe).abs().max()), float((pairs(k) - ke).abs().max()))
    assert err < 1e-4, f"rope interleave mismatch {err}"
    return err


def yarn_reference(cfg):
    """Spec §6.4 YaRN inverse frequencies and §6.2 softmax scale, in float64."""
    d = cfg.qk_rope_head_dim
    base = cfg.rope_theta
    f = np.array([base ** (-2.0 * i / d) for i in range(d // 2)])
    rs = cfg.rope_scaling
    qk = cfg.qk_nope_head_dim + cfg.qk_rope_head_dim
    if not rs:
        return f, qk ** -0.5, 1.0
    s = rs["factor"]
    L = rs["original_max_position_embeddings"]

    def corr(r):
        return d * math.log(L / (2 * math.pi * r)) / (2 * math.log(base))

    low = max(math.floor(corr(rs["beta_fast"])), 0)
    high = min(math.ceil(corr(rs["beta_slow"])), d - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(d // 2) - low) / (high - low), 0, 1)
    theta = f * (1 - ramp) + f / s * ramp

    def m(scale, ms):
        return 1.0 if scale <= 1 else 0.1 * ms * math.log(scale) + 1.0

    sigma = qk ** -0.5 * m(s, rs["mscale_all_dim"]) ** 2
    att = m(s, rs["mscale"]) / m(s, rs["mscale_all_dim"])
    return theta, sigma, att


def generate_one(name, spec, out_root, index):
    torch.manual_seed(SEED + index)
    gen = torch.Generator().manual_seed(SEED + 1000 * index)
    rng = np.random.Generator(np.random.PCG64(SEED + 1000 * index + 1))
    a = spec["arch"]
    out_dir = os.path.join(out_root, name)
    cfg_json = hf_config_json(a)
    ckpt, state = make_weights(a, gen)
    shard_files, cross = write_checkpoint(out_dir, cfg_json, ckpt, spec["shards"],
                                          spec["shard_digits"])

    # HF model from the written config.json, fp32, eager attention, dequantized weights.
    cfg = DeepseekV3Config.from_pretrained(out_dir)
    cfg._attn_implementation = "eager"
    assert cfg.rope_interleave is True
    model = DeepseekV3ForCausalLM(cfg).to(torch.float32).eval()
    missing, unexpected = model.load_state_dict(state, strict=True)
    assert not missing and not unexpected
    loaded = model.state_dict()
    for k, v in state.items():  # nothing tied or re-initialised behind our back
        assert torch.equal(loaded[k], v), k
    assert model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr()

    rope_err = check_rope(model, cfg)
    theta_ref, sigma_ref, att_ref = yarn_reference(cfg)
    inv_freq = model.model.rotary_emb.inv_freq.to(torch.float64).numpy()
    theta_rel = float(np.max(np.abs(inv_freq - theta_ref) / theta_ref))
    assert theta_rel < 1e-6, theta_rel
    sigma_hf = model.model.layers[0].self_attn.scaling
    assert abs(sigma_hf - sigma_ref) < 1e-12 * sigma_ref + 1e-15, (sigma_hf, sigma_ref)
    att_hf = model.model.rotary_emb.attention_scaling
    assert abs(att_hf - att_ref) < 1e-12, (att_hf, att_ref)

    V = a["vocab_size"]
    ROUTE.new_config()
    ref = {}
    full_logits = {}
    meta_prompts = []
    margins = []
    max_logit = 0.0
    for i, length in enumerate(spec["prompts"]):
        toks, logits, draws, mg = draw_tokens(model, rng, V, length, prefill)
        margins.append(mg)
        ref[f"prompt{i}.tokens"] = torch.tensor(toks, dtype=torch.int32)
        full_logits[i] = logits
        entry = {"index": i, "length": length, "draws": draws,
                 "min_group_margin": mg[0], "min_expert_margin": mg[1]}
        keep = spec["logits_last"].get(i)
        if keep is not None and keep < length:
            start = length - keep
            ref[f"prompt{i}.logits_last"] = logits[start:].contiguous()
            ref[f"prompt{i}.logits_start"] = torch.tensor([start], dtype=torch.int32)
            entry["logits_stored"] = f"positions {start}..{length - 1} (logits_last)"
        else:
            ref[f"prompt{i}.logits"] = logits
            entry["logits_stored"] = "all positions"
        max_logit = max(max_logit, float(logits.abs().max()))
        meta_prompts.append(entry)

    # Decode: one token at a time through the HF DynamicCache, checked against a prefill.
    def run_decode(m, toks):
        dec = decode(m, toks)
        pre = prefill(m, toks)
        return dec, pre

    dtoks, (dec, pre), draws, mg = draw_tokens(model, rng, V, spec["decode"], run_decode)
    margins.append(mg)
    dec_rel = float((dec - pre).abs().max() / pre.abs().max())
    assert dec_rel < DECODE_TOL, f"{name}: decode vs prefill {dec_rel}"
    ref["decode.tokens"] = torch.tensor(dtoks, dtype=torch.int32)
    ref["decode.logits"] = dec
    max_logit = max(max_logit, float(dec.abs().max()))

    # Routing of one MoE layer for one recorded prompt.
    rl = spec["routing"]["layer"]
    rp = spec["routing"]["prompt"]
    assert rl >= a["first_k_dense_replace"]
    moe = model.model.layers[rl].mlp
    cap = {}
    h1 = moe.register_forward_hook(lambda mod, inp, out: cap.update(x=inp[0], y=out))
    h2 = moe.gate.register_forward_hook(lambda mod, inp, out: cap.update(idx=out[0], w=out[1]))
    ROUTE.reset()
    again = prefill(model, ref[f"prompt{rp}.tokens"].tolist())
    h1.remove()
    h2.remove()
    assert torch.equal(again, full_logits[rp])
    ROUTE.accept()
    # -inf and 0.0 fills agree (asserted per token); this is the stronger property the brief
    # asks for: >= k experts with positive biased score in the kept groups for every token.
    assert ROUTE.all_min_positive >= a["num_experts_per_tok"], ROUTE.all_min_positive
    idx, w = cap["idx"], cap["w"]
    order = idx.argsort(dim=-1)
    T = idx.shape[0]
    ref["routing.layer"] = torch.tensor([rl], dtype=torch.int32)
    ref["routing.input"] = cap["x"].reshape(T, -1).to(torch.float32).contiguous()
    ref["routing.topk_idx"] = idx.gather(1, order).to(torch.int32).contiguous()
    ref["routing.topk_weight"] = w.gather(1, order).to(torch.float32).contiguous()
    ref["routing.output"] = cap["y"].reshape(T, -1).to(torch.float32).contiguous()

    save_file(ref, os.path.join(out_dir, "reference.safetensors"),
              metadata={"format": "r1serve-golden-v1"})

    meta = {
        "name": name,
        "seed": SEED,
        "config_index": index,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "safetensors": safetensors.__version__,
            "numpy": np.__version__,
        },
        "prompt_lengths": list(spec["prompts"]),
        "prompts": meta_prompts,
        "decode_length": spec["decode"],
        "decode_draws": draws,
        "routing": {"layer": rl, "prompt": rp, "tokens": T},
        "shards": shard_files,
        "weight_scale_split_across_shards": cross,
        "router_fill_value": ("transformers fills excluded groups with 0.0, the spec with -inf; "
                              "every routing decision of every recorded forward was computed "
                              "both ways and asserted identical, so the fixtures hold for both"),
        "min_positive_biased_scores_in_kept_groups": int(ROUTE.all_min_positive),
        "routed_token_decisions": ROUTE.all_tokens,
        "bias_changed_selection_fraction": ROUTE.all_bias_changed / ROUTE.all_tokens,
        "route_margin_required": ROUTE_MARGIN,
        "min_group_margin": min(m[0] for m in margins),
        "min_expert_margin": min(m[1] for m in margins),
        "max_abs_logit": max_logit,
        "decode_vs_prefill_max_abs_diff_over_max_abs_logit": dec_rel,
        "rope": {
            "rope_interleave": True,
            "hf_inv_freq_fp32": [float(x) for x in inv_freq],
            "hf_cos_sin_attention_factor": att_hf,
            "softmax_scale": sigma_hf,
            "spec_vs_hf_inv_freq_max_rel_diff": theta_rel,
            "interleaved_pair_rotation_check_max_abs_diff": rope_err,
        },
        "notes": [
            "Reference = transformers DeepseekV3ForCausalLM, float32, eager attention, weights "
            "dequantized W = float(Q) * S per 128x128 block (fp32 multiply); BF16 tensors "
            "converted exactly to float32.",
            "MTP tensors (layer num_hidden_layers) are random but not used by the reference; "
            "its embed_tokens / shared_head.head are exact copies of model.embed_tokens / "
            "lm_head.",
            "Prompts are uniform random ids in [2, vocab); positions start at 0; no BOS.",
            "prompt{i}.logits / decode.logits are over the full vocab, all positions; "
            "prompt{i}.logits_last holds positions logits_start[0]..T-1 only.",
        ],
    }
    return meta, out_dir, max_logit, dec_rel


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="tests/golden", help="output folder")
    ap.add_argument("--only", default=None, help="comma-separated config names")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    names = list(CONFIGS) if not args.only else args.only.split(",")
    for index, name in enumerate(CONFIGS):
        if name not in names:
            continue
        meta, out_dir, max_logit, dec_rel = generate_one(name, CONFIGS[name], args.out, index)
        with open(os.path.join(out_dir, "meta.json"), "w") as f:
            json.dump(meta, f, indent=2, sort_keys=True)
            f.write("\n")
        print(f"{name}: max|logit| {max_logit:.4f}  decode-vs-prefill rel {dec_rel:.2e}  "
              f"min margins group {meta['min_group_margin']:.2e} "
              f"expert {meta['min_expert_margin']:.2e}")
        for fn in sorted(os.listdir(out_dir)):
            p = os.path.join(out_dir, fn)
            print(f"  {fn:40s} {os.path.getsize(p):9d}  "
                  f"{hashlib.sha256(open(p, 'rb').read()).hexdigest()[:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
