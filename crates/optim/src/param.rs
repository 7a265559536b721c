//! What a step is given: parameters with their gradient statistics, through
//! a small view of the optimizer's own.
//!
//! The optimizer knows nothing of autograd: a training loop hands it each
//! parameter's value, its batch gradient ĝ and, for a rule that reads them,
//! the per-example mean of squares (1/B) Σ_b g_b². An explicit list of
//! [`Param`]s is such a view; so is a tape's gradients, adapted by the
//! trainer (`gradlab_train::TapeParams`).

use gradlab_tensor::Tensor;

/// The gradient statistics a rule reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Statistics {
    /// The batch gradient ĝ = (1/B) Σ_b g_b.
    Mean,
    /// ĝ and the per-example mean of squares (1/B) Σ_b g_b².
    MeanAndSquares,
}

/// One parameter tensor and its gradient statistics for a step.
#[derive(Debug)]
pub struct Param<'a> {
    /// Stable id from the parameter store; the optimizer keys its state by it.
    pub id: usize,
    /// Φ, updated in place.
    pub value: &'a mut Tensor,
    /// ĝ = (1/B) Σ_b g_b, with g_b = ∇ℓ_b.
    pub grad: &'a Tensor,
    /// (1/B) Σ_b g_b², present when the backward computed it.
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

/// The parameters of one step, as the optimizer sees them: anything that
/// can hand over each parameter with its statistics, as often as the step
/// asks (a norm for clipping, then the update), in the same order each
/// time. A slice or an array of [`Param`]s is one; a training loop adapts
/// its own storage without building a list, so a step allocates nothing.
pub trait Parameters {
    /// Calls `f` with every parameter, in a fixed order.
    fn each(&mut self, f: &mut dyn FnMut(Param<'_>));
}

impl Parameters for [Param<'_>] {
    fn each(&mut self, f: &mut dyn FnMut(Param<'_>)) {
        for p in self.iter_mut() {
            f(Param {
                id: p.id,
                value: p.value,
                grad: p.grad,
                grad_sq: p.grad_sq,
            });
        }
    }
}

impl<const N: usize> Parameters for [Param<'_>; N] {
    fn each(&mut self, f: &mut dyn FnMut(Param<'_>)) {
        self.as_mut_slice().each(f);
    }
}

impl Parameters for Vec<Param<'_>> {
    fn each(&mut self, f: &mut dyn FnMut(Param<'_>)) {
        self.as_mut_slice().each(f);
    }
}
