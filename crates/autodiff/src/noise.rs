//! The gradient noise scale B_noise = tr(Σ)/|G|² (McCandlish et al. 2018,
//! "An Empirical Model of Large-Batch Training").
//!
//! G = E[g] is the true gradient and Σ the covariance of a per-example
//! gradient g. From one batch of B examples, with ĝ = (1/B) Σ_b g_b and
//! S = (1/B) Σ_b g_b² (both per coordinate i), unbiased estimates are
//!
//! * tr(Σ) ≈ B/(B − 1) · Σ_i (S_i − ĝ_i²) — the sample variance of each
//!   coordinate, with Bessel's correction;
//! * |G|² ≈ |ĝ|² − tr(Σ)/B — because E|ĝ|² = |G|² + tr(Σ)/B.
//!
//! B_noise is the batch size at which the gradient's noise and its signal
//! are equal: for B ≪ B_noise a step is dominated by noise (σ²/B ≫ μ², the
//! lecture's √B regime), for B ≫ B_noise by signal (μ² ≫ σ²/B, the linear
//! regime). A single batch's |G|² estimate is noisy and may even be
//! negative, so estimates are summed over steps before dividing
//! ([`NoiseScale::add`]).

use std::ops::{Add, AddAssign};

use serde::{Deserialize, Serialize};

use crate::params::ParamId;
use crate::request::GradRequest;
use crate::tape::Tape;

/// Estimates of tr(Σ) and |G|², summed over whatever was added together
/// (tensors, steps, seeds): summing before dividing keeps the noisy
/// per-step |G|² estimates from making the ratio explode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NoiseScale {
    /// Σ of the tr(Σ) estimates.
    pub trace_sigma: f64,
    /// Σ of the |G|² estimates.
    pub grad_norm_sq: f64,
}

impl NoiseScale {
    /// The estimates for one tensor from ĝ, S = (1/B) Σ_b g_b² and B ≥ 2.
    pub fn from_moments(mean: &[f32], mean_sq: &[f32], batch: usize) -> NoiseScale {
        assert!(
            batch >= 2,
            "noise scale: B = {batch}, but a variance needs B ≥ 2"
        );
        assert_eq!(
            mean.len(),
            mean_sq.len(),
            "noise scale: ĝ and S differ in length"
        );
        let b = batch as f64;
        let (mut var, mut norm) = (0.0f64, 0.0f64);
        for (&g, &s) in mean.iter().zip(mean_sq) {
            let (g, s) = (g as f64, s as f64);
            var += s - g * g;
            norm += g * g;
        }
        let trace_sigma = b / (b - 1.0) * var;
        NoiseScale {
            trace_sigma,
            grad_norm_sq: norm - trace_sigma / b,
        }
    }

    /// B_noise = tr(Σ)/|G|² (infinite or negative when the |G|² estimate is
    /// not yet positive: add more steps).
    pub fn b_noise(&self) -> f64 {
        self.trace_sigma / self.grad_norm_sq
    }

    /// Adds another estimate (another tensor, or another step).
    pub fn add(&mut self, other: NoiseScale) {
        *self += other;
    }
}

impl Add for NoiseScale {
    type Output = NoiseScale;
    fn add(self, o: NoiseScale) -> NoiseScale {
        NoiseScale {
            trace_sigma: self.trace_sigma + o.trace_sigma,
            grad_norm_sq: self.grad_norm_sq + o.grad_norm_sq,
        }
    }
}

impl AddAssign for NoiseScale {
    fn add_assign(&mut self, o: NoiseScale) {
        *self = *self + o;
    }
}

impl Tape {
    /// The noise-scale estimates of the last backward, per parameter tensor
    /// and overall (the sum over tensors), or `None` unless it was a
    /// `MeanAndSquares` or `PerExample` backward with B ≥ 2.
    pub fn noise_scale(&self) -> Option<(NoiseScale, Vec<(ParamId, NoiseScale)>)> {
        let (request, batch) = self.last?;
        let squares = matches!(
            request,
            GradRequest::MeanAndSquares | GradRequest::PerExample
        );
        if !squares || batch < 2 {
            return None;
        }
        let per_param: Vec<(ParamId, NoiseScale)> = (0..self.param_nodes.len())
            .map(ParamId)
            .filter_map(|id| {
                let (g, s) = (self.grad(id)?, self.grad_sq(id)?);
                Some((id, NoiseScale::from_moments(g.data(), s.data(), batch)))
            })
            .collect();
        let total = per_param
            .iter()
            .fold(NoiseScale::default(), |acc, (_, n)| acc + *n);
        Some((total, per_param))
    }
}
