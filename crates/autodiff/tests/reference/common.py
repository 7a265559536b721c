"""What the PyTorch reference scripts share: their inputs' formulas (the Rust tests'
`common` module builds the same ones), the reduction L = Σ y ⊙ R, and writing the results
as Rust constants."""

import math
import os

import numpy as np
import torch


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


class Constants:
    """The Rust constants of one reference file, collected case by case."""

    def __init__(self):
        self.out = []

    def case(self, prefix, f, inputs):
        """`{prefix}_Y` = f(inputs), and `{prefix}_D{i}` the gradient of input i of
        L = Σ f(inputs) ⊙ R."""
        leaves = [t.clone().requires_grad_(True) for t in inputs]
        y = f(*leaves)
        r = tensor(y.shape, r_at)
        (y * r).sum().backward()
        self.out.append(rust_array(f"{prefix}_Y", y))
        for i, leaf in enumerate(leaves):
            self.out.append(rust_array(f"{prefix}_D{i}", leaf.grad))

    def array(self, name, t):
        self.out.append(rust_array(name, t))

    def write(self, script, name):
        header = (f"//! Written by `{script}` with torch {torch.__version__} (cargo fmt has laid "
                  "it out); do not edit.\n\n")
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
        with open(path, "w") as f:
            f.write(header + "".join(self.out))
        print(f"wrote {path}")
