#!/usr/bin/env python3
"""Writes tests/fixtures/tiny-qwen2/ (or, with --arch llama, tests/fixtures/tiny-llama/): a tiny
R1-Distill-Qwen-shaped (R1-Distill-Llama-shaped) checkpoint that the CPU cluster serves end to end
(tests/cluster/test_dense_cluster.py).

  config.json            Qwen2ForCausalLM, 2 layers, hidden 64, GQA 4 heads / 2 KV heads, q/k/v
                         biases, untied lm_head; eos_token_id a list (<｜end▁of▁sentence｜>, <|EOT|>)
  model.safetensors      random BF16 weights (seeded; the scales of tools/golden/generate_dense.py)
  tokenizer.json         byte-level BPE (256 byte tokens + a few merges trained on a seeded corpus)
                         with Qwen2's pipeline: NFC, one Split of Qwen2's regex (Isolated),
                         ByteLevel(add_prefix_space=false, use_regex=false), ByteLevel decoder;
                         BOS by TemplateProcessing; R1-Distill-Qwen's added tokens
  tokenizer_config.json  R1-Distill-Qwen's: LlamaTokenizerFast, add_bos_token, BOS/EOS, and R1's
                         chat template (tests/fixtures/deepseek-r1-chat_template.jinja)

tiny-llama differs as R1-Distill-Llama does: LlamaForCausalLM without q/k/v biases, llama3 RoPE
scaling (rope_theta 500000), one eos_token_id, and Llama 3's pipeline (no normalizer, Llama 3's
Split regex, ByteLevel with trim_offsets, post-processor Sequence[ByteLevel, TemplateProcessing]).

Needs only `tokenizers` and `numpy` (the .venv of scripts/install-deps.sh):

    .venv/bin/python tools/golden/make_tiny_qwen2.py              # tests/fixtures/tiny-qwen2/
    .venv/bin/python tools/golden/make_tiny_qwen2.py --arch llama # tests/fixtures/tiny-llama/

Deterministic: same package versions -> byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import random
import struct

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Llama 3's Split regex (its tokenizer.json; R1-Distill-Llama's too): digits in runs of up to 3.
LLAMA3_REGEX = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"""
                r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")
SEED = 20250302

# Qwen2's Split regex (transformers' Qwen2Converter; Qwen's and R1-Distill-Qwen's tokenizer.json).
QWEN2_REGEX = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
               r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
EOT = "<|EOT|>"
# After the BPE vocabulary, in R1-Distill-Qwen's order; the special flags are its.
ADDED = [(EOS, True), ("<｜User｜>", False), ("<｜Assistant｜>", False), (BOS, True), (EOT, False),
         ("<think>", False), ("</think>", False)]
MERGES = 64

MODEL = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=1024,
    rope_theta=10000.0,
    rms_norm_eps=1e-6,
)

WORDS = ("the of and to in is that it was for on are as with they at be this from have or by one "
         "what all were when we there can an your which their said if do will each about how up "
         "out them then many some so these would other into has more two like see time could no "
         "make than first number add sum answer think step problem plus minus equals").split()


def corpus(rng: random.Random) -> list[str]:
    docs = []
    for _ in range(400):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 14))]
        if rng.random() < 0.4:
            words.append(f"{rng.randint(0, 99)} + {rng.randint(0, 99)} = {rng.randint(0, 198)}.")
        docs.append(" ".join(words).capitalize() + rng.choice([".", "?", "!\n", "\n\n"]))
    return docs


def make_tokenizer(rng: random.Random, arch: str) -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token=None, continuing_subword_prefix="", end_of_word_suffix="",
                               fuse_unk=False, byte_fallback=False))
    llama = arch == "llama"
    if not llama:
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_REGEX if llama else QWEN2_REGEX), behavior="isolated",
                             invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=llama, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=256 + MERGES, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[])
    tok.train_from_iterator(corpus(rng), trainer=trainer)
    # The added tokens follow the BPE vocabulary in ADDED's order, special or not.
    data = json.loads(tok.to_str())
    data["added_tokens"] = []
    base = len(data["model"]["vocab"])
    for i, (t, special) in enumerate(ADDED):
        data["added_tokens"].append({"id": base + i, "content": t, "single_word": False,
                                     "lstrip": False, "rstrip": False, "normalized": False,
                                     "special": special})
    bos_id = base + [t for t, _ in ADDED].index(BOS)
    template = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": BOS, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": BOS, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": BOS, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {BOS: {"id": BOS, "ids": [bos_id], "tokens": [BOS]}},
    }
    if llama:  # Llama 3's: the ByteLevel offsets step, then the BOS template
        data["post_processor"] = {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            template]}
    else:
        data["post_processor"] = template
    return Tokenizer.from_str(json.dumps(data, ensure_ascii=False))


