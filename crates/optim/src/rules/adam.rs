//! Adam as published (Kingma & Ba 2015), which is also AdamW.

use crate::average::{Correction, RunningAverage, Weights, VALID};
use crate::hyperparameters;
use crate::hyperparameters::Flag;
use crate::rule::{Gradient, Rule};
use crate::search::{decay, log};

hyperparameters! {
    /// Adam as published (slides "Adam — Adaptive Momentum" and "Bias
    /// Correction": "the published version of Adam has a more obscure form
    /// of bias correction"), exactly `torch.optim.Adam`'s documented rule:
    ///
    /// ```text
    /// m ← β₁·m + (1 − β₁)·ĝ          m̂ = m/(1 − β₁ᵗ)
    /// v ← β₂·v + (1 − β₂)·ĝ²         v̂ = v/(1 − β₂ᵗ)
    /// Φ ← Φ − η·m̂/(√v̂ + ε)
    /// ```
    ///
    /// RMSProp with an average of ĝ in the numerator. ε is added after the
    /// square root of the corrected v̂. In the lecture's notation
    /// β = 1 − 1/N: the defaults are N_g = 10 and N_s = 1000, and
    /// `correction=min_nt` is the lecture's simplified Adam
    /// ([`AdamLecture`](crate::AdamLecture)). With `weight_decay=λ`, ĝ is
    /// replaced by ĝ + λΦ (L2, as PyTorch's Adam does); with
    /// `decoupled_weight_decay=λ`, Φ first shrinks by 1 − ηλ whatever its
    /// gradient statistics (Loshchilov & Hutter): `adamw` is this rule with
    /// λ = 0.01, its key spelled `weight_decay` as in `torch.optim.AdamW`.
    /// The defaults are PyTorch's, a good optimizer for an MNIST MLP as they
    /// stand. State: `m`, `v` (stored uncorrected). With `amsgrad=true` it
    /// runs as [`AmsGrad`](crate::AmsGrad), which keeps the largest v too.
    pub struct Adam {
        /// η, the step size.
        lr: f64 = 1e-3, Positive;
        /// β₁, the decay of m.
        b1: f64 = 0.9, Fraction;
        /// β₂, the decay of v.
        b2: f64 = 0.999, Fraction;
        /// ε, added to √v̂.
        eps: f64 = 1e-8, NonNegative;
        /// The bias correction of both averages.
        correction: Correction = Correction::Published;
        /// Divide by the largest v so far (AMSGrad, `torch.optim.Adam(amsgrad=True)`).
        amsgrad: Flag = false;
    }
    search: [
        log("lr", 1e-4, 3e-2),
        decay("b1", 0.5, 0.99),
        decay("b2", 0.9, 0.9999),
        log("eps", 1e-10, 1e-2),
    ];
    tuned: "lr=3e-3";
}

impl Rule for Adam {
    const NAME: &'static str = "adam";
    const STATE: &'static [&'static str] = &["m", "v"];
    type State = [f32; 2];
    type Scalars = AdamScalars;

    fn update(c: &AdamScalars, phi: &mut f32, g: Gradient, [m, v]: &mut [f32; 2]) {
        *m = c.m.keep * *m + c.m.take * g.mean; // m ← β₁·m + (1 − β₁)·ĝ
        *v = c.v.keep * *v + c.v.take * g.mean * g.mean; // v ← β₂·v + (1 − β₂)·ĝ²
        *phi -= c.step * *m / (c.root * v.sqrt() + c.eps); // Φ ← Φ − η·m̂/(√v̂ + ε)
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, t: u64, eta: f64) -> AdamScalars {
        let m = RunningAverage::from_beta(self.b1, self.correction).expect(VALID);
        let v = RunningAverage::from_beta(self.b2, self.correction).expect(VALID);
        AdamScalars::new(m, v, t, eta, self.eps)
    }
}

/// The scalars of a step of the Adams: the averages' weights, η·debias_m
/// and √debias_s, so that step·m = η·m̂ and root·√v = √v̂.
#[derive(Clone, Copy, Debug)]
pub struct AdamScalars {
    pub(crate) m: Weights,
    pub(crate) v: Weights,
    pub(crate) step: f32,
    pub(crate) root: f32,
    pub(crate) eps: f32,
}

impl AdamScalars {
    /// The scalars of step `t` with rate `eta` for averages `m` and `v`.
    pub(crate) fn new(m: RunningAverage, v: RunningAverage, t: u64, eta: f64, eps: f64) -> Self {
        let (m, v) = (m.weights(t), v.weights(t));
        AdamScalars {
            m,
            v,
            step: (eta * f64::from(m.debias)) as f32,
            root: f64::from(v.debias).sqrt() as f32,
            eps: eps as f32,
        }
    }
}
