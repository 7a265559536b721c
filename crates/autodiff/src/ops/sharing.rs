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
//!   example, `K·O` floats to keep;
//! * the **ghost norm** `‖g_b‖² = ⟨A_b A_bᵀ, D_b D_bᵀ⟩` from the `[P, K]`
//!   inputs A_b and `[P, O]` gradients D_b: `P²·(K + O)` per example, no
//!   g_b kept.
//!
//! For the norms alone ([`GradRequest::Norms`](crate::GradRequest::Norms))
//! the op takes whichever costs less. The clipped mean
//! ([`GradRequest::Clipped`](crate::GradRequest::Clipped)) then needs
//! (1/B) Σ_b c_b·g_b: after ghost norms that is a second weight product
//! from the row-scaled output gradient (`P·K·O` per example again), from
//! materialized g_b a weighted sum (`K·O`). So for clipping the op
//! materializes, unless the g_b of the whole batch would take more than
//! [`MATERIALIZED_MAX`] floats, and its second pass reads the factors c_b
//! ([`Backward::clip_factors`](crate::Backward::clip_factors)). The mean of
//! squares and the per-example gradients always materialize.

/// The most floats the per-example gradients of one shared weight may take
/// when clipping materializes them (512 MiB).
pub const MATERIALIZED_MAX: usize = 1 << 27;

/// Whether a weight of `outputs × inputs` shared over `positions` takes
/// the ghost norm for a batch of `batch` examples: when `clipping`, only if
/// materializing would exceed [`MATERIALIZED_MAX`]; for the norms alone,
/// when `P²·(K + O)` costs less than `P·K·O`.
pub fn ghost_norm(
    clipping: bool,
    batch: usize,
    inputs: usize,
    outputs: usize,
    positions: usize,
) -> bool {
    if clipping {
        batch * inputs * outputs > MATERIALIZED_MAX
    } else {
        positions * (inputs + outputs) < inputs * outputs
    }
}
