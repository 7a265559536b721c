//! The ops' loops over whole tensors, made fast: split over the threads in
//! fixed chunks (so results do not depend on the thread count), compiled
//! once per activation kind so that no element branches on it, and run in
//! the widest instruction set the CPU has. The ops call these; what each
//! computes is written beside it in plain terms.

use gradlab_tensor::simd::{vectorized, vectorized_loop, Loop};
use gradlab_tensor::{gemm_strided, parallel, Tensor};

/// An element-wise function of several kinds, as the loops below apply it
/// (the activations of `ops/activation.rs`).
pub(crate) trait Pointwise: Copy + Sync {
    /// f(x).
    fn apply(self, x: f32) -> f32;
    /// f′(x), given x and y = f(x).
    fn derivative(self, x: f32, y: f32) -> f32;
    /// Runs `body` with `self` as a value of a type of its kind alone: one
    /// copy of `body` per kind, in which a loop calling `apply` or
    /// `derivative` has no branch on the kind per element and vectorizes.
    /// (A kind passed as a value of one type, the enum, leaves a `match`
    /// in every element when the compiler does not copy the loop per
    /// kind, and the loop stays scalar.)
    fn specialized(self, body: impl Specialize);
}

/// A loop over a [`Pointwise`] function, compiled once per kind by
/// [`Pointwise::specialized`].
pub(crate) trait Specialize {
    /// Runs the loop with `f`.
    fn run<F: Pointwise>(self, f: F);
}

/// `x ← f(x)` for every element.
pub(crate) fn activate(f: impl Pointwise, xs: &mut [f32]) {
    struct Run<'a>(&'a mut [f32]);
    impl Specialize for Run<'_> {
        fn run<F: Pointwise>(self, f: F) {
            parallel::chunks_mut(self.0, |_, c| vectorized_loop(Activate { f, xs: c }));
        }
    }
    f.specialized(Run(xs));
}

/// One chunk of [`activate`], a [`Loop`] so that a large f (GELU's
/// exponential) is still inlined into the wide copies.
struct Activate<'a, F> {
    f: F,
    xs: &'a mut [f32],
}

impl<F: Pointwise> Loop for Activate<'_, F> {
    #[inline(always)]
    fn run(self) {
        let f = self.f;
        self.xs.iter_mut().for_each(|x| *x = f.apply(*x));
    }
}

/// `y = f(x)` for every element: [`activate`] into another buffer, read
/// and written in one pass.
pub(crate) fn activate_from(f: impl Pointwise, x: &[f32], y: &mut [f32]) {
    struct Run<'a>(&'a [f32], &'a mut [f32]);
    impl Specialize for Run<'_> {
        fn run<F: Pointwise>(self, f: F) {
            let x = self.0;
            parallel::chunks_mut(self.1, |at, y| {
                let x = &x[at..at + y.len()];
                vectorized_loop(ActivateFrom { f, x, y })
            });
        }
    }
    f.specialized(Run(x, y));
}

/// One chunk of [`activate_from`], a [`Loop`] as [`Activate`].
struct ActivateFrom<'a, F> {
    f: F,
    x: &'a [f32],
    y: &'a mut [f32],
}

impl<F: Pointwise> Loop for ActivateFrom<'_, F> {
    #[inline(always)]
    fn run(self) {
        let f = self.f;
        self.y
            .iter_mut()
            .zip(self.x)
            .for_each(|(y, &x)| *y = f.apply(x));
    }
}

/// One chunk of [`activation_derivative`], a [`Loop`] as [`Activate`].
struct Derivative<'a, F> {
    f: F,
    dy: &'a [f32],
    x: &'a [f32],
    y: &'a [f32],
    out: &'a mut [f32],
}

