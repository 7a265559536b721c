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
//! so they get no gradient). Each product runs on the GEMM, in spans of
//! 32 rows that stop at the diagonal: a query's row of S needs only the
//! keys up to its own, and dV, dK only the queries from theirs, so the
//! blocks above the diagonal, all zeros of P and dS, are never computed.
//! The softmax and its backward run over a row's live part in wide
//! vectors, on an exponential in plain arithmetic (`kernels.rs`). The
//! examples run in parallel, and nothing crosses examples, so per-example
//! requests pass through it unchanged.

use gradlab_tensor::{gemm_strided, parallel, Tensor};

use crate::kernels;
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
                for (r0, r1) in blocks(t) {
                    let (q, s) = (&q[r0 * row..], &mut p[r0 * t..]);
                    gemm_strided(r1 - r0, dh, r1, scale, q, (row, 1), k, (1, row), 0.0, s, t);
                }
                kernels::causal_softmax(p, t);
                // O = P·V, into the head's columns of the output rows.
                for (r0, r1) in blocks(t) {
                    let (p, o) = (&p[r0 * t..], &mut out[r0 * d + h * dh..]);
                    gemm_strided(r1 - r0, r1, dh, 1.0, p, (t, 1), v, (row, 1), 0.0, o, d);
                }
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
                    // dV = Pᵀ·dO: key j gets from the queries i ≥ j.
                    for (c0, c1) in blocks(t) {
                        let (pt, d_out) = (&p[c0 * t + c0..], &d_out[c0 * d..]);
                        let (dv, m, n) = (&mut g[c0 * row + 2 * d + h * dh..], c1 - c0, t - c0);
                        gemm_strided(m, n, dh, 1.0, pt, (1, t), d_out, (d, 1), beta, dv, row);
                    }
                    // dP = dO·Vᵀ, then dS = P ⊙ (dP − rowsum(P ⊙ dP)) in place.
                    for (r0, r1) in blocks(t) {
                        let (d_out, dp) = (&d_out[r0 * d..], &mut ds[r0 * t..]);
                        gemm_strided(r1 - r0, dh, r1, 1.0, d_out, (d, 1), v, (1, row), 0.0, dp, t);
                    }
                    kernels::causal_softmax_backward(ds, p, t);
                    // dQ = dS·K/√dₕ (queries i from keys j ≤ i), dK = dSᵀ·Q/√dₕ
                    // (keys j from queries i ≥ j).
                    for (r0, r1) in blocks(t) {
                        let (dsr, dq, m) = (&ds[r0 * t..], &mut g[r0 * row + h * dh..], r1 - r0);
                        gemm_strided(m, r1, dh, scale, dsr, (t, 1), k, (row, 1), beta, dq, row);
                    }
                    for (c0, c1) in blocks(t) {
                        let (dst, q) = (&ds[c0 * t + c0..], &q[c0 * row..]);
                        let (dk, m, n) = (&mut g[c0 * row + d + h * dh..], c1 - c0, t - c0);
                        gemm_strided(m, n, dh, scale, dst, (1, t), q, (row, 1), beta, dk, row);
                    }
                }
            });
        });
    }
}

/// The rows of a `[T, T]` causal block cut into spans of [`BLOCK`]:
/// `(start, end)` pairs. Row span r0..r1 of S reads only the keys before
/// r1 (the rest are masked), so the products skip the blocks above the
/// diagonal: 3/8 of the work at T = 128.
fn blocks(t: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..t)
        .step_by(BLOCK)
        .map(move |r0| (r0, (r0 + BLOCK).min(t)))
}

/// The rows per span of [`blocks`]: small enough that the skipped blocks
/// are most of the masked half, large enough that each product still fills
/// the micro-kernel's tiles (16 and 64 measured the same at T = 128).
const BLOCK: usize = 32;

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
