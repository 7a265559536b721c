//! The ops' loops over whole tensors, made fast: split over the threads in
//! fixed chunks (so results do not depend on the thread count), compiled
//! once per activation kind so that no element branches on it, and run in
//! the widest instruction set the CPU has. The ops call these; what each
//! computes is written beside it in plain terms.

use gradlab_tensor::parallel;
use gradlab_tensor::simd::vectorized;

/// An element-wise function of several kinds, as the loops below apply it
/// (the activations of `ops/activation.rs`).
pub(crate) trait Pointwise: Copy + Sync {
    /// f(x).
    fn apply(self, x: f32) -> f32;
    /// f′(x), given x and y = f(x).
    fn derivative(self, x: f32, y: f32) -> f32;
    /// Runs `body` with `self` as a constant: one copy of `body` per kind,
    /// in which a loop calling `apply` or `derivative` has no branch on the
    /// kind per element and vectorizes.
    fn specialized<R>(self, body: impl FnMut(Self) -> R) -> R;
}

/// `x ← f(x)` for every element.
pub(crate) fn activate(f: impl Pointwise, xs: &mut [f32]) {
    f.specialized(|f| {
        parallel::chunks_mut(xs, |_, c| c.iter_mut().for_each(|x| *x = f.apply(*x)));
    });
}

/// `out = dy ⊙ f′(x)`, given x and y = f(x) (for ReLU, tanh and sigmoid, y
/// may stand in for x: f′ reads only y, or only the sign of x).
pub(crate) fn activation_derivative(
    f: impl Pointwise,
    dy: &[f32],
    x: &[f32],
    y: &[f32],
    out: &mut [f32],
) {
    assert!(dy.len() == out.len() && x.len() == out.len() && y.len() == out.len());
    f.specialized(|f| {
        parallel::chunks_mut(out, |at, o| {
            let inputs = dy[at..].iter().zip(&x[at..]).zip(&y[at..]);
            for (o, ((&d, &x), &y)) in o.iter_mut().zip(inputs) {
                *o = d * f.derivative(x, y);
            }
        });
    });
}

/// Every row of `out` ← `row`.
pub(crate) fn fill_rows(out: &mut [f32], row: &[f32]) {
    parallel::rows_mut(out, row.len(), |_, rows| {
        for o in rows.chunks_exact_mut(row.len()) {
            o.copy_from_slice(row);
        }
    });
}

/// `out[j] = s · Σ_b m[b, j]²` for the rows of `m`, each `out.len()` wide.
pub(crate) fn scaled_column_sums_of_squares(m: &[f32], s: f32, out: &mut [f32]) {
    out.fill(0.0);
    vectorized(|| {
        for row in m.chunks_exact(out.len()) {
            for (o, &d) in out.iter_mut().zip(row) {
                *o += d * d;
            }
        }
        out.iter_mut().for_each(|o| *o *= s);
    });
}

/// `out[b] = s · ‖x_b‖² · ‖d_b‖²` for the rows x_b of `x` and d_b of `d`:
/// the squared Frobenius norm of the outer product x_b d_bᵀ, scaled by `s`,
/// without forming it.
pub(crate) fn outer_product_norms(x: &[f32], d: &[f32], s: f32, out: &mut [f32]) {
    let (xw, dw) = (x.len() / out.len().max(1), d.len() / out.len().max(1));
    parallel::per_row(out, xw + dw, |first, out| {
        for (b, o) in (first..).zip(out) {
            *o = s * squares(&x[b * xw..][..xw]) * squares(&d[b * dw..][..dw]);
        }
    });
}

/// `out[b] = s · ‖d_b‖²` for the rows d_b of `d`.
pub(crate) fn row_norms(d: &[f32], s: f32, out: &mut [f32]) {
    let dw = d.len() / out.len().max(1);
    parallel::per_row(out, dw, |first, out| {
        for (b, o) in (first..).zip(out) {
            *o = s * squares(&d[b * dw..][..dw]);
        }
    });
}

/// `out` = `dy` with row b multiplied by `factors[b]`, for `factors.len()`
/// rows.
pub(crate) fn scale_rows(dy: &[f32], factors: &[f32], out: &mut [f32]) {
    let width = dy.len() / factors.len().max(1);
    parallel::rows_mut(out, width, |first, rows| {
        let at = first * width;
        let dy = dy[at..].chunks_exact(width.max(1));
        for ((o, d), &c) in rows
            .chunks_exact_mut(width.max(1))
            .zip(dy)
            .zip(&factors[first..])
        {
            o.iter_mut().zip(d).for_each(|(o, &d)| *o = c * d);
        }
    });
}

/// Σ_i v_i², in eight independent sums so the loop vectorizes.
#[inline(always)]
fn squares(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = v.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x * x;
        }
    }
    acc.iter().sum::<f32>() + tail.iter().map(|x| x * x).sum::<f32>()
}
