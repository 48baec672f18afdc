#!/usr/bin/env python3
"""Trains the tiny byte-level BPE tokenizer of models/r1-tiny with Hugging Face `tokenizers`.

The pipeline is DeepSeek-R1's exactly (spec §11): no normalizer (an empty Sequence), the three
`Split` regex stages (behaviour Isolated) followed by ByteLevel(add_prefix_space=false,
use_regex=false), a ByteLevel decoder, and R1's added tokens in R1's relative order. Only the
vocabulary is small (16,000 BPE entries instead of 128,000) and there are 8 placeholder tokens
instead of 798.

    python3 -m venv /tmp/v && /tmp/v/bin/pip install -r tools/tokenizer/requirements.txt
    /tmp/v/bin/python tools/tokenizer/train.py --out models/r1-tiny

Deterministic: the corpus comes from tools/tokenizer/corpus.py with a fixed seed plus the
repository's own Markdown files (sorted), so re-running on the same checkout gives the same file.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import corpus  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]

# The three pre-tokenizer regexes of DeepSeek-V3/R1, character for character (stage 3 contains
# literal CR and LF characters, as in the official tokenizer.json).
STAGE1 = "\\p{N}{1,3}"
STAGE2 = "[一-龥぀-ゟ゠-ヿ]+"
STAGE3 = ("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?"
          "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+")

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
PAD = "<｜▁pad▁｜>"
NUM_PLACEHOLDERS = 8
# After the BPE vocabulary, in R1's order: placeholders, think tags, fim, roles, EOT, tool tokens.
TAIL_TOKENS = (
    [f"<｜place▁holder▁no▁{i}｜>" for i in range(NUM_PLACEHOLDERS)]
    + ["<think>", "</think>", "<｜fim▁hole｜>", "<｜fim▁begin｜>", "<｜fim▁end｜>", "<｜User｜>",
       "<｜Assistant｜>", "<|EOT|>", "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>",
       "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>", "<｜tool▁outputs▁begin｜>",
       "<｜tool▁outputs▁end｜>", "<｜tool▁output▁begin｜>", "<｜tool▁output▁end｜>", "<｜tool▁sep｜>"]
)
# R1 keeps <think>/</think> visible when decoding with skip_special_tokens: they are not special.
NOT_SPECIAL = {"<think>", "</think>"}
ALL_ADDED = [BOS, EOS, PAD] + TAIL_TOKENS


def build_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(STAGE1), behavior="isolated", invert=False),
        pre_tokenizers.Split(Regex(STAGE2), behavior="isolated", invert=False),
        pre_tokenizers.Split(Regex(STAGE3), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    return tok


def training_texts(seed: int, chars: int, repo_text: bool):
    def clean(s: str) -> str:
        for t in ALL_ADDED:  # added tokens are matched before pre-tokenization; never train on them
            s = s.replace(t, "\n")
        return s

    for doc in corpus.documents(seed, chars):
        yield clean(doc)
    if repo_text:
        files = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout.split()
        for f in sorted(files):
            try:
                yield clean((ROOT / f).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                continue


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--out", default=str(ROOT / "models" / "r1-tiny"))
    ap.add_argument("--vocab-size", type=int, default=16000, help="BPE entries incl. BOS/EOS/pad")
    ap.add_argument("--chars", type=int, default=6_000_000, help="generated corpus size")
    ap.add_argument("--seed", type=int, default=20250101)
    ap.add_argument("--no-repo-text", action="store_true", help="train on generated text only")
    args = ap.parse_args()

    tok = build_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=args.vocab_size, min_frequency=2, show_progress=False,
        special_tokens=[AddedToken(t, special=True, normalized=True) for t in (BOS, EOS, PAD)],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(training_texts(args.seed, args.chars, not args.no_repo_text), trainer=trainer)
    assert [tok.token_to_id(t) for t in (BOS, EOS, PAD)] == [0, 1, 2]
    base = tok.get_vocab_size(with_added_tokens=True)
    for t in TAIL_TOKENS:
        tok.add_tokens([AddedToken(t, special=t not in NOT_SPECIAL, normalized=True)])
    for i, t in enumerate(TAIL_TOKENS):
        assert tok.token_to_id(t) == base + i, t
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS}:0 $A:0", pair=f"{BOS}:0 $A:0 {BOS}:1 $B:1", special_tokens=[(BOS, 0)])

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"), pretty=False)
    template = (ROOT / "tests" / "fixtures" / "deepseek-r1-chat_template.jinja").read_text(encoding="utf-8")
    config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": EOS,
        "unk_token": None,
        "clean_up_tokenization_spaces": False,
        "legacy": True,
        "model_max_length": 16384,
        "tokenizer_class": "LlamaTokenizerFast",
        "chat_template": template.rstrip("\n"),
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n",
                                               encoding="utf-8")
    print(f"wrote {out}/tokenizer.json: {tok.get_vocab_size(True)} entries "
          f"({base} BPE + {len(TAIL_TOKENS)} added), "
          f"{(out / 'tokenizer.json').stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
