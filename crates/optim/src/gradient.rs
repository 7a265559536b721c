//! Clipping by the global gradient norm: the norm and the factor. The
//! factor is applied inside each rule's pass (see
//! [`Gradient`](crate::Gradient)).

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_factor_follows_torch() {
        assert_eq!(clip_factor(0.5, 1.0), 1.0);
        assert!((clip_factor(4.0, 1.0) - 1.0 / (4.0 + 1e-6)).abs() < 1e-15);
    }
}
