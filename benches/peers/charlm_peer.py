#!/usr/bin/env python3
"""The `charlm` example's default run in PyTorch eager: the same model, data, batches, recipe and
evaluations, for its validation-loss curve.

Model (`gpt_peers.torch_gpt`, the throughput peer's): nanoGPT's GPT with vocab V (the characters of the text: 81 for Jane Austen's six novels),
context 128, 4 layers, 4 heads, width 128 — token and position embeddings, pre-LN blocks
x + attn(ln_1(x)), x + mlp(ln_2(x)), GELU (tanh form), final LayerNorm, untied head without
bias; nanoGPT's initialization (N(0, 0.02²), the residual projections N(0, (0.02/√(2·4))²)).

Data, as `charlm` cuts it: the text's first round(0.9·n) characters for training, the rest for
validation; each part cut into ⌊(m − 1)/128⌋ windows without overlap, the labels one character
on. An epoch is a seeded shuffle of the training windows in batches of 32 (the last one
shorter). Recipe: AdamW(lr=3e-3, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1), the rate times
min(t/W, 1)·(1 + cos(π(t − 1)/T))/2 at step t (W = 88 warm-up steps, T the run's steps), as
gradlab's `schedule=cosine,warmup=88`. Every 200 steps (and at the end) the mean loss over the
first 512 validation windows; at the end, over all of them.

The shuffles and the initial weights are PyTorch's and numpy's, not gradlab's: the curves agree
in distribution, not bit for bit.

Set up once, in a scratch virtualenv:
    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install torch numpy
Run (it prints one line per evaluation, as `charlm` does):
    /tmp/peer/bin/python benches/peers/charlm_peer.py --threads 2
"""
import argparse
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from gpt_peers import CONTEXT, austen_ids, torch_gpt


def windows(ids):
    n = (len(ids) - 1) // CONTEXT
    x = ids[: n * CONTEXT].reshape(n, CONTEXT)
    y = ids[1: n * CONTEXT + 1].reshape(n, CONTEXT)
    return torch.from_numpy(x), torch.from_numpy(y)


@torch.no_grad()
def evaluate(model, x, y, vocab):
    model.eval()
    total = 0.0
    for i in range(0, len(x), 64):
        logits = model(x[i:i + 64])
        total += F.cross_entropy(logits.reshape(-1, vocab), y[i:i + 64].reshape(-1),
                                 reduction="sum").item()
    model.train()
    return total / (len(x) * CONTEXT)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--eval-windows", type=int, default=512)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    ids, vocab = austen_ids(root)
    at = round((1.0 - 0.1) * len(ids))
    xt, yt = windows(ids[:at])
    xv, yv = windows(ids[at:])
    n, bs = len(xt), args.batch_size
    per_epoch = -(-n // bs)
    total = per_epoch * args.epochs
    warmup = min(max(total // 20, 1), 100)
    model = torch_gpt(vocab)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.99), eps=1e-8,
                            weight_decay=0.1)
    factor = lambda i: (min((i + 1) / warmup, 1.0)
                        * 0.5 * (1 + math.cos(math.pi * min(i, total) / total)))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads · {n} / {len(xv)} "
          f"windows · {total} steps, warm-up {warmup}", flush=True)
    rng = np.random.default_rng(args.seed)
    step, seconds, since, loss_sum = 0, 0.0, 0, 0.0
    for _ in range(args.epochs):
        order = torch.from_numpy(rng.permutation(n))
        for b in range(per_epoch):
            t0 = time.perf_counter()
            idx = order[b * bs:(b + 1) * bs]
            logits = model(xt[idx])
            loss = F.cross_entropy(logits.reshape(-1, vocab), yt[idx].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            seconds += time.perf_counter() - t0
            step += 1
            since += 1
            loss_sum += loss.item()
            if step % args.eval_every == 0 or step == total:
                val = evaluate(model, xv[:args.eval_windows], yv[:args.eval_windows], vocab)
                print(f"step {step:6d}/{total} · {step * bs * CONTEXT / 1e6:.2f} M characters · "
                      f"train loss {loss_sum / since:.4f} · val loss {val:.4f} nats "
                      f"({val / math.log(2):.3f} bits) per character · "
                      f"{step * bs * CONTEXT / seconds:.0f} characters/s", flush=True)
                since, loss_sum = 0, 0.0
    val = evaluate(model, xv, yv, vocab)
    print(f"validation loss {val:.4f} nats per character · {val / math.log(2):.3f} bits per "
          f"character (the whole validation text) · training {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
