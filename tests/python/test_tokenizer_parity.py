"""Parity of the C++ tokenizer (r1-tokenize) with Hugging Face `tokenizers` on the same
tokenizer.json: ids on 20,000+ strings, pre-tokenizer pieces, decode, round trips, the added-token
matching modes, and the defined behaviour for invalid UTF-8.

Runs on models/r1-tiny/tokenizer.json and, when R1_TOKENIZER_JSON names a file (a real R1
tokenizer.json), on that too. Ids always come from the file, never from constants here."""

from __future__ import annotations

import json
import random

import pytest
from tokenizers import Tokenizer

from tokenizer_util import run_cli, make_strings, tokenizer_paths

N_STRINGS = 20_000


def _ids(path):
    return str(path.name) if path.parent.name == "r1-tiny" else "R1_TOKENIZER_JSON"


@pytest.fixture(scope="module", params=tokenizer_paths(), ids=_ids)
def setup(request):
    path = request.param
    hf = Tokenizer.from_file(str(path))
    added = [t["content"] for t in json.loads(path.read_text(encoding="utf-8"))["added_tokens"]]
    return path, hf, added


def _report(mismatches, total, what):
    print(f"{what}: {total} compared, {len(mismatches)} mismatches")
    assert not mismatches, f"{len(mismatches)}/{total} {what} mismatches, first: {mismatches[:3]}"


def test_encode_ids_match_hf(setup, build_dir):
    path, hf, added = setup
    texts = make_strings(N_STRINGS, seed=1, added=added)
    want = [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    got = run_cli(build_dir, path, [{"op": "encode", "text": t} for t in texts])
    bad = [(t, w, g) for t, w, g in zip(texts, want, got) if g.get("ids") != w]
    _report(bad, len(texts), "encode")


def test_add_special_tokens_and_non_special_mode_match_hf(setup, build_dir):
    path, hf, added = setup
    texts = make_strings(3000, seed=2, added=added)
    want = [e.ids for e in hf.encode_batch(texts, add_special_tokens=True)]
    got = run_cli(build_dir, path, [{"op": "encode", "text": t, "add_special_tokens": True} for t in texts])
    _report([(t, w, g) for t, w, g in zip(texts, want, got) if g.get("ids") != w], len(texts),
            "encode(add_special_tokens)")
    # Hugging Face's encode_special_tokens=True is our "non_special" matching mode.
    hf_plain = Tokenizer.from_file(str(path))
    hf_plain.encode_special_tokens = True
    want = [e.ids for e in hf_plain.encode_batch(texts, add_special_tokens=False)]
    got = run_cli(build_dir, path, [{"op": "encode", "text": t, "added_tokens": "non_special"} for t in texts])
    _report([(t, w, g) for t, w, g in zip(texts, want, got) if g.get("ids") != w], len(texts),
            "encode(non_special)")


def test_no_added_tokens_mode_never_emits_added_ids(setup, build_dir):
    path, hf, added = setup
    added_ids = {hf.token_to_id(t) for t in added}
    text = "".join(added) + " <｜User｜>hi"
    (reply,) = run_cli(build_dir, path, [{"op": "encode", "text": text, "added_tokens": "none"}])
    assert not set(reply["ids"]) & added_ids
    (dec,) = run_cli(build_dir, path, [{"op": "decode", "ids": reply["ids"]}])
    assert dec["text"] == text


def test_pre_tokenizer_pieces_match_hf(setup, build_dir):
    path, hf, added = setup
    texts = [t for t in make_strings(5000, seed=3, added=added) if not any(a in t for a in added)]
    table = _gpt2_byte_decoder()
    want = [[bytes(table[c] for c in p).decode("utf-8", "replace") for p, _ in hf.pre_tokenizer.pre_tokenize_str(t)]
            for t in texts]
    got = run_cli(build_dir, path, [{"op": "pretokenize", "text": t} for t in texts])
    _report([(t, w, g) for t, w, g in zip(texts, want, got) if g.get("pieces") != w], len(texts),
            "pre-tokenizer pieces")


def test_pre_tokenizer_covers_every_code_point(setup, build_dir):
    """Every Unicode scalar value, in shuffled runs mixed with letters, digits, spaces and
    newlines, pre-tokenizes as in Hugging Face (checks the generated character classes)."""
    path, hf, _ = setup
    r = random.Random(6)
    cps = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    r.shuffle(cps)
    texts = []
    for i in range(0, len(cps), 96):
        chars = [chr(c) for c in cps[i:i + 96]]
        for _ in range(12):
            chars.insert(r.randrange(len(chars) + 1), r.choice(["a", "Z", "1", " ", "  ", "\n", "\r\n", ".", "中"]))
        texts.append("".join(chars))
    table = _gpt2_byte_decoder()
    want = [[bytes(table[c] for c in p).decode("utf-8") for p, _ in hf.pre_tokenizer.pre_tokenize_str(t)]
            for t in texts]
    got = run_cli(build_dir, path, [{"op": "pretokenize", "text": t} for t in texts])
    _report([(t, w, g) for t, w, g in zip(texts, want, got) if g.get("pieces") != w], len(texts),
            "pre-tokenizer pieces over all code points")


def _gpt2_byte_decoder():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def test_decode_matches_hf_and_round_trips(setup, build_dir):
    path, hf, added = setup
    texts = make_strings(5000, seed=4, added=added)
    enc = run_cli(build_dir, path, [{"op": "encode", "text": t} for t in texts])
    dec = run_cli(build_dir, path, [{"op": "decode", "ids": e["ids"]} for e in enc])
    _report([(t, d) for t, d in zip(texts, dec) if d.get("text") != t], len(texts), "decode(encode(s)) == s")
    # Random id sequences (invalid UTF-8 once concatenated, special tokens, ...).
    r = random.Random(5)
    vocab_ids = sorted(set(hf.get_vocab(with_added_tokens=True).values()))
    seqs = [[r.choice(vocab_ids) for _ in range(r.randint(0, 12))] for _ in range(3000)]
    for skip in (False, True):
        want = hf.decode_batch(seqs, skip_special_tokens=skip)
        got = run_cli(build_dir, path, [{"op": "decode", "ids": s, "skip_special_tokens": skip} for s in seqs])
        _report([(s, w, g) for s, w, g in zip(seqs, want, got) if g.get("text") != w], len(seqs),
                f"decode(random ids, skip_special_tokens={skip})")


def test_invalid_utf8_is_refused(setup, build_dir):
    path, _, _ = setup
    cases = ["80", "c3", "e4b8", "eda080", "f4908080", "c0af", "6869ff21", "f09f98"]
    replies = run_cli(build_dir, path, [{"op": "encode", "text_hex": h} for h in cases])
    for h, rep in zip(cases, replies):
        assert "error" in rep and "not valid UTF-8" in rep["error"], (h, rep)
    (ok,) = run_cli(build_dir, path, [{"op": "encode", "text_hex": "68c3a9"}])  # "hé"
    assert "ids" in ok
