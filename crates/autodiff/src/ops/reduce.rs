//! Sums and means: over every element, or over one axis of a 2-D tensor.
//!
//! **Derivative.** Every summed element receives the output's gradient:
//! `∂L/∂x_i = dY` for a sum, `dY/n` for a mean of n elements; over an axis,
//! each element receives the gradient of its own row (axis 1) or column
//! (axis 0).
//!
//! A sum over the examples of a batch (everything, or axis 0) mixes them;
//! a sum over axis 1 stays per example.

use crate::backward::{emit, Ctx};
use crate::tape::{value, Graph, Node, Op, Var};

impl Graph<'_, '_> {
    fn reduce(&mut self, x: Var, axis: Option<usize>, mean: bool) -> Var {
        let batched = self.node(x).batched;
        let keeps_examples = batched && axis == Some(1);
        self.push(
            Op::Sum { x, axis, mean },
            keeps_examples,
            |n, before, store| {
                let xv = value(before, store, x);
                match axis {
                    None => {
                        let s = if mean { xv.mean() } else { xv.sum() };
                        n.value.resize_for(&[]);
                        n.value.data_mut()[0] = s;
                    }
                    Some(axis) => {
                        let (r, c) = xv.dims2("sum over an axis");
                        xv.sum_axis_into(axis, &mut n.value);
                        if mean {
                            let count = if axis == 0 { r } else { c } as f32;
                            n.value.map_inplace(|s| s / count);
                        }
                    }
                }
                n.mixed |= batched && !keeps_examples;
            },
        )
    }

    /// Σ of every element (a scalar).
    pub fn sum(&mut self, x: Var) -> Var {
        self.reduce(x, None, false)
    }

    /// Mean of every element (a scalar).
    pub fn mean(&mut self, x: Var) -> Var {
        self.reduce(x, None, true)
    }

    /// Sum over `axis` of a 2-D tensor (axis 1: one sum per example).
    pub fn sum_axis(&mut self, x: Var, axis: usize) -> Var {
        self.reduce(x, Some(axis), false)
    }

    /// Mean over `axis` of a 2-D tensor (axis 1: one mean per example).
    pub fn mean_axis(&mut self, x: Var, axis: usize) -> Var {
        self.reduce(x, Some(axis), true)
    }
}

pub(crate) fn backward(node: &Node, ctx: &mut Ctx) {
    let Op::Sum { x, axis, mean } = node.op else {
        unreachable!()
    };
    let dy = node.grad.data();
    let shape = value(ctx.nodes, ctx.store, x).shape();
    let count = match axis {
        None => shape.iter().product::<usize>(),
        Some(a) => shape[a],
    };
    let scale = if mean { 1.0 / count as f32 } else { 1.0 };
    let cols = shape.get(1).copied().unwrap_or(1);
    ctx.accumulate(x, |g, first, _, _| {
        emit(g.data_mut(), first, |i| {
            scale
                * match axis {
                    None => dy[0],
                    Some(0) => dy[i % cols],
                    Some(_) => dy[i / cols],
                }
        })
    });
}
