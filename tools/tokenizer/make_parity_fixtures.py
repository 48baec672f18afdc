#!/usr/bin/env python3
"""Writes the tokenizer parity fixtures of tests/tokenizers/ with Hugging Face `tokenizers`.

Trains small byte-level BPE vocabularies with the exact normalizer / pre-tokenizer / decoder /
post-processor configurations of real checkpoints (tests/tokenizers/README.md says where each
comes from), and records what Hugging Face produces on them, so that the C++ tests
(common/tokenizer/hf_parity_test.cc) need no Python:

  deepseek-v3/          DeepSeek-V3/R1's pipeline as its tokenizer.json spells it (stage 3 with
                        literal CR/LF), TemplateProcessing BOS, V3's tokenizer_config.json
  deepseek-v3-escaped/  the same vocabulary, the regexes spelled with escapes (\\r \\n \\" \\uXXXX),
                        nested Sequence, post_processor null, BOS from tokenizer_config.json
  qwen2/                Qwen2's pipeline: NFC, one Split regex with look-ahead, ByteLevel
  bytelevel-prefix/     GPT-2 style ByteLevel(add_prefix_space=true, use_regex=true)
  strings.json          the test strings (multilingual, digits, whitespace runs, code, emoji, CJK,
                        contractions, combining marks, added tokens)
  <dir>/expected.json   per string: ids; for a subset: ids with add_special_tokens, ids with
                        special tokens left as text, pre-tokenizer pieces, decoded text
  split_cases.json      Split pre-tokenizers (every behaviour, invert) on random texts
  nfc_cases.json        the NFC normalizer on every character it can change, in context

Ids with add_special_tokens follow transformers (tokenizer_config.json decides BOS/EOS; see
common/tokenizer/tokenizer_config.h); when `transformers` is importable they are checked against
AutoTokenizer too (--require-transformers makes that mandatory).

    .venv/bin/python tools/tokenizer/make_parity_fixtures.py            # writes tests/tokenizers/

Deterministic: seeded corpus and strings; re-running gives the same files.
"""

from __future__ import annotations

import argparse
import copy
import json
import pathlib
import random
import sys
import unicodedata

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors, trainers

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests" / "python"))
import corpus  # noqa: E402
import train as r1_tiny  # noqa: E402  (DeepSeek's regexes and added tokens)
from tokenizer_util import make_strings  # noqa: E402

# Qwen2's Split regex (transformers' Qwen2Converter; also in Qwen's tokenizer.json).
QWEN2_REGEX = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
               r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")

# DeepSeek's regexes, the same meaning spelled differently: escapes instead of literal characters.
DEEPSEEK_ESCAPED = [
    "\\p{N}{1,3}",
    "[\\u4E00-\\u9FA5\\u3040-\\u309F\\u30A0-\\u30FF]+",
    ("[!\\\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?"
     "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
]

QWEN_ADDED = [  # (content, special, normalized)
    ("<|endoftext|>", True, False), ("<|im_start|>", True, False), ("<|im_end|>", True, False),
    ("<tool_call>", False, False), ("</tool_call>", False, False), ("<think>", False, False),
    ("</think>", False, False),
    # Not in Qwen: a normalized token whose content NFC changes (matched in normalized form).
    ("<cafe\u0301>", False, True),
]
GPT2_EOT = "<|endoftext|>"


def training_texts(seed: int, chars: int, added: list[str]):
    extra = random.Random(seed + 1)
    for doc in corpus.documents(seed, chars):
        for t in added:
            doc = doc.replace(t, " ")
        # Contractions, upper case and decomposed accents so that their merges exist.
        if extra.random() < 0.3:
            doc += " I'm sure it's THEY'RE we'll you'VE she'd don't can'T Cafe\u0301 nai\u0308ve"
        yield doc


def bpe_trainer(vocab_size: int, specials: list[str]) -> trainers.BpeTrainer:
    return trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                               special_tokens=[AddedToken(t, special=True, normalized=True) for t in specials],
                               initial_alphabet=pre_tokenizers.ByteLevel.alphabet())


def train_deepseek(args) -> dict:
    tok = r1_tiny.build_tokenizer()
    added = r1_tiny.ALL_ADDED
    tok.train_from_iterator(training_texts(args.seed, args.chars, added),
                            trainer=bpe_trainer(args.vocab_size, [r1_tiny.BOS, r1_tiny.EOS, r1_tiny.PAD]))
    for t in r1_tiny.TAIL_TOKENS:
        tok.add_tokens([AddedToken(t, special=t not in r1_tiny.NOT_SPECIAL, normalized=True)])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{r1_tiny.BOS}:0 $A:0", pair=f"{r1_tiny.BOS}:0 $A:0 {r1_tiny.BOS}:1 $B:1",
        special_tokens=[(r1_tiny.BOS, 0)])
    return json.loads(tok.to_str())


