//! Reshape: the same values under another shape (row-major order kept), as
//! `flatten` uses it to turn a batch of feature maps `[B, C, H, W]` into
//! rows `[B, C·H·W]` for a linear layer.
//!
//! **Derivative.** Each value moves nowhere, so `∂L/∂x` is `dY` under x's
//! shape.
//!
//! A reshape that keeps axis 0 keeps the examples apart; one that moves
//! values across it mixes them.

use gradlab_tensor::{Tensor, MAX_DIMS};

use crate::op::{Backward, Examples, Op};
use crate::tape::{Graph, Var};

/// `x` under another shape, kept inline (recording one allocates nothing).
pub struct Reshape {
    dims: [usize; MAX_DIMS],
    len: usize,
    /// Whether axis 0 has the same length before and after.
    keeps_rows: bool,
}

impl Reshape {
    /// The output's shape.
    pub fn shape(&self) -> &[usize] {
        &self.dims[..self.len]
    }
}

impl Op for Reshape {
    type Saved = ();

    fn name(&self) -> String {
        format!("reshape to {:?}", self.shape())
    }

    fn examples(&self, batched: &[bool]) -> Examples {
        if self.keeps_rows {
            Examples::rowwise(batched)
        } else {
            Examples::reduces(batched)
        }
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, _: &mut ()) {
        y.assign(x[0]);
        y.resize_for(self.shape());
    }

    fn backward(&self, cx: &mut Backward, _: &mut ()) {
        let dy = cx.dy.data();
        cx.accumulate(0, |g, first| {
            if first {
                g.data_mut().copy_from_slice(dy);
            } else {
                g.data_mut().iter_mut().zip(dy).for_each(|(g, d)| *g += d);
            }
        });
    }
}

impl Graph<'_, '_> {
    /// `x`'s values under `shape`, in the same row-major order.
    ///
    /// # Panics
    /// If `shape` holds another number of values, or has more than
    /// [`MAX_DIMS`] axes.
    pub fn reshape(&mut self, x: Var, shape: &[usize]) -> Var {
        let from = self.value(x).shape();
        let (n, m) = (
            from.iter().product::<usize>(),
            shape.iter().product::<usize>(),
        );
        assert!(
            n == m,
            "reshape: {from:?} holds {n} values, {shape:?} holds {m}"
        );
        assert!(
            shape.len() <= MAX_DIMS,
            "reshape: {shape:?} has more than {MAX_DIMS} axes"
        );
        let keeps_rows = !from.is_empty() && shape.first() == from.first();
        let mut dims = [0; MAX_DIMS];
        dims[..shape.len()].copy_from_slice(shape);
        let op = Reshape {
            dims,
            len: shape.len(),
            keeps_rows,
        };
        self.apply(op, &[x])
    }

    /// `[B, …]` to `[B, n]`: every example's values as one row.
    ///
    /// # Panics
    /// If `x` has no axis.
    pub fn flatten(&mut self, x: Var) -> Var {
        let shape = self.value(x).shape();
        assert!(!shape.is_empty(), "flatten: a scalar has no rows");
        let (rows, rest) = (shape[0], shape[1..].iter().product());
        self.reshape(x, &[rows, rest])
    }
}
