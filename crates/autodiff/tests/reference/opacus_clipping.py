"""Reference numbers for `tests/opacus_clipping.rs`: per-sample gradient
norms and the flat-clipped mean gradient of a small MLP, from Opacus.

The MLP is 6-5-4-3 (Linear+ReLU, Linear+tanh, Linear, every layer with a
bias) with weights and a batch of 5 given by closed formulas (the Rust test
builds the same ones), under softmax cross-entropy with the labels below.
Opacus' `GradSampleModule` materializes every per-sample gradient; its
`DPOptimizer` (noise_multiplier = 0, max_grad_norm = C, expected batch 5)
clips them and averages: p.grad = (1/B) Σ_b min(1, C/(‖g_b‖ + 1e-6))·g_b.

Run by hand in a scratch virtualenv (never by the test suite):

    python3 -m venv /tmp/opacus && /tmp/opacus/bin/pip install torch opacus
    /tmp/opacus/bin/python crates/autodiff/tests/reference/opacus_clipping.py

Printed with torch 2.15.0 and opacus 1.6.0; the output is pasted into the
test as Rust constants.
"""

import math

import opacus
import torch
from opacus.optimizers import DPOptimizer

SIZES = [6, 5, 4, 3]
BATCH = 5
LABELS = [0, 2, 1, 2, 0]
# Examples 0, 1 and 4 have ‖g_b‖ < C, examples 2 and 3 are clipped.
CLIP = 1.8


def weight(layer, o, i):
    return 0.6 * math.sin(1.0 + 3.0 * layer + 1.3 * o + 0.7 * i)


def bias(layer, o):
    return 0.2 * math.cos(2.0 + layer + 0.9 * o)


def example(b, i):
    return 1.5 * math.sin(0.5 + 1.1 * b + 0.37 * i * (b + 1))


def main():
    torch.manual_seed(0)
    layers = []
    for l in range(len(SIZES) - 1):
        lin = torch.nn.Linear(SIZES[l], SIZES[l + 1])
        with torch.no_grad():
            for o in range(SIZES[l + 1]):
                lin.bias[o] = bias(l, o)
                for i in range(SIZES[l]):
                    lin.weight[o, i] = weight(l, o, i)
        layers.append(lin)
    model = torch.nn.Sequential(layers[0], torch.nn.ReLU(), layers[1], torch.nn.Tanh(), layers[2])
    gsm = opacus.GradSampleModule(model, loss_reduction="mean")
    x = torch.tensor([[example(b, i) for i in range(SIZES[0])] for b in range(BATCH)],
                     dtype=torch.float32)
    y = torch.tensor(LABELS)
    sgd = torch.optim.SGD(gsm.parameters(), lr=0.0)
    opt = DPOptimizer(sgd, noise_multiplier=0.0, max_grad_norm=CLIP,
                      expected_batch_size=BATCH, loss_reduction="mean")
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(gsm(x), y)
    loss.backward()
    params = list(gsm.parameters())
    norms = torch.stack([p.grad_sample.reshape(BATCH, -1).norm(2, dim=1) for p in params], dim=1)
    total = norms.norm(2, dim=1)
    opt.pre_step()
    print(f"// torch {torch.__version__}, opacus {opacus.__version__}")
    print(f"const TOTAL_NORMS: [f32; {BATCH}] = {fmt(total.tolist())};")
    print(f"const TENSOR_NORMS: [[f32; {len(params)}]; {BATCH}] = [")
    for row in norms.tolist():
        print(f"    {fmt(row)},")
    print("];")
    flat = [v for p in params for v in p.grad.reshape(-1).tolist()]
    print(f"const CLIPPED_MEAN: [f32; {len(flat)}] = {fmt(flat)};")


def fmt(values):
    return "[" + ", ".join(f"{v:.9e}" for v in values) + "]"


if __name__ == "__main__":
    main()
