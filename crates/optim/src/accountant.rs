//! The privacy accountant of DP-SGD: the Rényi differential privacy (RDP)
//! of the subsampled Gaussian mechanism, and the (ε, δ) it implies.
//!
//! A DP-SGD step adds N(0, σ²C²) to the sum of per-example gradients
//! clipped to norm C, over a batch drawn by Poisson sampling with rate q
//! (each example independently with probability q). One such step is
//! (α, ε_α)-RDP at every order α > 1 (Mironov 2017, "Rényi Differential
//! Privacy"), with ε_α computed as in Mironov, Talwar & Zhang 2019
//! ("Rényi Differential Privacy of the Sampled Gaussian Mechanism",
//! §3.3): ε_α = log A_α/(α − 1) with
//!
//! ```text
//! A_α = Σ_{i=0}^{α} C(α, i)·(1 − q)^{α−i}·q^i·exp((i² − i)/(2σ²))          (integer α)
//! A_α = Σ_{i≥0} C(α, i)·[(1 − q)^{α−i} q^i e^{(i²−i)/(2σ²)}·½erfc((i − z₀)/(√2σ))
//!                       + (1 − q)^i q^{α−i} e^{((α−i)²−(α−i))/(2σ²)}·½erfc((z₀ − (α − i))/(√2σ))]
//!                                               (fractional α, z₀ = σ² log(1/q − 1) + ½)
//! ```
//!
//! RDP composes by addition over steps, and T steps that are (α, ε_α)-RDP
//! are (ε, δ)-DP for
//!
//! ```text
//! ε = min_α  T·ε_α − (log δ + log α)/(α − 1) + log((α − 1)/α)
//! ```
//!
//! (Balle et al. 2020, "Hypothesis Testing Interpretations and Rényi
//! Differential Privacy", Theorem 21), over the orders
//! [`default_orders`]. This is exactly what Opacus' `RDPAccountant`
//! (Opacus 1.x, `opacus/accountants/analysis/rdp.py`) computes, series
//! cut-off included; [`noise_multiplier`] is its `get_noise_multiplier`.
//!
//! What the guarantee covers: an adversary who sees every parameter after
//! every step learns about any one training example at most what ε and δ
//! allow (δ is the probability that the bound fails; take it well below
//! 1/n for n examples). It assumes the batches really were Poisson-sampled
//! with rate q and the noise really was Gaussian from an unpredictable
//! source; it covers only the training set, so evaluating on a test set (or
//! tuning hyperparameters on private data) spends privacy outside it.

use serde::{Deserialize, Serialize};

use crate::spec::{format_float, significant};

/// The RDP orders α the accountant minimizes over: Opacus' defaults,
/// 1.1, 1.2, …, 10.9 and 12, 13, …, 63.
pub fn default_orders() -> Vec<f64> {
    let fractional = (1..100).map(|x| 1.0 + f64::from(x) / 10.0);
    fractional.chain((12..64).map(f64::from)).collect()
}

/// Steps taken with one noise multiplier and one sampling rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// σ, the noise's standard deviation over the clipping norm C.
    pub noise_multiplier: f64,
    /// q, the probability that a step samples a given example.
    pub sample_rate: f64,
    /// The number of steps.
    pub steps: u64,
}

/// The privacy spent: ε at the given δ, and the order α that gave it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spent {
    /// ε (0 before any step, ∞ without noise).
    pub epsilon: f64,
    /// The best order α (0 before any step; NaN when ε is ∞ at every order,
    /// where Opacus reports its first order).
    pub order: f64,
}

/// A value the accountant cannot take. (Values are printed as given, or
/// to 4 significant digits when computed: a δ of 10⁻³⁰⁰ is `1e-300`.)
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PrivacyError {
    /// The sampling rate is not in [0, 1].
    #[error("the sampling rate q must be in [0, 1], got {}", format_float(*.0))]
    SampleRate(f64),
    /// The noise multiplier is negative or not finite.
    #[error("the noise multiplier σ must be a finite number ≥ 0, got {}", format_float(*.0))]
    NoiseMultiplier(f64),
    /// The clipping bound is not positive, or infinite with noise.
    #[error("the clipping bound C must be a number > 0 (∞ only without noise), got {0}")]
    MaxNorm(f32),
    /// δ is not in (0, 1).
    #[error("δ must be in (0, 1), got {}", format_float(*.0))]
    Delta(f64),
    /// An RDP order is not a number > 1, or there is none.
    #[error("the RDP orders must be numbers > 1, and at least one, got {0:?}")]
    Orders(Vec<f64>),
    /// The target ε is not a finite positive number.
    #[error("the target ε must be a finite number > 0, got {}", format_float(*.0))]
    TargetEpsilon(f64),
    /// No noise multiplier up to 10⁶ reaches the target.
    #[error(
        "no noise multiplier up to 1e6 reaches ε = {} at δ = {} in {steps} steps at q = {}: the \
         budget is too low",
        format_float(*.epsilon),
        format_float(*.delta),
        significant(*.sample_rate, 4)
    )]
    BudgetTooLow {
        /// The target ε.
        epsilon: f64,
        /// δ.
        delta: f64,
        /// The steps.
        steps: u64,
        /// q.
        sample_rate: f64,
    },
}

