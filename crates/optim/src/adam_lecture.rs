//! The lecture's Adams: the simplified one, the η = ε·η₀ form, and the one
//! whose s averages per-example squares.

use std::fmt;

use crate::adam::{adam_update, AdamCoefs};
use crate::algorithm::Update;
use crate::average::{Correction, RunningAverage, Weights, VALID};
use crate::batch_rule::BatchRule;
use crate::denormal::flush;
use crate::gradient::Gradient;
use crate::parallel::Lanes;
use crate::param::GradRequest;
use crate::spec::{KeyWriter, Keys, Range, SpecError};

/// The two `min(N, t)` averages shared by the lecture's Adams.
fn averages(n_g: f64, n_s: f64) -> (RunningAverage, RunningAverage) {
    (
        RunningAverage::new(n_g, Correction::MinNT).expect(VALID),
        RunningAverage::new(n_s, Correction::MinNT).expect(VALID),
    )
}

/// The lecture's simplified Adam (slide "Adam (simplified)"):
///
/// ```text
/// g̃_t = (1 − 1/min(t, N_g))·g̃_{t−1} + (1/min(t, N_g))·ĝ_t
/// s_t = (1 − 1/min(t, N_s))·s_{t−1} + (1/min(t, N_s))·ĝ_t²
/// Φ ← Φ − η/(√s_t + ε)·g̃_t
/// ```
///
/// Both averages are exact means while t ≤ N and EMAs afterwards (slide
/// "Bias Correction"), so no division by 1 − βᵗ is needed. N_g = 10 and
/// N_s = 1000 correspond to Adam's β₁ = 0.9 and β₂ = 0.999.
///
/// Spec: `adam_lecture(lr=0.001,n_g=10,n_s=1000,eps=1e-8)`. State: `m` (g̃),
/// `s`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamLecture {
    /// η (default 10⁻³).
    pub lr: f64,
    /// N_g ≥ 1 (default 10).
    pub n_g: f64,
    /// N_s ≥ 1 (default 1000).
    pub n_s: f64,
    /// ε ≥ 0 (default 10⁻⁸).
    pub eps: f64,
}

impl Update for AdamLecture {
    const NAME: &'static str = "adam_lecture";
    const MOMENTS: &'static [&'static str] = &["m", "s"];
    type Coefs = AdamCoefs;

    fn base_lr(&self) -> f64 {
        self.lr
    }

    fn coefs(&self, t: u64, eta: f64) -> AdamCoefs {
        let (m, s) = averages(self.n_g, self.n_s);
        AdamCoefs::new(m, s, t, eta, self.eps, 1.0)
    }

    #[inline(always)]
    fn update(c: &AdamCoefs, grad: Gradient, l: Lanes<'_>) {
        adam_update(c, grad, l);
    }

    fn parse(keys: &mut Keys<'_>) -> Result<AdamLecture, SpecError> {
        Ok(AdamLecture {
            lr: keys.float("lr", 1e-3, Range::Positive)?,
            n_g: keys.float("n_g", 10.0, Range::Length)?,
            n_s: keys.float("n_s", 1000.0, Range::Length)?,
            eps: keys.float("eps", 1e-8, Range::NonNegative)?,
        })
    }

    fn write(&self, w: &mut KeyWriter<'_, '_>) -> fmt::Result {
        w.float("lr", self.lr)?;
        w.float("n_g", self.n_g)?;
        w.float("n_s", self.n_s)?;
        w.float("eps", self.eps)
    }
}

/// The simplified Adam with η = ε·η₀ (slide "Decoupling η from ε"):
///
/// ```text
/// g̃_t, s_t as in AdamLecture
/// Φ ← Φ − η₀/(1 + √s_t/ε)·g̃_t
/// ```
///
/// which is η/(√s + ε) with η = ε·η₀ divided through by ε. Computed in this
/// form, ε may grow without bound: as ε → ∞ the factor tends to 1 and the
/// update becomes [`SgdEma`](crate::SgdEma) with step η₀ (exactly so for
/// `eps=inf`). For ε ≪ √s it is Adam with η = ε·η₀. The optimal ε is
/// sometimes large, and this form lets a sweep move ε without moving η.
///
/// Spec: `adam_eta0(eta0=10,eps=0.0001,n_g=10,n_s=1000)`: η = ε·η₀ = 10⁻³,
/// Adam's rate, for the coordinates with √s ≫ 10⁻⁴, and steps of η₀·g̃ (small,
/// as g̃ is) for those with √s ≪ 10⁻⁴. Every step is at most
/// min(η₀·|g̃|, ε·η₀·|g̃|/√s). State: `m` (g̃), `s`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamEta0 {
    /// η₀, the step of the SGD limit (default 10).
    pub eta0: f64,
    /// ε > 0, `inf` allowed (default 10⁻⁴).
    pub eps: f64,
    /// N_g ≥ 1 (default 10).
    pub n_g: f64,
    /// N_s ≥ 1 (default 1000).
    pub n_s: f64,
}

/// Per-step scalars of [`AdamEta0`]: `Φ ← Φ − step·m/(1 + root·√s)` with
/// `step = η₀·debias_m` and `root = √debias_s/ε`.
pub(crate) struct AdamEta0Coefs {
    m: Weights,
    s: Weights,
    step: f32,
    root: f32,
}

