#!/usr/bin/env python3
"""Reference peer for gradlab's training-throughput benchmark: the same MLP in PyTorch (eager).

Workload: MNIST MLP 784-512-512-10, ReLU, softmax cross-entropy (mean), float32 inputs in [0, 1],
data preloaded, batches as contiguous slices in a fixed order; forward + backward + optimizer step.
Prints steady-state training examples/second per (optimizer, batch size), skipping warm-up steps.

Set up once (the PyTorch package is large):
    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install torch numpy
Run it next to gradlab's own benchmark, in the same session, and compare ratios:
    /tmp/peer/bin/python benches/peers/torch_mlp.py --data-dir datasets/mnist --threads 2
"""
import argparse
import gzip
import os
import statistics
import time


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return raw[4 + 4 * ndim:], dims


def find(data_dir, stem):
    for name in (stem, stem + ".gz"):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            return p
    raise SystemExit(f"missing {stem}[.gz] in {data_dir}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="datasets/mnist")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--opts", default="sgd,adam,adam_fused")
    ap.add_argument("--bs", default="32,128,512")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[k] = str(args.threads)
    import numpy as np
    import torch
    import torch.nn as nn

    torch.set_num_threads(args.threads)
    img, dims = read_idx(find(args.data_dir, "train-images-idx3-ubyte"))
    lab, _ = read_idx(find(args.data_dir, "train-labels-idx1-ubyte"))
    X = torch.from_numpy(np.frombuffer(img, np.uint8).reshape(dims[0], -1).astype(np.float32) / 255.0)
    Y = torch.from_numpy(np.frombuffer(lab, np.uint8).astype(np.int64))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {X.shape[0]} examples")
    for opt_name in args.opts.split(","):
        for bs in (int(b) for b in args.bs.split(",")):
            rates = []
            for _ in range(args.reps):
                torch.manual_seed(0)
                model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                                      nn.Linear(512, 10))
                if opt_name == "sgd":
                    opt = torch.optim.SGD(model.parameters(), lr=0.1)
                else:
                    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=opt_name == "adam_fused")
                loss_fn = nn.CrossEntropyLoss()
                steps = X.shape[0] // bs
                t0 = None
                for i in range(steps):
                    if i == args.warmup:
                        t0 = time.perf_counter()
                    x, y = X[i * bs:(i + 1) * bs], Y[i * bs:(i + 1) * bs]
                    opt.zero_grad(set_to_none=True)
                    loss_fn(model(x), y).backward()
                    opt.step()
                rates.append((steps - args.warmup) * bs / (time.perf_counter() - t0))
            print(f"{opt_name:10s} B={bs:4d}  {statistics.median(rates):9.0f} examples/s  "
                  f"(runs: {', '.join(f'{r:.0f}' for r in rates)})")


if __name__ == "__main__":
    main()
