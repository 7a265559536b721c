//! Lion: the sign of an interpolation between the momentum and ĝ.

use crate::hyperparameters;
use crate::rule::{sign, Gradient, Rule};
use crate::search::{decay, log};

hyperparameters! {
    /// Lion (Chen et al. 2023, "Symbolic Discovery of Optimization
    /// Algorithms", Algorithm 2), exactly `optax.lion` (optax 0.2.x, the
    /// "hard" sign):
    ///
    /// ```text
    /// c = β₁·m + (1 − β₁)·ĝ
    /// Φ ← (1 − ηλ)·Φ − η·sign(c)
    /// m ← β₂·m + (1 − β₂)·ĝ
    /// ```
    ///
    /// Every coordinate moves by exactly η (plus the decay), in the
    /// direction the interpolation c points; the momentum m decays more
    /// slowly (β₂ > β₁) than the interpolation uses it. `weight_decay` is
    /// the decoupled λ, 10⁻³ by default as in optax (`lion` is registered
    /// like `adamw`). optax takes no default rate; η = 10⁻⁴ is the paper's
    /// advice of 3–10× below AdamW's. State: `m`.
    pub struct Lion {
        /// η, the size of every coordinate's step.
        lr: f64 = 1e-4, Positive;
        /// β₁, the momentum's weight in the step's direction.
        b1: f64 = 0.9, Fraction;
        /// β₂, the decay of the momentum.
        b2: f64 = 0.99, Fraction;
    }
    search: [
        log("lr", 1e-5, 3e-3),
        decay("b1", 0.5, 0.99),
        decay("b2", 0.9, 0.999),
    ];
    tuned: "lr=1e-3";
}

impl Rule for Lion {
    const NAME: &'static str = "lion";
    const STATE: &'static [&'static str] = &["m"];
    type State = [f32; 1];
    type Scalars = LionScalars;

    fn update(c: &LionScalars, phi: &mut f32, g: Gradient, [m]: &mut [f32; 1]) {
        let dir = c.b1 * *m + c.take1 * g.mean; // c = β₁·m + (1 − β₁)·ĝ
        *phi -= c.eta * sign(dir); // Φ ← Φ − η·sign(c)
        *m = c.b2 * *m + c.take2 * g.mean; // m ← β₂·m + (1 − β₂)·ĝ
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, _t: u64, eta: f64) -> LionScalars {
        LionScalars {
            eta: eta as f32,
            b1: self.b1 as f32,
            take1: (1.0 - self.b1) as f32,
            b2: self.b2 as f32,
            take2: (1.0 - self.b2) as f32,
        }
    }
}

/// The scalars of a step of [`Lion`]: η and the decays β and 1 − β
/// (computed before rounding).
#[derive(Clone, Copy, Debug)]
pub struct LionScalars {
    eta: f32,
    b1: f32,
    take1: f32,
    b2: f32,
    take2: f32,
}
