"""r1-tiny's model for training: transformers' DeepseekV3ForCausalLM plus one MTP module (spec §10).

Works with transformers 4.57 (per-expert nn.Linear modules, router fill 0.0) and 5.x (experts
fused into 3-D `gate_up_proj` / `down_proj` parameters, router fill -inf). Everything outside this
file sees the *canonical* state: the official checkpoint's tensor names and 2-D shapes (spec
§3.2, as listed by tools/golden/generate.py's tensor_specs), in float32.

Where transformers departs from the spec (spec §15) the spec is followed:
  * the router is replaced by `spec_router_forward`: excluded expert groups get -inf (4.57 fills
    0.0), scores, bias use and weights as spec §7; it also counts expert loads for the
    auxiliary-loss-free balancing of the correction bias;
  * the MTP module, which transformers lacks, is `MtpModule` (spec §10): enorm on the embedding of
    the next token, hnorm on the main model's final (post-norm) hidden state, eh_proj on
    [emb ; hidden] (embedding first), a full decoder block (MLA + MoE) at the same positions,
    shared_head.norm, and the main model's embedding and lm_head (shared while training, stored as
    copies in the checkpoint).
"""

import copy
import math
import re

import torch
import torch.nn.functional as F
import transformers
from torch import nn
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM
from transformers.models.deepseek_v3 import modeling_deepseek_v3 as hf_ds3

BLOCK = 128
FP8_MAX = 448.0
TRANSFORMERS_MAJOR = int(transformers.__version__.split(".")[0])

# The r1-tiny shape. Every inner (K) dimension of an FP8 weight is a multiple of 128 (hidden 128,
# q/kv lora 128, heads·v 256, intermediate 512, expert 128), as the GPU FP8 GEMMs need.
ARCH = dict(
    vocab_size=16128,  # tokenizer ids 0..16024, rounded up to 126·128 as the local config does
    hidden_size=128,
    intermediate_size=512,
    moe_intermediate_size=128,
    num_hidden_layers=5,
    first_k_dense_replace=1,
    num_attention_heads=8,
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
    max_position_embeddings=4096,  # = 512 · 8
    rope_scaling={
        "beta_fast": 32,
        "beta_slow": 1,
        "factor": 8,
        "mscale": 1.0,
        "mscale_all_dim": 1.0,
        "original_max_position_embeddings": 512,
        "type": "yarn",
    },
)


def hf_config(cfg_json):
    """DeepseekV3Config from a config.json dict (the quantization block is left out: the training
    model holds plain float weights)."""
    # A deep copy: transformers 5.x normalises rope_scaling in place (adds rope_type/rope_theta),
    # which must not leak into the exported config.json.
    d = copy.deepcopy({k: v for k, v in cfg_json.items() if k != "quantization_config"})
    cfg = DeepseekV3Config.from_dict(d)
    cfg._attn_implementation = "eager"  # deterministic, and the same math in every version
    if TRANSFORMERS_MAJOR >= 5:
        # 5.x defaults to grouped_mm, which takes bf16 only; the per-expert loop takes fp32.
        cfg._experts_implementation = "eager"
    if getattr(cfg, "rope_interleave", True) is not True:
        raise RuntimeError("expected rope_interleave=True")
    return cfg