impl<F: Pointwise> Loop for Derivative<'_, F> {
    #[inline(always)]
    fn run(self) {
        let f = self.f;
        let inputs = self.dy.iter().zip(self.x).zip(self.y);
        for (o, ((&d, &x), &y)) in self.out.iter_mut().zip(inputs) {
            *o = d * f.derivative(x, y);
        }
    }
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
    struct Run<'a> {
        dy: &'a [f32],
        x: &'a [f32],
        y: &'a [f32],
        out: &'a mut [f32],
    }
    impl Specialize for Run<'_> {
        fn run<F: Pointwise>(self, f: F) {
            let Run { dy, x, y, out } = self;
            parallel::chunks_mut(out, |at, o| {
                let (dy, x, y) = (&dy[at..], &x[at..], &y[at..]);
                vectorized_loop(Derivative {
                    f,
                    dy,
                    x,
                    y,
                    out: o,
                });
            });
        }
    }
    f.specialized(Run { dy, x, y, out });
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

/// e^x for the activations and attention's softmax, in plain arithmetic
/// so that a loop over it vectorizes (libm's `expf` is a call per
/// element): e^x = 2ⁿ(1 + q) by [`exp_parts`].
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let (scale, q) = exp_parts(x);
    (1.0 + q) * scale
}

/// tanh x for the tanh activation, vectorizable as [`exp`] is: with
/// m = e^(−2|x|) − 1 ∈ (−1, 0], tanh |x| = (1 − e^(−2|x|))/(1 + e^(−2|x|))
/// = −m/(2 + m), signed as x. m is 2ⁿq + (2ⁿ − 1) from [`exp_parts`]: for
/// |x| < ¼ln 2, n = 0 and m = q, a polynomial in r = −2|x| with no
/// subtraction of nearly equal numbers, so tanh keeps its relative
/// accuracy down to x → 0 where 1 − e^(−2|x|) would cancel; elsewhere
/// |m| ≥ 0.29 and the two terms do not cancel. Within 3·10⁻⁷ relative of
/// tanh in f64 (tested); ±1 exactly from |x| ≈ 9.
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    let (scale, q) = exp_parts(-2.0 * x.abs());
    let m = scale * q + (scale - 1.0);
    (-m / (2.0 + m)).copysign(x)
}

/// e^x = 2ⁿ(1 + q), returned as (2ⁿ, q): x = n·ln 2 + r with |r| ≤ ½ln 2
/// (ln 2 split in two, Cody and Waite, so that r is exact) and
/// q = e^r − 1 by its Taylor polynomial to r⁷ (relative error below
/// 10⁻⁸), 2ⁿ written into the exponent bits. x is clamped to [−87, 88],
/// where e^x is a normal f32 (0 and ∞ are not needed by the callers: σ(2u)
/// is within one rounding of 1 or 0 there, tanh of ±1, and a softmax
/// weight below e^−87 of the row's largest is as good as 0).
#[inline(always)]
fn exp_parts(x: f32) -> (f32, f32) {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.0, 88.0);
    // Rounded to the nearest integer by adding and taking away 1.5·2²³,
    // which vectorizes where `round` is a call.
    const ROUND: f32 = 12_582_912.0;
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let q = r
        * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r / 5040.0))))));
    (f32::from_bits(((n as i32 + 127) as u32) << 23), q)
}

/// Row i of the `[T, T]` scores `s` ← the softmax of its first i + 1
/// entries (the positions up to its own), the rest 0: attention's causal
/// softmax, with the row's maximum subtracted so that no exponential
/// overflows.
pub(crate) fn causal_softmax(s: &mut [f32], t: usize) {
    vectorized_loop(CausalSoftmax { s, t });
}

/// [`causal_softmax`] as a [`Loop`], so that the exponential is inlined
/// into the wide copies.
struct CausalSoftmax<'a> {
    s: &'a mut [f32],
    t: usize,
}

impl Loop for CausalSoftmax<'_> {
    #[inline(always)]
    fn run(self) {
        for (i, row) in self.s.chunks_exact_mut(self.t).enumerate() {
            let (live, masked) = row.split_at_mut(i + 1);
            let m = largest(live);
            live.iter_mut().for_each(|v| *v = exp(*v - m));
            let inv = 1.0 / total(live);
            live.iter_mut().for_each(|v| *v *= inv);
            masked.fill(0.0);
        }
    }
}

