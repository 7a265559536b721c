//! Plain SGD and its two kinds of momentum.
//!
//! The lecture's point about momentum (slide "Adam — Adaptive Momentum"):
//! classical momentum v ← μv + ĝ sums the gradients with weights that add up
//! to 1/(1 − μ), so the distance a step travels, and with it the temperature
//! of the search, depends on η/(1 − μ): change μ and you have changed the
//! learning rate. An average of the gradients instead has weights that add up
//! to 1, and η keeps its meaning whatever the length N_g of the average.

use std::fmt;

use crate::algorithm::Update;
use crate::average::{Correction, RunningAverage, Weights, VALID};
use crate::denormal::flush;
use crate::gradient::Gradient;
use crate::parallel::Lanes;
use crate::spec::{KeyWriter, Keys, Range, SpecError};

/// Stochastic gradient descent, the update the lecture series "Stochastic
/// Gradient Descent (SGD)" builds every other rule on:
///
/// ```text
/// Φ ← Φ − η·ĝ
/// ```
///
/// Spec: `sgd(lr=0.001)`; the default η is `torch.optim.SGD`'s, slow for an
/// MNIST MLP, where `lr=0.1` trains well. Keeps no state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd {
    /// η (default 10⁻³).
    pub lr: f64,
}

/// Per-step scalars of [`Sgd`].
pub(crate) struct SgdCoefs {
    eta: f32,
}

impl Update for Sgd {
    const NAME: &'static str = "sgd";
    const MOMENTS: &'static [&'static str] = &[];
    type Coefs = SgdCoefs;

    fn base_lr(&self) -> f64 {
        self.lr
    }

    fn coefs(&self, _t: u64, eta: f64) -> SgdCoefs {
        SgdCoefs { eta: eta as f32 }
    }

    #[inline(always)]
    fn update(c: &SgdCoefs, grad: Gradient, l: Lanes<'_>) {
        for (p, &gh) in l.value.iter_mut().zip(l.grad) {
            let g = grad.of(gh, *p);
            *p -= c.eta * g;
        }
    }

    fn parse(keys: &mut Keys<'_>) -> Result<Sgd, SpecError> {
        Ok(Sgd {
            lr: keys.float("lr", 1e-3, Range::Positive)?,
        })
    }

    fn write(&self, w: &mut KeyWriter<'_, '_>) -> fmt::Result {
        w.float("lr", self.lr)
    }
}

/// SGD with classical momentum, exactly `torch.optim.SGD` with `momentum=μ`,
/// `dampening=0`:
///
/// ```text
/// v ← μ·v + ĝ                     (v₀ = 0, so v₁ = ĝ₁)
/// d = ĝ + μ·v   (Nesterov)   or   d = v
/// Φ ← Φ − η·d
/// ```
///
/// For a steady gradient v tends to ĝ/(1 − μ): the step is coupled to μ as
/// η/(1 − μ) (slide "Adam — Adaptive Momentum"). With `weight_decay=λ`, ĝ is
/// replaced by ĝ + λΦ before everything, as in PyTorch.
///
/// Spec: `sgd_momentum(lr=0.01,momentum=0.9,nesterov=false)`. PyTorch's
/// default μ is 0, which is plain SGD, so this rule has defaults of its own:
/// μ = 0.9 and η = 0.01, an effective step η/(1 − μ) = 0.1 like
/// [`SgdEma`]'s. The update itself is PyTorch's.
/// State: `v`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdMomentum {
    /// η (default 10⁻²).
    pub lr: f64,
    /// μ ∈ [0, 1) (default 0.9).
    pub momentum: f64,
    /// Step along the look-ahead gradient ĝ + μv (default `false`).
    pub nesterov: bool,
}

/// Per-step scalars of [`SgdMomentum`].
pub(crate) struct SgdMomentumCoefs {
    eta: f32,
    mu: f32,
    nesterov: bool,
}

