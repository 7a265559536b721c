#!/usr/bin/env python3
"""The MNIST speedrun in PyTorch eager: seconds of training to a target test accuracy.

The same recipe as gradlab's `optim_bench --experiment speedrun` and
`speedrun_jax.py`: MLP 784-W-W-10 with ReLU, softmax cross-entropy (mean),
inputs in [0, 1]; torch.optim.Adam or NAdam (Adam fused) with gradlab's
schedule, lr_t = lr * (1 + cos(pi (t - 1) / T)) / 2 * min(1, t / W) for step
t = 1..T (a LambdaLR); each epoch a seeded shuffle cut into full batches.
The test set is evaluated EVALS times an epoch, untimed; the time to target
is the seconds of training steps until the first evaluation at or above
--target. PyTorch eager slows down badly when another process shares the
cores: run it on a quiet machine.

Set up once (scratch virtualenv, never the test suite):
    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install numpy torch \
        --index-url https://download.pytorch.org/whl/cpu
Run, e.g. for seeds 0-2, back to back with gradlab and the JAX peer:
    /tmp/peer/bin/python benches/peers/speedrun_torch.py --optimizer adam --lr 0.003 \
        --warmup 100 --batch-size 256 --epochs 2 --width 512 --seed 0
"""
import argparse
import gzip
import math
import os
import time

EVALS = 8


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return raw[4 + 4 * ndim:], dims


def load(data_dir, split):
    import numpy as np

    def find(stem):
        for name in (stem, stem + ".gz"):
            p = os.path.join(data_dir, name)
            if os.path.exists(p):
                return p
        raise SystemExit(f"missing {stem}[.gz] in {data_dir}")

    img, dims = read_idx(find(f"{split}-images-idx3-ubyte"))
    lab, _ = read_idx(find(f"{split}-labels-idx1-ubyte"))
    x = np.frombuffer(img, np.uint8).reshape(dims[0], -1).astype(np.float32) / 255.0
    return x, np.frombuffer(lab, np.uint8).astype(np.int64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="datasets/mnist")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--optimizer", default="adam", choices=["adam", "nadam"])
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--target", type=float, default=0.98)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_train, y_train = (torch.from_numpy(a) for a in load(args.data_dir, "train"))
    x_test, y_test = (torch.from_numpy(a) for a in load(args.data_dir, "t10k"))
    b = args.batch_size
    per_epoch = x_train.shape[0] // b
    total = per_epoch * args.epochs
    marks = sorted({-(-k * total // (EVALS * args.epochs)) for k in range(1, EVALS * args.epochs + 1)})
    # nn.Linear's default initialization: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    model = torch.nn.Sequential(
        torch.nn.Linear(784, args.width), torch.nn.ReLU(),
        torch.nn.Linear(args.width, args.width), torch.nn.ReLU(),
        torch.nn.Linear(args.width, 10))
    if args.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=args.lr, fused=True)
    else:
        opt = torch.optim.NAdam(model.parameters(), lr=args.lr)

    def factor(count):
        t = count + 1
        decay = 0.5 * (1 + math.cos(math.pi * min(t - 1, total) / total))
        return decay * (min(1.0, t / args.warmup) if args.warmup > 0 else 1.0)

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    loss_fn = torch.nn.CrossEntropyLoss()

    def accuracy():
        with torch.no_grad():
            return (model(x_test).argmax(1) == y_test).float().mean().item()

    seconds, reached, acc, t = 0.0, None, 0.0, 0
    for epoch in range(args.epochs):
        order = torch.from_numpy(np.random.RandomState(args.seed * 1000 + epoch)
                                 .permutation(x_train.shape[0])[:per_epoch * b])
        xs, ys = x_train[order].view(per_epoch, b, -1), y_train[order].view(per_epoch, b)
        start = time.perf_counter()
        for i in range(per_epoch):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xs[i]), ys[i])
            loss.backward()
            opt.step()
            sched.step()
            t += 1
            if t in marks:
                seconds += time.perf_counter() - start
                acc = accuracy()
                if reached is None and acc >= args.target:
                    reached = seconds
                start = time.perf_counter()
        seconds += time.perf_counter() - start
    shown = "not reached" if reached is None else f"{reached:.2f} s"
    print(f"torch {torch.__version__} {args.optimizer} lr={args.lr} warmup={args.warmup} "
          f"B={b} epochs={args.epochs} width={args.width} seed={args.seed}: "
          f"time to {100 * args.target:.1f}% {shown}, final {100 * acc:.2f}% after "
          f"{seconds:.2f} s of training")


if __name__ == "__main__":
    main()
