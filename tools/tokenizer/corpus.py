"""Procedural, deterministic multilingual text for training and benchmarking the tiny tokenizer.

Every document comes from a seeded `random.Random`, so the same seed always yields the same
corpus. The mix leans on what the tiny R1 model will see most: English and arithmetic word
problems with R1-style reasoning (`<think>` ... `</think>` answer), plus code, numbers, CJK,
Korean, emoji, combining marks and whitespace/CRLF runs so that every pre-tokenizer path gets
merges.
"""

from __future__ import annotations

import random
from typing import Iterator

WORDS = (
    "the of and to in is that it was for on are as with his they at be this from have or by one "
    "had not but what all were when we there can an your which their said if do will each about "
    "how up out them then she many some so these would other into has more her two like him see "
    "time could no make than first been its who now people my made over did down only way find "
    "use may water long little very after words called just where most know get through back "
    "much before go good new write our used me man too any day same right look think also around "
    "another came come work three word must because does part even place well such here take why "
    "things help put years different away again off went old number great tell men say small "
    "every found still between name should home big give air line set own under read last never "
    "us left end along while might next sound below saw something thought both few those always "
    "looked show large often together asked house world going want school important until form "
    "food keep children feet land side without boy once animals life enough took sometimes four "
    "head above kind began almost live page got earth need far hand high year mother light parts "
    "country father let night following picture being study second eyes soon times story boys "
    "since white days ever paper hard near sentence better best across during today others sure "
    "means knew try told young miles sun ways thing whole hear example heard several change "
    "answer room sea against top turned learn point city play toward five using himself usually "
    "money apples oranges books pencils marbles cookies coins stickers cars boxes tickets eggs "
    "students teacher store price total each remaining buys sells gives shares equally spent "
    "reasoning problem solve step carefully check result therefore answer question calculate"
).split()

NAMES = ("Alice Bob Carol Dave Eve Frank Grace Heidi Ivan Judy Mallory Niaj Olivia Peggy Rupert "
         "Sybil Trent Victor Walter Yuki Chen Priya Omar Sofia Lukas Amara Mateo").split()
ITEMS = ("apples oranges books pencils marbles cookies coins stickers cars boxes tickets eggs "
         "cards shells stamps candies balloons flowers").split()

CODE_SNIPPETS = (
    "def {f}({a}, {b}):\n    return {a} {op} {b}\n",
    "for i in range({n}):\n    total += i * {m}\nprint(total)\n",
    "int {f}(int {a}, int {b}) {{\n  return {a} {op} {b};\n}}\n",
    "const {a} = [{n}, {m}, {k}].map((x) => x {op} 2);\nconsole.log({a});\n",
    "if ({a} >= {n} && {b} != {m}) {{\n\tstd::cout << \"{a}=\" << {a} << std::endl;\n}}\n",
    "{{\"{a}\": {n}, \"{b}\": [{m}, {k}], \"ok\": true, \"name\": \"{f}\"}}\n",
    "SELECT {a}, COUNT(*) FROM {f} WHERE {b} > {n} GROUP BY {a};\n",
    "#include <vector>\nstd::vector<int> {a}({n}, {m});  // {f}\n",
    "$ ./{f} --{a}={n} --{b} {m} 2>&1 | grep -c '{f}'\r\n",
    "class {F}:\n    def __init__(self, {a}):\n        self._{a} = {a}\n",
)
IDENTS = ("x y z n i j k count total value result items data buf len size idx acc tmp node "
          "key val left right sum prod diff quot").split()
OPS = ("+", "-", "*", "/", "%", "<<", ">>", "&", "|", "^")

CJK_COMMON = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
HIRAGANA = [chr(c) for c in range(0x3041, 0x3097)]
KATAKANA = [chr(c) for c in range(0x30A1, 0x30FB)] + ["ー", "・"]
HANGUL = [chr(c) for c in range(0xAC00, 0xAC00 + 2000)]
EMOJI = ["😀", "😂", "🥲", "👍", "🎉", "🚀", "❤️", "🔥", "✨", "🤔", "👩‍💻", "🇯🇵", "👍🏽", "🧮", "➕", "✅"]
ACCENTED = "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßœłńśźżčďěňřšťůž"
GREEK_CYR = "αβγδεζηθικλμνξοπρστυφχψωабвгдеёжзийклмнопрстуфхцчшщъыьэюя"
COMBINING = ["\u0301", "\u0300", "\u0308", "\u0327", "\u0303", "\u0323", "\u20dd"]
PUNCT = ".,;:!?()[]{}<>\"'`~@#$%^&*-_=+/\\|"


def _sentence(r: random.Random) -> str:
    n = r.randint(4, 16)
    words = [r.choice(WORDS) for _ in range(n)]
    words[0] = words[0].capitalize()
    if r.random() < 0.2:
        words.insert(r.randrange(len(words)), r.choice(NAMES))
    if r.random() < 0.25:
        words.insert(r.randrange(len(words)), str(r.randint(0, 10 ** r.randint(1, 6))))
    return " ".join(words) + r.choice(".....?!;:")


def _digits_explained(a: int, b: int, op: str) -> str:
    if op == "+":
        return f"{a} + {b}: add the ones, then the tens, then the hundreds. {a} + {b} = {a + b}."
    if op == "-":
        return f"{a} - {b}: subtract digit by digit, borrowing when needed. {a} - {b} = {a - b}."
    if op == "*":
        return f"{a} * {b} = {a} * {b // 10 * 10} + {a} * {b % 10} = {a * (b // 10 * 10)} + {a * (b % 10)} = {a * b}."
    q, rem = divmod(a, b)
    return f"{a} / {b}: {b} * {q} = {b * q}, remainder {rem}. So {a} / {b} = {q} remainder {rem}."


