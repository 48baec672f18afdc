"""The synthetic reasoning task of r1-tiny: addition, subtraction and comparison word problems.

Each problem is one user message; the assistant answers in DeepSeek-R1's format. The chat template
ends the prompt with "<｜Assistant｜><think>\\n", so the completion the model learns is

    <scratchpad>\\n</think>\\n\\n<answer><｜end▁of▁sentence｜>

Tokenization (the project's 16k byte-level BPE with DeepSeek's pre-tokenizer): digit runs are cut
into groups of at most three from the left before BPE, so "4821" is the two tokens "482" "1" and
"12345" is "123" "45"; a digit never merges with a letter, a space or punctuation. A number's
tokens therefore do not line up with its place values, and two numbers of different lengths are
cut differently. The scratchpad first spells every operand out as single digits, each preceded by
a place label counted from the right (" a" ones, " b" tens, ... " f"), e.g. "A: d4 c8 b2 a1" —
each label + digit pair is the two tokens "Ġd" "4". Then it works one place per line, ones first,
so that every digit it needs is found by its label (content) rather than by counting positions:

    What is 4821 + 397?          What is 4821 - 397?         Which is larger, 8123 or 8132?
    A: d4 c8 b2 a1               A: d4 c8 b2 a1              A: d8 c1 b2 a3
    B: c3 b9 a7                  B: c3 b9 a7                 B: d8 c1 b3 a2
    a: 1+7+0=8                   a: 11-7-0=4                 d: 8=8
    b: 2+9+0=11                  b: 12-9-1=2                 c: 1=1
    c: 8+3+1=12                  c: 8-3-1=4                  b: 2<3
    d: 4+0+1=5                   d: 4-0-0=4                  A<B
    sum: d5 c2 b1 a8             diff: d4 c4 b2 a4           </think>
    </think>                     </think>
                                                             8132
    5218                         4424

Addition: "x: a+b+carry=s", s is one token (0..19), the next carry is s >= 10. Subtraction (the
minuend is never smaller): the minuend digit is written with 10 added when it must borrow
("11-7-0"), the next line's borrow is 1 exactly when this line's first number is >= 10; the
"diff" line drops leading zeros. Comparison goes from the highest place of the longer number
down (a missing digit is 0) and stops at the first difference. The final answer is written as
plain text ("5218" = tokens "521" "8"), as a user would expect.

Everything here is deterministic given the numpy Generator passed in.
"""

import json

import numpy as np

LABELS = "abcdef"  # place labels, ones first
ADD_TEMPLATES = [
    "What is {a} + {b}?",
    "Calculate {a} + {b}.",
    "What is the sum of {a} and {b}?",
    "Add {a} and {b}.",
    "A farmer has {a} apples and picks {b} more. How many apples does he have now?",
]
SUB_TEMPLATES = [
    "What is {a} - {b}?",
    "Calculate {a} - {b}.",
    "What is {a} minus {b}?",
    "Subtract {b} from {a}.",
    "A shop had {a} books and sold {b} of them. How many books are left?",
]
CMP_TEMPLATES = {
    "larger": ["Which is larger, {a} or {b}?", "Which number is greater: {a} or {b}?"],
    "smaller": ["Which is smaller, {a} or {b}?", "Which number is less: {a} or {b}?"],
}
MAX_ADD_DIGITS = 5
MAX_CMP_DIGITS = 6
OPS = ("add", "sub", "cmp")
OP_WEIGHTS = (0.4, 0.3, 0.3)


def digits(n):
    """Digits of n, ones first."""
    return [int(c) for c in reversed(str(n))]


def spell(name, n):
    """'A: d4 c8 b2 a1' — the digits of n, most significant first, each with its place label."""
    d = digits(n)
    return name + ":" + "".join(f" {LABELS[i]}{d[i]}" for i in reversed(range(len(d))))


