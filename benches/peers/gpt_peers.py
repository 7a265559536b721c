#!/usr/bin/env python3
"""Reference peers for gradlab's `gpt_throughput` bench: the same GPT, data and steps in PyTorch
eager and JAX jit.

The model, as benches/gpt_throughput.rs builds it: nanoGPT's GPT with vocab V (the characters
of Jane Austen's six novels, 81), context 128, 4 layers, 4 heads, width 128 — token and position
embeddings, pre-LN blocks x + attn(ln_1(x)), x + mlp(ln_2(x)) with c_attn 128→384, causal
attention, c_proj 128→128, c_fc 128→512, GELU (tanh form), c_proj 512→128, all with biases, a
final LayerNorm and an untied head 128→V without bias; nanoGPT's initialization. AdamW(lr=1e-3,
weight_decay=0.1). Data: batches of --bs windows of 128 characters from the first 90 % of the
text, targets one character on; a step = windows, forward, mean cross-entropy, backward, update.
A row is the median over --reps runs of --steps steps of (tokens after --warmup steps) / (their
seconds).

Rows: adamw (both peers); adamw_clipped (--peer torch only): Opacus-style per-example clipping
of the same step — here with torch.func (vmap of grad), clipping each example's whole gradient
to norm 1, no noise.

Set up once, in a scratch virtualenv:
    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install torch "jax[cpu]" optax numpy
Run next to `cargo bench --bench gpt_throughput`, in the same session, on a quiet machine:
    /tmp/peer/bin/python benches/peers/gpt_peers.py --peer torch --threads 2
    /tmp/peer/bin/python benches/peers/gpt_peers.py --peer jax --threads 2
"""
import argparse
import glob
import gzip
import math
import os
import statistics
import time

import numpy as np

CONTEXT, LAYERS, HEADS, WIDTH = 128, 4, 4, 128


def austen_ids(root):
    """Jane Austen's six novels as character ids (the characters in increasing order, as
    gradlab's CharText numbers them), and the number of characters."""
    text = "".join(gzip.open(p, "rt", encoding="utf-8").read()
                   for p in sorted(glob.glob(os.path.join(root, "datasets/austen/*.txt.gz"))))
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    return np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text)), len(vocab)


def austen(root):
    ids, vocab = austen_ids(root)
    return ids[: round(0.9 * len(ids))], vocab


