//! Causal multi-head self-attention, the core of a GPT block, as one op:
//! from `qkv` (`[B, T, 3·d]`, the queries, keys and values side by side as
//! nanoGPT's `c_attn` produces them) to the heads' outputs merged back into
//! `[B, T, d]`. Head h reads columns `h·dₕ .. (h+1)·dₕ` of each third
//! (dₕ = d/H), so splitting and merging the heads are strides, not copies.
//!
//! For each example and head, with Q, K, V its `[T, dₕ]` slices:
//!
//! ```text
//! S = Q·Kᵀ/√dₕ      P = softmax(S) row by row over j ≤ i (causal)      O = P·V
//! ```
//!
//! **Derivative.** With `dO = ∂L/∂O`:
//!
//! ```text
//! dV = Pᵀ·dO      dP = dO·Vᵀ      dS = P ⊙ (dP − rowsum(P ⊙ dP))
//! dQ = dS·K/√dₕ   dK = dSᵀ·Q/√dₕ
//! ```
//!
//! (the softmax's Jacobian applied row by row; masked entries have P = 0,
//! so they get no gradient). Each product runs on the GEMM; the examples
//! run in parallel, and nothing crosses examples, so per-example requests
//! pass through it unchanged.

use gradlab_tensor::{gemm_strided, parallel, Tensor};

use crate::op::{Backward, Examples, Op};
use crate::tape::{Graph, Var};

/// Causal self-attention with `heads` heads over `qkv` (`[B, T, 3·d]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CausalAttention {
    /// H, the number of heads; d must be a multiple of it.
    pub heads: usize,
}

/// What attention keeps between its passes.
#[derive(Default)]
pub struct AttentionSaved {
    /// Each example's attention weights P, `[B, H·T·T]`.
    weights: Tensor,
    /// Scratch for the backward, per example: dP for every head.
    scratch: Tensor,
}

/// The sizes of one example: (T, d, H, dₕ).
fn sizes(qkv: &Tensor, heads: usize) -> (usize, usize, usize, usize) {
    let s = qkv.shape();
    let d = s[2] / 3;
    (s[1], d, heads, d / heads)
}

impl Op for CausalAttention {
    type Saved = AttentionSaved;

    fn name(&self) -> String {
        format!("causal attention ({} heads)", self.heads)
    }

    fn examples(&self, batched: &[bool]) -> Examples {
        Examples::rowwise(batched)
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, saved: &mut AttentionSaved) {
        let qkv = x[0];
        let (t, d, heads, dh) = sizes(qkv, self.heads);
        let batch = qkv.shape()[0];
        let scale = 1.0 / (dh as f32).sqrt();
        let row = 3 * d;
        y.resize_for(&[batch, t, d]);
        saved.weights.resize_for(&[batch, heads * t * t]);
        let weights = saved.weights.data_mut();
        parallel::zip_rows_mut(y.data_mut(), t * d, weights, heads * t * t, |b, out, ps| {
            let xb = &qkv.data()[b * t * row..][..t * row];
            for (h, p) in ps.chunks_exact_mut(t * t).enumerate() {
                let (q, k, v) = (&xb[h * dh..], &xb[d + h * dh..], &xb[2 * d + h * dh..]);
                // S = Q·Kᵀ/√dₕ, then the causal softmax of each row in place.
                gemm_strided(t, dh, t, scale, q, (row, 1), k, (1, row), 0.0, p, t);
                for (i, r) in p.chunks_exact_mut(t).enumerate() {
                    softmax_in_place(&mut r[..=i]);
                    r[i + 1..].fill(0.0);
                }
                // O = P·V, into the head's columns of the output rows.
                let o = &mut out[h * dh..];
                gemm_strided(t, t, dh, 1.0, p, (t, 1), v, (row, 1), 0.0, o, d);
            }
        });
    }

    fn backward(&self, cx: &mut Backward, saved: &mut AttentionSaved) {
        let (qkv, dy) = (cx.x[0], cx.dy);
        let (t, d, heads, dh) = sizes(qkv, self.heads);
        let batch = qkv.shape()[0];
        let scale = 1.0 / (dh as f32).sqrt();
        let row = 3 * d;
        let AttentionSaved { weights, scratch } = saved;
        scratch.resize_for(&[batch, t * t]);
        let weights = &*weights;
        cx.accumulate(0, |grad, first| {
            let beta = if first { 0.0 } else { 1.0 };
            let g = grad.data_mut();
            parallel::zip_rows_mut(g, t * row, scratch.data_mut(), t * t, |b, g, ds| {
                let xb = &qkv.data()[b * t * row..][..t * row];
                let dyb = &dy.data()[b * t * d..][..t * d];
                for h in 0..heads {
                    let p = &weights.data()[(b * heads + h) * t * t..][..t * t];
                    let (q, k, v) = (&xb[h * dh..], &xb[d + h * dh..], &xb[2 * d + h * dh..]);
                    let d_out = &dyb[h * dh..];
                    // dV = Pᵀ·dO
                    let dv = &mut g[2 * d + h * dh..];
                    gemm_strided(t, t, dh, 1.0, p, (1, t), d_out, (d, 1), beta, dv, row);
                    // dP = dO·Vᵀ, then dS = P ⊙ (dP − rowsum(P ⊙ dP)) in place.
                    gemm_strided(t, dh, t, 1.0, d_out, (d, 1), v, (1, row), 0.0, ds, t);
                    for (dsi, pi) in ds.chunks_exact_mut(t).zip(p.chunks_exact(t)) {
                        let inner: f32 = dsi.iter().zip(pi).map(|(a, b)| a * b).sum();
                        dsi.iter_mut()
                            .zip(pi)
                            .for_each(|(s, &pij)| *s = pij * (*s - inner));
                    }
                    // dQ = dS·K/√dₕ, dK = dSᵀ·Q/√dₕ
                    let dq = &mut g[h * dh..];
                    gemm_strided(t, t, dh, scale, ds, (t, 1), k, (row, 1), beta, dq, row);
                    let dk = &mut g[d + h * dh..];
                    gemm_strided(t, t, dh, scale, ds, (1, t), q, (row, 1), beta, dk, row);
                }
            });
        });
    }
}

/// `r ← softmax(r)`, with the maximum subtracted so that no exponential
/// overflows.
fn softmax_in_place(r: &mut [f32]) {
    let m = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0;
    for v in r.iter_mut() {
        *v = (*v - m).exp();
        s += *v;
    }
    let inv = 1.0 / s;
    r.iter_mut().for_each(|v| *v *= inv);
}

impl Graph<'_, '_> {
    /// Causal self-attention with `heads` heads over `qkv` (`[B, T, 3·d]`:
    /// queries, keys and values side by side, as nanoGPT's `c_attn`
    /// produces them): output `[B, T, d]`, the heads merged.
    ///
    /// # Panics
    /// If `qkv` is not `[B, T, 3·d]` with d a positive multiple of `heads`.
    pub fn causal_attention(&mut self, qkv: Var, heads: usize) -> Var {
        let s = self.value(qkv).shape();
        assert!(
            s.len() == 3
                && s[2].is_multiple_of(3)
                && heads > 0
                && s[2] > 0
                && (s[2] / 3).is_multiple_of(heads),
            "causal attention: input {s:?} must be [B, T, 3·d] with d a positive multiple of \
             {heads} heads"
        );
        self.apply(CausalAttention { heads }, &[qkv])
    }
}
