"""Load a checkpoint saved by `cargo run --example mnist -- --save DIR` into
the equivalent PyTorch `nn.Sequential` and measure its test accuracy there.

The model is rebuilt from the name the checkpoint records (`mlp 784-…-10`
with its activation, `cnn 1x28x28-10`, `private-cnn 1x28x28-10`,
`dormann-cnn 1x28x28-10`, `scatter-cnn 81x7x7-10`); the
weights load with `load_state_dict(strict=True)`, so a missing, extra or
misshapen tensor is an error. Pixels are scaled to [0, 1] as gradlab reads
them; a `scatter-cnn` reads the images' scattering coefficients, computed
by kymatio's `Scattering2D(J=2, L=8)` (which gradlab's transform matches).
The accuracy printed should equal the one the run printed.

    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install torch safetensors numpy kymatio
    /tmp/peer/bin/python benches/peers/torch_load_checkpoint.py runs/cnn [datasets/mnist]

DIR may be a checkpoint directory (its newest step is read) or one step.
"""

import gzip
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file


def idx(path):
    """An IDX file, raw or gzipped, as a numpy array."""
    opener = gzip.open if not os.path.exists(path) else open
    path = path if os.path.exists(path) else path + ".gz"
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def activation(name):
    return {
        "relu": nn.ReLU(),
        "leaky_relu": nn.LeakyReLU(0.01),
        "tanh": nn.Tanh(),
        "sigmoid": nn.Sigmoid(),
        "gelu": nn.GELU(approximate="tanh"),
    }[name]


class Normalize(nn.Module):
    """(x − mean)/std on every value: torchvision's `Normalize` as a module,
    gradlab's `Normalize` layer."""

    def __init__(self, mean, std):
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, x):
        return (x - self.mean) / self.std


def model_for(name, config):
    kind, shape = name.split(" ", 1)
    if kind == "mlp":
        widths = [int(w) for w in shape.split("-")]
        layers = []
        for i in range(len(widths) - 1):
            layers.append(nn.Linear(widths[i], widths[i + 1]))
            if i + 2 < len(widths):
                layers.append(activation(config["activation"]))
                if config.get("dropout", 0) > 0:
                    layers.append(nn.Dropout(config["dropout"]))
        return nn.Sequential(*layers)
    image, classes = shape.split("-")
    c, h, w = (int(v) for v in image.split("x"))
    classes = int(classes)
    if kind == "cnn":
        flat = 64 * (h // 4) * (w // 4)
        return nn.Sequential(
            nn.Unflatten(1, (c, h, w)),
            nn.Conv2d(c, 32, 5, padding=2, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(flat, 128), nn.ReLU(), nn.Linear(128, classes),
        )
    if kind == "private-cnn":
        def side(n):
            n = (n + 2 * 3 - 8) // 2 + 1  # conv 8×8, stride 2, padding 3
            n = n - 1  # max pool 2, stride 1
            n = (n - 4) // 2 + 1  # conv 4×4, stride 2
            return n - 1  # max pool 2, stride 1

        flat = 32 * side(h) * side(w)
        return nn.Sequential(
            nn.Unflatten(1, (c, h, w)),
            nn.Conv2d(c, 16, 8, stride=2, padding=3), nn.GroupNorm(4, 16), nn.Tanh(),
            nn.MaxPool2d(2, 1),
            nn.Conv2d(16, 32, 4, stride=2), nn.GroupNorm(4, 32), nn.Tanh(), nn.MaxPool2d(2, 1),
            nn.Flatten(), nn.Linear(flat, 32), nn.Tanh(), nn.Linear(32, classes),
        )
    if kind == "scatter-cnn":
        flat = 64 * ((h + 1) // 2) * ((w + 1) // 2)  # conv 3×3, stride 2, padding 1
        return nn.Sequential(
            nn.Unflatten(1, (c, h, w)), nn.GroupNorm(27, c),
            nn.Conv2d(c, 32, 3, stride=2, padding=1), nn.Tanh(),
            nn.Conv2d(32, 64, 3, padding=1), nn.Tanh(),
            nn.Flatten(), nn.Linear(flat, 32), nn.Tanh(), nn.Linear(32, classes),
        )
    if kind == "dormann-cnn":
        flat = 32 * (((h - 4) // 2 - 3) // 2) * (((w - 4) // 2 - 3) // 2)
        return nn.Sequential(
            nn.Unflatten(1, (c, h, w)), Normalize(0.1307, 0.3081),
            nn.Conv2d(c, 16, 5), nn.MaxPool2d(2), nn.Tanh(),
            nn.Conv2d(16, 32, 4), nn.MaxPool2d(2), nn.Tanh(),
            nn.Flatten(), nn.Linear(flat, 32), nn.Tanh(), nn.Linear(32, classes),
        )
    raise SystemExit(f"unknown model {name!r}")


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    ckpt = sys.argv[1]
    if not os.path.exists(os.path.join(ckpt, "state.json")):
        steps = sorted(d for d in os.listdir(ckpt) if d.startswith("step-"))
        ckpt = os.path.join(ckpt, steps[-1])
    with open(os.path.join(ckpt, "state.json")) as f:
        state = json.load(f)
    data = sys.argv[2] if len(sys.argv) > 2 else state.get("data_source") or "datasets/mnist"
    model = model_for(state["model"], state["config"])
    weights = load_file(os.path.join(ckpt, "model.safetensors"))
    tensors = {k.removeprefix("layers."): v for k, v in weights.items()}
    # Batch norm's step counter matters to PyTorch only without a momentum;
    # gradlab does not keep it.
    for name, buffer in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            tensors[name] = buffer
    model.load_state_dict(tensors, strict=True)
    model.eval()
    images = idx(os.path.join(data, "t10k-images-idx3-ubyte"))
    labels = idx(os.path.join(data, "t10k-labels-idx1-ubyte"))
    x = torch.tensor(images.reshape(len(images), -1), dtype=torch.float32) / 255.0
    if state["model"].startswith("scatter-cnn"):
        # kymatio.torch imports its 3-D transform too, which needs a SciPy
        # function newer SciPy no longer has; the 2-D front end is enough.
        from kymatio.scattering2d.frontend.torch_frontend import ScatteringTorch2D

        h, w = images.shape[1:]
        scattering = ScatteringTorch2D(J=2, shape=(h, w), L=8)
        with torch.no_grad():
            x = torch.cat([scattering(b.reshape(-1, 1, h, w)) for b in x.split(1000)])
        x = x.reshape(len(images), -1)
    with torch.no_grad():
        predicted = model(x).argmax(1).numpy()
    accuracy = (predicted == labels).mean()
    print(f"{state['model']} from {ckpt}: PyTorch test accuracy {100 * accuracy:.2f}% "
          f"({(predicted == labels).sum()} of {len(labels)})")


if __name__ == "__main__":
    main()
