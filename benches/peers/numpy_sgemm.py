#!/usr/bin/env python3
"""Reference peer for gradlab's matmul benchmark: float32 GEMM through numpy's BLAS (OpenBLAS).

Prints GFLOP/s (2·M·K·N / seconds, median of several timed calls) for the shapes that training
an MLP 784-512-512-10 at batch 128 multiplies, and for square sizes, with 1 and 2 threads.
Run it back to back with gradlab's matmul bench in the same session and compare ratios.

Set up once:  python3 -m venv /tmp/peer && /tmp/peer/bin/pip install numpy threadpoolctl
Run:          /tmp/peer/bin/python benches/peers/numpy_sgemm.py
"""
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

# (label, M, K, N, transpose A, transpose B): C[M,N] = op(A)·op(B)
CASES = [
    ("x·W      128x784x512", 128, 784, 512, False, False),
    ("xᵀ·δ     784x128x512", 784, 128, 512, True, False),
    ("δ·Wᵀ     128x512x784", 128, 512, 784, False, True),
    ("h·W      128x512x512", 128, 512, 512, False, False),
    ("hᵀ·δ     512x128x512", 512, 128, 512, True, False),
    ("δ·Wᵀ     128x512x512", 128, 512, 512, False, True),
    ("square   512", 512, 512, 512, False, False),
    ("square   1024", 1024, 1024, 1024, False, False),
]


def gflops(m, k, n, ta, tb, reps=7):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
    opa, opb = (a.T if ta else a), (b.T if tb else b)
    for _ in range(3):
        opa @ opb
    inner = max(1, int(2e8 / (2 * m * k * n)))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            opa @ opb
        times.append((time.perf_counter() - t0) / inner)
    return 2 * m * k * n / statistics.median(times) / 1e9


def main():
    info = [(i.get("internal_api"), i.get("architecture"), i.get("version")) for i in threadpool_info()]
    print(f"numpy {np.__version__}, BLAS {info}")
    for threads in (1, 2):
        with threadpool_limits(limits=threads):
            for label, m, k, n, ta, tb in CASES:
                print(f"{threads} thread(s)  {label:24s} {gflops(m, k, n, ta, tb):7.1f} GFLOP/s")


if __name__ == "__main__":
    main()
