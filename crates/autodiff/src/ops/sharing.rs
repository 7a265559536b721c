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
//! The op takes whichever costs less ([`ghost_norm`], which weighs the
//! ghost norm's slower loops). A materialized g_b is needed only for its
//! norm: it is made in a row of scratch space that stays in cache, its
//! norm taken, and the row reused by the next example — the batch's g_b
//! are never all in memory at once, which for a wide layer would be tens
//! of megabytes written and read back at memory speed.
//!
//! The clipped mean ([`GradRequest::Clipped`](crate::GradRequest::Clipped))
//! `(1/B) Σ_b c_b·g_b` is then the ordinary weight product from the output
//! gradient with row b scaled by c_b, in clipping's second pass
//! ([`Backward::clip_factors`](crate::Backward::clip_factors)): one GEMM
//! over the whole batch. Only the per-example gradients and the mean of
//! squares themselves ([`GradRequest::PerExample`](crate::GradRequest::PerExample),
//! [`GradRequest::MeanAndSquares`](crate::GradRequest::MeanAndSquares))
//! keep every g_b.

/// How many of the GEMM's multiply-adds one of the ghost norm's costs: its
/// Gram matrices are dot products over gathered columns, not a blocked
/// product. Measured on `scatter-cnn`'s first convolution (P = 16,
/// K = 729, O = 32): 195 k multiply-adds per example by ghost norms against
/// 373 k materialized, yet the private step took twice as long by ghost
/// norms (AVX-512, 2 threads).
pub const GHOST_COST: usize = 8;

/// Whether a weight of `outputs × inputs` shared over `positions` takes
/// its per-example norms by ghost norms: when `P²·(K + O)` multiply-adds,
/// at [`GHOST_COST`] each, cost less than materializing's `P·K·O`.
pub fn ghost_norm(inputs: usize, outputs: usize, positions: usize) -> bool {
    GHOST_COST * positions * (inputs + outputs) < inputs * outputs
}
