//! The simplified Adam whose s averages per-example squares.

use crate::average::{Correction, RunningAverage, VALID};
use crate::batch_rule::BatchRule;
use crate::hyperparameters;
use crate::param::Statistics;
use crate::rule::{Gradient, Options, Rule};
use crate::rules::adam::AdamScalars;
use crate::search::log;

hyperparameters! {
    /// The simplified Adam with s averaging per-example squares (slides
    /// "Making Adam Adapt to the Batch Size B" and "Making Adam Independent
    /// of B"):
    ///
    /// ```text
    /// q_t = (1/B) Σ_b g_b²                          (from backward, MeanAndSquares)
    /// g̃_t = (1 − 1/min(t, N_g))·g̃_{t−1} + (1/min(t, N_g))·ĝ_t
    /// s_t = (1 − 1/min(t, N_s))·s_{t−1} + (1/min(t, N_s))·q_t
    /// Φ ← Φ − η/(√s_t + ε)·g̃_t,     η = B·η₀
    /// ```
    ///
    /// Averaging ĝ² makes s estimate E ĝ² = μ² + σ²/B, which depends on the
    /// batch size; averaging the per-example squares makes it estimate
    /// E g² = μ² + σ² whatever B is. The preconditioner 1/√s no longer moves
    /// with B, the update is SGD's up to a fixed per-parameter scale, and
    /// SGD's linear rule η = B·η₀ applies: it is this rule's default
    /// `batch_rule`. At B = 64, η = 6.4·10⁻³; because √(μ² + σ²) is up to
    /// √B times Adam's √(μ² + σ²/B), that is comparable to Adam at 10⁻³
    /// when noise dominates. The averages are the lecture's (`min_nt`).
    /// Reads [`Statistics::MeanAndSquares`](crate::Statistics). State: `m` (g̃), `s`.
    pub struct AdamPerExample {
        /// η₀, the rate per example.
        eta0: f64 = 1e-4, Positive;
        /// N_g, the length of the gradient average.
        n_g: f64 = 10.0, Length;
        /// N_s, the length of the average of q.
        n_s: f64 = 1000.0, Length;
        /// ε, added to √s.
        eps: f64 = 1e-8, NonNegative;
        /// The bias correction of both averages.
        correction: Correction = Correction::MinNT;
    }
    search: [
        log("eta0", 3e-5, 3e-3),
        log("n_s", 100.0, 10_000.0),
        log("eps", 1e-10, 1e-4),
    ];
    tuned: "eta0=3e-4";
}

impl Rule for AdamPerExample {
    const NAME: &'static str = "adam_per_example";
    const STATE: &'static [&'static str] = &["m", "s"];
    type State = [f32; 2];
    type Scalars = AdamScalars;

    fn update(c: &AdamScalars, phi: &mut f32, g: Gradient, [m, s]: &mut [f32; 2]) {
        *m = c.m.keep * *m + c.m.take * g.mean; // g̃ ← (1 − 1/min(t,N_g))·g̃ + (1/min(t,N_g))·ĝ
        *s = c.v.keep * *s + c.v.take * g.squares; // s ← (1 − 1/min(t,N_s))·s + (1/min(t,N_s))·q
        *phi -= c.step * *m / (c.root * s.sqrt() + c.eps); // Φ ← Φ − η/(√s + ε)·g̃
    }

    fn learning_rate(&self) -> f64 {
        self.eta0
    }

    /// It reads the per-example squares, and η = B·η₀.
    fn options(&self) -> Options {
        Options {
            statistics: Statistics::MeanAndSquares,
            batch_rule: BatchRule::Linear,
            ..Options::default()
        }
    }

    fn scalars(&self, t: u64, eta: f64) -> AdamScalars {
        let m = RunningAverage::new(self.n_g, self.correction).expect(VALID);
        let s = RunningAverage::new(self.n_s, self.correction).expect(VALID);
        AdamScalars::new(m, s, t, eta, self.eps)
    }
}
