//! RMSProp with PyTorch's momentum.

use crate::average::{Correction, RunningAverage, Weights, VALID};
use crate::hyperparameters;
use crate::rule::{Gradient, Rule};
use crate::search::{decay, log};

hyperparameters! {
    /// RMSProp with classical momentum, exactly `torch.optim.RMSprop` with
    /// `momentum=μ` (not centered):
    ///
    /// ```text
    /// s ← (1 − 1/N_s)·s + (1/N_s)·ĝ²                  s₀ = 0
    /// v ← μ·v + ĝ/(√s + ε)                            v₀ = 0
    /// Φ ← Φ − η·v
    /// ```
    ///
    /// The momentum is classical, so the step couples to μ as η/(1 − μ);
    /// the lecture (slide "Adam — Adaptive Momentum") contrasts this with
    /// Adam's average, which keeps η and μ apart. s is not bias-corrected,
    /// as in PyTorch (`correction=none`). N_s and ε are PyTorch's defaults.
    /// PyTorch's default μ is 0, which is [`RmsProp`](crate::RmsProp), so
    /// μ = 0.9 here, and η = 10⁻³ keeps the effective step η/(1 − μ) at
    /// RMSProp's 10⁻² (PyTorch's η = 10⁻² with μ = 0.9 diverges on an MNIST
    /// MLP). State: `s`, `v`.
    pub struct RmsPropMomentum {
        /// η, the step size.
        lr: f64 = 1e-3, Positive;
        /// N_s, the length of the average of ĝ² (PyTorch's `alpha=0.99`).
        n_s: f64 = 100.0, Length;
        /// ε, added to √s.
        eps: f64 = 1e-8, NonNegative;
        /// μ, the momentum.
        momentum: f64 = 0.9, Fraction;
        /// The bias correction of s.
        correction: Correction = Correction::None;
    }
    search: [
        log("lr", 1e-5, 1e-2),
        decay("momentum", 0.5, 0.99),
        log("n_s", 10.0, 1000.0),
    ];
    tuned: "lr=1e-4,momentum=0.9";
}

impl Rule for RmsPropMomentum {
    const NAME: &'static str = "rmsprop_momentum";
    const STATE: &'static [&'static str] = &["s", "v"];
    type State = [f32; 2];
    type Scalars = RmsPropMomentumScalars;

    fn update(c: &RmsPropMomentumScalars, phi: &mut f32, g: Gradient, [s, v]: &mut [f32; 2]) {
        *s = c.s.keep * *s + c.s.take * g.mean * g.mean; // s ← (1 − 1/N)·s + (1/N)·ĝ²
        *v = c.mu * *v + c.unroot * g.mean / (s.sqrt() + c.eps); // v ← μ·v + ĝ/(√s + ε)
        *phi -= c.eta * *v; // Φ ← Φ − η·v
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, t: u64, eta: f64) -> RmsPropMomentumScalars {
        let s = RunningAverage::new(self.n_s, self.correction)
            .expect(VALID)
            .weights(t);
        let root = f64::from(s.debias).sqrt();
        RmsPropMomentumScalars {
            s,
            eta: eta as f32,
            unroot: (1.0 / root) as f32,
            eps: (self.eps / root) as f32,
            mu: self.momentum as f32,
        }
    }
}

/// The scalars of a step of [`RmsPropMomentum`]: the average's weights, η,
/// μ, and 1/√debias and ε/√debias, since ĝ/(√(debias·s) + ε) =
/// (ĝ/√debias)/(√s + ε/√debias); the scaling of ĝ runs beside the square
/// root rather than after it.
#[derive(Clone, Copy, Debug)]
pub struct RmsPropMomentumScalars {
    s: Weights,
    eta: f32,
    unroot: f32,
    eps: f32,
    mu: f32,
}
