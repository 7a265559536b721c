//! SGD with classical momentum.

use crate::hyperparameters;
use crate::hyperparameters::Quiet;
use crate::rule::{Gradient, Options, Rule};
use crate::search::{decay, log};

hyperparameters! {
    /// SGD with classical momentum, exactly `torch.optim.SGD` with
    /// `momentum=μ`, `dampening=τ` (PyTorch 2.x):
    ///
    /// ```text
    /// v ← μ·v + (1 − τ)·ĝ             (v₁ = ĝ₁: no dampening at the first step)
    /// d = ĝ + μ·v   (Nesterov)   or   d = v
    /// Φ ← Φ − η·d
    /// ```
    ///
    /// The lecture's point about momentum (slide "Adam — Adaptive
    /// Momentum"): v ← μv + ĝ sums the gradients with weights that add up to
    /// 1/(1 − μ), so for a steady gradient v tends to ĝ/(1 − μ) and the
    /// distance a step travels, the temperature of the search, is
    /// η/(1 − μ): change μ and you have changed the learning rate.
    /// [`SgdEma`](crate::SgdEma) averages instead. v is a sum, not an
    /// average, so there is no bias correction to choose.
    ///
    /// τ = 1 − μ makes it an average started at ĝ₁; Nesterov needs τ = 0,
    /// as in PyTorch. PyTorch's default μ is 0, plain SGD, so this rule's
    /// are μ = 0.9 and η = 0.01: a step η/(1 − μ) = 0.1 like `SgdEma`'s.
    /// State: `v`.
    pub struct SgdMomentum {
        /// η, the step size.
        lr: f64 = 1e-2, Positive;
        /// μ, the momentum.
        momentum: f64 = 0.9, Fraction;
        /// Step along the look-ahead gradient ĝ + μv.
        nesterov: bool = false;
        /// τ, the share of each ĝ left out of v after the first step.
        dampening: Quiet = 0.0, Fraction;
    }
    search: [
        log("lr", 1e-3, 1.0),
        decay("momentum", 0.5, 0.99),
    ];
    tuned: "lr=0.1,momentum=0.9";
}

impl Rule for SgdMomentum {
    const NAME: &'static str = "sgd_momentum";
    const STATE: &'static [&'static str] = &["v"];
    type State = [f32; 1];
    type Scalars = SgdMomentumScalars;

    fn update(c: &SgdMomentumScalars, phi: &mut f32, g: Gradient, [v]: &mut [f32; 1]) {
        *v = c.mu * *v + c.take * g.mean; // v ← μ·v + (1 − τ)·ĝ
        let d = if c.nesterov { g.mean + c.mu * *v } else { *v }; // d = ĝ + μ·v or v
        *phi -= c.eta * d; // Φ ← Φ − η·d
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, t: u64, eta: f64) -> SgdMomentumScalars {
        SgdMomentumScalars {
            eta: eta as f32,
            mu: self.momentum as f32,
            // v₁ = ĝ₁ exactly: PyTorch starts the buffer at the gradient.
            take: if t == 1 {
                1.0
            } else {
                (1.0 - self.dampening.0) as f32
            },
            nesterov: self.nesterov,
        }
    }

    fn options(&self) -> Options {
        let why = "0 with nesterov=true (Nesterov momentum needs undamped momentum)";
        Options {
            check: match self.nesterov && self.dampening.0 != 0.0 {
                true => Err(("dampening", why.into())),
                false => Ok(()),
            },
            ..Options::default()
        }
    }
}

/// The scalars of a step of [`SgdMomentum`].
#[derive(Clone, Copy, Debug)]
pub struct SgdMomentumScalars {
    eta: f32,
    mu: f32,
    take: f32,
    nesterov: bool,
}
