#!/usr/bin/env python3
"""Trains r1-tiny, a small DeepSeek-R1-architecture model, and exports it to models/r1-tiny.

  1. Task (task.py): addition, subtraction and comparison word problems answered in R1's format,
     a digit-by-digit scratchpad, "</think>\\n\\n", the answer, EOS. 200 held-out problems (their
     own seeded stream) are excluded from training and written to heldout.jsonl.
  2. Model (model.py): transformers' DeepseekV3ForCausalLM (MLA with q/kv LoRA and a RoPE split,
     noaux_tc MoE with expert groups and a shared expert, first layer dense) with the spec's router
     and one MTP module trained jointly on next-next-token prediction (loss weight --mtp-weight).
     The router's correction bias is trained the auxiliary-loss-free way (bias += u·sign(mean load
     - load) after every step).
  3. FP8-aware: the last --fq-frac of the steps run forward on fake-quantized weights (FP8 e4m3
     with 128x128 block scales for the FP8 tensors, BF16 for the others; straight-through
     gradients), so what is trained is what the checkpoint stores.
  4. Export (export.py) in the official checkpoint format, then greedy decoding of the held-out
     problems in float32 on (a) the trained weights and (b) the weights dequantized from the
     exported checkpoint, and the MTP draft acceptance on (b). Results go to
     reference_accuracy.json.

Deterministic for a given seed, device type and library versions (torch deterministic
algorithms; data chunks depend only on (seed, chunk index)). Runs on CPU or one CUDA GPU.

  python tools/train_tiny/train.py --out models/r1-tiny               # full run
  python tools/train_tiny/train.py --out /tmp/t --steps 4 --batch 8 --eval-limit 4   # smoke
"""

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import numpy as np  # noqa: E402
import safetensors  # noqa: E402
import safetensors.torch  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402

import data  # noqa: E402
import export  # noqa: E402
import model as tiny  # noqa: E402
import task  # noqa: E402

HELDOUT = 200
CHUNK = 4096  # examples per generated data chunk


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="model directory to write")
    ap.add_argument("--tokenizer-dir", default=os.path.join(REPO, "models", "r1-tiny"))
    ap.add_argument("--seed", type=int, default=20250306)
    ap.add_argument("--steps", type=int, default=900)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--mtp-weight", type=float, default=0.3)
    ap.add_argument("--fq-frac", type=float, default=0.15,
                    help="fraction of the final steps trained on fake-quantized weights")
    ap.add_argument("--bias-update", type=float, default=1e-3,
                    help="router correction-bias step (auxiliary-loss-free balancing)")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--eval-only", action="store_true",
                    help="only evaluate the checkpoint already in --out (no training)")
    ap.add_argument("--workers", type=int, default=0, help="data processes (0: from CPU count)")
    ap.add_argument("--eval-limit", type=int, default=HELDOUT, help="held-out problems evaluated")
    ap.add_argument("--eval-batch", type=int, default=200)
    ap.add_argument("--max-new", type=int, default=160, help="generation limit (completions "
                    "are at most ~105 tokens)")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--tf32", type=int, default=1, help="allow TF32 matmuls while training (GPU)")
    ap.add_argument("--time-budget", type=float, default=0,
                    help="seconds for training (0: none): after --probe steps, still inside the "
                         "warmup (where the schedule does not depend on --steps), --steps is "
                         "lowered to what fits; the run then equals one started with that --steps")
    ap.add_argument("--probe", type=int, default=60)
    ap.add_argument("--time-limit", type=float, default=0,
                    help="stop training early after this many seconds (0: none); the run is "
                         "then not the deterministic one, and the report says so")
    return ap.parse_args()


def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    t = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * min(1.0, t)))


def masked_ce(lm_head, h, targets, mask, vocab_limit):
    """Cross-entropy of lm_head(h) against targets over the positions where mask is set."""
    sel = mask.reshape(-1)
    logits = lm_head(h.reshape(-1, h.shape[-1])[sel]).float()
    logits[:, vocab_limit:] = float("-inf")
    tgt = targets.reshape(-1)[sel].long()
    loss = F.cross_entropy(logits, tgt)
    acc = (logits.argmax(-1) == tgt).float().mean()
    return loss, acc


def batch_tensors(chunk, start, n, device):
    ids, lens, plens = chunk
    ids, lens, plens = ids[start:start + n], lens[start:start + n], plens[start:start + n]
    T = int(lens.max())
    ids = torch.from_numpy(np.ascontiguousarray(ids[:, :T])).long()
    pos = torch.arange(T)[None]
    valid = pos < torch.from_numpy(lens)[:, None]
    target = valid & (pos >= torch.from_numpy(plens)[:, None])  # completion tokens
    return ids.to(device), valid.to(device), target.to(device)


