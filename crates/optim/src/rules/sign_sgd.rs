//! SignSGD: a step of η along the sign of each coordinate of ĝ.

use crate::hyperparameters;
use crate::rule::{sign, Gradient, Rule};
use crate::search::log;

hyperparameters! {
    /// SignSGD (Bernstein et al. 2018, "signSGD: Compressed Optimisation for
    /// Non-Convex Problems"), exactly `optax.sign_sgd` (optax 0.2.x):
    ///
    /// ```text
    /// Φ ← Φ − η·sign(ĝ)
    /// ```
    ///
    /// Every coordinate moves by exactly η, whatever its gradient's size:
    /// Adam's step with β₁ = β₂ = 0 and ε = 0 (ĝ/√ĝ²). sign(0) = 0. optax
    /// takes no default rate; η = 10⁻⁴ is gradlab's, a rate of the order
    /// sign-based rules (Lion, signum) use. No state.
    pub struct SignSgd {
        /// η, the size of every coordinate's step.
        lr: f64 = 1e-4, Positive;
    }
    search: [
        log("lr", 1e-5, 1e-2),
    ];
    tuned: "lr=1e-3";
}

impl Rule for SignSgd {
    const NAME: &'static str = "sign_sgd";
    const STATE: &'static [&'static str] = &[];
    type State = [f32; 0];
    type Scalars = f32;

    fn update(eta: &f32, phi: &mut f32, g: Gradient, _: &mut [f32; 0]) {
        *phi -= eta * sign(g.mean); // Φ ← Φ − η·sign(ĝ)
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, _t: u64, eta: f64) -> f32 {
        eta as f32
    }
}
