//! Running averages and the lecture's four bias corrections.
//!
//! Every optimizer state in this crate is a running average of something the
//! gradient gives at each step: ĝ for momentum, ĝ² for RMSProp's s, the
//! per-example mean of squares for the batch-size independent Adam. They all
//! have the form
//!
//! ```text
//! stored_t = keep_t · stored_{t−1} + take_t · x_t,   stored_0 = 0
//! x̃_t      = debias_t · stored_t
//! ```
//!
//! and differ only in the three numbers `keep_t`, `take_t`, `debias_t`
//! (slides "Bias Correction"):
//!
//! | correction    | take_t           | keep_t       | debias_t       | x̃_t is                          |
//! |---------------|------------------|--------------|----------------|---------------------------------|
//! | `None`        | 1/N              | 1 − 1/N      | 1              | the EMA, biased toward 0 for t < N |
//! | `Cumulative`  | 1/t              | 1 − 1/t      | 1              | the exact mean of x_1..x_t       |
//! | `MinNT`       | 1/min(N, t)      | 1 − 1/min(N, t) | 1           | the exact mean, then the EMA     |
//! | `Published`   | 1 − β            | β            | 1/(1 − βᵗ)     | the EMA rescaled (Kingma & Ba)   |
//!
//! with β = 1 − 1/N. Because the three numbers depend only on t, an optimizer
//! computes them once per step ([`RunningAverage::weights`]) and its inner loop
//! is two multiplies and an add per element whatever the correction.

/// How a running average corrects the bias of starting from x̃₀ = 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Correction {
    /// x̃_t = (1 − 1/N) x̃_{t−1} + (1/N) x_t with x̃₀ = 0: the plain EMA, which
    /// at t = 1 returns x₁/N.
    None,
    /// x̃_t = (1 − 1/t) x̃_{t−1} + (1/t) x_t: exactly the mean of x_1..x_t,
    /// which never forgets (it ignores N).
    Cumulative,
    /// x̃_t = (1 − 1/min(N, t)) x̃_{t−1} + (1/min(N, t)) x_t: the exact mean
    /// while t ≤ N, the EMA afterwards. The lecture's simplified Adam.
    MinNT,
    /// The `None` average divided by 1 − βᵗ, as in the published Adam.
    Published,
}

impl Correction {
    /// The spec names, as `correction=` takes them.
    pub const CHOICES: [(&'static str, Correction); 4] = [
        ("none", Correction::None),
        ("cumulative", Correction::Cumulative),
        ("min_nt", Correction::MinNT),
        ("published", Correction::Published),
    ];

    /// The spec name.
    pub fn name(self) -> &'static str {
        match self {
            Correction::None => "none",
            Correction::Cumulative => "cumulative",
            Correction::MinNT => "min_nt",
            Correction::Published => "published",
        }
    }
}

/// The multipliers of one step of a running average:
/// `stored ← keep · stored + take · x`, and the estimate is `debias · stored`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Weights {
    /// Weight of the previous stored value.
    pub keep: f32,
    /// Weight of the new sample.
    pub take: f32,
    /// Factor turning the stored value into the estimate x̃_t.
    pub debias: f32,
}

/// Why a rule's averages can be built unchecked: its spec parser admits only
/// lengths ≥ 1 and decays in [0, 1).
pub(crate) const VALID: &str = "a rule's lengths and decays are checked when its spec is parsed";

/// A length or decay that makes no running average.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum AverageError {
    /// N below 1 (or NaN).
    #[error("RunningAverage: the length N must be ≥ 1, got {0}")]
    Length(f64),
    /// An infinite N for a correction that needs a finite one.
    #[error("RunningAverage: a {0:?} average needs a finite length N")]
    InfiniteLength(Correction),
    /// β outside [0, 1).
    #[error("RunningAverage: β must be in [0, 1), got {0}")]
    Beta(f64),
}