def chunk_stream(args, heldout_keys):
    """Yields chunks in order; generated ahead by a spawn pool (no CUDA state is forked)."""
    workers = args.workers or max(1, min(6, (os.cpu_count() or 2) - 2))
    assert args.batch <= CHUNK
    n_chunks = -(-args.steps // (CHUNK // args.batch))
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=data._init_worker,
                  initargs=(args.tokenizer_dir, sorted(heldout_keys, key=str))) as pool:
        jobs = ((args.seed, k, CHUNK) for k in range(n_chunks))
        for c in pool.imap(data.make_chunk, jobs):
            yield c


def train(args, net, kinds, device, vocab_limit, heldout_keys):
    decay = [p for n, p in net.named_parameters() if p.dim() >= 2 and "embed" not in n]
    no_decay = [p for n, p in net.named_parameters() if not (p.dim() >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    routers = tiny.routers(net)
    fq_start = int(round(args.steps * (1 - args.fq_frac)))
    moe_inter = net.cfg.moe_intermediate_size
    stream = chunk_stream(args, heldout_keys)
    chunk, offset = None, CHUNK
    t0 = time.time()
    hist = []
    steps_done = 0
    net.train()
    t_probe = t0
    for step in range(args.steps):
        if offset + args.batch > CHUNK:
            chunk, offset = next(stream), 0
        ids, valid, target = batch_tensors(chunk, offset, args.batch, device)
        offset += args.batch
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        net.valid_main = valid.reshape(-1)
        net.valid_mtp = valid[:, :-1].reshape(-1)
        fq = step >= fq_start
        if fq:
            params = {n: tiny.fake_quant(n, p, kinds[n], moe_inter)
                      for n, p in net.named_parameters()}
            h, hm = torch.func.functional_call(net, params, (ids,))
            head = lambda x: F.linear(x, params["lm.lm_head.weight"])  # noqa: E731
        else:
            h, hm = net(ids)
            head = net.lm.lm_head
        loss_main, acc_main = masked_ce(head, h[:, :-1], ids[:, 1:], target[:, 1:], vocab_limit)
        loss_mtp, acc_mtp = masked_ce(head, hm[:, :-1], ids[:, 2:], target[:, 2:], vocab_limit)
        loss = loss_main + args.mtp_weight * loss_mtp
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for r in routers:
                load = r.r1_load
                if float(load.sum()) > 0:
                    r.e_score_correction_bias += args.bias_update * torch.sign(load.mean() - load)
                load.zero_()
        steps_done = step + 1
        if step % args.log_every == 0 or step == args.steps - 1:
            rec = dict(step=step, loss=loss_main.item(), mtp_loss=loss_mtp.item(),
                       tok_acc=acc_main.item(), mtp_tok_acc=acc_mtp.item(), gnorm=gnorm.item(),
                       lr=lr_at(step, args), fq=fq, seconds=round(time.time() - t0, 1))
            hist.append(rec)
            print(json.dumps(rec), flush=True)
        if step == 10:
            t_probe = time.time()
        if args.time_budget and step == args.probe:
            assert args.probe < args.warmup
            per_step = (time.time() - t_probe) / (args.probe - 10)
            # fake-quantized steps cost more; allow 30 % for them
            cost = per_step * (1 + 0.3 * args.fq_frac)
            fit = int(args.time_budget / cost) // 100 * 100
            print(f"{per_step * 1000:.1f} ms/step; {args.steps} steps need "
                  f"{args.steps * cost:.0f} s of the {args.time_budget:.0f} s budget", flush=True)
            if fit < args.steps:
                args.steps = max(fit, min(args.steps, args.warmup + 100))
                fq_start = int(round(args.steps * (1 - args.fq_frac)))
                print(f"lowering --steps to {args.steps}", flush=True)
        if step + 1 >= args.steps:
            break
        if args.time_limit and time.time() - t0 > args.time_limit:
            print(f"time limit reached after {steps_done} steps", flush=True)
            break
    stream.close()
    net.valid_main = net.valid_mtp = None
    return dict(steps_done=steps_done, seconds=round(time.time() - t0, 1), history=hist,
                fq_start=fq_start)


@torch.no_grad()
def greedy(net, prompts, max_new, eos_id, vocab_limit, device, batch):
    """Greedy decoding without a KV cache: right-padded batches, full recompute each step (the
    causal mask keeps padding out of every real position). Returns the generated ids per prompt
    (EOS included when produced)."""
    net.eval()
    outs = []
    for s in range(0, len(prompts), batch):
        group = prompts[s:s + batch]
        n = len(group)
        lens = torch.tensor([len(p) for p in group])
        T = int(lens.max()) + max_new
        ids = torch.full((n, T), eos_id, dtype=torch.long)
        for i, p in enumerate(group):
            ids[i, :len(p)] = torch.tensor(p)
        ids, lens = ids.to(device), lens.to(device)
        done = torch.zeros(n, dtype=torch.bool, device=device)
        gen = [[] for _ in range(n)]
        rows = torch.arange(n, device=device)
        for _ in range(max_new):
            cur = int(lens.max())
            h = net.hidden(ids[:, :cur])
            last = h[rows, lens - 1]
            logits = net.lm.lm_head(last).float()
            logits[:, vocab_limit:] = float("-inf")
            nxt = logits.argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, eos_id), nxt)
            ids[rows, lens] = nxt
            for i in (~done).nonzero().flatten().tolist():
                gen[i].append(int(nxt[i]))
            lens = torch.where(done, lens, lens + 1)
            done |= nxt == eos_id
            if bool(done.all()):
                break
        outs.extend(gen)
    return outs


