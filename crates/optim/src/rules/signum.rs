//! Signum: a step of η along the sign of each coordinate of a momentum.

use crate::hyperparameters;
use crate::rule::{sign, Gradient, Rule};
use crate::search::{decay, log};

hyperparameters! {
    /// Signum (Bernstein et al. 2018, "signSGD: Compressed Optimisation for
    /// Non-Convex Problems", section 3), exactly `optax.signum` (optax
    /// 0.2.x: an EMA without bias correction, then the sign):
    ///
    /// ```text
    /// m ← β·m + (1 − β)·ĝ
    /// Φ ← Φ − η·sign(m)
    /// ```
    ///
    /// SignSGD of a momentum: each coordinate moves by η in the direction
    /// its recent gradients agree on. The average needs no bias correction,
    /// since only its sign is used. optax takes no default rate; η = 10⁻⁴ is
    /// gradlab's. State: `m`.
    pub struct Signum {
        /// η, the size of every coordinate's step.
        lr: f64 = 1e-4, Positive;
        /// β, the decay of m.
        beta: f64 = 0.9, Fraction;
    }
    search: [
        log("lr", 1e-5, 1e-2),
        decay("beta", 0.5, 0.99),
    ];
    tuned: "lr=1e-3";
}

impl Rule for Signum {
    const NAME: &'static str = "signum";
    const STATE: &'static [&'static str] = &["m"];
    type State = [f32; 1];
    type Scalars = [f32; 3]; // η, β, 1 − β (computed before rounding)

    fn update(&[eta, beta, take]: &[f32; 3], phi: &mut f32, g: Gradient, [m]: &mut [f32; 1]) {
        *m = beta * *m + take * g.mean; // m ← β·m + (1 − β)·ĝ
        *phi -= eta * sign(*m); // Φ ← Φ − η·sign(m)
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, _t: u64, eta: f64) -> [f32; 3] {
        [eta as f32, self.beta as f32, (1.0 - self.beta) as f32]
    }
}