def tokenizer_config(tok: Tokenizer) -> dict:
    template = (ROOT / "tests" / "fixtures" / "deepseek-r1-chat_template.jinja").read_text().rstrip("\n")

    def added(content):
        return {"__type": "AddedToken", "content": content, "lstrip": False, "normalized": True,
                "rstrip": False, "single_word": False}

    return {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": added(BOS),
        "clean_up_tokenization_spaces": False,
        "eos_token": added(EOS),
        "legacy": True,
        "model_max_length": MODEL["max_position_embeddings"],
        "pad_token": added(EOS),
        "sp_model_kwargs": {},
        "unk_token": None,
        "tokenizer_class": "LlamaTokenizerFast",
        "chat_template": template,
    }


def bf16_bytes(a: np.ndarray) -> bytes:
    """float32 -> bfloat16 (round to nearest even), little-endian."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype("<u2").tobytes()


def write_safetensors(path: pathlib.Path, tensors: dict[str, np.ndarray]) -> None:
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        b = bf16_bytes(tensors[name])
        header[name] = {"dtype": "BF16", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def make_weights(cfg: dict, rng: np.random.Generator, biases: bool) -> dict[str, np.ndarray]:
    h, inter, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = h // cfg["num_attention_heads"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd

    def linear(out, inp):
        return rng.standard_normal((out, inp), dtype=np.float32) / np.sqrt(inp)

    def norm(n):
        return 1.0 + 0.1 * rng.standard_normal(n, dtype=np.float32)

    def bias(n):
        return 0.1 * rng.standard_normal(n, dtype=np.float32)

    w = {"model.embed_tokens.weight": rng.standard_normal((v, h), dtype=np.float32)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm(h)
        w[p + "post_attention_layernorm.weight"] = norm(h)
        for name, width in (("q", q), ("k", kv), ("v", kv)):  # drawn in this order
            w[p + f"self_attn.{name}_proj.weight"] = linear(width, h)
            if biases:
                w[p + f"self_attn.{name}_proj.bias"] = bias(width)
        w[p + "self_attn.o_proj.weight"] = linear(h, q)
        w[p + "mlp.gate_proj.weight"] = linear(inter, h)
        w[p + "mlp.up_proj.weight"] = linear(inter, h)
        w[p + "mlp.down_proj.weight"] = linear(h, inter)
    w["model.norm.weight"] = norm(h)
    w["lm_head.weight"] = linear(v, h)
    return w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", choices=["qwen2", "llama"], default="qwen2")
    ap.add_argument("--out", default=None, help="default tests/fixtures/tiny-<arch>")
    args = ap.parse_args()
    arch = args.arch
    out = pathlib.Path(args.out or ROOT / "tests" / "fixtures" / f"tiny-{arch}")
    out.mkdir(parents=True, exist_ok=True)

    tok = make_tokenizer(random.Random(SEED), arch)
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(
        json.dumps(tokenizer_config(tok), indent=2, ensure_ascii=False) + "\n")

    id_limit = tok.get_vocab_size(with_added_tokens=True)
    # Padded past the tokenizer's ids like the real checkpoints; the rows are never sampled.
    vocab_size = (id_limit + 63) // 64 * 64
    if arch == "llama":
        cfg = {
            "architectures": ["LlamaForCausalLM"],
            "attention_bias": False,
            "attention_dropout": 0.0,
            "bos_token_id": tok.token_to_id(BOS),
            "eos_token_id": tok.token_to_id(EOS),
            "hidden_act": "silu",
            "initializer_range": 0.02,
            "mlp_bias": False,
            "model_type": "llama",
            "pretraining_tp": 1,
            "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                             "original_max_position_embeddings": 128, "rope_type": "llama3"},
            "tie_word_embeddings": False,
            "torch_dtype": "bfloat16",
            "use_cache": True,
            "vocab_size": vocab_size,
            **MODEL,
            "rope_theta": 500000.0,
        }
        (out / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
        write_safetensors(out / "model.safetensors",
                          make_weights(cfg, np.random.default_rng(SEED + 1), biases=False))
        print(f"wrote {out}: {id_limit} token ids, vocab_size {cfg['vocab_size']}")
        return
    cfg = {
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": tok.token_to_id(BOS),
        "eos_token_id": [tok.token_to_id(EOS), tok.token_to_id(EOT)],
        "hidden_act": "silu",
        "initializer_range": 0.02,
        "max_window_layers": MODEL["num_hidden_layers"],
        "model_type": "qwen2",
        "sliding_window": MODEL["max_position_embeddings"],
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": vocab_size,
        **MODEL,
    }
    (out / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    write_safetensors(out / "model.safetensors",
                      make_weights(cfg, np.random.default_rng(SEED), biases=True))
    print(f"wrote {out}: {id_limit} token ids, vocab_size {cfg['vocab_size']}")


if __name__ == "__main__":
    main()
