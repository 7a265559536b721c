//! Adagrad: each parameter's step divided by the root of its summed ĝ².

use crate::hyperparameters;
use crate::rule::{Gradient, Options, Rule};
use crate::search::log;

hyperparameters! {
    /// Adagrad (Duchi, Hazan & Singer 2011), exactly `torch.optim.Adagrad`'s
    /// documented rule (PyTorch 2.x):
    ///
    /// ```text
    /// s ← s + ĝ²                              s₀ = τ
    /// Φ ← Φ − η/(1 + (t − 1)·δ) · ĝ/(√s + ε)
    /// ```
    ///
    /// RMSProp before the running average: s sums every ĝ² seen, so each
    /// coordinate's rate only falls, fastest where gradients are large. It
    /// is an exact sum, not an average, so there is no bias correction to
    /// choose. The defaults are PyTorch's. State: `sum` (s).
    pub struct Adagrad {
        /// η, the step size.
        lr: f64 = 1e-2, Positive;
        /// δ, the decay of η over steps.
        lr_decay: f64 = 0.0, NonNegative;
        /// τ, the value s starts from.
        initial_accumulator_value: f64 = 0.0, NonNegative;
        /// ε, added to √s.
        eps: f64 = 1e-10, NonNegative;
    }
    search: [
        log("lr", 1e-3, 0.3),
        log("eps", 1e-10, 1e-4),
    ];
    tuned: "lr=3e-2";
}

impl Rule for Adagrad {
    const NAME: &'static str = "adagrad";
    const STATE: &'static [&'static str] = &["sum"];
    type State = [f32; 1];
    type Scalars = AdagradScalars;

    fn update(c: &AdagradScalars, phi: &mut f32, g: Gradient, [s]: &mut [f32; 1]) {
        *s += g.mean * g.mean; // s ← s + ĝ²
        *phi -= c.eta * g.mean / (s.sqrt() + c.eps); // Φ ← Φ − η_t·ĝ/(√s + ε)
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, t: u64, eta: f64) -> AdagradScalars {
        AdagradScalars {
            eta: (eta / (1.0 + (t - 1) as f64 * self.lr_decay)) as f32,
            eps: self.eps as f32,
        }
    }

    /// s starts at the initial accumulator value.
    fn options(&self) -> Options {
        Options {
            initial_state: vec![self.initial_accumulator_value as f32],
            ..Options::default()
        }
    }
}

/// The scalars of a step of [`Adagrad`]: η/(1 + (t − 1)δ) and ε.
#[derive(Clone, Copy, Debug)]
pub struct AdagradScalars {
    eta: f32,
    eps: f32,
}
