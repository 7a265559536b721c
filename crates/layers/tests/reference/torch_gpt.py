"""Reference logits for `tests/torch_gpt.rs`: nanoGPT's module tree (`transformer.wte`,
`transformer.h.{i}.attn.c_attn`, …, an untied `lm_head`), its weights set by name from a closed
formula with `load_state_dict(strict=True)` — so every name and shape of gradlab's `Gpt` must be
PyTorch's — and its logits for fixed token ids, written as Rust constants to
`tests/reference/torch_gpt.rs`.

Parameter `name`, element k: 0.3·sin(0.37·k + s) with s = (Σ bytes of name) mod 97 / 10; layer
norms' weights 1 + that. Model: vocab 11, context 8, 2 layers, 2 heads, width 8, GELU (tanh
form); ids [2, 5], id k = (3k + k²) mod 11.

Run by hand in a scratch virtualenv (never by the test suite):

    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install torch numpy
    /tmp/peer/bin/python crates/layers/tests/reference/torch_gpt.py

Written with torch 2.15.0 (CPU, float64, rounded to f32); then `cargo fmt`.
"""

import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, CONTEXT, LAYERS, HEADS, WIDTH = 11, 8, 2, 2, 8


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(WIDTH, 3 * WIDTH)
        self.c_proj = nn.Linear(WIDTH, WIDTH)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (z.view(b, t, HEADS, d // HEADS).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, d))


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_fc = nn.Linear(WIDTH, 4 * WIDTH)
        self.c_proj = nn.Linear(4 * WIDTH, WIDTH)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(WIDTH), CausalSelfAttention()
        self.ln_2, self.mlp = nn.LayerNorm(WIDTH), Mlp()

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Gpt(nn.Module):
    def __init__(self):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(VOCAB, WIDTH), wpe=nn.Embedding(CONTEXT, WIDTH),
            h=nn.ModuleList(Block() for _ in range(LAYERS)), ln_f=nn.LayerNorm(WIDTH)))
        self.lm_head = nn.Linear(WIDTH, VOCAB, bias=False)

    def forward(self, idx):
        t = self.transformer
        x = t.wte(idx) + t.wpe(torch.arange(idx.shape[1]))
        for block in t.h:
            x = block(x)
        return self.lm_head(t.ln_f(x))


def value(name, shape):
    s = (sum(name.encode()) % 97) / 10
    n = math.prod(shape)
    v = torch.tensor([0.3 * math.sin(0.37 * k + s) for k in range(n)], dtype=torch.float64)
    if ".ln_" in name and name.endswith("weight"):
        v = 1.0 + v
    return v.reshape(shape)


def f32(v):
    s = str(np.float32(v))
    return s if ("." in s or "e" in s) else s + ".0"


def main():
    model = Gpt().double()
    state = {name: value(name, tuple(p.shape)) for name, p in model.state_dict().items()}
    model.load_state_dict(state, strict=True)
    ids = torch.tensor([(3 * k + k * k) % VOCAB for k in range(10)]).reshape(2, 5)
    logits = model(ids).detach().reshape(-1).tolist()
    names = ", ".join(f'"{n}"' for n in state)
    out = (f"//! Written by `torch_gpt.py` with torch {torch.__version__} (cargo fmt has laid it "
           "out); do not edit.\n\n"
           f"pub const NAMES: [&str; {len(state)}] = [{names}];\n"
           f"pub const LOGITS: [f32; {len(logits)}] = [{', '.join(f32(v) for v in logits)}];\n")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_gpt.rs")
    with open(path, "w") as f:
        f.write(out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