impl Update for SgdMomentum {
    const NAME: &'static str = "sgd_momentum";
    const MOMENTS: &'static [&'static str] = &["v"];
    type Coefs = SgdMomentumCoefs;

    fn base_lr(&self) -> f64 {
        self.lr
    }

    fn coefs(&self, _t: u64, eta: f64) -> SgdMomentumCoefs {
        SgdMomentumCoefs {
            eta: eta as f32,
            mu: self.momentum as f32,
            nesterov: self.nesterov,
        }
    }

    #[inline(always)]
    fn update(c: &SgdMomentumCoefs, grad: Gradient, l: Lanes<'_>) {
        let (eta, mu) = (c.eta, c.mu);
        // The choice is made once per chunk, so each loop stays branch-free.
        if c.nesterov {
            for ((p, &gh), v) in l.value.iter_mut().zip(l.grad).zip(l.first.iter_mut()) {
                let g = grad.of(gh, *p);
                *v = flush(mu * *v + g);
                *p -= eta * (g + mu * *v);
            }
        } else {
            for ((p, &gh), v) in l.value.iter_mut().zip(l.grad).zip(l.first.iter_mut()) {
                let g = grad.of(gh, *p);
                *v = flush(mu * *v + g);
                *p -= eta * *v;
            }
        }
    }

    fn parse(keys: &mut Keys<'_>) -> Result<SgdMomentum, SpecError> {
        Ok(SgdMomentum {
            lr: keys.float("lr", 1e-2, Range::Positive)?,
            momentum: keys.float("momentum", 0.9, Range::Fraction)?,
            nesterov: keys.flag("nesterov", false)?,
        })
    }

    fn write(&self, w: &mut KeyWriter<'_, '_>) -> fmt::Result {
        w.float("lr", self.lr)?;
        w.float("momentum", self.momentum)?;
        w.flag("nesterov", self.nesterov)
    }
}

/// SGD on a running average of the gradient: momentum decoupled from the
/// temperature (slide "Adam — Adaptive Momentum"):
///
/// ```text
/// g̃_t = (1 − 1/min(t, N_g))·g̃_{t−1} + (1/min(t, N_g))·ĝ_t
/// Φ ← Φ − η·g̃_t
/// ```
///
/// The average is the lecture's `min(N, t)` one, so the first step is a full
/// SGD step and η means the same for every N_g. This is what
/// [`AdamEta0`](crate::AdamEta0) becomes as ε → ∞.
///
/// Spec: `sgd_ema(lr=0.1,n_g=10)`. State: `m` (g̃).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdEma {
    /// η (default 0.1, a good plain-SGD rate for an MNIST MLP).
    pub lr: f64,
    /// N_g ≥ 1, the length of the gradient average (default 10, β = 0.9).
    pub n_g: f64,
}

/// Per-step scalars of [`SgdEma`].
pub(crate) struct SgdEmaCoefs {
    m: Weights,
    step: f32,
}

impl Update for SgdEma {
    const NAME: &'static str = "sgd_ema";
    const MOMENTS: &'static [&'static str] = &["m"];
    type Coefs = SgdEmaCoefs;

    fn base_lr(&self) -> f64 {
        self.lr
    }

    fn coefs(&self, t: u64, eta: f64) -> SgdEmaCoefs {
        let m = RunningAverage::new(self.n_g, Correction::MinNT)
            .expect(VALID)
            .weights(t);
        SgdEmaCoefs {
            m,
            step: (eta * f64::from(m.debias)) as f32,
        }
    }

    #[inline(always)]
    fn update(c: &SgdEmaCoefs, grad: Gradient, l: Lanes<'_>) {
        let (keep, take, step) = (c.m.keep, c.m.take, c.step);
        for ((p, &gh), m) in l.value.iter_mut().zip(l.grad).zip(l.first.iter_mut()) {
            let g = grad.of(gh, *p);
            *m = flush(keep * *m + take * g);
            *p -= step * *m;
        }
    }

    fn parse(keys: &mut Keys<'_>) -> Result<SgdEma, SpecError> {
        Ok(SgdEma {
            lr: keys.float("lr", 0.1, Range::Positive)?,
            n_g: keys.float("n_g", 10.0, Range::Length)?,
        })
    }

    fn write(&self, w: &mut KeyWriter<'_, '_>) -> fmt::Result {
        w.float("lr", self.lr)?;
        w.float("n_g", self.n_g)
    }
}
