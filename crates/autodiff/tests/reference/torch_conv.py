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

import torch
import torch.nn.functional as F

from common import Constants, b_at, beta_at, gamma_at, tensor, w_at, x_at


def main():
    out = Constants()
    case = out.case

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
    out.array("BATCH_NORM_RUNNING_MEAN", running_mean)
    out.array("BATCH_NORM_RUNNING_VAR", running_var)
    case(
        "BATCH_NORM_EVAL",
        lambda z, g, b: F.batch_norm(z, tensor([4], b_at), tensor([4], gamma_at), g, b,
                                     training=False, eps=1e-5),
        [z, tensor([4], gamma_at), tensor([4], beta_at)],
    )

    out.write("torch_conv.py", "torch_conv.rs")


if __name__ == "__main__":
    main()
