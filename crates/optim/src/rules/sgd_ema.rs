//! SGD on a running average of the gradient.

use crate::average::{Correction, RunningAverage, Weights, VALID};
use crate::hyperparameters;
use crate::rule::{Gradient, Rule};
use crate::search::log;

hyperparameters! {
    /// SGD on a running average of the gradient: momentum decoupled from the
    /// temperature (slide "Adam — Adaptive Momentum"):
    ///
    /// ```text
    /// g̃_t = (1 − 1/min(t, N_g))·g̃_{t−1} + (1/min(t, N_g))·ĝ_t
    /// Φ ← Φ − η·g̃_t
    /// ```
    ///
    /// The average's weights add up to 1, so η keeps its meaning whatever
    /// N_g. With the lecture's `min_nt` correction (the default) the first
    /// step is a full SGD step; `correction=none` is the plain EMA started
    /// at 0, whose weights 0.1, 0.19, 0.271, … (N_g = 10) make the first
    /// steps short. This is what [`AdamEta0`](crate::AdamEta0) becomes as
    /// ε → ∞. State: `m` (g̃).
    pub struct SgdEma {
        /// η (0.1 is a good plain-SGD rate for an MNIST MLP).
        lr: f64 = 0.1, Positive;
        /// N_g, the length of the gradient average (β = 1 − 1/N_g).
        n_g: f64 = 10.0, Length;
        /// The bias correction of the average.
        correction: Correction = Correction::MinNT;
    }
    search: [
        log("lr", 0.03, 10.0),
        log("n_g", 2.0, 100.0),
    ];
    tuned: "lr=1,n_g=10";
}

impl Rule for SgdEma {
    const NAME: &'static str = "sgd_ema";
    const STATE: &'static [&'static str] = &["m"];
    type State = [f32; 1];
    type Scalars = SgdEmaScalars;

    fn update(c: &SgdEmaScalars, phi: &mut f32, g: Gradient, [m]: &mut [f32; 1]) {
        *m = c.m.keep * *m + c.m.take * g.mean; // g̃ ← (1 − 1/min(t,N))·g̃ + (1/min(t,N))·ĝ
        *phi -= c.step * *m; // Φ ← Φ − η·g̃
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, t: u64, eta: f64) -> SgdEmaScalars {
        let m = RunningAverage::new(self.n_g, self.correction)
            .expect(VALID)
            .weights(t);
        SgdEmaScalars {
            m,
            step: (eta * f64::from(m.debias)) as f32,
        }
    }
}

/// The scalars of a step of [`SgdEma`]: the average's weights and
/// η·debias, so that step·g̃ = η·(the corrected average).
#[derive(Clone, Copy, Debug)]
pub struct SgdEmaScalars {
    m: Weights,
    step: f32,
}
