"""Reference numbers for `tests/torch_conv.rs`: forward values and
gradients of PyTorch's convolution, pooling and normalization, written as
Rust constants to `tests/reference/torch_conv.rs`.

Every input, weight and upstream gradient is given by a closed formula of
its flat index (the Rust test builds the same ones), so nothing but the
results is transcribed. Each op's output y is reduced to the loss
L = Σ y ⊙ R, R = cos(0.5 + 0.77·k) at flat index k, whose gradient with
respect to y is R; the gradients of its inputs are then PyTorch's backward
of R. The cases take odd sizes, strides, paddings and a dilation:

- conv2d: x [2, 3, 7, 6], W [4, 3, 3, 3], bias, stride (2, 1), padding (1, 2),
  dilation (1, 2)
- max_pool2d: x, kernel (3, 2), stride (2, 1), padding (1, 1)
- avg_pool2d: x, kernel 3, stride 2, padding 1 (padding counted, PyTorch's
  default)
- global average pool: x, `mean((2, 3))`
- group_norm: z [2, 4, 5, 3], 2 groups, γ and β, ε = 1e-5
- layer_norm: r [3, 5] over the last axis, γ and β, ε = 1e-5
- batch_norm: z, γ and β, ε = 1e-5, training (the batch's statistics; and the
  running averages after that step from μ = 0, σ² = 1 at momentum 0.1) and
  evaluating (running statistics μ_c = b_at(c), σ²_c = gamma_at(c))

Run by hand in a scratch virtualenv (never by the test suite):

    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install torch
    /tmp/peer/bin/python crates/autodiff/tests/reference/torch_conv.py

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

    x = tensor([2, 3, 7, 6], x_at)
    w = tensor([4, 3, 3, 3], w_at)
    b = tensor([4], b_at)
    case(
        "CONV",
        lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
        [x, w, b],
    )
    case("MAX_POOL", lambda x: F.max_pool2d(x, (3, 2), stride=(2, 1), padding=(1, 1)), [x])
    case("AVG_POOL", lambda x: F.avg_pool2d(x, 3, stride=2, padding=1), [x])
    case("GLOBAL_POOL", lambda x: x.mean((2, 3)), [x])
    z = tensor([2, 4, 5, 3], x_at)
    case(
        "GROUP_NORM",
        lambda z, g, b: F.group_norm(z, 2, g, b, eps=1e-5),
        [z, tensor([4], gamma_at), tensor([4], beta_at)],
    )
    r = tensor([3, 5], x_at)
    case(
        "LAYER_NORM",
        lambda r, g, b: F.layer_norm(r, (5,), g, b, eps=1e-5),
        [r, tensor([5], gamma_at), tensor([5], beta_at)],
    )

    case(
        "BATCH_NORM",
        lambda z, g, b: F.batch_norm(z, None, None, g, b, training=True, eps=1e-5),
        [z, tensor([4], gamma_at), tensor([4], beta_at)],
    )
    running_mean, running_var = torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    F.batch_norm(z, running_mean, running_var, training=True, momentum=0.1, eps=1e-5)
    out.append(rust_array("BATCH_NORM_RUNNING_MEAN", running_mean))
    out.append(rust_array("BATCH_NORM_RUNNING_VAR", running_var))
    case(
        "BATCH_NORM_EVAL",
        lambda z, g, b: F.batch_norm(z, tensor([4], b_at), tensor([4], gamma_at), g, b,
                                     training=False, eps=1e-5),
        [z, tensor([4], gamma_at), tensor([4], beta_at)],
    )

    header = (
        "//! Written by `torch_conv.py` with torch "
        + torch.__version__
        + " (cargo fmt has laid it out); do not edit.\n\n"
    )
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_conv.rs")
    with open(path, "w") as f:
        f.write(header + "".join(out))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
