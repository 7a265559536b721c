"""DP-SGD on MNIST with Opacus: the peer of

    cargo run --release --example mnist -- --optimizer "OPT" --batch-size B --epochs E --dp-epsilon EPS

on the same model (MLP 784-512-512-10, ReLU, pixels / 255; with
`--model cnn` the private CNN of `mnist --model cnn --dp-epsilon`, gradlab's
`scatter-cnn 81x7x7-10` on the images' scattering coefficients, computed by
kymatio's `Scattering2D(J=2, L=8)`; with `--model dormann-cnn` gradlab's
`dormann-cnn 1x28x28-10`; with `--model tempered-cnn` the benchmark's
`private-cnn 1x28x28-10`), the same recipe (SGD at lr with momentum, cosine
decay per step with `--cosine`, expected batch B by Poisson sampling at
q = 1/⌈60000/B⌉, flat clipping to C, E epochs) and the same privacy budget
(σ chosen by Opacus' get_noise_multiplier for ε at δ, RDP accountant). The
weights start from PyTorch's default initialization, not gradlab's.

Run by hand in a scratch virtualenv on a quiet machine (never by the test
suite):

    python3 -m venv /tmp/opacus && /tmp/opacus/bin/pip install torch opacus numpy kymatio
    /tmp/opacus/bin/python benches/peers/opacus_dp_mnist.py --lr 4 --batch-size 1024 --epochs 15 --seed 0
    /tmp/opacus/bin/python benches/peers/opacus_dp_mnist.py --model dormann-cnn --lr 10.244 \
        --momentum 0.5784 --batch-size 10000 --epochs 40 --clip 0.4196 --seed 0

It prints, per epoch, the training seconds (evaluation excluded), the test
accuracy and ε, as gradlab's example does.
"""

import argparse
import gzip
import os
import time

import numpy as np
import opacus
import torch
from opacus import PrivacyEngine

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "datasets", "mnist")


def idx(name, data=DATA):
    with gzip.open(os.path.join(data, name + ".gz"), "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


class Normalize(torch.nn.Module):
    """(x − mean)/std on every value, gradlab's `Normalize` layer."""

    def __init__(self, mean, std):
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, x):
        return (x - self.mean) / self.std


def scattered(x):
    """Rows of 28 × 28 pixels as rows of their 81 × 7 × 7 scattering
    coefficients (kymatio's `Scattering2D(J=2, L=8)`)."""
    # kymatio.torch imports its 3-D transform too, which needs a SciPy
    # function newer SciPy no longer has; the 2-D front end is enough.
    from kymatio.scattering2d.frontend.torch_frontend import ScatteringTorch2D

    s = ScatteringTorch2D(J=2, shape=(28, 28), L=8)
    with torch.no_grad():
        return torch.cat([s(b.reshape(-1, 1, 28, 28)).reshape(len(b), -1) for b in x.split(1000)])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float, default=4.0)
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--epsilon", type=float, default=3.0)
    p.add_argument("--delta", type=float, default=1e-5)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", choices=["mlp", "cnn", "dormann-cnn", "tempered-cnn"], default="mlp")
    p.add_argument("--data-dir", default=DATA, help="the four IDX files (MNIST's layout)")
    p.add_argument("--cosine", action="store_true", help="decay the rate to 0 by a cosine over the run")
    p.add_argument("--grad-sample-mode", default="hooks", help="hooks (per-sample gradients) or ghost")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    x = torch.tensor(idx("train-images-idx3-ubyte", a.data_dir).reshape(-1, 784), dtype=torch.float32) / 255
    y = torch.tensor(idx("train-labels-idx1-ubyte", a.data_dir), dtype=torch.long)
    xt = torch.tensor(idx("t10k-images-idx3-ubyte", a.data_dir).reshape(-1, 784), dtype=torch.float32) / 255
    yt = torch.tensor(idx("t10k-labels-idx1-ubyte", a.data_dir), dtype=torch.long)
    if a.model == "cnn":
        x, xt = scattered(x), scattered(xt)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=a.batch_size)

    nn = torch.nn
    if a.model == "mlp":
        model = nn.Sequential(
            nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10),
        )
    elif a.model == "cnn":
        model = nn.Sequential(
            nn.Unflatten(1, (81, 7, 7)), nn.GroupNorm(27, 81),
            nn.Conv2d(81, 32, 3, stride=2, padding=1), nn.Tanh(),
            nn.Conv2d(32, 64, 3, padding=1), nn.Tanh(),
            nn.Flatten(), nn.Linear(1024, 32), nn.Tanh(), nn.Linear(32, 10),
        )
    elif a.model == "dormann-cnn":
        model = nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)), Normalize(0.1307, 0.3081),
            nn.Conv2d(1, 16, 5), nn.MaxPool2d(2), nn.Tanh(),
            nn.Conv2d(16, 32, 4), nn.MaxPool2d(2), nn.Tanh(),
            nn.Flatten(), nn.Linear(512, 32), nn.Tanh(), nn.Linear(32, 10),
        )
    else:
        model = nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, 16, 8, stride=2, padding=3), nn.GroupNorm(4, 16), nn.Tanh(),
            nn.MaxPool2d(2, 1),
            nn.Conv2d(16, 32, 4, stride=2), nn.GroupNorm(4, 32), nn.Tanh(), nn.MaxPool2d(2, 1),
            nn.Flatten(), nn.Linear(512, 32), nn.Tanh(), nn.Linear(32, 10),
        )
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
    engine = PrivacyEngine(accountant="rdp")
    model, opt, loader = engine.make_private_with_epsilon(
        module=model, optimizer=opt, data_loader=loader, target_epsilon=a.epsilon,
        target_delta=a.delta, epochs=a.epochs, max_grad_norm=a.clip,
        grad_sample_mode=a.grad_sample_mode, poisson_sampling=True,
    )
    print(f"torch {torch.__version__}, opacus {opacus.__version__}, {a.threads} threads, "
          f"sigma {opt.noise_multiplier:.4f}, q {1 / len(loader):.4e}, {a}")
    steps = a.epochs * len(loader)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt.original_optimizer, lambda t: 0.5 * (1 + np.cos(np.pi * min(t, steps) / steps)) if a.cosine else 1.0)
    total = 0.0
    for epoch in range(1, a.epochs + 1):
        model.train()
        start = time.perf_counter()
        for xb, yb in loader:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            schedule.step()
        seconds = time.perf_counter() - start
        total += seconds
        model.eval()
        with torch.no_grad():
            acc = (model(xt).argmax(1) == yt).float().mean().item()
        eps = engine.get_epsilon(a.delta)
        print(f"epoch {epoch}/{a.epochs}  test acc {100 * acc:.2f}%  eps {eps:.3f}  {seconds:.1f} s")
    print(f"final test accuracy {100 * acc:.2f}%  eps {eps:.3f}  training {total:.1f} s")


if __name__ == "__main__":
    main()
