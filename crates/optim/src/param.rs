//! What a step is given: parameters with their gradient statistics.

pub use gradlab_autodiff::GradRequest;
use gradlab_tensor::Tensor;

/// One parameter tensor and its gradient statistics for a step.
#[derive(Debug)]
pub struct Param<'a> {
    /// Stable id from the parameter store; the optimizer keys its state by it.
    pub id: usize,
    /// Φ, updated in place.
    pub value: &'a mut Tensor,
    /// ĝ = (1/B) Σ_b g_b, with g_b = ∇ℓ_b.
    pub grad: &'a Tensor,
    /// (1/B) Σ_b g_b², present when [`GradRequest::MeanAndSquares`] was
    /// requested.
    pub grad_sq: Option<&'a Tensor>,
}

impl<'a> Param<'a> {
    /// A parameter with its batch-mean gradient.
    pub fn new(id: usize, value: &'a mut Tensor, grad: &'a Tensor) -> Param<'a> {
        Param {
            id,
            value,
            grad,
            grad_sq: None,
        }
    }

    /// Adds the per-example mean of squares (1/B) Σ_b g_b².
    pub fn with_grad_sq(self, grad_sq: &'a Tensor) -> Param<'a> {
        Param {
            grad_sq: Some(grad_sq),
            ..self
        }
    }
}
