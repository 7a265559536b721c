//! Pointwise activations `y = f(x)`.
//!
//! **Derivative.** `∂L/∂x = dY ⊙ f′(x)`, with f′ written in terms of x and y:
//!
//! | f | f(x) | f′ |
//! |---|---|---|
//! | ReLU | max(x, 0) | 1 if x > 0, else 0 |
//! | leaky ReLU (slope a) | x if x > 0, else a·x | 1 if x > 0, else a |
//! | tanh | tanh x | 1 − y² |
//! | sigmoid | σ(x) = 1/(1 + e^(−x)) | y·(1 − y) |
//! | GELU (tanh form) | ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³) | ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²) |
//!
//! An activation acts on each element alone, so it keeps examples apart.

use gradlab_tensor::Tensor;

use crate::kernels::{self, Pointwise};
use crate::op::{Backward, Examples, Op};
use crate::tape::{Graph, Var};

/// A pointwise nonlinearity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// max(x, 0).
    Relu,
    /// x for x > 0, else slope·x.
    LeakyRelu(f32),
    /// tanh x.
    Tanh,
    /// 1/(1 + e^(−x)).
    Sigmoid,
    /// GELU in its tanh form (PyTorch's `approximate="tanh"`).
    Gelu,
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_C: f32 = 0.044_715;

impl Activation {
    /// f(x).
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            // Not `x.max(0.0)`, which turns NaN into 0: a NaN weight would
            // then vanish from the forward pass instead of reaching the
            // loss, where the training loop sees it (PyTorch's ReLU also
            // keeps NaN).
            Activation::Relu => {
                if x <= 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Activation::LeakyRelu(a) => {
                if x > 0.0 {
                    x
                } else {
                    a * x
                }
            }
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::Gelu => {
                0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + GELU_C * x * x * x)).tanh())
            }
        }
    }

    /// f′(x), given x and y = f(x).
    #[inline]
    pub fn derivative(self, x: f32, y: f32) -> f32 {
        match self {
            Activation::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu(a) => {
                if x > 0.0 {
                    1.0
                } else {
                    a
                }
            }
            Activation::Tanh => 1.0 - y * y,
            Activation::Sigmoid => y * (1.0 - y),
            Activation::Gelu => {
                let t = (SQRT_2_OVER_PI * (x + GELU_C * x * x * x)).tanh();
                0.5 * (1.0 + t)
                    + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * x * x)
            }
        }
    }
}

/// An activation is an op of its own: `y = f(x)`.
/// The kernels' view of an activation (`kernels.rs` runs it fast).
impl Pointwise for Activation {
    fn apply(self, x: f32) -> f32 {
        Activation::apply(self, x)
    }

    fn derivative(self, x: f32, y: f32) -> f32 {
        Activation::derivative(self, x, y)
    }

    #[inline(always)]
    fn specialized<R>(self, mut body: impl FnMut(Activation) -> R) -> R {
        match self {
            Activation::Relu => body(Activation::Relu),
            Activation::LeakyRelu(a) => body(Activation::LeakyRelu(a)),
            Activation::Tanh => body(Activation::Tanh),
            Activation::Sigmoid => body(Activation::Sigmoid),
            Activation::Gelu => body(Activation::Gelu),
        }
    }
}

impl Op for Activation {
    type Saved = ();

    fn name(&self) -> String {
        format!("{self:?}").to_lowercase()
    }

    fn examples(&self, batched: &[bool]) -> Examples {
        Examples::rowwise(batched)
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, _: &mut ()) {
        y.assign(x[0]);
        kernels::activate(*self, y.data_mut());
    }

    /// `∂L/∂x = dY ⊙ f′(x)`.
    fn backward(&self, cx: &mut Backward, _: &mut ()) {
        let (x, y, dy) = (cx.x[0].data(), cx.y.data(), cx.dy.data());
        let f = *self;
        cx.accumulate(0, |g, first| {
            if first {
                kernels::activation_derivative(f, dy, x, y, g.data_mut());
            } else {
                g.data_mut()
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, g)| *g += dy[i] * f.derivative(x[i], y[i]));
            }
        });
    }
}

impl Graph<'_, '_> {
    /// `f(x)` elementwise.
    pub fn activation(&mut self, x: Var, f: Activation) -> Var {
        self.apply(f, &[x])
    }

    /// max(x, 0).
    pub fn relu(&mut self, x: Var) -> Var {
        self.activation(x, Activation::Relu)
    }

    /// x for x > 0, else slope·x.
    pub fn leaky_relu(&mut self, x: Var, slope: f32) -> Var {
        self.activation(x, Activation::LeakyRelu(slope))
    }

    /// tanh x.
    pub fn tanh(&mut self, x: Var) -> Var {
        self.activation(x, Activation::Tanh)
    }

    /// σ(x) = 1/(1 + e^(−x)).
    pub fn sigmoid(&mut self, x: Var) -> Var {
        self.activation(x, Activation::Sigmoid)
    }

    /// GELU, tanh form.
    pub fn gelu(&mut self, x: Var) -> Var {
        self.activation(x, Activation::Gelu)
    }
}

#[cfg(test)]
mod tests {
    use super::Activation;

    /// A NaN input stays NaN through every activation, so a NaN weight
    /// shows in the loss.
    #[test]
    fn nan_propagates() {
        for f in [
            Activation::Relu,
            Activation::LeakyRelu(0.01),
            Activation::Tanh,
            Activation::Sigmoid,
            Activation::Gelu,
        ] {
            assert!(f.apply(f32::NAN).is_nan(), "{f:?}");
        }
        assert_eq!(Activation::Relu.apply(-2.0), 0.0);
        assert_eq!(Activation::Relu.apply(3.0), 3.0);
    }
}
