//! Losses, per example first: each returns the `[B]` vector of per-example
//! losses ℓ_b; the batch loss is their mean, and
//! [`backward`](crate::Graph::backward) takes the vector.
//!
//! **Softmax cross-entropy** (logits z_b, class y_b), fused and stable:
//! `ℓ_b = log Σ_j e^(z_bj) − z_b,y_b = (m_b + log Σ_j e^(z_bj − m_b)) − z_b,y_b`
//! with `m_b = max_j z_bj`, so no exponential overflows.
//! Derivative: `∂ℓ_b/∂z_bj = p_bj − [j = y_b]`, where `p_b = softmax(z_b)` is
//! kept from the forward pass. Over sequences (logits `[B, T, C]`, a class
//! per position) example b's loss is the mean over its T positions,
//! `ℓ_b = (1/T) Σ_t ℓ_b,t`, and `∂ℓ_b/∂z_btj = (p_btj − [j = y_bt])/T`.
//!
//! **Mean squared error** (prediction p_b, target t_b, n outputs):
//! `ℓ_b = (1/n) Σ_j (p_bj − t_bj)²`, derivative
//! `∂ℓ_b/∂p_bj = (2/n)(p_bj − t_bj)`.

use gradlab_tensor::Tensor;

use crate::op::{Backward, Examples, Op};
use crate::tape::{Graph, Var};

/// Softmax cross-entropy of logits `[B, C]` (or `[B, T, C]`, a class per
/// position) against class indices.
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
        let s = x[0].shape();
        let (b, c) = (s[0], s[s.len() - 1]);
        let t = x[0].len() / (b * c).max(1);
        saved.softmax.resize_for(s);
        y.resize_for(&[b]);
        let rows = saved
            .softmax
            .data_mut()
            .chunks_exact_mut(c)
            .zip(x[0].data().chunks_exact(c))
            .zip(&saved.labels);
        let losses = y.data_mut();
        losses.fill(0.0);
        for (i, ((p, zb), &label)) in rows.enumerate() {
            let log_sum_exp = softmax_row(zb, p);
            losses[i / t] += log_sum_exp - zb[label];
        }
        if t > 1 {
            losses.iter_mut().for_each(|l| *l /= t as f32);
        }
    }

    /// `∂ℓ_b/∂z_btj = (p_btj − [j = y_bt])/T` (T = 1 for `[B, C]`).
    fn backward(&self, cx: &mut Backward, saved: &mut Classes) {
        let dy = cx.dy.data();
        let (p, labels) = (saved.softmax.data(), &saved.labels);
        let c = *saved
            .softmax
            .shape()
            .last()
            .expect("logits have a class axis");
        let t = labels.len() / dy.len().max(1);
        cx.add(0, |i| {
            let (r, j) = (i / c, i % c);
            let onehot = if labels[r] == j { 1.0 } else { 0.0 };
            let d = if t > 1 { dy[r / t] / t as f32 } else { dy[r] };
            d * (p[i] - onehot)
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
    /// indices: a `[B]` vector. Logits `[B, T, C]` take a label per position
    /// (`B·T` of them, in row-major order) and give each example the mean of
    /// its positions' losses.
    ///
    /// # Panics
    /// If `logits` is not `[B, C]` or `[B, T, C]`, the labels are not one
    /// per row, or a label is not below C.
    pub fn softmax_cross_entropy(&mut self, logits: Var, labels: &[usize]) -> Var {
        let s = self.value(logits).shape();
        assert!(
            s.len() == 2 || s.len() == 3,
            "softmax_cross_entropy: logits {s:?} must be [B, C] or [B, T, C]"
        );
        let c = s[s.len() - 1];
        let rows = self.value(logits).len() / c.max(1);
        assert!(
            labels.len() == rows,
            "softmax_cross_entropy: {} labels for logits of shape {s:?}",
            labels.len()
        );
        if let Some((i, &y)) = labels.iter().enumerate().find(|(_, &y)| y >= c) {
            panic!("softmax_cross_entropy: label {y} of row {i} is not below {c} classes");
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