/// The causal softmax's backward in place: row i of `dp` (`[T, T]`, dP)
/// ← P ⊙ (dP − Σ_j P ⊙ dP) over its first i + 1 entries (P the row of
/// `p`), the rest 0 (masked weights are 0 and get no gradient).
pub(crate) fn causal_softmax_backward(dp: &mut [f32], p: &[f32], t: usize) {
    vectorized_loop(CausalSoftmaxBackward { dp, p, t });
}

/// [`causal_softmax_backward`] as a [`Loop`].
struct CausalSoftmaxBackward<'a> {
    dp: &'a mut [f32],
    p: &'a [f32],
    t: usize,
}

impl Loop for CausalSoftmaxBackward<'_> {
    #[inline(always)]
    fn run(self) {
        let rows = self
            .dp
            .chunks_exact_mut(self.t)
            .zip(self.p.chunks_exact(self.t));
        for (i, (row, p)) in rows.enumerate() {
            let (live, masked) = row.split_at_mut(i + 1);
            let inner = dot(live, &p[..=i]);
            live.iter_mut()
                .zip(p)
                .for_each(|(d, &pj)| *d = pj * (*d - inner));
            masked.fill(0.0);
        }
    }
}

/// max_i v_i, in eight independent maxima so the loop vectorizes.
#[inline(always)]
fn largest(v: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 8];
    let chunks = v.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = a.max(x);
        }
    }
    acc.iter()
        .chain(tail)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