@torch.no_grad()
def mtp_acceptance(net, prompts, gens, vocab_limit, device, batch):
    """Fraction of generated positions j ≥ P+1 (P = prompt length) where the MTP draft from
    (h_{j-2}, t_{j-1}) equals the main model's greedy token at j-1 (t_j on a greedy sequence)."""
    net.eval()
    hit = total = 0
    seqs = [p + g for p, g in zip(prompts, gens)]
    for s in range(0, len(seqs), batch):
        group = seqs[s:s + batch]
        T = max(len(x) for x in group)
        ids = torch.full((len(group), T), 1, dtype=torch.long)
        for i, x in enumerate(group):
            ids[i, :len(x)] = torch.tensor(x)
        ids = ids.to(device)
        h = net.hidden(ids)
        main = net.lm.lm_head(h).float()
        main[..., vocab_limit:] = float("-inf")
        main = main.argmax(-1)  # main[:, i] = greedy token for position i+1
        m = net.mtp(h[:, :-1], ids[:, 1:], net.lm.model.embed_tokens, net.lm.model.rotary_emb)
        draft = net.lm.lm_head(m).float()
        draft[..., vocab_limit:] = float("-inf")
        draft = draft.argmax(-1)  # draft[:, i] = draft for position i+2
        for i, x in enumerate(group):
            P = len(prompts[s + i])
            for j in range(P + 1, len(x)):
                hit += int(draft[i, j - 2] == main[i, j - 1])
                total += 1
    return hit / max(1, total), total


def evaluate(net, enc, problems, prompt_ids, device, args, label):
    max_new = args.max_new
    gens = greedy(net, prompt_ids, max_new, enc.eos_id, enc.vocab_limit, device, args.eval_batch)
    correct, per_op, failures = 0, {}, []
    for p, g in zip(problems, gens):
        text = enc.decode(g[:-1] if g and g[-1] == enc.eos_id else g)
        ok = bool(g) and g[-1] == enc.eos_id and task.extract_answer(text) == task.solve(p)[1]
        correct += ok
        o = per_op.setdefault(p["op"], [0, 0])
        o[0] += ok
        o[1] += 1
        if not ok and len(failures) < 5:
            failures.append({"question": p["question"], "expected": task.solve(p)[1],
                             "got": text[-80:]})
    acc = correct / len(problems)
    accept, positions = mtp_acceptance(net, prompt_ids, gens, enc.vocab_limit, device,
                                       args.eval_batch)
    res = {"accuracy": acc, "correct": correct, "total": len(problems),
           "per_op": {k: v[0] / v[1] for k, v in sorted(per_op.items())},
           "mtp_acceptance": accept, "mtp_positions": positions,
           "generated_tokens": sum(len(g) for g in gens)}
    print(f"[{label}] accuracy {correct}/{len(problems)} = {acc:.4f}  per op {res['per_op']}  "
          f"MTP acceptance {accept:.4f} over {positions} positions", flush=True)
    for f in failures:
        print(f"  miss: {f}", flush=True)
    return res


def eval_only(args, net, enc, specs, heldout, heldout_prompts, device):
    """Re-evaluates an exported model directory (--out) from its checkpoint files alone."""
    with open(os.path.join(args.out, "model.safetensors.index.json")) as f:
        index = json.load(f)
    ckpt = {}
    for fn in sorted(set(index["weight_map"].values())):
        ckpt.update(safetensors.torch.load_file(os.path.join(args.out, fn)))
    assert set(ckpt) == set(index["weight_map"]), "index and shards disagree"
    tiny.load_canonical(net, export.dequantized_state(ckpt, specs))
    with open(os.path.join(args.out, "heldout.jsonl"), encoding="utf-8") as f:
        recs = [json.loads(line) for line in f]
    for r, p, ids in zip(recs, heldout, heldout_prompts):
        assert r["messages"][0]["content"] == p["question"] and r["prompt_token_ids"] == ids
    n = min(args.eval_limit, HELDOUT)
    res = evaluate(net, enc, heldout[:n], heldout_prompts[:n], device, args,
                   "fp32 on FP8-dequantized weights, from the checkpoint files")
    with open(os.path.join(args.out, "reference_accuracy.json")) as f:
        ref = json.load(f)
    print(json.dumps({"accuracy": res["accuracy"], "reference_accuracy": ref["accuracy"],
                      "mtp_acceptance": res["mtp_acceptance"],
                      "reference_mtp_acceptance": ref["mtp_acceptance"]}), flush=True)


