//! Losses, per example first: each returns the `[B]` vector of per-example
//! losses ℓ_b; the batch loss is their mean, and
//! [`backward`](crate::Graph::backward) takes the vector.
//!
//! **Softmax cross-entropy** (logits z_b, class y_b), fused and stable:
//! `ℓ_b = log Σ_j e^(z_bj) − z_b,y_b = (m_b + log Σ_j e^(z_bj − m_b)) − z_b,y_b`
//! with `m_b = max_j z_bj`, so no exponential overflows.
//! Derivative: `∂ℓ_b/∂z_bj = p_bj − [j = y_b]`, where `p_b = softmax(z_b)` is
//! kept from the forward pass.
//!
//! **Mean squared error** (prediction p_b, target t_b, n outputs):
//! `ℓ_b = (1/n) Σ_j (p_bj − t_bj)²`, derivative
//! `∂ℓ_b/∂p_bj = (2/n)(p_bj − t_bj)`.

use gradlab_tensor::Tensor;

use crate::backward::{emit, Ctx};
use crate::tape::{value, Graph, Node, Op, Var};

impl Graph<'_, '_> {
    /// The per-example cross-entropy of `softmax(logits)` against class
    /// indices: a `[B]` vector.
    ///
    /// # Panics
    /// If `logits` is not `[B, C]`, `labels` has not B entries, or a label is
    /// not below C.
    pub fn softmax_cross_entropy(&mut self, logits: Var, labels: &[usize]) -> Var {
        let (b, c) = self.value(logits).dims2("softmax_cross_entropy");
        assert!(
            labels.len() == b,
            "softmax_cross_entropy: {} labels for logits of shape [{b}, {c}]",
            labels.len()
        );
        if let Some((i, &y)) = labels.iter().enumerate().find(|(_, &y)| y >= c) {
            panic!("softmax_cross_entropy: label {y} of example {i} is not below {c} classes");
        }
        let batched = self.node(logits).batched;
        self.push(
            Op::SoftmaxCrossEntropy { logits },
            batched,
            |n, before, store| {
                let z = value(before, store, logits);
                n.labels.clear();
                n.labels.extend_from_slice(labels);
                n.aux.resize_for(&[b, c]);
                n.value.resize_for(&[b]);
                for ((p, zb), (loss, &y)) in n
                    .aux
                    .data_mut()
                    .chunks_exact_mut(c)
                    .zip(z.data().chunks_exact(c))
                    .zip(n.value.data_mut().iter_mut().zip(labels))
                {
                    let log_sum_exp = softmax_row(zb, p);
                    *loss = log_sum_exp - zb[y];
                }
            },
        )
    }

    /// The per-example mean squared error `(1/n) Σ_j (p_bj − t_bj)²`: a `[B]`
    /// vector.
    ///
    /// # Panics
    /// If `pred` is not 2-D or `target` has another shape.
    pub fn mse(&mut self, pred: Var, target: &Tensor) -> Var {
        let (b, c) = self.value(pred).dims2("mse");
        assert!(
            target.shape() == [b, c],
            "mse: prediction of shape [{b}, {c}] and target of shape {:?} differ",
            target.shape()
        );
        let batched = self.node(pred).batched;
        self.push(Op::Mse { pred }, batched, |n, before, store| {
            let p = value(before, store, pred);
            n.aux.assign(target);
            n.value.resize_for(&[b]);
            for ((loss, pb), tb) in n
                .value
                .data_mut()
                .iter_mut()
                .zip(p.data().chunks_exact(c))
                .zip(target.data().chunks_exact(c))
            {
                *loss = pb
                    .iter()
                    .zip(tb)
                    .map(|(p, t)| (p - t) * (p - t))
                    .sum::<f32>()
                    / c as f32;
            }
        })
    }
}

/// Writes `softmax(z)` into `p` and returns `log Σ_j e^(z_j)`, computed
/// with the max subtracted so that no exponential overflows.
pub(crate) fn softmax_row(z: &[f32], p: &mut [f32]) -> f32 {
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0;
    for (pj, &zj) in p.iter_mut().zip(z) {
        *pj = (zj - m).exp();
        s += *pj;
    }
    let inv = 1.0 / s;
    p.iter_mut().for_each(|pj| *pj *= inv);
    m + s.ln()
}

pub(crate) fn backward(node: &Node, ctx: &mut Ctx) {
    let dy = node.grad.data();
    match node.op {
        Op::SoftmaxCrossEntropy { logits } => {
            let (p, labels) = (node.aux.data(), &node.labels);
            let c = node.aux.shape()[1];
            ctx.accumulate(logits, |g, first, _, _| {
                emit(g.data_mut(), first, |i| {
                    let (b, j) = (i / c, i % c);
                    let onehot = if labels[b] == j { 1.0 } else { 0.0 };
                    dy[b] * (p[i] - onehot)
                })
            });
        }
        Op::Mse { pred } => {
            let t = node.aux.data();
            let c = node.aux.shape()[1];
            ctx.accumulate(pred, |g, first, nodes, store| {
                let p = value(nodes, store, pred).data();
                emit(g.data_mut(), first, |i| {
                    dy[i / c] * 2.0 / c as f32 * (p[i] - t[i])
                })
            });
        }
        _ => unreachable!(),
    }
}
