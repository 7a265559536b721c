"""The reference numbers of `tests/accountant.rs`, from Opacus' own RDP accountant.

Run by hand, never by the test suite. Opacus' accounting code needs only numpy
and scipy, but importing the `opacus` package pulls in torch, so this loads
`opacus.accountants` from the unpacked wheel with the one torch-using import
it makes (a type, `opacus.optimizers.DPOptimizer`) stubbed:

    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install numpy scipy
    /tmp/peer/bin/pip download --no-deps opacus==1.6.0 -d /tmp/opacus
    cd /tmp/opacus && python3 -m zipfile -e opacus-1.6.0-py3-none-any.whl wheel
    /tmp/peer/bin/python opacus_rdp.py /tmp/opacus/wheel

It prints the Rust arrays pasted into the test.
"""

import sys
import types

root = sys.argv[1]
opacus = types.ModuleType("opacus")
opacus.__path__ = [root + "/opacus"]
sys.modules["opacus"] = opacus
optimizers = types.ModuleType("opacus.optimizers")
optimizers.DPOptimizer = object
sys.modules["opacus.optimizers"] = optimizers

import warnings  # noqa: E402

from opacus.accountants import RDPAccountant  # noqa: E402
from opacus.accountants.utils import get_noise_multiplier  # noqa: E402

warnings.simplefilter("ignore")  # "optimal order is the largest alpha"

# (phases as (sigma, q, steps), delta): single phases, then one of two.
SETTINGS = [
    ([(1.1, 256 / 60000, 3516)], 1e-5),
    ([(1.0, 0.01, 1000)], 1e-5),
    ([(0.7, 0.001, 10000)], 1e-6),
    ([(2.0, 0.1, 100)], 1e-5),
    ([(5.0, 1.0, 10)], 1e-5),
    ([(0.5, 0.02, 50)], 1e-5),
    ([(1.1, 0.004, 1000), (0.8, 0.01, 500)], 1e-5),
]
print("const SPENT: [(Phases, f64, f64, f64); %d] = [" % len(SETTINGS))
for phases, delta in SETTINGS:
    acc = RDPAccountant()
    acc.history = [tuple(p) for p in phases]
    eps, order = acc.get_privacy_spent(delta=delta)
    ps = ", ".join("(%r, %r, %d)" % p for p in phases)
    print("    (&[%s], %r, %r, %r)," % (ps, delta, eps, order))
print("];")

# (target epsilon, delta, q, epochs): steps = int(epochs / q), as Opacus.
TARGETS = [(3.0, 1e-5, 256 / 60000, 15), (1.0, 1e-5, 0.01, 10), (8.0, 1e-6, 0.001, 5)]
print("const SIGMA: [(f64, f64, f64, u64, f64); %d] = [" % len(TARGETS))
for eps, delta, q, epochs in TARGETS:
    sigma = get_noise_multiplier(
        target_epsilon=eps, target_delta=delta, sample_rate=q, epochs=epochs
    )
    print("    (%r, %r, %r, %d, %r)," % (eps, delta, q, int(epochs / q), sigma))
print("];")