def torch_gpt(vocab):
    """nanoGPT's GPT of the workload in PyTorch, initialized as nanoGPT does."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(WIDTH), nn.LayerNorm(WIDTH)
            self.c_attn, self.attn_proj = nn.Linear(WIDTH, 3 * WIDTH), nn.Linear(WIDTH, WIDTH)
            self.c_fc, self.mlp_proj = nn.Linear(WIDTH, 4 * WIDTH), nn.Linear(4 * WIDTH, WIDTH)

        def forward(self, x):
            b, t, d = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
            q, k, v = (z.view(b, t, HEADS, d // HEADS).transpose(1, 2) for z in (q, k, v))
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.attn_proj(a.transpose(1, 2).contiguous().view(b, t, d))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class Gpt(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocab, WIDTH), nn.Embedding(CONTEXT, WIDTH)
            self.h = nn.ModuleList(Block() for _ in range(LAYERS))
            self.ln_f, self.lm_head = nn.LayerNorm(WIDTH), nn.Linear(WIDTH, vocab, bias=False)
            for name, p in self.named_parameters():
                if p.dim() == 2:
                    std = 0.02 / math.sqrt(2 * LAYERS) if name.endswith("proj.weight") else 0.02
                    nn.init.normal_(p, 0.0, std)
                elif name.endswith("bias"):
                    nn.init.zeros_(p)

        def forward(self, idx):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for block in self.h:
                x = block(x)
            return self.lm_head(self.ln_f(x))

    return Gpt()


def batches(train, bs, seed):
    rng = np.random.default_rng(seed)
    while True:
        starts = rng.integers(0, len(train) - CONTEXT, bs)
        x = np.stack([train[s:s + CONTEXT] for s in starts])
        y = np.stack([train[s + 1:s + CONTEXT + 1] for s in starts])
        yield x, y


def timed(args, bs, make_step):
    rates = []
    for _ in range(args.reps):
        step = make_step()
        t0 = None
        for i in range(args.steps):
            if i == args.warmup:
                t0 = time.perf_counter()
            step(i)
        rates.append((args.steps - args.warmup) * bs * CONTEXT / (time.perf_counter() - t0))
    return rates


def report(row, bs, rates):
    print(f"{row:14s} B={bs:4d}  {statistics.median(rates):9.0f} tokens/s  "
          f"(runs: {', '.join(f'{r:.0f}' for r in rates)})", flush=True)


def torch_rows(args, train, vocab):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    for row in args.rows.split(","):
        for bs in (int(b) for b in args.bs.split(",")):
            def make_step():
                torch.manual_seed(0)
                model = torch_gpt(vocab)
                opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
                data = batches(train, bs, 0)

                def loss_of(params, x, y):
                    logits = torch.func.functional_call(model, params, (x[None],))
                    return F.cross_entropy(logits.view(-1, vocab), y.view(-1))

                per_example = torch.func.vmap(torch.func.grad(loss_of), in_dims=(None, 0, 0))

                def step(i):
                    x, y = (torch.from_numpy(a) for a in next(data))
                    opt.zero_grad(set_to_none=True)
                    if row == "adamw":
                        logits = model(x)
                        F.cross_entropy(logits.view(-1, vocab), y.view(-1)).backward()
                    else:
                        params = {k: v.detach() for k, v in model.named_parameters()}
                        grads = per_example(params, x, y)
                        norms = torch.sqrt(sum(g.pow(2).flatten(1).sum(1) for g in grads.values()))
                        factor = (1.0 / (norms + 1e-6)).clamp(max=1.0)
                        for name, p in model.named_parameters():
                            g = grads[name]
                            p.grad = (g * factor.view(-1, *[1] * (g.dim() - 1))).mean(0)
                    opt.step()
                return step

            report(row, bs, timed(args, bs, make_step))


def jax_rows(args, train, vocab):
    os.environ["XLA_FLAGS"] = (f"--xla_cpu_multi_thread_eigen=true "
                               f"intra_op_parallelism_threads={args.threads}")
    import jax
    import jax.numpy as jnp
    import optax

    print(f"jax {jax.__version__}, {jax.devices()}")

    def init(key):
        keys = iter(jax.random.split(key, 64))
        normal = lambda shape, std=0.02: std * jax.random.normal(next(keys), shape, jnp.float32)
        proj = 0.02 / math.sqrt(2 * LAYERS)
        ln = lambda: {"g": jnp.ones(WIDTH), "b": jnp.zeros(WIDTH)}
        blocks = [{
            "ln_1": ln(), "ln_2": ln(),
            "c_attn": {"w": normal((3 * WIDTH, WIDTH)), "b": jnp.zeros(3 * WIDTH)},
            "attn_proj": {"w": normal((WIDTH, WIDTH), proj), "b": jnp.zeros(WIDTH)},
            "c_fc": {"w": normal((4 * WIDTH, WIDTH)), "b": jnp.zeros(4 * WIDTH)},
            "mlp_proj": {"w": normal((WIDTH, 4 * WIDTH), proj), "b": jnp.zeros(WIDTH)},
        } for _ in range(LAYERS)]
        return {"wte": normal((vocab, WIDTH)), "wpe": normal((CONTEXT, WIDTH)), "h": blocks,
                "ln_f": ln(), "lm_head": normal((vocab, WIDTH))}

    def layer_norm(p, x):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / jnp.sqrt(v + 1e-5) * p["g"] + p["b"]

    def linear(p, x):
        return x @ p["w"].T + p["b"]

    def forward(params, idx):
        b, t = idx.shape
        x = params["wte"][idx] + params["wpe"][:t]
        mask = jnp.tril(jnp.ones((t, t), bool))
        for p in params["h"]:
            q, k, v = jnp.split(linear(p["c_attn"], layer_norm(p["ln_1"], x)), 3, axis=-1)
            q, k, v = (z.reshape(b, t, HEADS, WIDTH // HEADS).transpose(0, 2, 1, 3)
                       for z in (q, k, v))
            s = jnp.where(mask, q @ k.transpose(0, 1, 3, 2) / math.sqrt(WIDTH // HEADS), -jnp.inf)
            a = (jax.nn.softmax(s, axis=-1) @ v).transpose(0, 2, 1, 3).reshape(b, t, WIDTH)
            x = x + linear(p["attn_proj"], a)
            h = jax.nn.gelu(linear(p["c_fc"], layer_norm(p["ln_2"], x)), approximate=True)
            x = x + linear(p["mlp_proj"], h)
        return layer_norm(params["ln_f"], x) @ params["lm_head"].T

    def loss(params, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(forward(params, x), y).mean()

    opt = optax.adamw(1e-3, weight_decay=0.1)

    @jax.jit
    def update(params, state, x, y):
        grads = jax.grad(loss)(params, x, y)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    for row in args.rows.split(","):
        if row != "adamw":
            continue
        for bs in (int(b) for b in args.bs.split(",")):
            def make_step():
                params = init(jax.random.PRNGKey(0))
                state = opt.init(params)
                data = batches(train, bs, 0)
                holder = {"p": params, "s": state}

                def step(i):
                    x, y = next(data)
                    holder["p"], holder["s"] = update(holder["p"], holder["s"], x, y)
                    jax.block_until_ready(holder["p"])
                return step

            report(row, bs, timed(args, bs, make_step))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer", choices=["torch", "jax"], required=True)
    parser.add_argument("--rows", default="adamw,adamw_clipped")
    parser.add_argument("--bs", default="16,64")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    train, vocab = austen(root)
    (torch_rows if args.peer == "torch" else jax_rows)(args, train, vocab)


if __name__ == "__main__":
    main()
