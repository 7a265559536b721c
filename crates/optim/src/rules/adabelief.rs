//! AdaBelief: Adam whose step is divided by how far ĝ strays from its
//! average, not by its size.

use crate::hyperparameters;
use crate::rule::{Gradient, Rule};
use crate::search::{decay, log};

hyperparameters! {
    /// AdaBelief (Zhuang et al. 2020, "AdaBelief Optimizer: Adapting
    /// Stepsizes by the Belief in Observed Gradients"), exactly
    /// `optax.adabelief` (optax 0.2.x, `scale_by_belief` without Nesterov):
    ///
    /// ```text
    /// m ← β₁·m + (1 − β₁)·ĝ
    /// s ← β₂·s + (1 − β₂)·(ĝ − m)² + ε_root
    /// Φ ← Φ − η·m̂/(√ŝ + ε)       m̂ = m/(1 − β₁ᵗ), ŝ = s/(1 − β₂ᵗ)
    /// ```
    ///
    /// Where Adam's v averages ĝ², AdaBelief's s averages the squared gap
    /// between ĝ and its running mean m (the new m, as optax computes it):
    /// a gradient that agrees with the mean, however large, earns a large
    /// step. optax's `weight_decay` is this crate's `decoupled_weight_decay`
    /// (both shrink Φ by ηλΦ). optax takes no default rate; η = 10⁻³ is
    /// Adam's. State: `m`, `s`.
    pub struct AdaBelief {
        /// η, the step size.
        lr: f64 = 1e-3, Positive;
        /// β₁, the decay of m.
        b1: f64 = 0.9, Fraction;
        /// β₂, the decay of s.
        b2: f64 = 0.999, Fraction;
        /// ε, added to √ŝ.
        eps: f64 = 1e-16, NonNegative;
        /// ε_root, added to s at every step.
        eps_root: f64 = 1e-16, NonNegative;
    }
    search: [
        log("lr", 1e-4, 3e-2),
        decay("b1", 0.5, 0.99),
        decay("b2", 0.9, 0.9999),
        log("eps", 1e-16, 1e-8),
    ];
    tuned: "lr=3e-3";
}

impl Rule for AdaBelief {
    const NAME: &'static str = "adabelief";
    const STATE: &'static [&'static str] = &["m", "s"];
    type State = [f32; 2];
    type Scalars = AdaBeliefScalars;

    fn update(c: &AdaBeliefScalars, phi: &mut f32, g: Gradient, [m, s]: &mut [f32; 2]) {
        *m = c.b1 * *m + c.take1 * g.mean; // m ← β₁·m + (1 − β₁)·ĝ
        let gap = g.mean - *m; // ĝ − m
        *s = c.b2 * *s + c.take2 * gap * gap + c.eps_root; // s ← β₂·s + (1 − β₂)·(ĝ − m)² + ε_root
        *phi -= c.step * *m / (c.root * s.sqrt() + c.eps); // Φ ← Φ − η·m̂/(√ŝ + ε)
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, t: u64, eta: f64) -> AdaBeliefScalars {
        let t = t as f64;
        AdaBeliefScalars {
            b1: self.b1 as f32,
            take1: (1.0 - self.b1) as f32,
            b2: self.b2 as f32,
            take2: (1.0 - self.b2) as f32,
            eps: self.eps as f32,
            eps_root: self.eps_root as f32,
            step: (eta / (1.0 - self.b1.powf(t))) as f32,
            root: (1.0 / (1.0 - self.b2.powf(t))).sqrt() as f32,
        }
    }
}

/// The scalars of a step of [`AdaBelief`]: the decays β and 1 − β
/// (computed before rounding), both ε, η/(1 − β₁ᵗ) and 1/√(1 − β₂ᵗ).
#[derive(Clone, Copy, Debug)]
pub struct AdaBeliefScalars {
    b1: f32,
    take1: f32,
    b2: f32,
    take2: f32,
    eps: f32,
    eps_root: f32,
    step: f32,
    root: f32,
}
