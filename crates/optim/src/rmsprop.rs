//! RMSProp: a learning rate per parameter from a running average of ĝ².
//!
//! Slide "RMSProp Analysis": scale every gradient by α and √s scales by α
//! too, so for small ε the update η·ĝ/√s does not change. η becomes
//! dimensionless: it is a distance in units of the gradient's own typical size.

use std::fmt;

use crate::algorithm::Update;
use crate::average::{Correction, RunningAverage, Weights, VALID};
use crate::denormal::flush;
use crate::gradient::Gradient;
use crate::parallel::Lanes;
use crate::spec::{KeyWriter, Keys, Range, SpecError};

/// RMSProp as on the lecture's slide "RMSProp" (Hinton's lecture slides),
/// which is also `torch.optim.RMSprop` without momentum:
///
/// ```text
/// s_t = (1 − 1/N_s)·s_{t−1} + (1/N_s)·ĝ_t²        s₀ = 0
/// Φ ← Φ − η/(√s_t + ε)·ĝ_t
/// ```
///
/// ε is outside the square root, and s is not bias-corrected: while t ≪ N_s,
/// s is too small and the first steps are too large (the problem the slides
/// "Bias Correction" take up). PyTorch's `alpha` is 1 − 1/N_s: its default
/// 0.99 is N_s = 100.
///
/// Spec: `rmsprop(lr=0.01,n_s=100,eps=1e-8)`, PyTorch's defaults. State: `s`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsProp {
    /// η (default 10⁻²).
    pub lr: f64,
    /// N_s ≥ 1, typically 100 or 1000 (default 100).
    pub n_s: f64,
    /// ε ≥ 0 (default 10⁻⁸).
    pub eps: f64,
}

/// Per-step scalars of [`RmsProp`] and [`RmsPropMomentum`].
pub(crate) struct RmsPropCoefs {
    s: Weights,
    eta: f32,
    eps: f32,
    mu: f32,
}

fn rmsprop_coefs(n_s: f64, eps: f64, mu: f64, t: u64, eta: f64) -> RmsPropCoefs {
    RmsPropCoefs {
        s: RunningAverage::new(n_s, Correction::None)
            .expect(VALID)
            .weights(t),
        eta: eta as f32,
        eps: eps as f32,
        mu: mu as f32,
    }
}

impl Update for RmsProp {
    const NAME: &'static str = "rmsprop";
    const MOMENTS: &'static [&'static str] = &["s"];
    type Coefs = RmsPropCoefs;

    fn base_lr(&self) -> f64 {
        self.lr
    }

    fn coefs(&self, t: u64, eta: f64) -> RmsPropCoefs {
        rmsprop_coefs(self.n_s, self.eps, 0.0, t, eta)
    }

    #[inline(always)]
    fn update(c: &RmsPropCoefs, grad: Gradient, l: Lanes<'_>) {
        let (keep, take, eta, eps) = (c.s.keep, c.s.take, c.eta, c.eps);
        for ((p, &gh), s) in l.value.iter_mut().zip(l.grad).zip(l.first.iter_mut()) {
            let g = grad.of(gh, *p);
            *s = flush(keep * *s + take * g * g);
            *p -= eta * g / (s.sqrt() + eps);
        }
    }

    fn parse(keys: &mut Keys<'_>) -> Result<RmsProp, SpecError> {
        Ok(RmsProp {
            lr: keys.float("lr", 1e-2, Range::Positive)?,
            n_s: keys.float("n_s", 100.0, Range::Length)?,
            eps: keys.float("eps", 1e-8, Range::NonNegative)?,
        })
    }

    fn write(&self, w: &mut KeyWriter<'_, '_>) -> fmt::Result {
        w.float("lr", self.lr)?;
        w.float("n_s", self.n_s)?;
        w.float("eps", self.eps)
    }
}

/// RMSProp with PyTorch's momentum, exactly `torch.optim.RMSprop` with
/// `momentum=μ` (not centered):
///
/// ```text
/// s ← (1 − 1/N_s)·s + (1/N_s)·ĝ²                  s₀ = 0
/// v ← μ·v + ĝ/(√s + ε)                            v₀ = 0
/// Φ ← Φ − η·v
/// ```
///
/// The momentum is classical, so the step couples to μ as η/(1 − μ); the
/// lecture (slide "Adam — Adaptive Momentum") contrasts this with Adam's
/// average, which keeps η and μ apart.
///
/// Spec: `rmsprop_momentum(lr=0.001,n_s=100,eps=1e-8,momentum=0.9)`. N_s
/// and ε are PyTorch's defaults. PyTorch's default μ is 0, which is
/// [`RmsProp`], so μ = 0.9 here, and η = 10⁻³ keeps the effective step
/// η/(1 − μ) at RMSProp's 10⁻² (PyTorch's η = 10⁻² with μ = 0.9 diverges on
/// an MNIST MLP). State: `s`, `v`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropMomentum {
    /// η (default 10⁻³).
    pub lr: f64,
    /// N_s ≥ 1 (default 100, PyTorch's `alpha=0.99`).
    pub n_s: f64,
    /// ε ≥ 0 (default 10⁻⁸).
    pub eps: f64,
    /// μ ∈ [0, 1) (default 0.9).
    pub momentum: f64,
}

impl Update for RmsPropMomentum {
    const NAME: &'static str = "rmsprop_momentum";
    const MOMENTS: &'static [&'static str] = &["s", "v"];
    type Coefs = RmsPropCoefs;

    fn base_lr(&self) -> f64 {
        self.lr
    }

    fn coefs(&self, t: u64, eta: f64) -> RmsPropCoefs {
        rmsprop_coefs(self.n_s, self.eps, self.momentum, t, eta)
    }

    #[inline(always)]
    fn update(c: &RmsPropCoefs, grad: Gradient, l: Lanes<'_>) {
        let (keep, take, eta, eps, mu) = (c.s.keep, c.s.take, c.eta, c.eps, c.mu);
        let lanes = l
            .value
            .iter_mut()
            .zip(l.grad)
            .zip(l.first.iter_mut())
            .zip(l.second.iter_mut());
        for (((p, &gh), s), v) in lanes {
            let g = grad.of(gh, *p);
            *s = flush(keep * *s + take * g * g);
            *v = flush(mu * *v + g / (s.sqrt() + eps));
            *p -= eta * *v;
        }
    }

    fn parse(keys: &mut Keys<'_>) -> Result<RmsPropMomentum, SpecError> {
        Ok(RmsPropMomentum {
            lr: keys.float("lr", 1e-3, Range::Positive)?,
            n_s: keys.float("n_s", 100.0, Range::Length)?,
            eps: keys.float("eps", 1e-8, Range::NonNegative)?,
            momentum: keys.float("momentum", 0.9, Range::Fraction)?,
        })
    }

    fn write(&self, w: &mut KeyWriter<'_, '_>) -> fmt::Result {
        w.float("lr", self.lr)?;
        w.float("n_s", self.n_s)?;
        w.float("eps", self.eps)?;
        w.float("momentum", self.momentum)
    }
}
