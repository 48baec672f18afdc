#!/usr/bin/env python3
"""Checks golden fixtures written by generate.py, starting from the files on disk only.

For each tests/golden/<name>/ it
  * reads config.json and model.safetensors.index.json, resolves every tensor (and every
    weight_scale_inv) through the index, and checks name set, dtype and shape against spec §3.2;
  * dequantizes the FP8 weights from the shards (W = float(Q) * S, 128x128 blocks), loads
    transformers' DeepseekV3ForCausalLM in float32 and recomputes every tensor of
    reference.safetensors, comparing within --rtol of the largest |value| (default 1e-5);
  * recomputes every recorded logit row with an independent float64 forward written from the
    spec (interleaved-pair RoPE, absorbed MLA, -inf group fill) and compares within --spec-rtol
    (default 1e-4).

Usage: python tools/golden/verify.py [--dir tests/golden]
"""

import argparse
import json
import math
import os
import sys

import torch
import transformers
from safetensors import safe_open
from safetensors.torch import load_file
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate  # noqa: E402  (also installs the checked router)


def load_checkpoint(d):
    with open(os.path.join(d, "model.safetensors.index.json")) as f:
        index = json.load(f)
    tensors = {}
    handles = {}
    for name, fname in index["weight_map"].items():
        if fname not in handles:
            handles[fname] = safe_open(os.path.join(d, fname), "pt")
        tensors[name] = handles[fname].get_tensor(name)
    stored = set()
    for h in handles.values():
        stored.update(h.keys())
    assert stored == set(index["weight_map"]), "index and shards disagree"
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    assert total == index["metadata"]["total_size"]
    return tensors


def check_inventory(cfg_json, tensors):
    want = {}
    for name, shape, kind in generate.tensor_specs(cfg_json):
        if kind == "fp8":
            want[name] = (torch.float8_e4m3fn, shape)
            want[name + "_scale_inv"] = (torch.float32, (math.ceil(shape[0] / 128),
                                                         math.ceil(shape[1] / 128)))
        elif kind == "bias":
            want[name] = (torch.float32, shape)
        else:
            want[name] = (torch.bfloat16, shape)
    assert set(want) == set(tensors), sorted(set(want) ^ set(tensors))[:10]
    for name, (dt, shape) in want.items():
        t = tensors[name]
        assert t.dtype == dt and tuple(t.shape) == tuple(shape), (name, t.dtype, t.shape)


