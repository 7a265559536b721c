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

import torch
import torch.nn.functional as F

from common import Constants, b_at, beta_at, gamma_at, tensor, w_at, x_at


def attention(qkv, heads):
    b, t, three_d = qkv.shape
    d = three_d // 3
    q, k, v = qkv.split(d, dim=2)
    q, k, v = (z.view(b, t, heads, d // heads).transpose(1, 2) for z in (q, k, v))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return y.transpose(1, 2).contiguous().view(b, t, d)


def main():
    out = Constants()
    case = out.case

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

    out.write("torch_attention.py", "torch_attention.rs")


if __name__ == "__main__":
    main()
