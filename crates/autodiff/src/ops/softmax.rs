//! Softmax and log-softmax over the last axis of a `[B, C]` tensor, for
//! inference (training uses the fused
//! [`softmax_cross_entropy`](crate::Graph::softmax_cross_entropy)).
//!
//! **Derivatives** (row by row, `dY = ∂L/∂Y`):
//! * `y = log_softmax(x) = x − log Σ_j e^(x_j)`:
//!   `∂L/∂x = dY − softmax(x) · Σ_j dY_j`, with softmax(x) = e^y.
//! * `y = softmax(x)`: `∂L/∂x = y ⊙ (dY − Σ_j y_j dY_j)`.

use gradlab_tensor::Tensor;

use crate::op::{Backward, Examples, Op};
use crate::ops::loss::softmax_row;
use crate::tape::{Graph, Var};

/// Row-wise softmax (`log: false`) or log-softmax (`log: true`).
pub struct Softmax {
    /// Log-softmax rather than softmax.
    pub log: bool,
}

impl Op for Softmax {
    type Saved = ();

    fn name(&self) -> String {
        if self.log { "log_softmax" } else { "softmax" }.into()
    }

    fn examples(&self, batched: &[bool]) -> Examples {
        Examples::rowwise(batched)
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, _: &mut ()) {
        let (_, c) = x[0].dims2(if self.log { "log_softmax" } else { "softmax" });
        y.resize_for(x[0].shape());
        for (yb, xb) in y
            .data_mut()
            .chunks_exact_mut(c)
            .zip(x[0].data().chunks_exact(c))
        {
            let lse = softmax_row(xb, yb);
            if self.log {
                yb.iter_mut().zip(xb).for_each(|(yj, &xj)| *yj = xj - lse);
            }
        }
    }

    fn backward(&self, cx: &mut Backward, _: &mut ()) {
        let (dy, y) = (cx.dy.data(), cx.y.data());
        let c = cx.y.shape()[1];
        let log = self.log;
        cx.accumulate(0, |g, first| {
            let rows = g
                .data_mut()
                .chunks_exact_mut(c)
                .zip(dy.chunks_exact(c).zip(y.chunks_exact(c)));
            for (gb, (db, yb)) in rows {
                if log {
                    let s: f32 = db.iter().sum();
                    for ((o, &d), &yj) in gb.iter_mut().zip(db).zip(yb) {
                        let v = d - yj.exp() * s;
                        *o = if first { v } else { *o + v };
                    }
                } else {
                    let s: f32 = db.iter().zip(yb).map(|(d, y)| d * y).sum();
                    for ((o, &d), &yj) in gb.iter_mut().zip(db).zip(yb) {
                        let v = yj * (d - s);
                        *o = if first { v } else { *o + v };
                    }
                }
            }
        });
    }
}

impl Graph<'_, '_> {
    /// Row-wise `x − log Σ_j e^(x_j)`.
    pub fn log_softmax(&mut self, x: Var) -> Var {
        self.value(x).dims2("log_softmax");
        self.apply(Softmax { log: true }, &[x])
    }

    /// Row-wise `e^(x_j) / Σ_k e^(x_k)`.
    pub fn softmax(&mut self, x: Var) -> Var {
        self.value(x).dims2("softmax");
        self.apply(Softmax { log: false }, &[x])
    }
}
