//! Adamax: Adam with the infinity norm in place of the second moment.

use crate::hyperparameters;
use crate::rule::{Gradient, Rule};
use crate::search::{decay, log};

hyperparameters! {
    /// Adamax (Kingma & Ba 2015, section 7.1), exactly `torch.optim.Adamax`'s
    /// documented rule (PyTorch 2.x):
    ///
    /// ```text
    /// m ← β₁·m + (1 − β₁)·ĝ
    /// u ← max(β₂·u, |ĝ| + ε)
    /// Φ ← Φ − η/(1 − β₁ᵗ) · m/u
    /// ```
    ///
    /// Adam's v is an average of ĝ², the L2 norm of the recent gradients;
    /// Adamax takes the limit p → ∞ of the Lᵖ version, a decaying maximum of
    /// |ĝ|, which needs no bias correction. ε sits inside the maximum, as in
    /// PyTorch, so u > 0 from the first step. The defaults are PyTorch's.
    /// State: `m`, `u`.
    pub struct Adamax {
        /// η, the step size.
        lr: f64 = 2e-3, Positive;
        /// β₁, the decay of m.
        b1: f64 = 0.9, Fraction;
        /// β₂, the decay of the maximum u.
        b2: f64 = 0.999, Fraction;
        /// ε, the smallest u.
        eps: f64 = 1e-8, NonNegative;
    }
    search: [
        log("lr", 1e-4, 3e-2),
        decay("b1", 0.5, 0.99),
        decay("b2", 0.9, 0.9999),
    ];
    tuned: "lr=1e-2";
}

impl Rule for Adamax {
    const NAME: &'static str = "adamax";
    const STATE: &'static [&'static str] = &["m", "u"];
    type State = [f32; 2];
    type Scalars = AdamaxScalars;

    fn update(c: &AdamaxScalars, phi: &mut f32, g: Gradient, [m, u]: &mut [f32; 2]) {
        *m = c.b1 * *m + c.take1 * g.mean; // m ← β₁·m + (1 − β₁)·ĝ
        *u = (c.b2 * *u).max(g.mean.abs() + c.eps); // u ← max(β₂·u, |ĝ| + ε)
        *phi -= c.step * *m / *u; // Φ ← Φ − η/(1 − β₁ᵗ)·m/u
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, t: u64, eta: f64) -> AdamaxScalars {
        AdamaxScalars {
            b1: self.b1 as f32,
            take1: (1.0 - self.b1) as f32,
            b2: self.b2 as f32,
            eps: self.eps as f32,
            step: (eta / (1.0 - self.b1.powf(t as f64))) as f32,
        }
    }
}

/// The scalars of a step of [`Adamax`]: β₁ and 1 − β₁ (computed before
/// rounding to f32: 1 − f32(β) would lose digits), β₂, ε and η/(1 − β₁ᵗ).
#[derive(Clone, Copy, Debug)]
pub struct AdamaxScalars {
    b1: f32,
    take1: f32,
    b2: f32,
    eps: f32,
    step: f32,
}