impl Update for AdamEta0 {
    const NAME: &'static str = "adam_eta0";
    const MOMENTS: &'static [&'static str] = &["m", "s"];
    type Coefs = AdamEta0Coefs;

    fn base_lr(&self) -> f64 {
        self.eta0
    }

    fn coefs(&self, t: u64, eta0: f64) -> AdamEta0Coefs {
        let (m, s) = averages(self.n_g, self.n_s);
        let (m, s) = (m.weights(t), s.weights(t));
        AdamEta0Coefs {
            m,
            s,
            step: (eta0 * f64::from(m.debias)) as f32,
            // 1/ε is computed once here; for ε = ∞ it is 0 and the loop
            // below is SgdEma's.
            root: (f64::from(s.debias).sqrt() / self.eps) as f32,
        }
    }

    #[inline(always)]
    fn update(c: &AdamEta0Coefs, grad: Gradient, l: Lanes<'_>) {
        let (km, tm, ks, ts, step, root) = (c.m.keep, c.m.take, c.s.keep, c.s.take, c.step, c.root);
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
            *p -= step * *m / (1.0 + root * s.sqrt());
        }
    }

    fn parse(keys: &mut Keys<'_>) -> Result<AdamEta0, SpecError> {
        Ok(AdamEta0 {
            eta0: keys.float("eta0", 10.0, Range::Positive)?,
            eps: keys.float("eps", 1e-4, Range::PositiveOrInfinite)?,
            n_g: keys.float("n_g", 10.0, Range::Length)?,
            n_s: keys.float("n_s", 1000.0, Range::Length)?,
        })
    }

    fn write(&self, w: &mut KeyWriter<'_, '_>) -> fmt::Result {
        w.float("eta0", self.eta0)?;
        w.float("eps", self.eps)?;
        w.float("n_g", self.n_g)?;
        w.float("n_s", self.n_s)
    }
}

/// The simplified Adam with s averaging per-example squares (slides "Making
/// Adam Adapt to the Batch Size B" and "Making Adam Independent of B"):
///
/// ```text
/// q_t = (1/B) Σ_b g_b²                          (from backward, MeanAndSquares)
/// g̃_t = (1 − 1/min(t, N_g))·g̃_{t−1} + (1/min(t, N_g))·ĝ_t
/// s_t = (1 − 1/min(t, N_s))·s_{t−1} + (1/min(t, N_s))·q_t
/// Φ ← Φ − η/(√s_t + ε)·g̃_t,     η = B·η₀
/// ```
///
/// Averaging ĝ² makes s estimate E ĝ² = μ² + σ²/B, which depends on the batch
/// size; averaging the per-example squares makes it estimate E g² = μ² + σ²
/// whatever B is. The preconditioner 1/√s no longer moves with B, the update
/// is SGD's up to a fixed per-parameter scale, and SGD's linear rule
/// η = B·η₀ applies: it is this rule's default `batch_rule`.
///
/// Spec: `adam_per_example(eta0=0.0001,n_g=10,n_s=1000,eps=1e-8)`. At
/// B = 64, η = 6.4·10⁻³; because √(μ² + σ²) is up to √B times Adam's
/// √(μ² + σ²/B), that is comparable to Adam at 10⁻³ when noise dominates.
/// Needs [`GradRequest::MeanAndSquares`]. State: `m` (g̃), `s`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamPerExample {
    /// η₀, the rate per example (default 10⁻⁴).
    pub eta0: f64,
    /// N_g ≥ 1 (default 10).
    pub n_g: f64,
    /// N_s ≥ 1 (default 1000).
    pub n_s: f64,
    /// ε ≥ 0 (default 10⁻⁸).
    pub eps: f64,
}

impl Update for AdamPerExample {
    const NAME: &'static str = "adam_per_example";
    const MOMENTS: &'static [&'static str] = &["m", "s"];
    const REQUEST: GradRequest = GradRequest::MeanAndSquares;
    const BATCH_RULE: BatchRule = BatchRule::Linear;
    type Coefs = AdamCoefs;

    fn base_lr(&self) -> f64 {
        self.eta0
    }

    fn coefs(&self, t: u64, eta: f64) -> AdamCoefs {
        let (m, s) = averages(self.n_g, self.n_s);
        AdamCoefs::new(m, s, t, eta, self.eps, 1.0)
    }

    #[inline(always)]
    fn update(c: &AdamCoefs, grad: Gradient, l: Lanes<'_>) {
        let (km, tm, ks, ts) = (c.m.keep, c.m.take, c.s.keep, c.s.take);
        let (step, root, eps) = (c.step, c.root, c.eps);
        let lanes = l
            .value
            .iter_mut()
            .zip(l.grad)
            .zip(l.grad_sq)
            .zip(l.first.iter_mut())
            .zip(l.second.iter_mut());
        for ((((p, &gh), &q), m), s) in lanes {
            let g = grad.of(gh, *p);
            *m = flush(km * *m + tm * g);
            *s = flush(ks * *s + ts * grad.square_of(q, gh, g, *p));
            *p -= step * *m / (root * s.sqrt() + eps);
        }
    }

    fn parse(keys: &mut Keys<'_>) -> Result<AdamPerExample, SpecError> {
        Ok(AdamPerExample {
            eta0: keys.float("eta0", 1e-4, Range::Positive)?,
            n_g: keys.float("n_g", 10.0, Range::Length)?,
            n_s: keys.float("n_s", 1000.0, Range::Length)?,
            eps: keys.float("eps", 1e-8, Range::NonNegative)?,
        })
    }

    fn write(&self, w: &mut KeyWriter<'_, '_>) -> fmt::Result {
        w.float("eta0", self.eta0)?;
        w.float("n_g", self.n_g)?;
        w.float("n_s", self.n_s)?;
        w.float("eps", self.eps)
    }
}
