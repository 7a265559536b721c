#!/usr/bin/env python3
"""Reference peers for gradlab's `cnn_throughput` bench: the same CNNs, data and steps in PyTorch
eager (oneDNN convolutions), JAX jit and Opacus.

Rows, as in benches/cnn_throughput.rs:
  adam         cnn 1x28x28-10: Conv2d(1,32,5,p=2,bias=False) BatchNorm2d(32) ReLU MaxPool2d(2)
               Conv2d(32,64,5,p=2,bias=False) BatchNorm2d(64) ReLU MaxPool2d(2) Flatten
               Linear(3136,128) ReLU Linear(128,10); Adam(lr=1e-3); batch norm in training mode
               (the batch's statistics, running averages updated, as gradlab's step does)
  tanh_sgd     private-cnn 1x28x28-10: Conv2d(1,16,8,s=2,p=3) GroupNorm(4,16) Tanh MaxPool2d(2,1)
               Conv2d(16,32,4,s=2) GroupNorm(4,32) Tanh MaxPool2d(2,1) Flatten Linear(512,32) Tanh
               Linear(32,10); SGD(lr=0.5, momentum=0.9)
  tanh_dp_sgd  the same with Opacus (--peer torch only): per-sample gradients (GradSampleModule,
               hooks), clipping to C = 0.1, noise σ = 1, no Poisson sampling (fixed batches)
Softmax cross-entropy (mean), pixels / 255, MNIST's training set in file order cut into contiguous
batches; forward + backward + update per step. A row is the median over --reps runs of --steps
steps of (examples after --warmup steps) / (their seconds).

Set up once, in a scratch virtualenv:
    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install torch "jax[cpu]" optax opacus numpy
Run next to `cargo bench --bench cnn_throughput`, in the same session, on a quiet machine:
    /tmp/peer/bin/python benches/peers/cnn_peers.py --peer torch --threads 2
    /tmp/peer/bin/python benches/peers/cnn_peers.py --peer jax --threads 2
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


def timed(args, bs, make_step):
    """Median rate over reps of runs of args.steps steps; make_step() returns step(i)."""
    rates = []
    for _ in range(args.reps):
        step = make_step()
        t0 = None
        for i in range(args.steps):
            if i == args.warmup:
                t0 = time.perf_counter()
            step(i)
        rates.append((args.steps - args.warmup) * bs / (time.perf_counter() - t0))
    return rates


def torch_rows(args, X, Y):
    import torch
    import torch.nn as nn

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"mkldnn {torch.backends.mkldnn.is_available()}")
    X = torch.from_numpy(X).reshape(-1, 1, 28, 28)
    Y = torch.from_numpy(Y)

    def cnn():
        return nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))

    def tanh_cnn():
        return nn.Sequential(
            nn.Conv2d(1, 16, 8, stride=2, padding=3), nn.GroupNorm(4, 16), nn.Tanh(),
            nn.MaxPool2d(2, 1),
            nn.Conv2d(16, 32, 4, stride=2), nn.GroupNorm(4, 32), nn.Tanh(), nn.MaxPool2d(2, 1),
            nn.Flatten(), nn.Linear(512, 32), nn.Tanh(), nn.Linear(32, 10))

    for row in args.rows.split(","):
        for bs in (int(b) for b in args.bs.split(",")):
            def make_step():
                torch.manual_seed(0)
                model = cnn() if row == "adam" else tanh_cnn()
                if row == "adam":
                    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
                else:
                    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
                loss_fn = nn.CrossEntropyLoss()
                if row == "tanh_dp_sgd":
                    from opacus import GradSampleModule
                    from opacus.optimizers import DPOptimizer
                    model = GradSampleModule(model, loss_reduction="mean")
                    opt = DPOptimizer(opt, noise_multiplier=1.0, max_grad_norm=0.1,
                                      expected_batch_size=bs)

                def step(i):
                    x, y = X[i * bs:(i + 1) * bs], Y[i * bs:(i + 1) * bs]
                    opt.zero_grad(set_to_none=True)
                    loss_fn(model(x), y).backward()
                    opt.step()
                return step

            rates = timed(args, bs, make_step)
            print(f"{row:12s} B={bs:4d}  {statistics.median(rates):9.0f} examples/s  "
                  f"(runs: {', '.join(f'{r:.0f}' for r in rates)})", flush=True)


def jax_rows(args, X, Y):
    os.environ["XLA_FLAGS"] = (f"--xla_cpu_multi_thread_eigen=true "
                               f"intra_op_parallelism_threads={args.threads}")
    import jax
    import jax.numpy as jnp
    import optax

    print(f"jax {jax.__version__}, {jax.devices()}")
    X = jnp.asarray(X).reshape(-1, 1, 28, 28)
    Y = jnp.asarray(Y)
    dn = ("NCHW", "OIHW", "NCHW")

    def uniform(key, shape, fan_in):
        bound = 1.0 / fan_in ** 0.5
        return jax.random.uniform(key, shape, jnp.float32, -bound, bound)

    def conv_params(key, o, c, k):
        kw, kb = jax.random.split(key)
        return {"w": uniform(kw, (o, c, k, k), c * k * k), "b": uniform(kb, (o,), c * k * k)}

    def dense_params(key, i, o):
        kw, kb = jax.random.split(key)
        return {"w": uniform(kw, (o, i), i), "b": uniform(kb, (o,), i)}

    def conv(p, x, stride, pad):
        y = jax.lax.conv_general_dilated(x, p["w"], (stride, stride), [(pad, pad)] * 2,
                                         dimension_numbers=dn)
        return y + p["b"][None, :, None, None] if "b" in p else y

    def batch_norm(p, x, running):
        # Training mode: the batch's statistics normalize; the running averages (momentum 0.1,
        # the unbiased variance) are carried out of the step as PyTorch's BatchNorm2d keeps them.
        mean = x.mean((0, 2, 3))
        var = x.var((0, 2, 3))
        n = x.size // x.shape[1]
        y = (x - mean[None, :, None, None]) / jnp.sqrt(var[None, :, None, None] + 1e-5)
        new = {"mean": 0.9 * running["mean"] + 0.1 * mean,
               "var": 0.9 * running["var"] + 0.1 * var * n / (n - 1)}
        return y * p["g"][None, :, None, None] + p["b"][None, :, None, None], new

    def max_pool(x, k, s):
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, k, k), (1, 1, s, s), "VALID")

    def group_norm(p, x, groups):
        b, c, h, w = x.shape
        g = x.reshape(b, groups, -1)
        g = (g - g.mean(-1, keepdims=True)) / jnp.sqrt(g.var(-1, keepdims=True) + 1e-5)
        return g.reshape(b, c, h, w) * p["g"][None, :, None, None] + p["b"][None, :, None, None]

    def dense(p, x):
        return x @ p["w"].T + p["b"]

    def init(row, key):
        k = jax.random.split(key, 4)
        gn = lambda c: {"g": jnp.ones(c), "b": jnp.zeros(c)}
        if row == "adam":
            return {"c1": {"w": conv_params(k[0], 32, 1, 5)["w"]}, "n1": gn(32),
                    "c2": {"w": conv_params(k[1], 64, 32, 5)["w"]}, "n2": gn(64),
                    "f1": dense_params(k[2], 3136, 128), "f2": dense_params(k[3], 128, 10)}
        return {"c1": conv_params(k[0], 16, 1, 8), "n1": gn(16), "c2": conv_params(k[1], 32, 16, 4),
                "n2": gn(32), "f1": dense_params(k[2], 512, 32), "f2": dense_params(k[3], 32, 10)}

    def running_init(row):
        stats = lambda c: {"mean": jnp.zeros(c), "var": jnp.ones(c)}
        return {"n1": stats(32), "n2": stats(64)} if row == "adam" else {}

    def forward(row, p, x, running):
        if row == "adam":
            h, r1 = batch_norm(p["n1"], conv(p["c1"], x, 1, 2), running["n1"])
            h = max_pool(jax.nn.relu(h), 2, 2)
            h, r2 = batch_norm(p["n2"], conv(p["c2"], h, 1, 2), running["n2"])
            h = max_pool(jax.nn.relu(h), 2, 2)
            h = jax.nn.relu(dense(p["f1"], h.reshape(h.shape[0], -1)))
            return dense(p["f2"], h), {"n1": r1, "n2": r2}
        h = max_pool(jnp.tanh(group_norm(p["n1"], conv(p["c1"], x, 2, 3), 4)), 2, 1)
        h = max_pool(jnp.tanh(group_norm(p["n2"], conv(p["c2"], h, 2, 0), 4)), 2, 1)
        h = jnp.tanh(dense(p["f1"], h.reshape(h.shape[0], -1)))
        return dense(p["f2"], h), running

    for row in args.rows.split(","):
        if row == "tanh_dp_sgd":
            print("tanh_dp_sgd: Opacus row, --peer torch only")
            continue
        opt = optax.adam(1e-3) if row == "adam" else optax.sgd(0.5, momentum=0.9)

        def loss(p, running, x, y, row=row):
            logits, running = forward(row, p, x, running)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), running

        @jax.jit
        def train_step(p, s, running, x, y, opt=opt, loss=loss):
            g, running = jax.grad(loss, has_aux=True)(p, running, x, y)
            u, s = opt.update(g, s, p)
            return optax.apply_updates(p, u), s, running

        for bs in (int(b) for b in args.bs.split(",")):
            def make_step():
                state = {"p": init(row, jax.random.PRNGKey(0)), "r": running_init(row)}
                state["s"] = opt.init(state["p"])

                def step(i):
                    x, y = X[i * bs:(i + 1) * bs], Y[i * bs:(i + 1) * bs]
                    state["p"], state["s"], state["r"] = train_step(
                        state["p"], state["s"], state["r"], x, y)
                    jax.block_until_ready(state["p"])
                return step

            rates = timed(args, bs, make_step)
            print(f"{row:12s} B={bs:4d}  {statistics.median(rates):9.0f} examples/s  "
                  f"(runs: {', '.join(f'{r:.0f}' for r in rates)})", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", choices=["torch", "jax"], default="torch")
    ap.add_argument("--data-dir", default="datasets/mnist")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", default="adam,tanh_sgd,tanh_dp_sgd")
    ap.add_argument("--bs", default="64,256")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[k] = str(args.threads)
    import numpy as np

    img, dims = read_idx(find(args.data_dir, "train-images-idx3-ubyte"))
    lab, _ = read_idx(find(args.data_dir, "train-labels-idx1-ubyte"))
    X = np.frombuffer(img, np.uint8).reshape(dims[0], -1).astype(np.float32) / 255.0
    Y = np.frombuffer(lab, np.uint8).astype(np.int32 if args.peer == "jax" else np.int64)
    (torch_rows if args.peer == "torch" else jax_rows)(args, X, Y)


if __name__ == "__main__":
    main()
