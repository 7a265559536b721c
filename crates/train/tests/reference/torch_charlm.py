"""Reference losses for `tests/torch_charlm.rs`: `charlm`'s recipe — nanoGPT's GPT, AdamW with
decoupled weight decay on every parameter, a linear warm-up and a cosine decay — trained in
PyTorch for one epoch, step by step, written as Rust constants to `tests/reference/torch_charlm.rs`.

Text: the first 1 537 characters of *Pride and Prejudice* (`datasets/austen`), numbered in
increasing character order as gradlab's `CharText` does, cut into 96 windows of 16 characters
(labels one character on). Model: vocab = the text's characters, context 16, 2 layers, 2 heads,
width 16, every weight set by name from the closed formula of
`crates/layers/tests/reference/torch_gpt.py` (whose module tree this script uses). Step s
(from 0) trains on windows 4s … 4s + 3 with `torch.optim.AdamW(lr=1e-2, betas=(0.9, 0.99),
eps=1e-8, weight_decay=0.1)`, the rate times min((s + 1)/4, 1)·(1 + cos(π·s/24))/2 — gradlab's
`adamw(lr=1e-2,b2=0.99,weight_decay=0.1,schedule=cosine,warmup=4)` over 24 steps. Recorded: each
step's loss before its update, and the mean loss over all windows after the last.

Run by hand in a scratch virtualenv (never by the test suite):

    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install torch numpy
    /tmp/peer/bin/python crates/train/tests/reference/torch_charlm.py

Written with torch 2.15.0 (CPU, float64, rounded to f32); then `cargo fmt`.
"""

import gzip
import importlib.util
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..", "..", "..")
CONTEXT, BATCH, STEPS, WARMUP, LR = 16, 4, 24, 4, 1e-2


def reference_gpt(vocab):
    path = os.path.join(ROOT, "crates/layers/tests/reference/torch_gpt.py")
    spec = importlib.util.spec_from_file_location("torch_gpt", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.VOCAB, module.CONTEXT, module.LAYERS, module.HEADS, module.WIDTH = vocab, CONTEXT, 2, 2, 16
    model = module.Gpt().double()
    state = {name: module.value(name, tuple(p.shape)) for name, p in model.state_dict().items()}
    model.load_state_dict(state, strict=True)
    return model


def f32(v):
    s = str(np.float32(v))
    return s if ("." in s or "e" in s) else s + ".0"


def main():
    with gzip.open(os.path.join(ROOT, "datasets/austen/prideprejudice.txt.gz"), "rt",
                   encoding="utf-8") as f:
        text = f.read()[: STEPS * BATCH * CONTEXT + 1]
    vocab = sorted(set(text))
    ids = torch.tensor([vocab.index(c) for c in text])
    n = (len(ids) - 1) // CONTEXT
    x = ids[: n * CONTEXT].reshape(n, CONTEXT)
    y = ids[1: n * CONTEXT + 1].reshape(n, CONTEXT)
    model = reference_gpt(len(vocab))
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.99), eps=1e-8,
                            weight_decay=0.1)
    factor = lambda s: min((s + 1) / WARMUP, 1.0) * 0.5 * (1 + math.cos(math.pi * s / STEPS))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    losses = []
    for s in range(STEPS):
        batch = slice(s * BATCH, (s + 1) * BATCH)
        loss = F.cross_entropy(model(x[batch]).reshape(-1, len(vocab)), y[batch].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    with torch.no_grad():
        final = F.cross_entropy(model(x).reshape(-1, len(vocab)), y.reshape(-1)).item()
    out = (f"//! Written by `torch_charlm.py` with torch {torch.__version__} (cargo fmt has laid "
           "it out); do not edit.\n\n"
           f"pub const TEXT: &str = {json.dumps(text, ensure_ascii=False)};\n"
           f"pub const LOSSES: [f32; {STEPS}] = [{', '.join(f32(v) for v in losses)}];\n"
           f"pub const FINAL: f32 = {f32(final)};\n")
    path = os.path.join(HERE, "torch_charlm.rs")
    with open(path, "w") as f:
        f.write(out)
    print(f"wrote {path}: losses {losses[0]:.4f} … {losses[-1]:.4f}, final {final:.4f}")


if __name__ == "__main__":
    main()