/// The RDP accountant: the steps taken, phase by phase, and the privacy
/// they spent. It serializes, so a checkpoint can carry it and a resumed
/// run continue the accounting exactly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RdpAccountant {
    history: Vec<Phase>,
}

impl RdpAccountant {
    /// An accountant with no steps.
    pub fn new() -> RdpAccountant {
        RdpAccountant::default()
    }

    /// Records one step with noise multiplier σ and sampling rate q (a step
    /// like the last one extends its phase).
    pub fn step(&mut self, noise_multiplier: f64, sample_rate: f64) -> Result<(), PrivacyError> {
        check_step(noise_multiplier, sample_rate)?;
        match self.history.last_mut() {
            Some(p) if p.noise_multiplier == noise_multiplier && p.sample_rate == sample_rate => {
                p.steps += 1;
            }
            _ => self.history.push(Phase {
                noise_multiplier,
                sample_rate,
                steps: 1,
            }),
        }
        Ok(())
    }

    /// The phases so far.
    pub fn history(&self) -> &[Phase] {
        &self.history
    }

    /// The privacy spent so far at δ, over [`default_orders`] (ε = 0 before
    /// any step).
    pub fn spent(&self, delta: f64) -> Result<Spent, PrivacyError> {
        spent(&self.history, delta, &default_orders())
    }
}

/// The (ε, δ) of a sequence of phases, minimized over `orders`.
pub fn spent(phases: &[Phase], delta: f64, orders: &[f64]) -> Result<Spent, PrivacyError> {
    if !(delta > 0.0 && delta < 1.0) {
        return Err(PrivacyError::Delta(delta));
    }
    if orders.is_empty() || !orders.iter().all(|&a| a > 1.0) {
        return Err(PrivacyError::Orders(orders.to_vec()));
    }
    for p in phases {
        check_step(p.noise_multiplier, p.sample_rate)?;
    }
    if phases.is_empty() {
        return Ok(Spent {
            epsilon: 0.0,
            order: 0.0,
        });
    }
    let mut best = Spent {
        epsilon: f64::INFINITY,
        order: f64::NAN,
    };
    for &alpha in orders {
        // Composition adds the RDP of every step.
        let rdp: f64 = phases
            .iter()
            .map(|p| p.steps as f64 * rdp(p.sample_rate, p.noise_multiplier, alpha))
            .sum();
        let eps = rdp - (delta.ln() + alpha.ln()) / (alpha - 1.0) + ((alpha - 1.0) / alpha).ln();
        if eps < best.epsilon {
            best = Spent {
                epsilon: eps,
                order: alpha,
            };
        }
    }
    Ok(best)
}

/// The σ at which `steps` steps at rate q spend at most `target_epsilon`
/// at δ, as Opacus' `get_noise_multiplier` finds it: doubling from 10 until
/// the target is met, then halving the interval until ε is within 0.01
/// below the target; the σ returned meets it. Where ε does not depend on σ
/// (no steps, or q = 0) the interval is halved at most 100 times.
pub fn noise_multiplier(
    target_epsilon: f64,
    delta: f64,
    sample_rate: f64,
    steps: u64,
) -> Result<f64, PrivacyError> {
    if !(target_epsilon > 0.0 && target_epsilon.is_finite()) {
        return Err(PrivacyError::TargetEpsilon(target_epsilon));
    }
    check_step(0.0, sample_rate)?;
    let epsilon = |sigma: f64| {
        let phase = Phase {
            noise_multiplier: sigma,
            sample_rate,
            steps,
        };
        spent(&[phase], delta, &default_orders()).map(|s| s.epsilon)
    };
    let (mut low, mut high) = (0.0, 10.0);
    let mut eps_high = f64::INFINITY;
    while eps_high > target_epsilon {
        high *= 2.0;
        eps_high = epsilon(high)?;
        if high > 1e6 {
            return Err(PrivacyError::BudgetTooLow {
                epsilon: target_epsilon,
                delta,
                steps,
                sample_rate,
            });
        }
    }
    // Opacus stops only on ε; the count bounds the search where ε stays put.
    for _ in 0..100 {
        if target_epsilon - eps_high <= 0.01 {
            break;
        }
        let sigma = (low + high) / 2.0;
        let eps = epsilon(sigma)?;
        if eps < target_epsilon {
            (high, eps_high) = (sigma, eps);
        } else {
            low = sigma;
        }
    }
    Ok(high)
}

