//! RMSProp: a learning rate per parameter from a running average of ĝ².

use crate::average::{Correction, RunningAverage, Weights, VALID};
use crate::hyperparameters;
use crate::rule::{Gradient, Rule};
use crate::search::log;

hyperparameters! {
    /// RMSProp as on the lecture's slide "RMSProp" (Hinton's lecture
    /// slides), which is also `torch.optim.RMSprop` without momentum:
    ///
    /// ```text
    /// s_t = (1 − 1/N_s)·s_{t−1} + (1/N_s)·ĝ_t²        s₀ = 0
    /// Φ ← Φ − η/(√s_t + ε)·ĝ_t
    /// ```
    ///
    /// Slide "RMSProp Analysis": scale every gradient by α and √s scales by
    /// α too, so for small ε the update does not change: η is
    /// dimensionless, a distance in units of the gradient's own typical
    /// size. ε is outside the square root, and as published s is not
    /// bias-corrected (`correction=none`): while t ≪ N_s, s is too small and
    /// the first steps are too large, the problem the slides "Bias
    /// Correction" take up. PyTorch's `alpha` is 1 − 1/N_s: its default 0.99
    /// is N_s = 100. State: `s`.
    pub struct RmsProp {
        /// η, the step size.
        lr: f64 = 1e-2, Positive;
        /// N_s, the length of the average of ĝ².
        n_s: f64 = 100.0, Length;
        /// ε, added to √s.
        eps: f64 = 1e-8, NonNegative;
        /// The bias correction of s.
        correction: Correction = Correction::None;
    }
    search: [
        log("lr", 1e-4, 1e-2),
        log("n_s", 10.0, 1000.0),
        log("eps", 1e-10, 1e-4),
    ];
    tuned: "lr=1e-3,n_s=100";
}

impl Rule for RmsProp {
    const NAME: &'static str = "rmsprop";
    const STATE: &'static [&'static str] = &["s"];
    type State = [f32; 1];
    type Scalars = RmsPropScalars;

    fn update(c: &RmsPropScalars, phi: &mut f32, g: Gradient, [s]: &mut [f32; 1]) {
        *s = c.s.keep * *s + c.s.take * g.mean * g.mean; // s ← (1 − 1/N)·s + (1/N)·ĝ²
        *phi -= c.eta * g.mean / (s.sqrt() + c.eps); // Φ ← Φ − η/(√s + ε)·ĝ
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, t: u64, eta: f64) -> RmsPropScalars {
        let s = RunningAverage::new(self.n_s, self.correction)
            .expect(VALID)
            .weights(t);
        let root = f64::from(s.debias).sqrt();
        RmsPropScalars {
            s,
            eta: (eta / root) as f32,
            eps: (self.eps / root) as f32,
        }
    }
}

/// The scalars of a step of [`RmsProp`]: the average's weights, and η and
/// ε divided by √debias, since η/(√(debias·s) + ε) = (η/√debias)/(√s +
/// ε/√debias): the corrected s costs nothing per element.
#[derive(Clone, Copy, Debug)]
pub struct RmsPropScalars {
    s: Weights,
    eta: f32,
    eps: f32,
}
