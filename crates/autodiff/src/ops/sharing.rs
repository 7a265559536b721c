//! A weight used at every position of an example — a convolution's filter
//! at every window, a linear layer at every token of a sequence — and how
//! its per-example statistics are computed.
//!
//! Example b's gradient sums one outer product per position:
//! `g_b(W) = Σ_p δ_b,p a_b,pᵀ`, with `a_b,p` the K inputs the weight reads
//! at position p and `δ_b,p` the gradient of its O outputs there. Unlike a
//! weight used once per example, its square is not a product of squares,
//! so there are two ways to its norm (mixed ghost clipping, Bu et al.
//! 2022):
//!
//! * **materialize** each g_b, an `[O, P]·[P, K]` product: `P·K·O` per
//!   example;
//! * the **ghost norm** `‖g_b‖² = ⟨A_b A_bᵀ, D_b D_bᵀ⟩` from the `[P, K]`
//!   inputs A_b and `[P, O]` gradients D_b: `P²·(K + O)` per example.
//!
//! The op takes whichever costs less ([`norms_by`], which weighs the ghost
//! norm's slower loops). For DP-SGD's clipped mean
//! ([`GradRequest::Clipped`](crate::GradRequest::Clipped))
//! `(1/B) Σ_b c_b·g_b` there are again two ways:
//!
//! * **keep** every g_b from the walk and sum them weighted by c_b in
//!   clipping's second pass ([`Backward::clip_factors`](crate::Backward::clip_factors)):
//!   one multiply-add per value, but the batch's g_b written and read back,
//!   at memory speed once they outgrow the caches;
//! * the **weight product** from the output gradient with row b scaled by
//!   c_b, one GEMM over the batch: P multiply-adds per value of g_b, nothing
//!   kept — the g_b made for the norms live in a few rows of scratch space,
//!   one example after another, each row in cache while its norm is taken.
//!
//! Over many positions the product costs more than the memory it saves
//! (a GPT's layers over 128 tokens); over few (a convolution on a 4 × 4
//! map, whose batch of 10 000 examples' g_b would be 933 MB) the product is
//! cheaper. Only the per-example gradients and the mean of squares
//! themselves ([`GradRequest::PerExample`](crate::GradRequest::PerExample),
//! [`GradRequest::MeanAndSquares`](crate::GradRequest::MeanAndSquares))
//! always keep every g_b.

/// How many of the GEMM's multiply-adds one of the ghost norm's costs: its
/// Gram matrices are dot products over gathered columns, not a blocked
/// product. Measured on `scatter-cnn`'s first convolution (P = 16,
/// K = 729, O = 32): 195 k multiply-adds per example by ghost norms against
/// 373 k materialized, yet the private step took twice as long by ghost
/// norms (AVX-512, 2 threads).
pub const GHOST_COST: usize = 8;

/// Above this many positions, clipping keeps each example's gradient for a
/// weighted sum rather than recompute the mean by a weight product (P
/// multiply-adds per value against writing and reading the value back).
pub const KEEP_POSITIONS: usize = 32;

/// The most floats the per-example gradients of one shared weight may take
/// when clipping keeps them (512 MiB); beyond, the mean is a product.
pub const MATERIALIZED_MAX: usize = 1 << 27;

/// How a shared weight's per-example norms, and under clipping its clipped
/// mean, are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norms {
    /// Ghost norms; the clipped mean by the weight product.
    Ghost,
    /// Each g_b made in scratch for its norm; the clipped mean by the
    /// weight product.
    Scratch,
    /// Every g_b kept from the walk; the clipped mean a weighted sum of
    /// them.
    Kept,
}

/// How a weight of `outputs × inputs` shared over `positions` takes its
/// per-example norms for a batch of `batch` (and its clipped mean, when
/// `clipping`): ghost norms when `P²·(K + O)` multiply-adds, at
/// [`GHOST_COST`] each, cost less than materializing's `P·K·O`; else kept
/// when clipping over more than [`KEEP_POSITIONS`] positions and within
/// [`MATERIALIZED_MAX`]; else in scratch.
pub fn norms_by(
    clipping: bool,
    batch: usize,
    inputs: usize,
    outputs: usize,
    positions: usize,
) -> Norms {
    if GHOST_COST * positions * (inputs + outputs) < inputs * outputs {
        Norms::Ghost
    } else if clipping && positions > KEEP_POSITIONS && batch * inputs * outputs <= MATERIALIZED_MAX
    {
        Norms::Kept
    } else {
        Norms::Scratch
    }
}
