//! What a backward pass is asked for, and how the clipped request bounds
//! each example's gradient.

/// What the backward pass computes for every parameter (see the crate docs
/// for the convention g_b = ∇ℓ_b). The trainer asks for what its optimizer
/// reads; new requests may be added, so a `match` needs a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum GradRequest {
    /// The batch gradient ĝ = (1/B) Σ_b g_b.
    Mean,
    /// ĝ and the per-example mean of squares (1/B) Σ_b g_b², without
    /// materializing the g_b.
    MeanAndSquares,
    /// ĝ and every g_b, as a `[B, …]` tensor.
    PerExample,
    /// ĝ and every example's gradient norm ‖g_b‖, per parameter tensor
    /// ([`Tape::example_norms`](crate::Tape::example_norms)) and over all of
    /// them ([`Tape::total_norms`](crate::Tape::total_norms)), without
    /// materializing the g_b (for a linear layer
    /// ‖x_b δ_bᵀ‖² = ‖x_b‖²·‖δ_b‖², Goodfellow 2015).
    Norms,
    /// The clipped mean (1/B) Σ_b c_b·g_b in place of ĝ, with
    /// c_b = min(1, C/(‖g_b‖ + 10⁻⁶)) as Opacus computes it, and the norms
    /// of [`Norms`](GradRequest::Norms) (of the unclipped g_b). The
    /// weight-gradient matmuls wait until the walk has produced every norm,
    /// then run once with the rows of δ scaled by c_b (Bu et al. 2022,
    /// "book-keeping"); a weight shared over many positions sums its kept
    /// g_b instead (see the `sharing` module).
    Clipped(Clipping),
}

impl GradRequest {
    /// Whether the request computes per-example norms.
    pub fn computes_norms(self) -> bool {
        matches!(self, GradRequest::Norms | GradRequest::Clipped(_))
    }

    /// Whether the request computes the per-example mean of squares (and,
    /// for `PerExample`, the g_b themselves).
    pub fn computes_squares(self) -> bool {
        matches!(self, GradRequest::MeanAndSquares | GradRequest::PerExample)
    }
}

/// How [`GradRequest::Clipped`] bounds each example's gradient.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Clipping {
    /// C: the bound on ‖g_b‖ over all parameters (`f32::INFINITY` clips
    /// nothing). Must not be negative or NaN.
    pub max_norm: f32,
    /// Clip each parameter tensor on its own, to C/√P for the P tensors
    /// that reach the loss, so that the whole g_b still has norm ≤ C
    /// (McMahan et al. 2018's per-layer clipping, with equal bounds). The
    /// default, `false`, clips the whole g_b at once (Opacus' flat
    /// clipping).
    pub per_tensor: bool,
}

impl Clipping {
    /// Flat clipping of the whole g_b to norm `max_norm`.
    pub fn flat(max_norm: f32) -> Clipping {
        Clipping {
            max_norm,
            per_tensor: false,
        }
    }

    /// Each of the P parameter tensors clipped to `max_norm`/√P.
    pub fn per_tensor(max_norm: f32) -> Clipping {
        Clipping {
            max_norm,
            per_tensor: true,
        }
    }

    /// The factor of an example whose gradient has norm `norm` under the
    /// bound `max_norm`: min(1, max_norm/(norm + 10⁻⁶)), Opacus'
    /// `clip_factor`.
    pub fn factor(max_norm: f32, norm: f32) -> f32 {
        (max_norm / (norm + 1e-6)).min(1.0)
    }
}