fn check_step(noise_multiplier: f64, sample_rate: f64) -> Result<(), PrivacyError> {
    if !(0.0..=1.0).contains(&sample_rate) {
        return Err(PrivacyError::SampleRate(sample_rate));
    }
    if !(noise_multiplier >= 0.0 && noise_multiplier.is_finite()) {
        return Err(PrivacyError::NoiseMultiplier(noise_multiplier));
    }
    Ok(())
}

/// ε_α of one step of the subsampled Gaussian mechanism with rate q and
/// noise multiplier σ (∞ without noise, 0 without sampling).
pub fn rdp(q: f64, sigma: f64, alpha: f64) -> f64 {
    if q == 0.0 {
        0.0
    } else if sigma == 0.0 || alpha.is_infinite() {
        f64::INFINITY
    } else if q == 1.0 {
        alpha / (2.0 * sigma * sigma) // the Gaussian mechanism itself
    } else if alpha.fract() == 0.0 {
        log_a_integer(q, sigma, alpha as u64) / (alpha - 1.0)
    } else {
        log_a_fractional(q, sigma, alpha) / (alpha - 1.0)
    }
}

/// log A_α for an integer α: the finite binomial sum, in log space.
fn log_a_integer(q: f64, sigma: f64, alpha: u64) -> f64 {
    let mut log_a = f64::NEG_INFINITY;
    let mut log_binom = 0.0; // log C(α, 0)
    for i in 0..=alpha {
        if i > 0 {
            log_binom += ((alpha - i + 1) as f64 / i as f64).ln(); // C(α, i) = C(α, i−1)(α − i + 1)/i
        }
        let i = i as f64;
        let term = log_binom
            + i * q.ln()
            + (alpha as f64 - i) * (1.0 - q).ln()
            + (i * i - i) / (2.0 * sigma * sigma);
        log_a = log_add(log_a, term);
    }
    log_a
}

/// log A_α for a fractional α: the two half-line integrals as series over
/// i, cut off once both terms are below e⁻³⁰.
fn log_a_fractional(q: f64, sigma: f64, alpha: f64) -> f64 {
    let (mut log_a0, mut log_a1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let z0 = sigma * sigma * (1.0 / q - 1.0).ln() + 0.5;
    let mut coef = 1.0f64; // C(α, i), generalized: its sign alternates past α
    let mut i = 0u32;
    loop {
        let (fi, j) = (f64::from(i), alpha - f64::from(i));
        let log_coef = coef.abs().ln();
        let log_t0 = log_coef + fi * q.ln() + j * (1.0 - q).ln();
        let log_t1 = log_coef + j * q.ln() + fi * (1.0 - q).ln();
        let log_e0 = 0.5f64.ln() + log_erfc((fi - z0) / (2.0f64.sqrt() * sigma));
        let log_e1 = 0.5f64.ln() + log_erfc((z0 - j) / (2.0f64.sqrt() * sigma));
        let log_s0 = log_t0 + (fi * fi - fi) / (2.0 * sigma * sigma) + log_e0;
        let log_s1 = log_t1 + (j * j - j) / (2.0 * sigma * sigma) + log_e1;
        if coef > 0.0 {
            log_a0 = log_add(log_a0, log_s0);
            log_a1 = log_add(log_a1, log_s1);
        } else {
            log_a0 = log_sub(log_a0, log_s0);
            log_a1 = log_sub(log_a1, log_s1);
        }
        coef *= (alpha - fi) / (fi + 1.0); // C(α, i + 1)
        i += 1;
        if log_s0.max(log_s1) < -30.0 {
            break;
        }
    }
    log_add(log_a0, log_a1)
}

/// log(eˣ + eʸ).
fn log_add(x: f64, y: f64) -> f64 {
    let (a, b) = if x > y { (x, y) } else { (y, x) };
    if a == f64::NEG_INFINITY {
        return b;
    }
    (b - a).exp().ln_1p() + a
}

/// log(eˣ − eʸ) for x ≥ y (the series' partial sums stay positive).
fn log_sub(x: f64, y: f64) -> f64 {
    if y == f64::NEG_INFINITY {
        return x;
    }
    if x <= y {
        return f64::NEG_INFINITY;
    }
    let d = x - y;
    // For a large gap eʸ is lost next to eˣ (and eᵈ would overflow).
    if d > 700.0 {
        x
    } else {
        d.exp_m1().ln() + y
    }
}

/// log erfc(x), accurate where erfc(x) underflows: the asymptotic series
/// erfc(x) = e^{−x²}/(x√π)·(1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶) + 105/(16x⁸) − …)
/// from x = 25 on (its next term is below 10⁻¹²), erfc itself below.
fn log_erfc(x: f64) -> f64 {
    if x < 25.0 {
        return libm::erfc(x).ln();
    }
    let r = 1.0 / (x * x);
    let series =
        1.0 - r / 2.0 + 3.0 * r * r / 4.0 - 15.0 * r.powi(3) / 8.0 + 105.0 * r.powi(4) / 16.0;
    -x * x - x.ln() - 0.5 * std::f64::consts::PI.ln() + series.ln()
}