/// A running average of length N with a [`Correction`] (slides "Bias
/// Correction").
///
/// The type holds the rule, not the data: the stored values live wherever the
/// caller keeps them (a scalar, a slice, an optimizer's moment tensor), and
/// the step index t (starting at 1) is passed in. That way one rule serves
/// every parameter of a model.
///
/// ```
/// use gradlab_optim::{Correction, RunningAverage};
///
/// // The lecture's min(N, t) average of a constant signal 3, N = 10.
/// let avg = RunningAverage::new(10.0, Correction::MinNT)?;
/// let mut stored = 0.0;
/// for t in 1..=5 {
///     assert_eq!(avg.update(t, &mut stored, 3.0), 3.0);
/// }
/// // The uncorrected EMA starts at x₁/N.
/// let ema = RunningAverage::new(10.0, Correction::None)?;
/// let mut stored = 0.0;
/// assert!((ema.update(1, &mut stored, 3.0) - 0.3).abs() < 1e-7);
/// # Ok::<(), gradlab_optim::average::AverageError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunningAverage {
    /// 1/N, the weight of a new sample once the average is warmed up.
    rate: f64,
    correction: Correction,
}

impl RunningAverage {
    /// An average of length `n` (N ≥ 1; β = 1 − 1/N).
    ///
    /// `n` must be a number ≥ 1, finite for `None` and `Published` (a
    /// `MinNT` average of infinite length is the cumulative mean; an
    /// infinitely long EMA never takes anything in).
    pub fn new(n: f64, correction: Correction) -> Result<RunningAverage, AverageError> {
        if n.is_nan() || n < 1.0 {
            return Err(AverageError::Length(n));
        }
        if !n.is_finite() && !matches!(correction, Correction::MinNT | Correction::Cumulative) {
            return Err(AverageError::InfiniteLength(correction));
        }
        Ok(RunningAverage {
            rate: 1.0 / n,
            correction,
        })
    }

    /// An average with decay β = 1 − 1/N, as Adam's β₁ and β₂ are given; β
    /// must be in [0, 1).
    pub fn from_beta(beta: f64, correction: Correction) -> Result<RunningAverage, AverageError> {
        if !(0.0..1.0).contains(&beta) {
            return Err(AverageError::Beta(beta));
        }
        Ok(RunningAverage {
            rate: 1.0 - beta,
            correction,
        })
    }

    /// The exact mean of everything seen so far.
    pub fn cumulative() -> RunningAverage {
        RunningAverage {
            rate: 0.0,
            correction: Correction::Cumulative,
        }
    }

    /// The length N = 1/(1 − β) (infinite for the cumulative mean).
    pub fn n(&self) -> f64 {
        1.0 / self.rate
    }

    /// The decay β = 1 − 1/N.
    pub fn beta(&self) -> f64 {
        1.0 - self.rate
    }

    /// The bias correction.
    pub fn correction(&self) -> Correction {
        self.correction
    }

    /// The multipliers of step `t` (t = 1 for the first sample). Computed in
    /// `f64` and rounded once, so βᵗ stays accurate for large t.
    ///
    /// # Panics
    /// If `t` is 0: steps are counted from 1.
    pub fn weights(&self, t: u64) -> Weights {
        assert!(t >= 1, "RunningAverage::weights: steps count from t = 1");
        let t = t as f64;
        let (take, debias) = match self.correction {
            Correction::None => (self.rate, 1.0),
            Correction::Cumulative => (1.0 / t, 1.0),
            // 1/min(N, t) = max(1/N, 1/t).
            Correction::MinNT => (self.rate.max(1.0 / t), 1.0),
            Correction::Published => (self.rate, 1.0 / (1.0 - self.beta().powf(t))),
        };
        Weights {
            keep: (1.0 - take) as f32,
            take: take as f32,
            debias: debias as f32,
        }
    }

    /// Adds sample `x` at step `t` to the scalar average `stored` and returns
    /// the corrected estimate x̃_t.
    pub fn update(&self, t: u64, stored: &mut f32, x: f32) -> f32 {
        let w = self.weights(t);
        *stored = w.keep * *stored + w.take * x;
        w.debias * *stored
    }

    /// Adds the samples `xs` at step `t` to the averages `stored`, element by
    /// element. The estimates are `weights(t).debias · stored`.
    ///
    /// # Panics
    /// If the slices differ in length.
    pub fn update_slice(&self, t: u64, stored: &mut [f32], xs: &[f32]) {
        assert_eq!(
            stored.len(),
            xs.len(),
            "RunningAverage::update_slice: {} stored values but {} samples",
            stored.len(),
            xs.len()
        );
        let w = self.weights(t);
        for (s, &x) in stored.iter_mut().zip(xs) {
            *s = w.keep * *s + w.take * x;
        }
    }
}
