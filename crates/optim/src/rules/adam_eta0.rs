//! The simplified Adam written with η = ε·η₀.

use crate::average::{Correction, RunningAverage, Weights, VALID};
use crate::hyperparameters;
use crate::rule::{Gradient, Rule};
use crate::search::log;

hyperparameters! {
    /// The simplified Adam with η = ε·η₀ (slide "Decoupling η from ε"):
    ///
    /// ```text
    /// g̃_t, s_t as in AdamLecture
    /// Φ ← Φ − η₀/(1 + √s_t/ε)·g̃_t
    /// ```
    ///
    /// which is η/(√s + ε) with η = ε·η₀ divided through by ε. Computed in
    /// this form, ε may grow without bound: as ε → ∞ the factor tends to 1
    /// and the update becomes [`SgdEma`](crate::SgdEma) with step η₀
    /// (exactly so for `eps=inf`). For ε ≪ √s it is Adam with η = ε·η₀. The
    /// optimal ε is sometimes large, and this form lets a sweep move ε
    /// without moving η. The averages are the lecture's (`min_nt`).
    ///
    /// The defaults give η = ε·η₀ = 10⁻³, Adam's rate, for the coordinates
    /// with √s ≫ 10⁻⁴, and steps of η₀·g̃ (small, as g̃ is) for those with
    /// √s ≪ 10⁻⁴. Every step is at most min(η₀·|g̃|, ε·η₀·|g̃|/√s). State:
    /// `m` (g̃), `s`.
    pub struct AdamEta0 {
        /// η₀, the step of the SGD limit.
        eta0: f64 = 10.0, Positive;
        /// ε, the scale of √s below which steps are SGD's.
        eps: f64 = 1e-4, PositiveOrInfinite;
        /// N_g, the length of the gradient average.
        n_g: f64 = 10.0, Length;
        /// N_s, the length of the average of ĝ².
        n_s: f64 = 1000.0, Length;
        /// The bias correction of both averages.
        correction: Correction = Correction::MinNT;
    }
    search: [
        log("eta0", 1.0, 1000.0),
        log("eps", 1e-6, 1e-2),
        log("n_s", 100.0, 10_000.0),
    ];
    tuned: "eta0=30,eps=1e-4";
}

impl Rule for AdamEta0 {
    const NAME: &'static str = "adam_eta0";
    const STATE: &'static [&'static str] = &["m", "s"];
    type State = [f32; 2];
    type Scalars = AdamEta0Scalars;

    fn update(c: &AdamEta0Scalars, phi: &mut f32, g: Gradient, [m, s]: &mut [f32; 2]) {
        *m = c.m.keep * *m + c.m.take * g.mean; // g̃ ← (1 − 1/min(t,N_g))·g̃ + (1/min(t,N_g))·ĝ
        *s = c.s.keep * *s + c.s.take * g.mean * g.mean; // s ← (1 − 1/min(t,N_s))·s + (1/min(t,N_s))·ĝ²
        *phi -= c.step * *m / (1.0 + c.root * s.sqrt()); // Φ ← Φ − η₀/(1 + √s/ε)·g̃
    }

    fn learning_rate(&self) -> f64 {
        self.eta0
    }

    fn scalars(&self, t: u64, eta0: f64) -> AdamEta0Scalars {
        let m = RunningAverage::new(self.n_g, self.correction).expect(VALID);
        let s = RunningAverage::new(self.n_s, self.correction).expect(VALID);
        let (m, s) = (m.weights(t), s.weights(t));
        AdamEta0Scalars {
            m,
            s,
            step: (eta0 * f64::from(m.debias)) as f32,
            // 1/ε is taken once here; for ε = ∞ it is 0 and the kernel is
            // SgdEma's.
            root: (f64::from(s.debias).sqrt() / self.eps) as f32,
        }
    }
}

/// The scalars of a step of [`AdamEta0`]: `Φ ← Φ − step·m/(1 + root·√s)`
/// with `step = η₀·debias_m` and `root = √debias_s/ε`.
#[derive(Clone, Copy, Debug)]
pub struct AdamEta0Scalars {
    m: Weights,
    s: Weights,
    step: f32,
    root: f32,
}
