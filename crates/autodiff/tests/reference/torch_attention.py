"""Reference numbers for `tests/torch_attention.rs`: forward values and
gradients of PyTorch's ops of a GPT, written as Rust constants to
`tests/reference/torch_attention.rs`.

As in `torch_conv.py`, every input is a closed formula of its flat index and
each op's output y is reduced to L = Σ y ⊙ R, R = cos(0.5 + 0.77·k), so that
the gradients are PyTorch's backward of R. The cases:

- attention: qkv [2, 5, 12] split as nanoGPT's CausalSelfAttention splits
  its c_attn output (d = 4, 2 heads), `scaled_dot_product_attention` with
  `is_causal=True`, heads merged back to [2, 5, 4]
- embedding: a table [7, 3] at ids [2, 5], id k = (3k + k²) mod 7
- layer_norm: x [2, 5, 4] over the last axis, γ and β, ε = 1e-5
- linear over positions: x [2, 3, 4], W [5, 4], b [5], GELU (tanh form)
- cross-entropy over positions: logits [2, 3, 6], label k = (5k + 1) mod 6,
  each example's loss the mean over its 3 positions

Run by hand in a scratch virtualenv (never by the test suite):

    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install torch numpy
    /tmp/peer/bin/python crates/autodiff/tests/reference/torch_attention.py

Written with torch 2.15.0 (CPU, float64, rounded to f32); then `cargo fmt`.
"""

import math
import os

import numpy as np
import torch
import torch.nn.functional as F


def tensor(shape, f):
    n = math.prod(shape)
    return torch.tensor([f(k) for k in range(n)], dtype=torch.float64).reshape(shape)


def x_at(k):
    return math.sin(0.3 + 0.37 * k) + 0.2 * math.cos(1.9 * k)


def w_at(k):
    return 0.5 * math.sin(1.0 + 0.61 * k)


def b_at(k):
    return 0.2 * math.cos(2.0 + 0.9 * k)


def r_at(k):
    return math.cos(0.5 + 0.77 * k)


def gamma_at(k):
    return 1.0 + 0.3 * math.sin(0.4 + 1.7 * k)


def beta_at(k):
    return 0.1 * math.cos(0.8 + 1.3 * k)


def f32(v):
    """The shortest decimal that reads back as the f32 nearest to v."""
    s = str(np.float32(v))
    return s if ("." in s or "e" in s) else s + ".0"


def rust_array(name, t):
    values = ", ".join(f32(v) for v in t.detach().reshape(-1).tolist())
    return f"pub const {name}: [f32; {t.numel()}] = [{values}];\n"


def attention(qkv, heads):
    b, t, three_d = qkv.shape
    d = three_d // 3
    q, k, v = qkv.split(d, dim=2)
    q, k, v = (z.view(b, t, heads, d // heads).transpose(1, 2) for z in (q, k, v))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return y.transpose(1, 2).contiguous().view(b, t, d)


def main():
    out = []

    def case(prefix, f, inputs):
        leaves = [t.clone().requires_grad_(True) for t in inputs]
        y = f(*leaves)
        r = tensor(y.shape, r_at)
        (y * r).sum().backward()
        out.append(rust_array(f"{prefix}_Y", y))
        for i, leaf in enumerate(leaves):
            out.append(rust_array(f"{prefix}_D{i}", leaf.grad))

    case("ATTENTION", lambda qkv: attention(qkv, 2), [tensor([2, 5, 12], x_at)])
    ids = torch.tensor([(3 * k + k * k) % 7 for k in range(10)]).reshape(2, 5)
    case("EMBEDDING", lambda w: F.embedding(ids, w), [tensor([7, 3], w_at)])
    case(
        "LAYER_NORM",
        lambda x, g, b: F.layer_norm(x, (4,), g, b, eps=1e-5),
        [tensor([2, 5, 4], x_at), tensor([4], gamma_at), tensor([4], beta_at)],
    )
    case(
        "LINEAR",
        lambda x, w, b: F.gelu(F.linear(x, w, b), approximate="tanh"),
        [tensor([2, 3, 4], x_at), tensor([5, 4], w_at), tensor([5], b_at)],
    )
    labels = torch.tensor([(5 * k + 1) % 6 for k in range(6)])
    case(
        "CROSS_ENTROPY",
        lambda z: F.cross_entropy(z.reshape(-1, 6), labels, reduction="none").reshape(2, 3).mean(1),
        [tensor([2, 3, 6], x_at)],
    )

    header = (
        "//! Written by `torch_attention.py` with torch "
        + torch.__version__
        + " (cargo fmt has laid it out); do not edit.\n\n"
    )
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_attention.rs")
    with open(path, "w") as f:
        f.write(header + "".join(out))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