# ---------------------------------------------------------------------------------------------
# Router (spec §7)
# ---------------------------------------------------------------------------------------------
def spec_router_forward(self, hidden_states):
    """noaux_tc gating exactly as spec §7 (-inf for excluded groups)."""
    E, G, kg, k = self.r1_experts, self.r1_groups, self.r1_topk_group, self.r1_top_k
    h = hidden_states.reshape(-1, hidden_states.shape[-1])
    logits = F.linear(h.float(), self.weight.float())
    scores = logits.sigmoid()
    with torch.no_grad():
        choice = scores + self.e_score_correction_bias.unsqueeze(0)
        group_scores = choice.view(-1, G, E // G).topk(2, dim=-1)[0].sum(dim=-1)
        group_idx = torch.topk(group_scores, k=kg, dim=-1, sorted=False)[1]
        keep = torch.zeros_like(group_scores, dtype=torch.bool).scatter_(1, group_idx, True)
        keep = keep.unsqueeze(-1).expand(-1, G, E // G).reshape(-1, E)
        idx = torch.topk(choice.masked_fill(~keep, float("-inf")), k=k, dim=-1, sorted=False)[1]
        if self.training and self.r1_valid is not None:
            valid = self.r1_valid()
            if valid is not None and valid.numel() == idx.shape[0]:
                sel = idx[valid]
                self.r1_load += F.one_hot(sel.reshape(-1), E).sum(0).float()
    w = scores.gather(1, idx)
    w = w / (w.sum(dim=-1, keepdim=True) + 1e-20) * self.r1_scale
    if TRANSFORMERS_MAJOR >= 5:
        return logits, w, idx
    return idx, w


def install_router(model_or_layer, cfg, valid_fn):
    for m in model_or_layer.modules():
        if isinstance(m, hf_ds3.DeepseekV3TopkRouter):
            m.r1_experts = cfg.n_routed_experts
            m.r1_groups = cfg.n_group
            m.r1_topk_group = cfg.topk_group
            m.r1_top_k = cfg.num_experts_per_tok
            m.r1_scale = cfg.routed_scaling_factor
            m.r1_valid = valid_fn
            # A buffer so that .to(device) moves it; not persistent (not a checkpoint tensor).
            m.register_buffer("r1_load", torch.zeros(cfg.n_routed_experts), persistent=False)
            m.forward = spec_router_forward.__get__(m)


def routers(module):
    return [m for m in module.modules() if isinstance(m, hf_ds3.DeepseekV3TopkRouter)]


# ---------------------------------------------------------------------------------------------
# MTP (spec §10)
# ---------------------------------------------------------------------------------------------
class MtpModule(nn.Module):
    """Depth-1 MTP: for slot i, from the main model's final hidden state h_i and token t_{i+1},
    predicts t_{i+2}. Owns enorm, hnorm, eh_proj, one decoder block and shared_head.norm; borrows
    the main model's embedding, lm_head and rotary embedding at call time."""

    def __init__(self, cfg, layer_idx):
        super().__init__()
        h = cfg.hidden_size
        self.enorm = hf_ds3.DeepseekV3RMSNorm(h, eps=cfg.rms_norm_eps)
        self.hnorm = hf_ds3.DeepseekV3RMSNorm(h, eps=cfg.rms_norm_eps)
        self.eh_proj = nn.Linear(2 * h, h, bias=False)
        self.block = hf_ds3.DeepseekV3DecoderLayer(cfg, layer_idx)
        self.shared_head_norm = hf_ds3.DeepseekV3RMSNorm(h, eps=cfg.rms_norm_eps)

    def forward(self, hidden, next_tokens, embed, rotary):
        """hidden [B, S, h] (post model.norm), next_tokens [B, S]; returns the normed [B, S, h]."""
        B, S, _ = hidden.shape
        e = self.enorm(embed(next_tokens))
        g = self.hnorm(hidden)
        x = self.eh_proj(torch.cat([e, g], dim=-1))
        pos = torch.arange(S, device=x.device).unsqueeze(0).expand(B, -1)
        cos_sin = rotary(x, pos)
        mask = torch.full((S, S), torch.finfo(x.dtype).min, device=x.device, dtype=x.dtype)
        mask = torch.triu(mask, diagonal=1)[None, None].expand(B, 1, S, S)
        x = self.block(x, attention_mask=mask, position_ids=pos, position_embeddings=cos_sin)
        if isinstance(x, tuple):
            x = x[0]
        return self.shared_head_norm(x)


class TinyR1(nn.Module):
    """The trained object: `lm` (DeepseekV3ForCausalLM) and `mtp`."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.lm = DeepseekV3ForCausalLM(cfg)
        self.mtp = MtpModule(cfg, cfg.num_hidden_layers)
        self.valid_main = None  # bool [B*T] while training: which tokens count for expert loads
        self.valid_mtp = None
        install_router(self.lm, cfg, lambda: self.valid_main)
        install_router(self.mtp, cfg, lambda: self.valid_mtp)

    def hidden(self, ids):
        out = self.lm.model(input_ids=ids, use_cache=False)
        return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]

    def forward(self, ids):
        """Final normed hidden states of the main model [B, T, h] (position i predicts t_{i+1})
        and of the MTP module [B, T-1, h] (slot i predicts t_{i+2}); apply lm_head to either."""
        h = self.hidden(ids)
        m = self.mtp(h[:, :-1], ids[:, 1:], self.lm.model.embed_tokens, self.lm.model.rotary_emb)
        return h, m


# ---------------------------------------------------------------------------------------------
# Canonical (checkpoint) names <-> module state
# ---------------------------------------------------------------------------------------------
_FUSED = re.compile(r"^(.*\.mlp\.experts)\.(gate_up_proj|down_proj)$")


def _canon_prefix(name, L):
    """Module parameter name -> checkpoint name (fused expert tensors handled by the caller)."""
    if name.startswith("lm.lm_head."):
        return name[3:]
    if name.startswith("lm.model."):
        return name[3:]
    if name.startswith("mtp."):
        rest = name[4:]
        p = f"model.layers.{L}."
        if rest.startswith("block."):
            return p + rest[6:]
        if rest.startswith("shared_head_norm."):
            return p + "shared_head.norm." + rest[len("shared_head_norm."):]
        return p + rest
    raise KeyError(name)


def module_state(model):
    """All parameters and persistent buffers (the router bias) by module name."""
    sd = dict(model.named_parameters())
    for n, b in model.named_buffers():
        if n.endswith("e_score_correction_bias"):
            sd[n] = b
    return sd


def to_canonical(model):
    """Float32 CPU copies of every checkpoint tensor except the MTP embedding/head copies."""
    L = model.cfg.num_hidden_layers
    I = model.cfg.moe_intermediate_size
    out = {}
    for n, t in module_state(model).items():
        t = t.detach().float().cpu()
        m = _FUSED.match(n)
        if m:
            base = _canon_prefix(m.group(1), L)
            for e in range(t.shape[0]):
                if m.group(2) == "gate_up_proj":
                    out[f"{base}.{e}.gate_proj.weight"] = t[e, :I].clone()
                    out[f"{base}.{e}.up_proj.weight"] = t[e, I:].clone()
                else:
                    out[f"{base}.{e}.down_proj.weight"] = t[e].clone()
        else:
            out[_canon_prefix(n, L)] = t.clone()
    return out


@torch.no_grad()
def load_canonical(model, state):
    """Copies canonical float tensors into the module (the inverse of to_canonical); every
    module tensor must be covered."""
    L = model.cfg.num_hidden_layers
    for n, t in module_state(model).items():
        m = _FUSED.match(n)
        if m:
            base = _canon_prefix(m.group(1), L)
            rows = []
            for e in range(t.shape[0]):
                if m.group(2) == "gate_up_proj":
                    rows.append(torch.cat([state[f"{base}.{e}.gate_proj.weight"],
                                           state[f"{base}.{e}.up_proj.weight"]], dim=0))
                else:
                    rows.append(state[f"{base}.{e}.down_proj.weight"])
            src = torch.stack(rows)
        else:
            src = state[_canon_prefix(n, L)]
        assert tuple(src.shape) == tuple(t.shape), (n, src.shape, t.shape)
        t.copy_(src.to(t.dtype))


def param_kinds(model, specs):
    """Module parameter name -> 'fp8' | 'bf16' from the checkpoint kinds (tensor_specs)."""
    kind = {name: k for name, _, k in specs}
    L = model.cfg.num_hidden_layers
    out = {}
    for n, _ in model.named_parameters():
        m = _FUSED.match(n)
        c = (_canon_prefix(m.group(1), L) + ".0.gate_proj.weight") if m else _canon_prefix(n, L)
        k = kind[c]
        out[n] = "fp8" if k == "fp8" else "bf16"
    return out


# ---------------------------------------------------------------------------------------------
# Fake quantization (FP8-aware fine-tuning)
# ---------------------------------------------------------------------------------------------
def fp8_qdq(w):
    """Dequantize(quantize(w)) with 128x128 blocks over the last two dims, the checkpoint's rule
    (S = amax/448 of the zero-padded block, Q = e4m3(clamp(W/S))); any leading dims are batch."""
    *lead, o, i = w.shape
    ob, ib = -(-o // BLOCK), -(-i // BLOCK)
    wp = F.pad(w, (0, ib * BLOCK - i, 0, ob * BLOCK - o))
    blocks = wp.reshape(*lead, ob, BLOCK, ib, BLOCK)
    amax = blocks.abs().amax(dim=(-3, -1), keepdim=True)
    scale = torch.where(amax > 0, amax / FP8_MAX, torch.ones_like(amax))
    q = (blocks / scale).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn).to(w.dtype)
    return (q * scale).reshape(*lead, ob * BLOCK, ib * BLOCK)[..., :o, :i]


def fake_quant(name, p, kind, moe_inter):
    """Straight-through estimator: forward sees the exported value, backward the identity."""
    with torch.no_grad():
        if kind == "bf16":
            q = p.to(torch.bfloat16).to(p.dtype)
        elif _FUSED.match(name) and name.endswith("gate_up_proj"):
            q = torch.cat([fp8_qdq(p[:, :moe_inter]), fp8_qdq(p[:, moe_inter:])], dim=1)
        else:
            q = fp8_qdq(p)
    return p + (q - p).detach()


# ---------------------------------------------------------------------------------------------
# Initialisation and self-checks
# ---------------------------------------------------------------------------------------------
def init_canonical(specs, gen, num_layers):
    """Seeded initial weights in canonical form (independent of the transformers version):
    Linear N(0, 0.02) (o_proj / down_proj / eh_proj scaled by 1/sqrt(2·layers)), embeddings and
    router N(0, 0.02), norms 1, router bias 0."""
    out = {}
    resid = 0.02 / math.sqrt(2 * (num_layers + 1))
    for name, shape, kind in specs:
        if kind.startswith("copy:"):
            continue
        if kind == "norm":
            out[name] = torch.ones(shape)
        elif kind == "bias":
            out[name] = torch.zeros(shape)
        else:
            std = resid if re.search(r"(o_proj|down_proj)\.weight$", name) else 0.02
            out[name] = torch.randn(shape, generator=gen) * std
    return out


@torch.no_grad()
def reference_moe(state, prefix, x, cfg):
    """Spec §7 MoE (routed + shared) from canonical tensors, float64: the check that the module
    layout, the router replacement and the expert split agree with the checkpoint's meaning."""
    x = x.double()
    E, G, kg, k = cfg.n_routed_experts, cfg.n_group, cfg.topk_group, cfg.num_experts_per_tok

    def ffn(p, v):
        g = v @ state[p + "gate_proj.weight"].double().T
        u = v @ state[p + "up_proj.weight"].double().T
        return (F.silu(g) * u) @ state[p + "down_proj.weight"].double().T

    s = (x @ state[prefix + "gate.weight"].double().T).sigmoid()
    b = s + state[prefix + "gate.e_score_correction_bias"].double()
    gs = b.view(-1, G, E // G).topk(2, dim=-1)[0].sum(-1)
    gi = gs.topk(kg, dim=-1)[1]
    keep = torch.zeros_like(gs, dtype=torch.bool).scatter_(1, gi, True)
    keep = keep.unsqueeze(-1).expand(-1, G, E // G).reshape(-1, E)
    idx = b.masked_fill(~keep, float("-inf")).topk(k, dim=-1)[1]
    w = s.gather(1, idx)
    w = w / w.sum(-1, keepdim=True) * cfg.routed_scaling_factor
    y = ffn(prefix + "shared_experts.", x)
    for t in range(x.shape[0]):
        for j in range(k):
            y[t] += w[t, j] * ffn(prefix + f"experts.{int(idx[t, j])}.", x[t:t + 1])[0]
    return y


@torch.no_grad()
def check_moe_layout(model, state, cfg, gen):
    """HF MoE (with the spec router) of layer 1 and of the MTP block vs reference_moe."""
    L = cfg.num_hidden_layers
    was = model.training
    model.eval()
    worst = 0.0
    for li, mod in ((cfg.first_k_dense_replace, model.lm.model.layers[cfg.first_k_dense_replace].mlp),
                    (L, model.mtp.block.mlp)):
        x = torch.randn(7, cfg.hidden_size, generator=gen)
        dev = next(model.parameters()).device
        got = mod(x.to(dev).unsqueeze(0)).squeeze(0).double().cpu()
        ref = reference_moe(state, f"model.layers.{li}.mlp.", x, cfg)
        err = float((got - ref).abs().max() / ref.abs().max())
        assert err < 1e-4, f"MoE layout mismatch at layer {li}: {err}"
        worst = max(worst, err)
    model.train(was)
    return worst