/// Σ_i v_i, in eight independent sums so the loop vectorizes (the order is
/// fixed, so the result is the same on every CPU).
#[inline(always)]
fn total(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = v.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + tail.iter().sum::<f32>()
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

/// Columns `first..first + len` of an output gradient `[B, O, P]` laid out
/// as the weight product reads it, `[O, B·P]`: `dyt[o, q − first] =
/// dy[b, o, p]` for `q = b·P + p`, and `dyt` is `[O, len]`.
pub(crate) fn channel_major(dy: &[f32], outputs: usize, p: usize, first: usize, dyt: &mut [f32]) {
    let len = dyt.len() / outputs;
    parallel::rows_mut(dyt, len, |o0, rows| {
        for (o, row) in (o0..).zip(rows.chunks_exact_mut(len)) {
            // The row is cut where an example's positions end.
            let (mut q, mut out) = (first, row);
            while !out.is_empty() {
                let (b, at) = (q / p, q % p);
                let run = (p - at).min(out.len());
                let (seg, rest) = out.split_at_mut(run);
                seg.copy_from_slice(&dy[(b * outputs + o) * p + at..][..run]);
                (q, out) = (q + run, rest);
            }
        }
    });
}

/// Columns `first..first + len` of the row-major `m` (rows `width` long)
/// into `out` (`[rows, len]`).
pub(crate) fn columns(m: &[f32], width: usize, first: usize, out: &mut [f32]) {
    let len = out.len() / (m.len() / width.max(1)).max(1);
    parallel::rows_mut(out, len, |r0, rows| {
        for (r, row) in (r0..).zip(rows.chunks_exact_mut(len)) {
            row.copy_from_slice(&m[r * width + first..][..len]);
        }
    });
}

/// Example b's weight gradient of a shared weight:
/// `g[o·K + k] = Σ_p dy[b, o, p] · cols[k, b·P + p]`, for `dy` as
/// `[B, O, P]` and `cols` as `[K, B·P]`: the product `D_b·A_bᵀ`
/// (`[O, P]·[P, K]`) on the GEMM, reading `A_bᵀ` in place from the columns
/// of `cols` that belong to b.
#[allow(clippy::too_many_arguments)]
pub(crate) fn example_product(
    dy: &[f32],
    cols: &[f32],
    outputs: usize,
    k: usize,
    p: usize,
    batch: usize,
    b: usize,
    g: &mut [f32],
) {
    let d = &dy[b * outputs * p..][..outputs * p];
    gemm_strided(
        outputs,
        p,
        k,
        1.0,
        d,
        (p, 1),
        &cols[b * p..],
        (1, batch * p),
        0.0,
        g,
        k,
    );
}

/// Every example's gradient `g_b`, as `product(b, g)` writes it, into row
/// b of `out` (`[B, width]`).
pub(crate) fn per_example_products(
    out: &mut [f32],
    width: usize,
    product: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
    parallel::rows_mut(out, width, |first, rows| {
        for (b, g) in (first..).zip(rows.chunks_exact_mut(width)) {
            product(b, g);
        }
    });
}

/// The most tasks [`norms_of_products`] cuts a batch into: enough for
/// every thread of a machine to take some, few enough that their scratch
/// rows stay small (64 rows of a weight's gradient, whatever the batch).
const GROUPS: usize = 64;

/// `n[b] = s·‖g_b‖²` for the `width` values g_b that `product(b, g)`
/// writes into `g`, without keeping the g_b: the batch is cut into at most
/// [`GROUPS`] runs of consecutive examples (their length depends on B
/// only), and each task makes its run's gradients in turn in one row of
/// `scratch` (resized to `[runs, width + run]`, the norms at the end of the
/// row), taking each one's norm while it is in cache.
pub(crate) fn norms_of_products(
    n: &mut [f32],
    width: usize,
    s: f32,
    scratch: &mut Tensor,
    product: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
    let batch = n.len();
    let run = batch.div_ceil(GROUPS).max(1);
    let row = width + run;
    scratch.resize_for(&[batch.div_ceil(run), row]);
    parallel::rows_mut(scratch.data_mut(), row, |first, rows| {
        for (group, r) in (first..).zip(rows.chunks_exact_mut(row)) {
            let (g, norms) = r.split_at_mut(width);
            for (norm, b) in norms.iter_mut().zip(group * run..batch) {
                product(b, g);
                *norm = s * squares(g);
            }
        }
    });
    for (b, nb) in n.iter_mut().enumerate() {
        *nb = scratch.data()[(b / run) * row + width + b % run];
    }
}

/// Example b's gradient of a weight applied at each of its `t` positions:
/// `g = D_bᵀ·X_b` (`[O, T]·[T, I]`, as `[O·I]`), for the `[T, I]` rows X_b
/// of `x` (`[B·T, I]`) and the `[T, O]` rows D_b of `d` (`[B·T, O]`).
pub(crate) fn sequence_product(
    x: &[f32],
    d: &[f32],
    (t, inputs, outputs): (usize, usize, usize),
    b: usize,
    g: &mut [f32],
) {
    let xb = &x[b * t * inputs..][..t * inputs];
    let db = &d[b * t * outputs..][..t * outputs];
    gemm_strided(
        outputs,
        t,
        inputs,
        1.0,
        db,
        (1, outputs),
        xb,
        (inputs, 1),
        0.0,
        g,
        inputs,
    );
}

/// `n[b] = s · ⟨X_b X_bᵀ, D_b D_bᵀ⟩`, the ghost norm of a weight applied at
/// each of `t` positions, for the rows X_b of `x` and D_b of `d` as in
/// [`sequence_product`]; `grams` (`[B, 2·T²]`) holds each example's two
/// `[T, T]` Gram matrices.
pub(crate) fn sequence_ghost_norms(
    x: &[f32],
    d: &[f32],
    (t, inputs, outputs): (usize, usize, usize),
    s: f32,
    grams: &mut [f32],
    n: &mut [f32],
) {
    parallel::zip_rows_mut(n, 1, grams, 2 * t * t, |b, nb, g| {
        let (gx, gd) = g.split_at_mut(t * t);
        let xb = &x[b * t * inputs..][..t * inputs];
        let db = &d[b * t * outputs..][..t * outputs];
        gemm_strided(
            t,
            inputs,
            t,
            1.0,
            xb,
            (inputs, 1),
            xb,
            (1, inputs),
            0.0,
            gx,
            t,
        );
        gemm_strided(
            t,
            outputs,
            t,
            1.0,
            db,
            (outputs, 1),
            db,
            (1, outputs),
            0.0,
            gd,
            t,
        );
        nb[0] = s * dot(gx, gd);
    });
}

/// `out[b, ·] = Σ_t d[b·T + t, ·]`: each example's sum over its `t` rows,
/// for `d` as `[B·T, O]` and `out` as `[B, O]`.
pub(crate) fn example_row_sums(d: &[f32], t: usize, out: &mut [f32], outputs: usize) {
    parallel::rows_mut(out, outputs, |first, rows| {
        for (b, o) in (first..).zip(rows.chunks_exact_mut(outputs)) {
            o.copy_from_slice(&d[b * t * outputs..][..outputs]);
            for row in d[b * t * outputs..][..t * outputs]
                .chunks_exact(outputs)
                .skip(1)
            {
                o.iter_mut().zip(row).for_each(|(o, &v)| *o += v);
            }
        }
    });
}

/// `out` (+)= Σ_b c_b · m[b, ·] (overwritten when `first`), the rows of
/// `m` (`[B, n]`) weighted by `c`, summed in the order of b.
pub(crate) fn weighted_row_sum(m: &[f32], c: &[f32], first: bool, out: &mut [f32]) {
    let n = out.len();
    parallel::chunks_mut(out, |at, out| {
        if first {
            out.fill(0.0);
        }
        for (row, &cb) in m.chunks_exact(n).zip(c) {
            out.iter_mut()
                .zip(&row[at..])
                .for_each(|(o, &v)| *o += cb * v);
        }
    });
}

/// `n[b] = s · ⟨A_b A_bᵀ, D_b D_bᵀ⟩`, the ghost norm of a shared weight's
/// per-example gradient, for the windows `A_b` (the columns of `cols`,
/// `[K, B·P]`, that belong to b) and the output gradients `D_b` (`dy` as
/// `[B, O, P]`): for each position p, a row of each Gram matrix, 64
/// positions q at a time on the stack.
#[allow(clippy::too_many_arguments)]
pub(crate) fn ghost_norms(
    cols: &[f32],
    dy: &[f32],
    k: usize,
    outputs: usize,
    p: usize,
    batch: usize,
    s: f32,
    n: &mut [f32],
) {
    const Q: usize = 64;
    parallel::per_row(n, p * (k + outputs), |first, out| {
        for (b, o) in (first..).zip(out) {
            let d = &dy[b * outputs * p..][..outputs * p];
            let mut total = 0.0f32;
            for pi in 0..p {
                for q0 in (0..p).step_by(Q) {
                    let width = (p - q0).min(Q);
                    let (mut ra, mut rd) = ([0.0f32; Q], [0.0f32; Q]);
                    for kk in 0..k {
                        let a = &cols[kk * batch * p + b * p..][..p];
                        let ap = a[pi];
                        ra[..width]
                            .iter_mut()
                            .zip(&a[q0..q0 + width])
                            .for_each(|(r, &v)| *r += ap * v);
                    }
                    for oo in 0..outputs {
                        let row = &d[oo * p..][..p];
                        let dp = row[pi];
                        rd[..width]
                            .iter_mut()
                            .zip(&row[q0..q0 + width])
                            .for_each(|(r, &v)| *r += dp * v);
                    }
                    total += dot(&ra[..width], &rd[..width]);
                }
            }
            *o = s * total;
        }
    });
}

/// `out[b, o] = Σ_p dy[b, o, p]`, for `dy` as `[B, O, P]`.
pub(crate) fn position_sums(dy: &[f32], p: usize, out: &mut [f32]) {
    parallel::per_row(out, p, |first, out| {
        for (i, o) in (first..).zip(out) {
            *o = dy[i * p..][..p].iter().sum();
        }
    });
}

/// `grad[o]` (+)= `Σ_b Σ_p dy[b, o, p]` for `dy` as `[B, O, P]`, one sum
/// in order of b, then p (overwritten when `first`).
pub(crate) fn output_sums(dy: &[f32], p: usize, first: bool, grad: &mut [f32]) {
    let outputs = grad.len();
    for (o, g) in grad.iter_mut().enumerate() {
        let rows = dy.chunks_exact(outputs * p).map(|e| &e[o * p..][..p]);
        let sum: f32 = rows.flatten().sum();
        *g = if first { sum } else { *g + sum };
    }
}

/// Σ_i a_i b_i, in eight independent sums so the loop vectorizes.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}
