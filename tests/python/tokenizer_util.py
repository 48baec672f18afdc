"""Helpers shared by the tokenizer tests: which tokenizer.json files to test, the r1-tokenize
JSON-lines driver, and a seeded generator of hard test strings."""

from __future__ import annotations

import json
import os
import pathlib
import random
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY_TOKENIZER = ROOT / "models" / "r1-tiny" / "tokenizer.json"


def tokenizer_paths() -> list[pathlib.Path]:
    """The committed tiny tokenizer, plus the file named by R1_TOKENIZER_JSON when set (a real
    DeepSeek-R1 tokenizer.json)."""
    paths = [TINY_TOKENIZER]
    extra = os.environ.get("R1_TOKENIZER_JSON")
    if extra:
        paths.append(pathlib.Path(extra))
    return paths


def run_cli(build_dir: pathlib.Path, tokenizer: pathlib.Path | None, requests: list[dict],
            args: tuple[str, ...] = ()) -> list[dict]:
    """Sends requests to r1-tokenize (with extra flags `args`) as JSON lines and returns its replies
    in order."""
    exe = build_dir / "common" / "tokenizer" / "r1-tokenize"
    assert exe.exists(), f"missing {exe}: build r1serve first"
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in requests)
    proc = subprocess.run([str(exe), f"--tokenizer={tokenizer or ''}", *args], input=payload.encode("utf-8"),
                          capture_output=True, check=True, timeout=600)
    replies = [json.loads(line) for line in proc.stdout.decode("utf-8").split("\n") if line]
    assert len(replies) == len(requests), proc.stderr.decode()
    return replies


# --- test strings -------------------------------------------------------------------------------

WORDS = ("the quick brown fox jumps over lazy dog hello world tokenizer BPE merge rank reasoning "
         "answer because therefore compute value result Answer THE Hello don't it's we'll I'm").split()
CODE = ["def f(x):\n    return x**2\n", "int main() { return 0; }", "for (i=0;i<n;++i) a[i]+=b[i];",
        "x = {'a': [1, 2.5, -3e10], \"b\": None}", "#include <vector>\n", "SELECT * FROM t WHERE id=42;",
        "if (a && b || !c) { $x = @y; }", "\tif x:\r\n\t\tpass\r\n", "arr[-1] //= 3 # comment",
        "λx.x + 1", "fn main() -> Result<(), Box<dyn Error>> {}", "<div class=\"a\">&nbsp;</div>"]
CHINESE = "我爱北京天安门你好世界的一是不了人在有这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理"
HIRAGANA = "".join(chr(c) for c in range(0x3041, 0x3097))
KATAKANA = "".join(chr(c) for c in range(0x30A0, 0x3100))
HANGUL = "".join(chr(c) for c in range(0xAC00, 0xAC00 + 400)) + "ㄱㄴㄷㅏㅑ"
EMOJI = ["😀", "😂", "👍", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🇯🇵", "🇺🇸", "❤️", "✨", "🚀", "🥲", "🫠", "🧑🏿‍🚀", "#️⃣", "©️"]
COMBINING = ["\u0301", "\u0300", "\u0308", "\u0327", "\u20dd", "\u0e49", "\u093f", "\u05b7", "\u302a", "\u3099"]
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\r", "\n\n", " \n", "\u3000", "\u00a0", "\u2028", "\u2029",
          "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\u200b", "\ufeff", "\u2003", " \r\n \r\n", "\t\t\n "]
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["。", "，", "、", "「", "」", "…", "—", "“", "”", "«", "»",
                                                       "¿", "¡", "€", "£", "¥", "°", "±", "×", "÷", "∑", "√", "∞", "→", "★", "♪"]
DIGITS = ["0", "7", "42", "123", "1234", "12345", "1234567890", "3.14159", "1,000,000", "٣٤٥", "१२३", "²³",
          "½", "Ⅻ", "①②", "０１２", "𝟙𝟚", "〇"]
OTHER_SCRIPTS = ["Привет мир", "Γειά σου", "مرحبا بالعالم", "שלום", "नमस्ते दुनिया", "สวัสดีครับ", "ሰላም",
                 "Ꭰ", "ᚠᛇ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "Ａｂｃ", "ﬁ", "Ǆ", "ß", "İ", "ﷺ", "𓀀", "𠀀𠀁", "\U00031350"]


def _rand_codepoint(r: random.Random) -> str:
    while True:
        k = r.random()
        if k < 0.5:
            c = r.randrange(0x20, 0x3000)
        elif k < 0.8:
            c = r.randrange(0x3000, 0x10000)
        else:
            c = r.randrange(0x10000, 0x110000)
        if not 0xD800 <= c < 0xE000:
            return chr(c)


def _fragment(r: random.Random, added: list[str]) -> str:
    k = r.randrange(14)
    if k == 0:
        return " ".join(r.choice(WORDS) for _ in range(r.randint(1, 8)))
    if k == 1:
        return r.choice(CODE)
    if k == 2:
        return "".join(r.choice(CHINESE) for _ in range(r.randint(1, 12)))
    if k == 3:
        return "".join(r.choice(HIRAGANA + KATAKANA + CHINESE[:50]) for _ in range(r.randint(1, 10)))
    if k == 4:
        return "".join(r.choice(HANGUL + " ") for _ in range(r.randint(1, 10)))
    if k == 5:
        return "".join(r.choice(EMOJI) for _ in range(r.randint(1, 4)))
    if k == 6:
        return r.choice("aeiouxyz가カ中1 ") + "".join(r.choice(COMBINING) for _ in range(r.randint(1, 3)))
    if k == 7:
        return "".join(r.choice(SPACES) for _ in range(r.randint(1, 5)))
    if k == 8:
        return "".join(r.choice(PUNCT) for _ in range(r.randint(1, 4)))
    if k == 9:
        return r.choice(DIGITS) if r.random() < 0.5 else str(r.randint(0, 10 ** r.randint(1, 25)))
    if k == 10:
        return r.choice(OTHER_SCRIPTS)
    if k == 11:
        t = r.choice(added)
        m = r.random()
        if m < 0.15:
            return t[: r.randint(1, len(t) - 1)]  # a prefix of an added token: plain text
        if m < 0.25:
            return t[:-1] + t  # overlapping near-match
        return t
    if k == 12:
        return "".join(_rand_codepoint(r) for _ in range(r.randint(1, 6)))
    return "".join(chr(r.randrange(0, 128)) for _ in range(r.randint(1, 8)))


def make_strings(n: int, seed: int, added: list[str]) -> list[str]:
    """n seeded strings mixing every category above, plus fixed edge cases."""
    r = random.Random(seed)
    fixed = ["", " ", "a", "\n", "  \n", "What is 347 + 582?", "<think>\nok\n</think>\n\nAnswer",
             "a   b", "a\n\nb", "abc123def", "def foo(x): return x", "x" * 300, "9" * 50,
             " " * 40, "\r\n" * 10, "😀" * 30, "中" * 100, "ab" * 200 + "!", "Hello world" * 20]
    out = list(fixed)
    while len(out) < n:
        parts = [_fragment(r, added) for _ in range(r.randint(1, 6))]
        sep = r.choice(["", " ", "", "\n", ""])
        out.append(sep.join(parts))
    return out[:n]