def scratchpad(op, a, b, which=None):
    """The reasoning text (without the trailing newline before </think>) and the answer string."""
    lines = [spell("A", a), spell("B", b)]
    da, db = digits(a), digits(b)
    width = max(len(da), len(db))
    da += [0] * (width - len(da))
    db += [0] * (width - len(db))
    if op == "add":
        carry, out = 0, []
        for i in range(width):
            s = da[i] + db[i] + carry
            lines.append(f"{LABELS[i]}: {da[i]}+{db[i]}+{carry}={s}")
            out.append(s % 10)
            carry = s // 10
        if carry:
            out.append(carry)
        answer = a + b
        lines.append("sum:" + "".join(f" {LABELS[i]}{out[i]}" for i in reversed(range(len(out)))))
    elif op == "sub":
        assert a >= b
        borrow, out = 0, []
        for i in range(width):
            top = da[i] + (10 if da[i] - db[i] - borrow < 0 else 0)
            r = top - db[i] - borrow
            lines.append(f"{LABELS[i]}: {top}-{db[i]}-{borrow}={r}")
            out.append(r)
            borrow = 1 if top >= 10 else 0
        assert borrow == 0
        while len(out) > 1 and out[-1] == 0:
            out.pop()
        answer = a - b
        lines.append("diff:" + "".join(f" {LABELS[i]}{out[i]}" for i in reversed(range(len(out)))))
    elif op == "cmp":
        assert a != b and which in ("larger", "smaller")
        for i in reversed(range(width)):
            rel = "=" if da[i] == db[i] else ("<" if da[i] < db[i] else ">")
            lines.append(f"{LABELS[i]}: {da[i]}{rel}{db[i]}")
            if rel != "=":
                break
        lines.append("A<B" if a < b else "A>B")
        answer = max(a, b) if which == "larger" else min(a, b)
    else:
        raise ValueError(op)
    if op != "cmp":
        assert int("".join(str(x) for x in reversed(out))) == answer
    return "\n".join(lines), str(answer)


def completion_text(reasoning, answer):
    """What the model generates after the template's '<think>\\n' (EOS is appended as an id)."""
    return reasoning + "\n</think>\n\n" + answer


def _number(rng, n_digits):
    if n_digits == 1:
        return int(rng.integers(0, 10))
    return int(rng.integers(10 ** (n_digits - 1), 10 ** n_digits))


def sample_problem(rng):
    """One problem as a dict: op, a, b, which (comparison), template index, question text."""
    op = OPS[int(rng.choice(len(OPS), p=OP_WEIGHTS))]
    which = None
    if op in ("add", "sub"):
        a = _number(rng, int(rng.integers(1, MAX_ADD_DIGITS + 1)))
        b = _number(rng, int(rng.integers(1, MAX_ADD_DIGITS + 1)))
        if op == "sub" and a < b:
            a, b = b, a
        templates = ADD_TEMPLATES if op == "add" else SUB_TEMPLATES
    else:
        which = "larger" if rng.random() < 0.5 else "smaller"
        templates = CMP_TEMPLATES[which]
        la = int(rng.integers(1, MAX_CMP_DIGITS + 1))
        if rng.random() < 0.5:  # same length, often with a common prefix
            a = _number(rng, la)
            while True:
                keep = int(rng.integers(0, la))  # digits copied from a
                s = str(a)[:keep]
                rest = la - keep
                if rest == la and la > 1:
                    s += str(int(rng.integers(1, 10)))
                    rest -= 1
                s += "".join(str(int(x)) for x in rng.integers(0, 10, size=rest))
                b = int(s)
                if b != a:
                    break
        else:
            lb = int(rng.integers(1, MAX_CMP_DIGITS + 1))
            a, b = _number(rng, la), _number(rng, lb)
            while a == b:
                b = _number(rng, lb)
    t = int(rng.integers(0, len(templates)))
    question = templates[t].format(a=a, b=b)
    return {"op": op, "a": a, "b": b, "which": which, "template": t, "question": question}


def problem_key(p):
    """Identity of a problem for the held-out/training split (the wording does not count)."""
    return (p["op"], p["a"], p["b"], p["which"])


def solve(p):
    reasoning, answer = scratchpad(p["op"], p["a"], p["b"], p["which"])
    return completion_text(reasoning, answer), answer


def heldout_problems(seed, n):
    """n distinct problems drawn from their own seeded stream."""
    rng = np.random.Generator(np.random.PCG64(seed))
    out, keys = [], set()
    while len(out) < n:
        p = sample_problem(rng)
        if problem_key(p) in keys:
            continue
        keys.add(problem_key(p))
        out.append(p)
    return out


def write_heldout(path, problems, prompt_ids):
    """heldout.jsonl: one problem per line with its chat messages, expected answer, the prompt
    token ids (for checking another tokenizer/template implementation) and the reference
    completion text."""
    with open(path, "w", encoding="utf-8") as f:
        for i, (p, ids) in enumerate(zip(problems, prompt_ids)):
            completion, answer = solve(p)
            rec = {
                "id": i,
                "messages": [{"role": "user", "content": p["question"]}],
                "answer": answer,
                "op": p["op"],
                "a": p["a"],
                "b": p["b"],
                "prompt_token_ids": [int(x) for x in ids],
                "reference_completion": completion,
            }
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


def extract_answer(text):
    """The final answer of a generated completion: the text after the first '</think>', stripped;
    None when there is no '</think>'."""
    if "</think>" not in text:
        return None
    return text.split("</think>", 1)[1].strip()
