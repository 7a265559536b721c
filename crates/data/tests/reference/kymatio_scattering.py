"""Reference numbers for `tests/scattering.rs`: kymatio's 2-D scattering
transform of three images, written as Rust constants to
`tests/reference/kymatio_scattering.rs`.

Each image is x(k) = sin(0.3 + 0.37·k) + 0.2·cos(1.9·k) at its flat index
k (rounded to f32; the Rust test builds the same), and each case records,
for every map of the output, the sum of its values and the sum of their
squares, and the whole of its last map:

- [1, 28, 28] (MNIST's shape), J = 2, L = 8: 81 maps of 7 × 7
- [2, 20, 24], J = 2, L = 4: 25 maps of 5 × 6 per channel
- [1, 32, 32], J = 3, L = 6: 127 maps of 4 × 4 (second-order wavelets at
  the coarser resolution)

Run by hand in a scratch virtualenv (never by the test suite):

    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install torch kymatio
    /tmp/peer/bin/python crates/data/tests/reference/kymatio_scattering.py

Written with kymatio 0.3.0 and torch 2.15.0 (CPU, float32); then `cargo fmt`.
"""

import math
import os

import numpy as np
import torch

# kymatio.torch imports its 3-D transform too, which needs a SciPy function
# newer SciPy no longer has; the 2-D front end is all that is used.
from kymatio.scattering2d.frontend.torch_frontend import ScatteringTorch2D

CASES = [
    ("MNIST", (1, 28, 28), 2, 8),
    ("RECT", (2, 20, 24), 2, 4),
    ("J3", (1, 32, 32), 3, 6),
]


def x_at(k):
    return math.sin(0.3 + 0.37 * k) + 0.2 * math.cos(1.9 * k)


def f32(v):
    """The shortest decimal that reads back as the same f32."""
    s = str(np.float32(v))
    return s if any(c in s for c in ".e") else s + ".0"


def floats(values):
    return ", ".join(f32(v) for v in np.asarray(values, dtype=np.float32))


def main():
    lines = [
        "// Written by kymatio_scattering.py (kymatio 0.3.0, torch 2.15.0); do not edit.",
        "",
    ]
    for name, (c, h, w), j, angles in CASES:
        n = c * h * w
        x = torch.tensor([x_at(k) for k in range(n)], dtype=torch.float32).reshape(1, c, h, w)
        s = ScatteringTorch2D(J=j, shape=(h, w), L=angles)(x)  # [1, C, maps, h', w']
        maps = s.reshape(-1, s.shape[-2] * s.shape[-1]).double()
        lines.append(f"pub const {name}_SUM: [f32; {maps.shape[0]}] = [{floats(maps.sum(1))}];")
        lines.append(
            f"pub const {name}_SQUARES: [f32; {maps.shape[0]}] = [{floats((maps ** 2).sum(1))}];"
        )
        lines.append(f"pub const {name}_LAST: [f32; {maps.shape[1]}] = [{floats(maps[-1])}];")
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "kymatio_scattering.rs"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
