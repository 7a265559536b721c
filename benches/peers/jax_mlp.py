#!/usr/bin/env python3
"""Reference peer for gradlab's training-throughput benchmark: the same MLP in JAX (whole step jitted).

Workload: MNIST MLP 784-512-512-10, ReLU, softmax cross-entropy (mean), float32 inputs in [0, 1],
data preloaded on the device, batches in a fixed order; value_and_grad + optax update in one
jax.jit with donated buffers. Prints steady-state training examples/second per (optimizer, batch
size), skipping warm-up steps (which include compilation). This is the fastest peer measured here.

Set up once:  python3 -m venv /tmp/peer && /tmp/peer/bin/pip install "jax[cpu]" optax numpy
Run next to gradlab's own benchmark, in the same session, and compare ratios:
    /tmp/peer/bin/python benches/peers/jax_mlp.py --data-dir datasets/mnist --threads 2
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
    ap.add_argument("--opts", default="sgd,adam")
    ap.add_argument("--bs", default="32,128,512")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()
    os.environ["XLA_FLAGS"] = f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={args.threads}"
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    img, dims = read_idx(find(args.data_dir, "train-images-idx3-ubyte"))
    lab, _ = read_idx(find(args.data_dir, "train-labels-idx1-ubyte"))
    X = np.frombuffer(img, np.uint8).reshape(dims[0], -1).astype(np.float32) / 255.0
    Y = np.frombuffer(lab, np.uint8).astype(np.int32)
    sizes = [784, 512, 512, 10]

    def init(key):
        params = []
        for fin, fout in zip(sizes[:-1], sizes[1:]):
            key, kw, kb = jax.random.split(key, 3)
            bound = 1.0 / np.sqrt(fin)
            params.append((jax.random.uniform(kw, (fin, fout), jnp.float32, -bound, bound),
                           jax.random.uniform(kb, (fout,), jnp.float32, -bound, bound)))
        return params

    def loss_fn(params, x, y):
        for i, (w, b) in enumerate(params):
            x = x @ w + b
            if i < len(params) - 1:
                x = jax.nn.relu(x)
        return optax.softmax_cross_entropy_with_integer_labels(x, y).mean()

    print(f"jax {jax.__version__}, {args.threads} threads, {X.shape[0]} examples")
    for opt_name in args.opts.split(","):
        tx = optax.sgd(0.1) if opt_name == "sgd" else optax.adam(1e-3)

        def step(params, state, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            updates, state = tx.update(grads, state, params)
            return optax.apply_updates(params, updates), state, loss

        step = jax.jit(step, donate_argnums=(0, 1))
        for bs in (int(b) for b in args.bs.split(",")):
            steps = X.shape[0] // bs
            xs = [jax.device_put(X[i * bs:(i + 1) * bs]) for i in range(steps)]
            ys = [jax.device_put(Y[i * bs:(i + 1) * bs]) for i in range(steps)]
            rates = []
            for _ in range(args.reps):
                params = init(jax.random.PRNGKey(0))
                state = tx.init(params)
                for i in range(args.warmup):
                    params, state, loss = step(params, state, xs[i], ys[i])
                jax.block_until_ready(params)
                t0 = time.perf_counter()
                for i in range(args.warmup, steps):
                    params, state, loss = step(params, state, xs[i], ys[i])
                jax.block_until_ready(params)
                rates.append((steps - args.warmup) * bs / (time.perf_counter() - t0))
            print(f"{opt_name:5s} B={bs:4d}  {statistics.median(rates):9.0f} examples/s  "
                  f"(runs: {', '.join(f'{r:.0f}' for r in rates)})")


if __name__ == "__main__":
    main()
