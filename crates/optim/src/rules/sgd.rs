//! Plain stochastic gradient descent.

use crate::hyperparameters;
use crate::rule::{Gradient, Rule};
use crate::search::log;

hyperparameters! {
    /// Stochastic gradient descent, the update the lecture series "Stochastic
    /// Gradient Descent (SGD)" builds every other rule on, and
    /// `torch.optim.SGD` without momentum:
    ///
    /// ```text
    /// Φ ← Φ − η·ĝ
    /// ```
    ///
    /// The default η is PyTorch's, slow for an MNIST MLP, where `lr=0.1`
    /// trains well. Keeps no state.
    pub struct Sgd {
        /// η, the step size.
        lr: f64 = 1e-3, Positive;
    }
    search: [
        log("lr", 1e-2, 3.0),
    ];
    tuned: "lr=0.3";
}

impl Rule for Sgd {
    const NAME: &'static str = "sgd";
    const STATE: &'static [&'static str] = &[];
    type State = [f32; 0];
    /// η_t.
    type Scalars = f32;

    fn update(&eta: &f32, phi: &mut f32, g: Gradient, _: &mut [f32; 0]) {
        *phi -= eta * g.mean; // Φ ← Φ − η·ĝ
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, _t: u64, eta: f64) -> f32 {
        eta as f32
    }
}