def main():
    args = parse_args()
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    transformers.logging.set_verbosity_error()
    os.makedirs(args.out, exist_ok=True)

    enc = data.Encoder(args.tokenizer_dir)
    heldout = task.heldout_problems(args.seed + 1, HELDOUT)
    heldout_keys = {task.problem_key(p) for p in heldout}
    heldout_prompts = enc.prompt_ids([p["question"] for p in heldout])

    arch = dict(tiny.ARCH)
    assert arch["vocab_size"] >= enc.vocab_limit
    cfg_json = export.config_json(arch)
    cfg = tiny.hf_config(cfg_json)
    specs = export.tensor_specs(arch)
    net = tiny.TinyR1(cfg)
    gen = torch.Generator().manual_seed(args.seed)
    init = tiny.init_canonical(specs, gen, cfg.num_hidden_layers)
    tiny.load_canonical(net, init)
    moe_err = tiny.check_moe_layout(net, tiny.to_canonical(net), cfg, gen)
    rope_err = export.golden.check_rope(net.lm, cfg)
    net.to(device)
    kinds = tiny.param_kinds(net, specs)
    n_params = sum(t.numel() for t in tiny.to_canonical(net).values())
    mtp_prefix = f"model.layers.{cfg.num_hidden_layers}."
    n_main = sum(t.numel() for k, t in tiny.to_canonical(net).items()
                 if not k.startswith(mtp_prefix))
    print(f"torch {torch.__version__} transformers {transformers.__version__} device {device} "
          f"params {n_params} (main {n_main}, MTP {n_params - n_main} without its embedding/head "
          f"copies); MoE layout check {moe_err:.1e}, rope check {rope_err:.1e}", flush=True)

    if args.eval_only:
        return eval_only(args, net, enc, specs, heldout, heldout_prompts, device)

    # Training matmuls may use TF32 on the GPU (deterministic); every evaluation is full fp32.
    torch.backends.cuda.matmul.allow_tf32 = bool(args.tf32)
    summary = train(args, net, kinds, device, enc.vocab_limit, heldout_keys)
    torch.backends.cuda.matmul.allow_tf32 = False

    canon = tiny.to_canonical(net)
    ckpt = export.build_checkpoint(canon, specs)
    export.write_model_dir(args.out, cfg_json, ckpt, args.tokenizer_dir)
    task.write_heldout(os.path.join(args.out, "heldout.jsonl"), heldout, heldout_prompts)

    n_eval = min(args.eval_limit, HELDOUT)
    probs, prompts = heldout[:n_eval], heldout_prompts[:n_eval]
    res_fp32 = evaluate(net, enc, probs, prompts, device, args, "fp32 trained weights")
    tiny.load_canonical(net, export.dequantized_state(ckpt, specs))
    res_fp8 = evaluate(net, enc, probs, prompts, device, args, "fp32 on FP8-dequantized weights")

    total_bytes = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    ref = {
        "heldout": "heldout.jsonl",
        "problems": n_eval,
        "decoding": "greedy, float32, prompts rendered with the R1 chat template",
        "accuracy": res_fp8["accuracy"],
        "mtp_acceptance": res_fp8["mtp_acceptance"],
        "fp8_dequantized": res_fp8,
        "fp32_trained": res_fp32,
        "parameters": n_params,
        "parameters_main": n_main,
        "steps": summary["steps_done"],
        "complete_run": summary["steps_done"] == args.steps,
        "train_seconds": summary["seconds"],
        "final_train": summary["history"][-1] if summary["history"] else None,
        "command": ("python tools/train_tiny/train.py --out models/r1-tiny "
                    f"--seed {args.seed} --steps {args.steps} --batch {args.batch} "
                    f"--lr {args.lr} --fq-frac {args.fq_frac} --mtp-weight {args.mtp_weight}"),
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.machine(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__,
                     "tokenizers": tokenizers.__version__,
                     "safetensors": safetensors.__version__, "numpy": np.__version__},
        "directory_bytes_before_this_file": total_bytes,
    }
    with open(os.path.join(args.out, "reference_accuracy.json"), "w") as f:
        json.dump(ref, f, indent=2)
        f.write("\n")
    print(json.dumps({k: ref[k] for k in ("accuracy", "mtp_acceptance", "parameters", "steps",
                                          "train_seconds", "directory_bytes_before_this_file")}),
          flush=True)


if __name__ == "__main__":
    main()
