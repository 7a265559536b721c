//! AMSGrad: Adam dividing by the largest second moment so far.

use crate::hyperparameters::Flag;
use crate::hyperparameters::{HyperValue, Hyperparameter, Hyperparameters};
use crate::rule::{Gradient, Rule};
use crate::rules::adam::AdamScalars;
use crate::rules::Adam;

/// AMSGrad (Reddi, Kale & Kumar 2018, "On the Convergence of Adam and
/// Beyond"), exactly `torch.optim.Adam(amsgrad=True)` (PyTorch 2.x): Adam
/// whose denominator never shrinks,
///
/// ```text
/// m ← β₁·m + (1 − β₁)·ĝ          m̂ = m/(1 − β₁ᵗ)
/// v ← β₂·v + (1 − β₂)·ĝ²
/// v_max ← max(v_max, v)           v̂ = v_max/(1 − β₂ᵗ)
/// Φ ← Φ − η·m̂/(√v̂ + ε)
/// ```
///
/// so that a rare large gradient keeps its effective rate small for good
/// instead of for about 1/(1 − β₂) steps: the fix of Reddi et al.'s
/// counter-example to Adam's convergence. As torch, the maximum is of the
/// uncorrected v. It is spelled `adam(amsgrad=true)` (or `adamw(…)`): the
/// spec is Adam's, every key of [`Adam`] with the same defaults, and Adam
/// runs as this rule when the flag is set, because the third state tensor
/// is kept only then. State: `m`, `v`, `v_max`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AmsGrad(pub Adam);

impl Default for AmsGrad {
    fn default() -> Self {
        AmsGrad(Adam {
            amsgrad: Flag(true),
            ..Adam::default()
        })
    }
}

/// Adam's keys, reached through the wrapper: the same names, ranges and
/// docs, so the spec reads and prints as Adam's.
impl Hyperparameters for AmsGrad {
    const TABLE: &'static [Hyperparameter<Self>] = &[
        key::<0>(),
        key::<1>(),
        key::<2>(),
        key::<3>(),
        key::<4>(),
        key::<5>(),
    ];
}

// Adam's table has exactly the six entries above.
const _: () = assert!(Adam::TABLE.len() == 6);

/// Adam's `I`-th hyperparameter as AmsGrad's.
const fn key<const I: usize>() -> Hyperparameter<AmsGrad> {
    fn field<const I: usize>(r: &mut AmsGrad) -> &mut dyn HyperValue {
        (Adam::TABLE[I].field)(&mut r.0)
    }
    let adam = &Adam::TABLE[I];
    Hyperparameter {
        name: adam.name,
        range: adam.range,
        doc: adam.doc,
        field: field::<I>,
    }
}

impl Rule for AmsGrad {
    const NAME: &'static str = "adam";
    const STATE: &'static [&'static str] = &["m", "v", "v_max"];
    type State = [f32; 3];
    type Scalars = AdamScalars;

    fn update(c: &AdamScalars, phi: &mut f32, g: Gradient, [m, v, v_max]: &mut [f32; 3]) {
        *m = c.m.keep * *m + c.m.take * g.mean; // m ← β₁·m + (1 − β₁)·ĝ
        *v = c.v.keep * *v + c.v.take * g.mean * g.mean; // v ← β₂·v + (1 − β₂)·ĝ²
        *v_max = v_max.max(*v); // v_max ← max(v_max, v)
        *phi -= c.step * *m / (c.root * v_max.sqrt() + c.eps); // Φ ← Φ − η·m̂/(√v̂ + ε)
    }

    fn learning_rate(&self) -> f64 {
        self.0.lr
    }

    fn scalars(&self, t: u64, eta: f64) -> AdamScalars {
        self.0.scalars(t, eta)
    }
}
