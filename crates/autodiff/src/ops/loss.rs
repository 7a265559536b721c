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

use crate::op::{Backward, Examples, Op};
use crate::tape::{Graph, Var};

/// Softmax cross-entropy of logits `[B, C]` against class indices.
pub struct SoftmaxCrossEntropy;

/// The labels of the batch and the softmax of its logits.
#[derive(Default)]
pub struct Classes {
    labels: Vec<usize>,
    softmax: Tensor,
}

impl Op for SoftmaxCrossEntropy {
    type Saved = Classes;

    fn name(&self) -> String {
        "softmax_cross_entropy".into()
    }

    fn examples(&self, batched: &[bool]) -> Examples {
        Examples::rowwise(batched)
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, saved: &mut Classes) {
        let (b, c) = x[0].dims2("softmax_cross_entropy");
        saved.softmax.resize_for(&[b, c]);
        y.resize_for(&[b]);
        for ((p, zb), (loss, &label)) in saved
            .softmax
            .data_mut()
            .chunks_exact_mut(c)
            .zip(x[0].data().chunks_exact(c))
            .zip(y.data_mut().iter_mut().zip(&saved.labels))
        {
            let log_sum_exp = softmax_row(zb, p);
            *loss = log_sum_exp - zb[label];
        }
    }

    /// `∂ℓ_b/∂z_bj = p_bj − [j = y_b]`.
    fn backward(&self, cx: &mut Backward, saved: &mut Classes) {
        let dy = cx.dy.data();
        let (p, labels) = (saved.softmax.data(), &saved.labels);
        let c = saved.softmax.shape()[1];
        cx.add(0, |i| {
            let (b, j) = (i / c, i % c);
            let onehot = if labels[b] == j { 1.0 } else { 0.0 };
            dy[b] * (p[i] - onehot)
        });
    }
}

/// Mean squared error of a prediction `[B, n]` against a target.
pub struct Mse;

impl Op for Mse {
    /// The target.
    type Saved = Tensor;

    fn name(&self) -> String {
        "mse".into()
    }

    fn examples(&self, batched: &[bool]) -> Examples {
        Examples::rowwise(batched)
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, target: &mut Tensor) {
        let (b, c) = x[0].dims2("mse");
        y.resize_for(&[b]);
        for ((loss, pb), tb) in y
            .data_mut()
            .iter_mut()
            .zip(x[0].data().chunks_exact(c))
            .zip(target.data().chunks_exact(c))
        {
            *loss = pb
                .iter()
                .zip(tb)
                .map(|(p, t)| (p - t) * (p - t))
                .sum::<f32>()
                / c as f32;
        }
    }

    /// `∂ℓ_b/∂p_bj = (2/n)(p_bj − t_bj)`.
    fn backward(&self, cx: &mut Backward, target: &mut Tensor) {
        let (p, dy, t) = (cx.x[0].data(), cx.dy.data(), target.data());
        let c = target.shape()[1];
        cx.add(0, |i| dy[i / c] * 2.0 / c as f32 * (p[i] - t[i]));
    }
}

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
        self.apply_with(SoftmaxCrossEntropy, &[logits], |saved| {
            saved.labels.clear();
            saved.labels.extend_from_slice(labels);
        })
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
        self.apply_with(Mse, &[pred], |saved| saved.assign(target))
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