def spec_logits(c, W, tokens):
    """Independent float64 forward written from the spec (§4-§7), not from transformers:
    interleaved-pair RoPE (§6.3), YaRN θ in fp64 (§6.4), absorbed MLA (§6.6), noaux_tc routing
    with -inf for excluded groups (§7), RMSNorm all in fp64."""
    f64 = torch.float64
    L = c["num_hidden_layers"]
    eps = c["rms_norm_eps"]
    H, dn, dr, dv = (c["num_attention_heads"], c["qk_nope_head_dim"], c["qk_rope_head_dim"],
                     c["v_head_dim"])
    dc = c["kv_lora_rank"]

    def w(name):
        t = W[name]
        if t.dtype == torch.float8_e4m3fn:
            return generate.dequantize_fp8(t, W[name + "_scale_inv"]).to(f64)
        return t.to(f64)

    def rms(x, g):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * g

    cfg = DeepseekV3Config(**{k: v for k, v in c.items() if k != "quantization_config"})
    theta, sigma, att = generate.yarn_reference(cfg)
    T = len(tokens)
    ang = torch.arange(T, dtype=f64)[:, None] * torch.tensor(theta, dtype=f64)[None]
    cos, sin = torch.cos(ang) * att, torch.sin(ang) * att  # [T, dr/2]

    def rope(z):  # z [..., T, dr] in checkpoint (interleaved) order; returns the same order
        x0, x1 = z[..., 0::2], z[..., 1::2]
        out = torch.empty_like(z)
        out[..., 0::2] = x0 * cos - x1 * sin
        out[..., 1::2] = x0 * sin + x1 * cos
        return out

    def ffn(p, x):
        g = x @ w(p + "gate_proj.weight").T
        h = g * torch.sigmoid(g) * (x @ w(p + "up_proj.weight").T)
        return h @ w(p + "down_proj.weight").T

    x = w("model.embed_tokens.weight")[torch.tensor(tokens)]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    for i in range(L):
        p = f"model.layers.{i}."
        u = rms(x, w(p + "input_layernorm.weight"))
        cq = rms(u @ w(p + "self_attn.q_a_proj.weight").T, w(p + "self_attn.q_a_layernorm.weight"))
        q = (cq @ w(p + "self_attn.q_b_proj.weight").T).view(T, H, dn + dr).transpose(0, 1)
        qn, qr = q[..., :dn], rope(q[..., dn:])
        a = u @ w(p + "self_attn.kv_a_proj_with_mqa.weight").T
        ckv = rms(a[:, :dc], w(p + "self_attn.kv_a_layernorm.weight"))
        kr = rope(a[:, dc:])
        wkvb = w(p + "self_attn.kv_b_proj.weight").view(H, dn + dv, dc)
        qt = torch.einsum("htn,hnc->htc", qn, wkvb[:, :dn])
        s = sigma * (qt @ ckv.T + qr @ kr.T)
        s = s.masked_fill(~causal, float("-inf")).softmax(-1)
        o = torch.einsum("htc,hvc->thv", s @ ckv, wkvb[:, dn:]).reshape(T, H * dv)
        x = x + o @ w(p + "self_attn.o_proj.weight").T
        v = rms(x, w(p + "post_attention_layernorm.weight"))
        if i < c["first_k_dense_replace"]:
            x = x + ffn(p + "mlp.", v)
            continue
        E, G, KG, K = (c["n_routed_experts"], c["n_group"], c["topk_group"],
                       c["num_experts_per_tok"])
        sc = torch.sigmoid(v @ w(p + "mlp.gate.weight").T)
        b = sc + w(p + "mlp.gate.e_score_correction_bias")
        gsc = b.view(T, G, E // G).topk(2, dim=-1)[0].sum(-1)
        keep = torch.zeros(T, G, dtype=torch.bool)
        keep.scatter_(1, gsc.topk(KG, dim=-1)[1], True)
        b = b.masked_fill(~keep.repeat_interleave(E // G, dim=1), float("-inf"))
        idx = b.topk(K, dim=-1)[1]
        wt = sc.gather(1, idx)
        wt = wt / wt.sum(-1, keepdim=True) * c["routed_scaling_factor"]
        y = ffn(p + "mlp.shared_experts.", v)
        for t in range(T):
            for j in range(K):
                e = int(idx[t, j])
                y[t] += wt[t, j] * ffn(p + f"mlp.experts.{e}.", v[t:t + 1])[0]
        x = x + y
    return rms(x, w("model.norm.weight")) @ w("lm_head.weight").T


def verify(d, rtol, spec_rtol):
    with open(os.path.join(d, "config.json")) as f:
        cfg_json = json.load(f)
    tensors = load_checkpoint(d)
    check_inventory(cfg_json, tensors)
    L = cfg_json["num_hidden_layers"]
    state = {}
    for name, t in tensors.items():
        if name.startswith(f"model.layers.{L}.") or name.endswith("_scale_inv"):
            continue
        if t.dtype == torch.float8_e4m3fn:
            state[name] = generate.dequantize_fp8(t, tensors[name + "_scale_inv"])
        else:
            state[name] = t.to(torch.float32)
    cfg = DeepseekV3Config.from_pretrained(d)
    cfg._attn_implementation = "eager"
    model = DeepseekV3ForCausalLM(cfg).to(torch.float32).eval()
    model.load_state_dict(state, strict=True)

    ref = load_file(os.path.join(d, "reference.safetensors"))
    worst = 0.0

    def cmp(key, got):
        nonlocal worst
        want = ref[key]
        assert want.shape == got.shape, (key, want.shape, got.shape)
        err = float((want - got).abs().max() / want.abs().max())
        worst = max(worst, err)
        assert err <= rtol, f"{d}: {key} rel err {err}"

    spec_worst = 0.0

    def spec_cmp(key, toks, start=0):
        nonlocal spec_worst
        if spec_rtol is None:
            return
        want = ref[key].to(torch.float64)
        got = spec_logits(cfg_json, tensors, toks)[start:]
        err = float((want - got).abs().max() / want.abs().max())
        spec_worst = max(spec_worst, err)
        assert err <= spec_rtol, f"{d}: {key} vs spec forward: rel err {err}"

    i = 0
    while f"prompt{i}.tokens" in ref:
        toks = ref[f"prompt{i}.tokens"].tolist()
        logits = generate.prefill(model, toks)
        if f"prompt{i}.logits" in ref:
            cmp(f"prompt{i}.logits", logits)
            spec_cmp(f"prompt{i}.logits", toks)
        else:
            start = int(ref[f"prompt{i}.logits_start"][0])
            cmp(f"prompt{i}.logits_last", logits[start:])
            spec_cmp(f"prompt{i}.logits_last", toks, start)
        i += 1
    assert i >= 3
    cmp("decode.logits", generate.decode(model, ref["decode.tokens"].tolist()))
    spec_cmp("decode.logits", ref["decode.tokens"].tolist())

    layer = int(ref["routing.layer"][0])
    moe = model.model.layers[layer].mlp
    x = ref["routing.input"]
    with torch.no_grad():
        idx, w = moe.gate(x)
        y = moe(x[None])[0]
    order = idx.argsort(dim=-1)
    assert torch.equal(idx.gather(1, order).to(torch.int32), ref["routing.topk_idx"])
    cmp("routing.topk_weight", w.gather(1, order))
    cmp("routing.output", y)
    return i, worst, spec_worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="tests/golden")
    ap.add_argument("--rtol", type=float, default=1e-5,
                    help="tolerance against a transformers re-run (relative to max |value|)")
    ap.add_argument("--spec-rtol", type=float, default=1e-4,
                    help="tolerance against the independent fp64 spec forward; 0 skips it")
    args = ap.parse_args()
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    for name in sorted(os.listdir(args.dir)):
        d = os.path.join(args.dir, name)
        # DeepSeek-V3 fixtures only (dense_* folders hold dense_reference.safetensors).
        if not os.path.isfile(os.path.join(d, "reference.safetensors")):
            continue
        n, worst, spec_worst = verify(d, args.rtol, args.spec_rtol or None)
        print(f"{name}: OK ({n} prompts, decode, routing; transformers re-run worst rel err "
              f"{worst:.2e}; fp64 spec forward worst rel err {spec_worst:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
