//! Adam as published (Kingma & Ba), and AdamW.
//!
//! Adam is RMSProp whose numerator is an average of the gradient instead of
//! the gradient, with both averages bias-corrected (slide "Adam — Adaptive
//! Momentum"). Its correction divides the plain EMA by 1 − βᵗ; the lecture's
//! simpler min(N, t) average "yields essentially the same effect" and is
//! [`AdamLecture`](crate::AdamLecture), which shares this file's fused loop.

use std::fmt;

use crate::algorithm::Update;
use crate::average::{Correction, RunningAverage, Weights, VALID};
use crate::denormal::flush;
use crate::gradient::Gradient;
use crate::parallel::Lanes;
use crate::spec::{KeyWriter, Keys, Range, SpecError};

/// Adam as published (slides "Adam — Adaptive Momentum" and "Bias
/// Correction": "the published version of Adam has a more obscure form of
/// bias correction"), exactly `torch.optim.Adam`'s documented rule:
///
/// ```text
/// m ← β₁·m + (1 − β₁)·ĝ          m̂ = m/(1 − β₁ᵗ)
/// v ← β₂·v + (1 − β₂)·ĝ²         v̂ = v/(1 − β₂ᵗ)
/// Φ ← Φ − η·m̂/(√v̂ + ε)
/// ```
///
/// ε is added after the square root of the corrected v̂. In the lecture's
/// notation β₁ = 1 − 1/N_g and β₂ = 1 − 1/N_s: the defaults are N_g = 10 and
/// N_s = 1000. With `weight_decay=λ`, ĝ is replaced by ĝ + λΦ (L2, as
/// PyTorch's Adam does); for the decoupled decay use [`AdamW`].
///
/// Spec: `adam(lr=0.001,b1=0.9,b2=0.999,eps=1e-8)`, PyTorch's defaults and a
/// good optimizer for an MNIST MLP as they stand. State: `m`, `v` (stored
/// uncorrected).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    /// η (default 10⁻³).
    pub lr: f64,
    /// β₁ ∈ [0, 1) (default 0.9).
    pub b1: f64,
    /// β₂ ∈ [0, 1) (default 0.999).
    pub b2: f64,
    /// ε ≥ 0 (default 10⁻⁸).
    pub eps: f64,
}

/// Per-step scalars of the Adam family's update
/// `Φ ← shrink·Φ − step·m/(root·√s + ε)` with `step = η·debias_m` and
/// `root = √debias_s`, so that step·m = η·m̂ and root·√s = √ŝ.
pub(crate) struct AdamCoefs {
    pub m: Weights,
    pub s: Weights,
    pub step: f32,
    pub root: f32,
    pub eps: f32,
    pub shrink: f32,
}

impl AdamCoefs {
    /// The scalars of step `t` for averages `m` and `s`.
    pub fn new(
        m: RunningAverage,
        s: RunningAverage,
        t: u64,
        eta: f64,
        eps: f64,
        shrink: f64,
    ) -> AdamCoefs {
        let (m, s) = (m.weights(t), s.weights(t));
        AdamCoefs {
            m,
            s,
            step: (eta * f64::from(m.debias)) as f32,
            root: f64::from(s.debias).sqrt() as f32,
            eps: eps as f32,
            shrink: shrink as f32,
        }
    }
}

/// The fused Adam loop: one pass over Φ, ĝ, m and s.
// Inlined so that each caller's `vectorized` copy gets wide vectors.
#[inline(always)]
pub(crate) fn adam_update(c: &AdamCoefs, grad: Gradient, l: Lanes<'_>) {
    let (km, tm, ks, ts) = (c.m.keep, c.m.take, c.s.keep, c.s.take);
    let (step, root, eps, shrink) = (c.step, c.root, c.eps, c.shrink);
    let lanes = l
        .value
        .iter_mut()
        .zip(l.grad)
        .zip(l.first.iter_mut())
        .zip(l.second.iter_mut());
    for (((p, &gh), m), s) in lanes {
        let g = grad.of(gh, *p);
        *m = flush(km * *m + tm * g);
        *s = flush(ks * *s + ts * g * g);
        *p = shrink * *p - step * *m / (root * s.sqrt() + eps);
    }
}

