//! The lecture's simplified Adam.

use crate::average::{Correction, RunningAverage, VALID};
use crate::hyperparameters;
use crate::rule::{Gradient, Rule};
use crate::rules::adam::AdamScalars;
use crate::search::log;

hyperparameters! {
    /// The lecture's simplified Adam (slide "Adam (simplified)"):
    ///
    /// ```text
    /// g̃_t = (1 − 1/min(t, N_g))·g̃_{t−1} + (1/min(t, N_g))·ĝ_t
    /// s_t = (1 − 1/min(t, N_s))·s_{t−1} + (1/min(t, N_s))·ĝ_t²
    /// Φ ← Φ − η/(√s_t + ε)·g̃_t
    /// ```
    ///
    /// Both averages are exact means while t ≤ N and EMAs afterwards (slide
    /// "Bias Correction", `correction=min_nt`), so no division by 1 − βᵗ is
    /// needed: it "yields essentially the same effect" as the published
    /// correction. N_g = 10 and N_s = 1000 correspond to Adam's β₁ = 0.9
    /// and β₂ = 0.999, and `adam(correction=min_nt)` is this rule. State:
    /// `m` (g̃), `s`.
    pub struct AdamLecture {
        /// η, the step size.
        lr: f64 = 1e-3, Positive;
        /// N_g, the length of the gradient average.
        n_g: f64 = 10.0, Length;
        /// N_s, the length of the average of ĝ².
        n_s: f64 = 1000.0, Length;
        /// ε, added to √s.
        eps: f64 = 1e-8, NonNegative;
        /// The bias correction of both averages.
        correction: Correction = Correction::MinNT;
    }
    search: [
        log("lr", 1e-4, 3e-2),
        log("n_g", 2.0, 100.0),
        log("n_s", 10.0, 10_000.0),
        log("eps", 1e-10, 1e-2),
    ];
    tuned: "lr=3e-3";
}

impl Rule for AdamLecture {
    const NAME: &'static str = "adam_lecture";
    const STATE: &'static [&'static str] = &["m", "s"];
    type State = [f32; 2];
    type Scalars = AdamScalars;

    fn update(c: &AdamScalars, phi: &mut f32, g: Gradient, [m, s]: &mut [f32; 2]) {
        *m = c.m.keep * *m + c.m.take * g.mean; // g̃ ← (1 − 1/min(t,N_g))·g̃ + (1/min(t,N_g))·ĝ
        *s = c.v.keep * *s + c.v.take * g.mean * g.mean; // s ← (1 − 1/min(t,N_s))·s + (1/min(t,N_s))·ĝ²
        *phi -= c.step * *m / (c.root * s.sqrt() + c.eps); // Φ ← Φ − η/(√s + ε)·g̃
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, t: u64, eta: f64) -> AdamScalars {
        let m = RunningAverage::new(self.n_g, self.correction).expect(VALID);
        let s = RunningAverage::new(self.n_s, self.correction).expect(VALID);
        AdamScalars::new(m, s, t, eta, self.eps)
    }
}
