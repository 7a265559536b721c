//! Sums and means: over every element, or over one axis of a 2-D tensor.
//!
//! **Derivative.** Every summed element receives the output's gradient:
//! `∂L/∂x_i = dY` for a sum, `dY/n` for a mean of n elements; over an axis,
//! each element receives the gradient of its own row (axis 1) or column
//! (axis 0).
//!
//! A sum over the examples of a batch (everything, or axis 0) mixes them;
//! a sum over axis 1 stays per example.

use gradlab_tensor::Tensor;

use crate::op::{Backward, Examples, Op};
use crate::tape::{Graph, Var};

/// A sum, or a mean, over every element (`axis: None`) or over one axis of
/// a 2-D tensor.
pub struct Sum {
    /// The axis summed over, or `None` for every element.
    pub axis: Option<usize>,
    /// Divide by the number of elements summed.
    pub mean: bool,
}

impl Op for Sum {
    type Saved = ();

    fn name(&self) -> String {
        format!(
            "{}{}",
            if self.mean { "mean" } else { "sum" },
            self.axis
                .map_or(String::new(), |a| format!(" over axis {a}"))
        )
    }

    /// A sum over axis 1 keeps one value per example; any other sum of a
    /// batch adds examples together.
    fn examples(&self, batched: &[bool]) -> Examples {
        if self.axis == Some(1) {
            Examples::rowwise(batched)
        } else {
            Examples::reduces(batched)
        }
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, _: &mut ()) {
        let x = x[0];
        match self.axis {
            None => {
                let s = if self.mean { x.mean() } else { x.sum() };
                y.resize_for(&[]);
                y.data_mut()[0] = s;
            }
            Some(axis) => {
                let (r, c) = x.dims2("sum over an axis");
                x.sum_axis_into(axis, y);
                if self.mean {
                    let count = if axis == 0 { r } else { c } as f32;
                    y.map_inplace(|s| s / count);
                }
            }
        }
    }

    fn backward(&self, cx: &mut Backward, _: &mut ()) {
        let dy = cx.dy.data();
        let shape = cx.x[0].shape();
        let count = match self.axis {
            None => shape.iter().product::<usize>(),
            Some(a) => shape[a],
        };
        let scale = if self.mean { 1.0 / count as f32 } else { 1.0 };
        let cols = shape.get(1).copied().unwrap_or(1);
        let axis = self.axis;
        cx.add(0, |i| {
            scale
                * match axis {
                    None => dy[0],
                    Some(0) => dy[i % cols],
                    Some(_) => dy[i / cols],
                }
        });
    }
}

impl Graph<'_, '_> {
    /// Σ of every element (a scalar).
    pub fn sum(&mut self, x: Var) -> Var {
        self.apply(
            Sum {
                axis: None,
                mean: false,
            },
            &[x],
        )
    }

    /// Mean of every element (a scalar).
    pub fn mean(&mut self, x: Var) -> Var {
        self.apply(
            Sum {
                axis: None,
                mean: true,
            },
            &[x],
        )
    }

    /// Sum over `axis` of a 2-D tensor (axis 1: one sum per example).
    pub fn sum_axis(&mut self, x: Var, axis: usize) -> Var {
        self.apply(
            Sum {
                axis: Some(axis),
                mean: false,
            },
            &[x],
        )
    }

    /// Mean over `axis` of a 2-D tensor (axis 1: one mean per example).
    pub fn mean_axis(&mut self, x: Var, axis: usize) -> Var {
        self.apply(
            Sum {
                axis: Some(axis),
                mean: true,
            },
            &[x],
        )
    }
}