impl Update for Adam {
    const NAME: &'static str = "adam";
    const MOMENTS: &'static [&'static str] = &["m", "v"];
    type Coefs = AdamCoefs;

    fn base_lr(&self) -> f64 {
        self.lr
    }

    fn coefs(&self, t: u64, eta: f64) -> AdamCoefs {
        let m = RunningAverage::from_beta(self.b1, Correction::Published).expect(VALID);
        let v = RunningAverage::from_beta(self.b2, Correction::Published).expect(VALID);
        AdamCoefs::new(m, v, t, eta, self.eps, 1.0)
    }

    #[inline(always)]
    fn update(c: &AdamCoefs, grad: Gradient, l: Lanes<'_>) {
        adam_update(c, grad, l);
    }

    fn parse(keys: &mut Keys<'_>) -> Result<Adam, SpecError> {
        Ok(Adam {
            lr: keys.float("lr", 1e-3, Range::Positive)?,
            b1: keys.float("b1", 0.9, Range::Fraction)?,
            b2: keys.float("b2", 0.999, Range::Fraction)?,
            eps: keys.float("eps", 1e-8, Range::NonNegative)?,
        })
    }

    fn write(&self, w: &mut KeyWriter<'_, '_>) -> fmt::Result {
        w.float("lr", self.lr)?;
        w.float("b1", self.b1)?;
        w.float("b2", self.b2)?;
        w.float("eps", self.eps)
    }
}

/// Adam with decoupled weight decay (Loshchilov & Hutter), beyond the
/// lecture because users expect it; exactly `torch.optim.AdamW`'s documented
/// rule:
///
/// ```text
/// Φ ← Φ − η·λ·Φ                    (before, and apart from, the gradient)
/// m ← β₁·m + (1 − β₁)·ĝ          m̂ = m/(1 − β₁ᵗ)
/// v ← β₂·v + (1 − β₂)·ĝ²         v̂ = v/(1 − β₂ᵗ)
/// Φ ← Φ − η·m̂/(√v̂ + ε)
/// ```
///
/// L2 decay adds λΦ to the gradient, where Adam's division by √v̂ rescales it
/// per parameter; decoupled decay shrinks every parameter by the same factor
/// 1 − ηλ whatever its gradient statistics.
///
/// Spec: `adamw(lr=0.001,b1=0.9,b2=0.999,eps=1e-8,weight_decay=0.01)`,
/// PyTorch's defaults. Here `weight_decay` is this decoupled λ, not L2.
/// State: `m`, `v`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamW {
    /// η (default 10⁻³).
    pub lr: f64,
    /// β₁ ∈ [0, 1) (default 0.9).
    pub b1: f64,
    /// β₂ ∈ [0, 1) (default 0.999).
    pub b2: f64,
    /// ε ≥ 0 (default 10⁻⁸).
    pub eps: f64,
    /// The decoupled decay λ ≥ 0 (default 10⁻²).
    pub weight_decay: f64,
}

impl Update for AdamW {
    const NAME: &'static str = "adamw";
    const MOMENTS: &'static [&'static str] = &["m", "v"];
    type Coefs = AdamCoefs;

    fn base_lr(&self) -> f64 {
        self.lr
    }

    fn coefs(&self, t: u64, eta: f64) -> AdamCoefs {
        let m = RunningAverage::from_beta(self.b1, Correction::Published).expect(VALID);
        let v = RunningAverage::from_beta(self.b2, Correction::Published).expect(VALID);
        AdamCoefs::new(m, v, t, eta, self.eps, 1.0 - eta * self.weight_decay)
    }

    #[inline(always)]
    fn update(c: &AdamCoefs, grad: Gradient, l: Lanes<'_>) {
        adam_update(c, grad, l);
    }

    fn parse(keys: &mut Keys<'_>) -> Result<AdamW, SpecError> {
        Ok(AdamW {
            lr: keys.float("lr", 1e-3, Range::Positive)?,
            b1: keys.float("b1", 0.9, Range::Fraction)?,
            b2: keys.float("b2", 0.999, Range::Fraction)?,
            eps: keys.float("eps", 1e-8, Range::NonNegative)?,
            weight_decay: keys.float("weight_decay", 1e-2, Range::NonNegative)?,
        })
    }

    fn write(&self, w: &mut KeyWriter<'_, '_>) -> fmt::Result {
        w.float("lr", self.lr)?;
        w.float("b1", self.b1)?;
        w.float("b2", self.b2)?;
        w.float("eps", self.eps)?;
        w.float("weight_decay", self.weight_decay)
    }
}