def deepseek_escaped(j: dict) -> dict:
    e = copy.deepcopy(j)
    splits = e["pre_tokenizer"]["pretokenizers"][:3]
    for s, regex in zip(splits, DEEPSEEK_ESCAPED):
        s["pattern"] = {"Regex": regex}
    e["pre_tokenizer"]["pretokenizers"] = [
        {"type": "Sequence", "pretokenizers": splits[:2]}, splits[2], e["pre_tokenizer"]["pretokenizers"][3]]
    e["post_processor"] = None
    return e


def train_qwen2(args) -> dict:
    tok = Tokenizer(tokenizers.models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.train_from_iterator(training_texts(args.seed + 2, args.chars, [a for a, _, _ in QWEN_ADDED]),
                            trainer=bpe_trainer(args.vocab_size, []))
    for content, special, normalized in QWEN_ADDED:
        tok.add_tokens([AddedToken(content, special=special, normalized=normalized)])
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    j = json.loads(tok.to_str())
    j["model"].update({"dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                       "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                       "ignore_merges": False})
    return j


def train_bytelevel_prefix(args) -> dict:
    tok = Tokenizer(tokenizers.models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(training_texts(args.seed + 3, args.chars // 2, [GPT2_EOT]),
                            trainer=bpe_trainer(args.vocab_size // 2, [GPT2_EOT]))
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return json.loads(tok.to_str())


def deepseek_config(escaped: bool) -> dict:
    if escaped:  # BOS only from here: the tokenizer.json has no post-processor
        return {"add_bos_token": True, "add_eos_token": False, "bos_token": r1_tiny.BOS,
                "eos_token": r1_tiny.EOS, "pad_token": r1_tiny.EOS, "unk_token": None,
                "clean_up_tokenization_spaces": False, "legacy": True, "model_max_length": 16384,
                "tokenizer_class": "LlamaTokenizerFast"}

    def tok(content):
        return {"__type": "AddedToken", "content": content, "lstrip": False, "normalized": True,
                "rstrip": False, "single_word": False}
    # DeepSeek-V3's tokenizer_config.json without its chat template.
    return {"add_bos_token": True, "add_eos_token": False, "bos_token": tok(r1_tiny.BOS),
            "clean_up_tokenization_spaces": False, "eos_token": tok(r1_tiny.EOS), "legacy": True,
            "model_max_length": 131072, "pad_token": tok(r1_tiny.EOS), "sp_model_kwargs": {},
            "unk_token": None, "tokenizer_class": "LlamaTokenizerFast"}


def qwen2_config(j: dict) -> dict:
    decoder = {}
    for t in j["added_tokens"]:
        decoder[str(t["id"])] = {k: t[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
    return {"add_prefix_space": False, "added_tokens_decoder": decoder,
            "additional_special_tokens": ["<|im_start|>", "<|im_end|>"], "bos_token": None,
            "clean_up_tokenization_spaces": False, "eos_token": "<|endoftext|>", "errors": "replace",
            "model_max_length": 32768, "pad_token": "<|endoftext|>", "split_special_tokens": False,
            "tokenizer_class": "Qwen2Tokenizer", "unk_token": None}


def bytelevel_prefix_config() -> dict:
    return {"add_prefix_space": True, "bos_token": GPT2_EOT, "eos_token": GPT2_EOT,
            "unk_token": GPT2_EOT, "model_max_length": 1024, "tokenizer_class": "GPT2Tokenizer"}


def special_ids(j: dict, config: dict) -> tuple[list[int], list[int]]:
    """The ids transformers puts around the text (common/tokenizer/tokenizer_config.h)."""
    ids = {t["content"]: t["id"] for t in j["added_tokens"]}
    ids.update(j["model"]["vocab"])

    def content(v):
        return v["content"] if isinstance(v, dict) else v
    llama = config.get("tokenizer_class") in ("LlamaTokenizerFast", "LlamaTokenizer")
    if llama or "add_bos_token" in config or "add_eos_token" in config:
        bos = [ids[content(config["bos_token"])]] if config.get("add_bos_token", llama) else []
        eos = [ids[content(config["eos_token"])]] if config.get("add_eos_token", False) else []
        return bos, eos
    pp = j.get("post_processor") or {}
    procs = pp.get("processors", [pp]) if pp.get("type") == "Sequence" else [pp]
    for p in procs:
        if p.get("type") == "TemplateProcessing":
            pre, post, seen = [], [], False
            for item in p["single"]:
                if "Sequence" in item:
                    seen = True
                else:
                    (post if seen else pre).extend(p["special_tokens"][item["SpecialToken"]["id"]]["ids"])
            return pre, post
    return [], []


CONTRACTIONS = ["I'm", "it's", "IT'S", "we'll", "WE'LL", "they're", "THEY'RE", "you've", "she'd",
                "don't", "'s", "'S", "'ſ", "'\u212a", "ﬆ", "'ﬆ", "'ll", "'LL'", "o'clock"]
NFC_BITS = ["e\u0301", "E\u0301", "a\u0308", "n\u0303", "\u1100\u1161\u11a8", "\u1112\u1161\u11ab", "A\u030a",
            "\u212b", "\u2126", "\u0958", "\u1e0a\u0323", "q\u0307\u0323", "a\u0334\u0898", "a\u0898\u0334",
            "\u0915\u093c", "\u00c5", "<cafe\u0301>", "<caf\u00e9>", "\U0001d15e", "\ufb2c", "\u0344"]


def test_strings(n: int, added: list[str]) -> list[str]:
    r = random.Random(7)
    base = make_strings(n - n // 4, seed=11, added=added)
    out = list(base)
    while len(out) < n:
        parts = []
        for _ in range(r.randint(1, 5)):
            k = r.randrange(4)
            if k == 0:
                parts.append(r.choice(CONTRACTIONS))
            elif k == 1:
                parts.append(r.choice(NFC_BITS))
            elif k == 2:
                parts.append(r.choice(added))
            else:
                parts.append(r.choice(["", " ", "  ", "\n", "\t", "123", "4567", " x", "中文", "😀"]))
        out.append(r.choice(["", " ", "\n"]).join(parts))
    return out


def hf_pieces(tok: Tokenizer, text: str) -> list[str]:
    table = {c: b for b, c in zip(range(256), [chr(c) for c in _bytes_to_unicode()])}
    s = tok.normalizer.normalize_str(text) if tok.normalizer is not None else text
    return [bytes(table[c] for c in p).decode("utf-8") for p, _ in tok.pre_tokenizer.pre_tokenize_str(s)]


def _bytes_to_unicode() -> list[int]:
    out, n = [], 0
    for b in range(256):
        if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or b >= 0xAE:
            out.append(b)
        else:
            out.append(256 + n)
            n += 1
    return out


def expected(j: dict, config: dict, strings: list[str], subset: int) -> dict:
    tok = Tokenizer.from_str(json.dumps(j))
    added = {t["content"] for t in j["added_tokens"]}
    plain = Tokenizer.from_str(json.dumps(j))
    plain.encode_special_tokens = True
    pre, post = special_ids(j, config)
    cases = []
    ids = [e.ids for e in tok.encode_batch(strings, add_special_tokens=False)]
    for i, (s, e) in enumerate(zip(strings, ids)):
        c = {"ids": e}
        if i < subset:
            c["ids_special"] = pre + e + post
            c["ids_non_special"] = plain.encode(s, add_special_tokens=False).ids
            c["decoded_skip_special"] = tok.decode(e, skip_special_tokens=True)
            if not any(a in s for a in added):
                c["pieces"] = hf_pieces(tok, s)
        cases.append(c)
    return {"tokenizers_version": tokenizers.__version__, "bos_eos": [pre, post], "cases": cases}


def check_with_transformers(d: pathlib.Path, strings: list[str], exp: dict, required: bool) -> None:
    try:
        from transformers import AutoTokenizer  # noqa: PLC0415
    except ImportError:
        if required:
            raise
        print(f"  {d.name}: transformers not installed; add_special_tokens ids not cross-checked")
        return
    t = AutoTokenizer.from_pretrained(str(d))
    bad = [i for i, c in enumerate(exp["cases"]) if "ids_special" in c
           and t(strings[i], add_special_tokens=True)["input_ids"] != c["ids_special"]]
    assert not bad, f"{d.name}: transformers disagrees on add_special_tokens for strings {bad[:5]}"
    import transformers  # noqa: PLC0415
    print(f"  {d.name}: add_special_tokens ids agree with transformers {transformers.__version__}")


SPLIT_PATTERNS = [
    QWEN2_REGEX, r"\p{N}{1,3}", r"\s+", r"\s+(?!\S)", r"a*", r"x?", r"x|(?=b)", r"(?=b)", r"(?<=a)",
    r"^", r"$", r"^a|b$", r"(?m:a.b)", r"a.b", r"\h+", r"[\S]+", r"[^\s\p{L}]+", r"\P{L}+",
    r"\p{^N}+", r"(?i:ab|ſt)", r"a{,2}", r"(?<w>\p{L}+)", r"[\p{P}\p{S}]+", r"(?:ab)+|c",
    r"[a-c\-]+", r"\x{4E00}+", r"[\u3040-\u309F]+", r"\p{Letter}+", r"\p{ M }", r"(?#note)b+",
    r"[A-Z]+", r" ?\p{L}+| ?\p{N}+", r"\r?\n", r"\.", r"[.]", r"$|,",
]
SPLIT_TEXTS = ["", "a", "bab", "xab", "abab", "Hello World", "a\nb\r\nc", "baaxcaab", "  x  ", "12345 678",
               "中文字符テスト", "naïve café", "Ça va? Oui!", "ſt STRASSE ß", "x\n\nx\n", "😀😀 ok", "a.b,c",
               "\u1e9e\u0301\u0898", "deadBEEF 0x1f", "\t\t  \n", "ab" * 5, "ÀÉÎõü"]
BEHAVIORS = ["removed", "isolated", "merged_with_previous", "merged_with_next", "contiguous"]
BEHAVIOR_JSON = {"removed": "Removed", "isolated": "Isolated", "merged_with_previous": "MergedWithPrevious",
                 "merged_with_next": "MergedWithNext", "contiguous": "Contiguous"}


def split_cases() -> list[dict]:
    r = random.Random(5)
    combos = [(b, inv) for b in BEHAVIORS for inv in (False, True)]
    cases = []
    for k, pattern in enumerate(SPLIT_PATTERNS):
        for i, text in enumerate(SPLIT_TEXTS):
            # Every pattern meets every behaviour, inverted or not, on some of the texts.
            for behavior, invert in (combos[(i + k) % len(combos)], r.choice(combos)):
                split = pre_tokenizers.Split(Regex(pattern), behavior=behavior, invert=invert)
                pieces = [p for p, _ in split.pre_tokenize_str(text)]
                cases.append({"pattern": pattern, "behavior": BEHAVIOR_JSON[behavior],
                              "invert": invert, "text": text, "pieces": pieces})
    return cases


def nfc_cases() -> list[dict]:
    nfc = normalizers.NFC()
    def canonical_decomposition(ch):
        d = unicodedata.decomposition(ch)
        return d and not d.startswith("<")
    cps = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000
           and (unicodedata.combining(chr(c)) or canonical_decomposition(chr(c)))
           and not 0xAC00 <= c <= 0xD7A3]
    cps += list(range(0xAC00, 0xD7A4, 97))  # Hangul syllables (composed algorithmically)
    # Characters newer than the Unicode tables of Python and of Hugging Face (ICU knows them).
    cps += [0x10EFD, 0x10EFE, 0x10EFF, 0x11F00, 0x11F01, 0x11F41, 0x11F42, 0x1E08F, 0x0CF3]
    cases = []
    for c in cps:
        ch = chr(c)
        text = f"{ch} a{ch}\u0334 {ch}\u0301 e{ch}\u0327"
        cases.append({"in": text, "out": nfc.normalize_str(text)})
    return cases


def write_json(path: pathlib.Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "tests" / "tokenizers"))
    ap.add_argument("--vocab-size", type=int, default=3000)
    ap.add_argument("--chars", type=int, default=1_500_000)
    ap.add_argument("--strings", type=int, default=2200)
    ap.add_argument("--subset", type=int, default=400, help="strings with the extra checks")
    ap.add_argument("--seed", type=int, default=20250601)
    ap.add_argument("--require-transformers", action="store_true")
    args = ap.parse_args()
    out = pathlib.Path(args.out)

    ds = train_deepseek(args)
    ds_escaped = deepseek_escaped(ds)
    qwen = train_qwen2(args)
    gpt = train_bytelevel_prefix(args)
    fixtures = [("deepseek-v3", ds, deepseek_config(False), args.strings),
                ("deepseek-v3-escaped", ds_escaped, deepseek_config(True), args.strings),
                ("qwen2", qwen, qwen2_config(qwen), args.strings),
                ("bytelevel-prefix", gpt, bytelevel_prefix_config(), 600)]
    added = sorted({t["content"] for _, j, _, _ in fixtures for t in j["added_tokens"]})
    strings = test_strings(args.strings, added)
    write_json(out / "strings.json", strings)
    results = {}
    for name, j, config, n in fixtures:
        d = out / name
        write_json(d / "tokenizer.json", j)
        write_json(d / "tokenizer_config.json", config)
        exp = expected(j, config, strings[:n], args.subset)
        write_json(d / "expected.json", exp)
        results[name] = exp
        check_with_transformers(d, strings[:n], exp, args.require_transformers)
        print(f"{name}: {len(j['model']['vocab'])} vocab, {len(j['added_tokens'])} added, {n} strings")
    same = all(a["ids"] == b["ids"] for a, b in zip(results["deepseek-v3"]["cases"],
                                                     results["deepseek-v3-escaped"]["cases"]))
    assert same, "Hugging Face encodes the two DeepSeek spellings differently"
    write_json(out / "split_cases.json", split_cases())
    write_json(out / "nfc_cases.json", nfc_cases())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