def _arithmetic(r: random.Random) -> str:
    op = r.choice("+-*/")
    a = r.randint(0, 10 ** r.randint(1, 4))
    b = r.randint(1, 10 ** r.randint(1, 3))
    if op == "-" and b > a:
        a, b = b, a
    sym = {"+": "+", "-": "-", "*": r.choice(["*", "×", "times"]), "/": r.choice(["/", "÷", "divided by"])}[op]
    style = r.randrange(4)
    if style == 0:
        q = f"What is {a} {sym} {b}?"
    elif style == 1:
        who, item = r.choice(NAMES), r.choice(ITEMS)
        if op in "+-":
            verb = "buys" if op == "+" else "gives away"
            q = f"{who} has {a} {item} and {verb} {b} more. How many {item} does {who} have now?"
            if op == "-":
                q = f"{who} has {a} {item} and gives away {b}. How many {item} are left?"
        elif op == "*":
            q = f"{who} buys {a} boxes with {b} {item} in each box. How many {item} in total?"
        else:
            q = f"{who} shares {a} {item} equally among {b} friends. How many does each friend get?"
    elif style == 2:
        q = f"Calculate {a}{sym}{b}. Please reason step by step, and put your final answer within \\boxed{{}}."
    else:
        q = f"Q: {a} {sym} {b} = ?"
    ans = a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else a // b
    think = _digits_explained(a, b, op)
    return (f"<｜User｜>{q}<｜Assistant｜><think>\n{think}\nLet me check: the result is {ans}.\n"
            f"</think>\n\nThe answer is {ans}. \\boxed{{{ans}}}<｜end▁of▁sentence｜>")


def _code(r: random.Random) -> str:
    t = r.choice(CODE_SNIPPETS)
    a, b = r.sample(IDENTS, 2)
    f = r.choice(IDENTS) + "_" + r.choice(IDENTS)
    return t.format(f=f, F=f.title().replace("_", ""), a=a, b=b, op=r.choice(OPS),
                    n=r.randint(0, 9999), m=r.randint(0, 999), k=r.randint(0, 99))


def _numbers(r: random.Random) -> str:
    parts = []
    for _ in range(r.randint(3, 12)):
        k = r.randrange(6)
        if k == 0:
            parts.append(str(r.randint(0, 10 ** r.randint(1, 12))))
        elif k == 1:
            parts.append(f"{r.uniform(-1000, 1000):.{r.randint(1, 5)}f}")
        elif k == 2:
            parts.append(f"{r.randint(1990, 2030)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}")
        elif k == 3:
            parts.append(f"{r.randint(1, 999):,}".replace(",", r.choice([",", " ", "."])) + f"{r.randint(0, 999):03d}")
        elif k == 4:
            parts.append(f"{r.randint(0, 100)}%")
        else:
            parts.append(f"${r.randint(1, 9999)}.{r.randint(0, 99):02d}")
    return " ".join(parts) + "\n"


def _cjk(r: random.Random) -> str:
    k = r.randrange(3)
    out = []
    for _ in range(r.randint(5, 40)):
        if k == 0:
            out.append(r.choice(CJK_COMMON))
            if r.random() < 0.1:
                out.append(r.choice("，。！？、：；"))
        elif k == 1:
            out.append(r.choice(HIRAGANA if r.random() < 0.6 else (KATAKANA if r.random() < 0.6 else CJK_COMMON)))
        else:
            out.append(r.choice(HANGUL))
            if r.random() < 0.25:
                out.append(" ")
        if r.random() < 0.05:
            out.append(str(r.randint(0, 999)))
    return "".join(out) + r.choice(["。", ".", "\n", "！", "?"])


def _misc(r: random.Random) -> str:
    out = []
    for _ in range(r.randint(3, 20)):
        k = r.randrange(7)
        if k == 0:
            out.append(r.choice(EMOJI))
        elif k == 1:
            out.append("".join(r.choice(ACCENTED + "abcdefgh") for _ in range(r.randint(2, 8))))
        elif k == 2:
            out.append("".join(r.choice(GREEK_CYR) for _ in range(r.randint(2, 8))))
        elif k == 3:
            out.append(r.choice("aeiou") + r.choice(COMBINING) + r.choice("nst"))
        elif k == 4:
            out.append(r.choice(["  ", "\t", "\n", "\r\n", "\n\n", "   \n", " \r\n\r\n"]))
        elif k == 5:
            out.append("".join(r.choice(PUNCT) for _ in range(r.randint(1, 3))))
        else:
            out.append(r.choice(WORDS))
        out.append(r.choice([" ", "", " ", "\n"]))
    return "".join(out)


def _chat(r: random.Random) -> str:
    q = _sentence(r)
    a = " ".join(_sentence(r) for _ in range(r.randint(1, 3)))
    return (f"<｜begin▁of▁sentence｜>{_sentence(r)}<｜User｜>{q}<｜Assistant｜><think>\n"
            f"{_sentence(r)}\n</think>\n\n{a}<｜end▁of▁sentence｜>")


GENERATORS = (
    (_sentence, 30),
    (_arithmetic, 30),
    (_code, 10),
    (_numbers, 7),
    (_cjk, 10),
    (_misc, 8),
    (_chat, 5),
)


def documents(seed: int, total_chars: int) -> Iterator[str]:
    """Yields documents until about `total_chars` characters have been produced."""
    r = random.Random(seed)
    fns = [f for f, _ in GENERATORS]
    weights = [w for _, w in GENERATORS]
    produced = 0
    while produced < total_chars:
        doc = "\n".join(r.choices(fns, weights)[0](r) for _ in range(r.randint(1, 6)))
        produced += len(doc)
        yield doc
