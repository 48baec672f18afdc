"""r1-tiny served through the CPU cluster's OpenAI API (one group, expert parallelism 2): greedy
answers to the 200 held-out problems of models/r1-tiny/heldout.jsonl (CTest label
`tiny-accuracy`). The bar: at least 95% correct and within 2 points of the torch reference
accuracy that the training script recorded in reference_accuracy.json."""

from __future__ import annotations

import concurrent.futures
import json

import openai

from cluster_util import ROOT, Cluster

MODEL = ROOT / "models" / "r1-tiny"


def test_served_accuracy_on_heldout_problems(tmp_path):
    assert (MODEL / "model.safetensors.index.json").exists(), "models/r1-tiny has no weights"
    problems = [json.loads(line) for line in (MODEL / "heldout.jsonl").read_text().splitlines()
                if line.strip()]
    reference = json.loads((MODEL / "reference_accuracy.json").read_text())
    assert len(problems) == 200

    c = Cluster(tmp_path / "acc", MODEL, group_size=2)
    try:
        c.add_worker("acc0")
        c.add_worker("acc1")
        c.wait_serving(1)
        cl = openai.OpenAI(base_url=c.base_url + "/v1", api_key="unused", max_retries=0,
                           timeout=300)

        def solve(p):
            r = cl.chat.completions.create(model="r1-tiny", messages=p["messages"],
                                           max_tokens=256, temperature=0)
            m = r.choices[0].message
            return p, (m.content or "").strip(), r.usage.prompt_tokens, r.choices[0].finish_reason

        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            results = list(ex.map(solve, problems))
    finally:
        c.stop()

    wrong = [(p["messages"][-1]["content"], p["answer"], got, finish)
             for p, got, _, finish in results if got != p["answer"]]
    # The coordinator's prompt (R1's template, C++ tokenizer) is the one torch was scored on.
    prompt_mismatch = [p["id"] for p, _, n, _ in results if n != len(p["prompt_token_ids"])]
    assert not prompt_mismatch, f"prompt token counts differ from training: {prompt_mismatch}"
    served = 1 - len(wrong) / len(problems)
    torch_acc = reference["fp8_dequantized"]["accuracy"]
    print(f"served accuracy {served:.3f} ({len(problems) - len(wrong)}/{len(problems)}), "
          f"torch (FP8-dequantized weights) {torch_acc:.3f}")
    assert served >= 0.95, wrong[:10]
    assert abs(served - torch_acc) <= 0.02, wrong[:10]
