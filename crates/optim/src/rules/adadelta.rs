//! Adadelta: a step in the units of Φ, from two running averages.

use crate::hyperparameters;
use crate::rule::{Gradient, Rule};
use crate::search::{decay, log};

hyperparameters! {
    /// Adadelta (Zeiler 2012), exactly `torch.optim.Adadelta`'s documented
    /// rule (PyTorch 2.x):
    ///
    /// ```text
    /// v ← ρ·v + (1 − ρ)·ĝ²
    /// Δ = √(u + ε)/√(v + ε) · ĝ
    /// u ← ρ·u + (1 − ρ)·Δ²
    /// Φ ← Φ − η·Δ
    /// ```
    ///
    /// RMSProp's ĝ/√v has no units; Adadelta multiplies it by the root mean
    /// square of the recent steps, so a step has the units of Φ and the
    /// method needs no learning rate (η = 1, PyTorch's default, scales it).
    /// Neither average is bias-corrected: ε starts the steps off. The
    /// defaults are PyTorch's. State: `v` (the average of ĝ²), `u` (of Δ²).
    pub struct Adadelta {
        /// η, a scale on the step.
        lr: f64 = 1.0, Positive;
        /// ρ, the decay of both averages.
        rho: f64 = 0.9, Fraction;
        /// ε, added inside both square roots.
        eps: f64 = 1e-6, NonNegative;
    }
    search: [
        log("lr", 0.1, 30.0),
        decay("rho", 0.5, 0.99),
        log("eps", 1e-8, 1e-4),
    ];
    tuned: "lr=3";
}

impl Rule for Adadelta {
    const NAME: &'static str = "adadelta";
    const STATE: &'static [&'static str] = &["v", "u"];
    type State = [f32; 2];
    type Scalars = AdadeltaScalars;

    fn update(c: &AdadeltaScalars, phi: &mut f32, g: Gradient, [v, u]: &mut [f32; 2]) {
        *v = c.rho * *v + c.take * g.mean * g.mean; // v ← ρ·v + (1 − ρ)·ĝ²
        let delta = (*u + c.eps).sqrt() / (*v + c.eps).sqrt() * g.mean; // Δ = √(u + ε)/√(v + ε)·ĝ
        *u = c.rho * *u + c.take * delta * delta; // u ← ρ·u + (1 − ρ)·Δ²
        *phi -= c.eta * delta; // Φ ← Φ − η·Δ
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, _t: u64, eta: f64) -> AdadeltaScalars {
        AdadeltaScalars {
            eta: eta as f32,
            rho: self.rho as f32,
            take: (1.0 - self.rho) as f32,
            eps: self.eps as f32,
        }
    }
}

/// The scalars of a step of [`Adadelta`]: η, ρ, 1 − ρ (computed before
/// rounding) and ε.
#[derive(Clone, Copy, Debug)]
pub struct AdadeltaScalars {
    eta: f32,
    rho: f32,
    take: f32,
    eps: f32,
}
