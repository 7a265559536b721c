#!/usr/bin/env python3
"""The MNIST speedrun in JAX: seconds of training to a target test accuracy.

The same recipe as gradlab's `optim_bench --experiment speedrun` (and its
reading prints the command for the best one): MLP 784-W-W-10 with ReLU,
softmax cross-entropy (mean), inputs in [0, 1]; Adam or NAdam (optax) with
gradlab's schedule, lr_t = lr * (1 + cos(pi (t - 1) / T)) / 2 * min(1, t / W)
for step t = 1..T; each epoch a seeded shuffle cut into full batches; the
whole step (value_and_grad + optax update) one jax.jit with donated buffers.
The test set is evaluated EVALS times an epoch, untimed; the time to target
is the seconds of training steps (compilation excluded, done once before)
until the first evaluation at or above --target.

Set up once (scratch virtualenv, never the test suite):
    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install "jax[cpu]" optax numpy
Run, e.g. for seeds 0-2, back to back with gradlab and the PyTorch peer:
    /tmp/peer/bin/python benches/peers/speedrun_jax.py --optimizer adam --lr 0.003 \
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
    return x, np.frombuffer(lab, np.uint8).astype(np.int32)


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
    os.environ["XLA_FLAGS"] = (
        f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={args.threads}")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    x_train, y_train = load(args.data_dir, "train")
    x_test, y_test = jax.device_put(load(args.data_dir, "t10k"))
    b = args.batch_size
    per_epoch = x_train.shape[0] // b
    total = per_epoch * args.epochs
    marks = sorted({-(-k * total // (EVALS * args.epochs)) for k in range(1, EVALS * args.epochs + 1)})
    sizes = [784, args.width, args.width, 10]

    def init(key):
        params = []
        for fin, fout in zip(sizes[:-1], sizes[1:]):
            key, kw, kb = jax.random.split(key, 3)
            bound = 1.0 / np.sqrt(fin)
            params.append((jax.random.uniform(kw, (fin, fout), jnp.float32, -bound, bound),
                           jax.random.uniform(kb, (fout,), jnp.float32, -bound, bound)))
        return params

    def logits(params, x):
        for i, (w, bias) in enumerate(params):
            x = x @ w + bias
            if i < len(params) - 1:
                x = jax.nn.relu(x)
        return x

    def loss_fn(params, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(logits(params, x), y).mean()

    def rate(count):
        t = count + 1
        decay = 0.5 * (1 + jnp.cos(jnp.pi * jnp.minimum(t - 1, total) / total))
        warm = jnp.minimum(1.0, t / args.warmup) if args.warmup > 0 else 1.0
        return args.lr * decay * warm

    make = optax.adam if args.optimizer == "adam" else optax.nadam
    tx = make(rate)

    def step(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    step = jax.jit(step, donate_argnums=(0, 1))
    accuracy = jax.jit(lambda p: (jnp.argmax(logits(p, x_test), 1) == y_test).mean())

    # Compile once on throwaway weights, untimed.
    scratch = init(jax.random.PRNGKey(args.seed + 1))
    t0 = time.perf_counter()
    scratch, _, _ = step(scratch, tx.init(scratch), jnp.asarray(x_train[:b]), jnp.asarray(y_train[:b]))
    jax.block_until_ready(scratch)
    float(accuracy(scratch))
    compile_s = time.perf_counter() - t0

    params = init(jax.random.PRNGKey(args.seed))
    state = tx.init(params)
    seconds, reached, acc, t = 0.0, None, 0.0, 0
    for epoch in range(args.epochs):
        order = np.random.RandomState(args.seed * 1000 + epoch).permutation(x_train.shape[0])
        xs = jax.device_put(x_train[order[:per_epoch * b]].reshape(per_epoch, b, -1))
        ys = jax.device_put(y_train[order[:per_epoch * b]].reshape(per_epoch, b))
        jax.block_until_ready(xs)
        start = time.perf_counter()
        for i in range(per_epoch):
            params, state, loss = step(params, state, xs[i], ys[i])
            t += 1
            if t in marks:
                jax.block_until_ready(params)
                seconds += time.perf_counter() - start
                acc = float(accuracy(params))
                if reached is None and acc >= args.target:
                    reached = seconds
                start = time.perf_counter()
        jax.block_until_ready(params)
        seconds += time.perf_counter() - start
    shown = "not reached" if reached is None else f"{reached:.2f} s"
    print(f"jax {jax.__version__} {args.optimizer} lr={args.lr} warmup={args.warmup} "
          f"B={b} epochs={args.epochs} width={args.width} seed={args.seed}: "
          f"time to {100 * args.target:.1f}% {shown}, final {100 * acc:.2f}% after "
          f"{seconds:.2f} s of training (compile {compile_s:.1f} s, untimed)")


if __name__ == "__main__":
    main()
