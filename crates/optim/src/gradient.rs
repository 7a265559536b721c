//! What the algorithm sees as its gradient: ĝ after clipping by the global
//! norm and after L2 weight decay.
//!
//! Both are folded into the algorithm's fused loop rather than run as passes
//! of their own: the algorithm reads g = c·ĝ + λ·Φ, where c is the clipping
//! factor of this step (1 without clipping) and λ the L2 coefficient (0
//! without decay). Two extra flops per element cost nothing in a loop that
//! waits on memory, and having no branch keeps the loop vectorized.

use crate::parallel;
use crate::param::Param;

/// ‖ĝ‖ over every parameter of a step: √(Σ_params Σ_i ĝ_i²), accumulated in
/// `f64` with a fixed summation order (so the same for any thread count).
pub fn global_norm(params: &[Param<'_>]) -> f64 {
    params
        .iter()
        .map(|p| parallel::sum_of_squares(p.grad.data()))
        .sum::<f64>()
        .sqrt()
}

/// The factor clipping by global norm applies to every gradient, as
/// `torch.nn.utils.clip_grad_norm_` computes it: min(1, max_norm/(‖ĝ‖ + 10⁻⁶)).
pub fn clip_factor(norm: f64, max_norm: f64) -> f64 {
    (max_norm / (norm + 1e-6)).min(1.0)
}

/// The step's gradient transform g = c·ĝ + λ·Φ.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Gradient {
    /// c, the clipping factor.
    pub scale: f32,
    /// λ, the L2 coefficient.
    pub l2: f32,
}

impl Gradient {
    /// g = c·ĝ + λ·Φ.
    #[inline(always)]
    pub fn of(self, g_hat: f32, phi: f32) -> f32 {
        self.scale * g_hat + self.l2 * phi
    }

    /// (1/B) Σ_b (c·g_b + λΦ)² = c²·(1/B) Σ_b g_b² + λΦ·(2c·ĝ + λΦ), the
    /// per-example mean of squares of the same transformed gradient, from
    /// `grad_sq` = (1/B) Σ_b g_b² and `g` = c·ĝ + λΦ (so 2c·ĝ + λΦ = g + c·ĝ).
    #[inline(always)]
    pub fn square_of(self, grad_sq: f32, g_hat: f32, g: f32, phi: f32) -> f32 {
        let decay = self.l2 * phi;
        self.scale * self.scale * grad_sq + decay * (g + self.scale * g_hat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_of_matches_the_per_example_definition() {
        // Two examples g₁ = 1, g₂ = 3: ĝ = 2, (1/B) Σ g_b² = 5.
        let (c, l2, phi) = (0.5f32, 0.1f32, 2.0f32);
        let grad = Gradient { scale: c, l2 };
        let g = grad.of(2.0, phi);
        // (0.5·1 + 0.2)² = 0.49, (0.5·3 + 0.2)² = 2.89, mean 1.69.
        assert!((grad.square_of(5.0, 2.0, g, phi) - 1.69).abs() < 1e-6);
        assert!((g - 1.2).abs() < 1e-6);
    }

    #[test]
    fn clip_factor_follows_torch() {
        assert_eq!(clip_factor(0.5, 1.0), 1.0);
        assert!((clip_factor(4.0, 1.0) - 1.0 / (4.0 + 1e-6)).abs() < 1e-15);
    }
}
