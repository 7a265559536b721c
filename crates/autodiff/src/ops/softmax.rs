//! Softmax and log-softmax over the last axis of a `[B, C]` tensor, for
//! inference (training uses the fused
//! [`softmax_cross_entropy`](crate::Graph::softmax_cross_entropy)).
//!
//! **Derivatives** (row by row, `dY = ∂L/∂Y`):
//! * `y = log_softmax(x) = x − log Σ_j e^(x_j)`:
//!   `∂L/∂x = dY − softmax(x) · Σ_j dY_j`, with softmax(x) = e^y.
//! * `y = softmax(x)`: `∂L/∂x = y ⊙ (dY − Σ_j y_j dY_j)`.

use crate::backward::Ctx;
use crate::ops::loss::softmax_row;
use crate::tape::{value, Graph, Node, Op, Var};

impl Graph<'_, '_> {
    /// Row-wise `x − log Σ_j e^(x_j)`.
    pub fn log_softmax(&mut self, x: Var) -> Var {
        let (_, c) = self.value(x).dims2("log_softmax");
        let batched = self.node(x).batched;
        self.push(Op::LogSoftmax { x }, batched, |n, before, store| {
            let xv = value(before, store, x);
            n.value.resize_for(xv.shape());
            for (y, xb) in n
                .value
                .data_mut()
                .chunks_exact_mut(c)
                .zip(xv.data().chunks_exact(c))
            {
                let lse = softmax_row(xb, y);
                y.iter_mut().zip(xb).for_each(|(yj, &xj)| *yj = xj - lse);
            }
        })
    }

    /// Row-wise `e^(x_j) / Σ_k e^(x_k)`.
    pub fn softmax(&mut self, x: Var) -> Var {
        let (_, c) = self.value(x).dims2("softmax");
        let batched = self.node(x).batched;
        self.push(Op::Softmax { x }, batched, |n, before, store| {
            let xv = value(before, store, x);
            n.value.resize_for(xv.shape());
            for (y, xb) in n
                .value
                .data_mut()
                .chunks_exact_mut(c)
                .zip(xv.data().chunks_exact(c))
            {
                softmax_row(xb, y);
            }
        })
    }
}

pub(crate) fn backward(node: &Node, ctx: &mut Ctx) {
    let (dy, y) = (node.grad.data(), node.value.data());
    let c = node.value.shape()[1];
    let (x, log) = match node.op {
        Op::LogSoftmax { x } => (x, true),
        Op::Softmax { x } => (x, false),
        _ => unreachable!(),
    };
    ctx.accumulate(x, |g, first, _, _| {
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
