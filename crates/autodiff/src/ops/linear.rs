//! The fully connected layer as one op: `y = f(x·Wᵀ + b)`.
//!
//! The same function can be written with [`matmul_t`](Graph::matmul_t),
//! [`add`](Graph::add) and [`activation`](Graph::activation), and that is
//! how the tape explains it. Fused, it does the work of those three nodes in
//! fewer passes over memory: the bias is written into the output and the
//! matmul adds to it (`β = 1`), the activation runs in place, and the
//! backward computes `dZ` once and takes the bias gradient from it.
//!
//! **Derivative.** With `z = x·Wᵀ + b`, `y = f(z)` and `dY = ∂L/∂y`:
//!
//! ```text
//! dZ = dY ⊙ f′(z)      dW = dZᵀ·x      db = Σ_b dZ_b      dx = dZ·W
//! ```
//!
//! **Per example.** Row b of `dZ` is `δ_b / B` (see the `backward` module),
//! so `g_b(W) = B·δ_bᵀ x_b` and `g_b(b) = B·δ_b`; their means of squares
//! are `B·(dZ²)ᵀ(x²)` and `B·Σ_b dZ_b²` — one more matmul on squared
//! operands and one more column sum. Their norms need no matmul:
//! `‖g_b(W)‖² = B²·‖x_b‖²·‖dZ_b‖²` and `‖g_b(b)‖² = B²·‖dZ_b‖²`.
//!
//! **Over a sequence.** For `x` of shape `[B, T, …, in]` the layer acts on
//! every position (the product runs on the `[B·T…, in]` rows), so example
//! b's gradient sums one outer product per position,
//! `g_b(W) = B·Σ_t dZ_b,tᵀ x_b,t` and `g_b(b) = B·Σ_t dZ_b,t`: a shared
//! weight, whose statistics are computed as the `sharing` module explains
//! (each g_b materialized on the GEMM, or ghost norms from the two `[T, T]`
//! Gram matrices of each example).

use gradlab_tensor::reduce::column_sums;
use gradlab_tensor::Transpose::{No, Yes};
use gradlab_tensor::{gemm, Tensor, MAX_DIMS};

use crate::kernels;
use crate::op::{Backward, Examples, Op};
use crate::ops::activation::Activation;
use crate::ops::sharing::{self, Norms};
use crate::tape::{Graph, Var};

/// `f(x·Wᵀ + b)`: inputs `x`, `w` and, when `bias`, `b`.
pub struct Linear {
    /// Whether the third input is a bias.
    pub bias: bool,
    /// The activation, if any.
    pub f: Option<Activation>,
}

/// What the linear op keeps between its passes.
#[derive(Default)]
pub struct LinearSaved {
    /// `z = x·Wᵀ + b`, when f′ needs it.
    z: Tensor,
    /// `dZ`, reused by every backward.
    dz: Tensor,
    /// Over a sequence: each example's weight gradient g_b/B, `[B, O·I]`,
    /// when it is asked for.
    per_example: Tensor,
    /// Over a sequence: each example's bias gradient g_b/B, `[B, O]`.
    per_example_bias: Tensor,
    /// Over a sequence, for the norms: each example's two Gram matrices
    /// (ghost norms), or rows in which examples' gradients are made in turn.
    scratch: Tensor,
}

impl Op for Linear {
    type Saved = LinearSaved;

    fn name(&self) -> String {
        format!(
            "linear{}{}",
            if self.bias { " + bias" } else { "" },
            self.f
                .map_or(String::new(), |f| format!(" → {f:?}").to_lowercase())
        )
    }

    /// Row b of the output is example b's; a weight or bias that is itself
    /// a batch would sum over examples.
    fn examples(&self, batched: &[bool]) -> Examples {
        Examples {
            batched: batched[0],
            mixes: batched[1..].iter().any(|&b| b),
        }
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, saved: &mut LinearSaved) {
        let (outputs, inputs) = (x[1].shape()[0], x[1].shape()[1]);
        let rows = x[0].len() / inputs.max(1);
        let mut shape = [0; MAX_DIMS];
        let rank = x[0].shape().len();
        shape[..rank].copy_from_slice(x[0].shape());
        shape[rank - 1] = outputs;
        y.resize_for(&shape[..rank]);
        // The bias is written first and the matmul adds to it (β = 1).
        let beta = if self.bias {
            kernels::fill_rows(y.data_mut(), x[2].data());
            1.0
        } else {
            0.0
        };
        let (xd, wd) = (x[0].data(), x[1].data());
        gemm(
            rows,
            inputs,
            outputs,
            1.0,
            xd,
            No,
            wd,
            Yes,
            beta,
            y.data_mut(),
        );
        if let Some(f) = self.f {
            if keeps_input(f) {
                saved.z.assign(y);
            }
            kernels::activate(f, y.data_mut());
        }
    }

    fn backward(&self, cx: &mut Backward, saved: &mut LinearSaved) {
        let (x, y, dy) = (cx.x, cx.y, cx.dy);
        let (xv, wv) = (x[0], x[1]);
        let LinearSaved {
            z,
            dz: dz_buf,
            per_example,
            per_example_bias,
            scratch,
        } = saved;
        // dZ = dY ⊙ f′(z); without an activation dZ = dY.
        let dz = match self.f {
            Some(f) => {
                let z = if keeps_input(f) { &*z } else { y };
                dz_buf.resize_for(dy.shape());
                let dz = dz_buf.data_mut();
                kernels::activation_derivative(f, dy.data(), z.data(), y.data(), dz);
                &*dz_buf
            }
            None => dy,
        };
        let outputs = wv.shape()[0];
        let rows = dz.len() / outputs.max(1);
        let batch = cx.batch() as f32;
        let batched = cx.is_batch(0);
        if batched && xv.shape().len() > 2 {
            let buffers = Shared {
                per_example,
                per_example_bias,
                scratch,
            };
            return self.backward_shared(cx, dz, buffers);
        }
        if self.bias {
            // db = Σ_b dZ_b
            cx.accumulate(2, |g, first| bias_gradient(dz.data(), outputs, first, g));
        }
        if batched && cx.wants_norms(1) {
            // ‖g_b(W)‖² = B²·‖x_b‖²·‖dZ_b‖²
            cx.norms(1, |n| {
                kernels::outer_product_norms(xv.data(), dz.data(), batch * batch, n)
            });
        }
        if self.bias && batched && cx.wants_norms(2) {
            // ‖g_b(b)‖² = B²·‖dZ_b‖²
            cx.norms(2, |n| kernels::row_norms(dz.data(), batch * batch, n));
        }
        if batched && cx.per_example(1) {
            cx.accumulate_with_stats(1, |g, first, sq, pe| {
                let beta = if first { 0.0 } else { 1.0 };
                // dW = dZᵀ·x, and (1/B) Σ_b g_b² = B·(dZ²)ᵀ(x²) from the same
                // packed blocks.
                dz.matmul_with_squares_into(Yes, xv, No, beta, g, batch, sq);
                if let Some(pe) = pe {
                    super::matmul::outer_products(xv, dz, Yes, batch, pe);
                }
            });
        } else {
            // dW = dZᵀ·x
            cx.accumulate(1, |g, first| weight_gradient(dz, xv, rows, first, g));
        }
        // dx = dZ·W
        cx.accumulate(0, |g, first| input_gradient(dz, wv, rows, first, g));
        if self.bias && batched && cx.per_example(2) {
            cx.stats(2, |sq, per_example| {
                // (1/B) Σ_b g_b² = B·Σ_b dZ_b²
                sq.resize_for(&[outputs]);
                kernels::scaled_column_sums_of_squares(dz.data(), batch, sq.data_mut());
                if let Some(pe) = per_example {
                    pe.assign(dz);
                    pe.map_inplace(|d| batch * d);
                }
            });
        }
    }
}

/// The buffers of a sequence's per-example statistics.
struct Shared<'a> {
    per_example: &'a mut Tensor,
    per_example_bias: &'a mut Tensor,
    scratch: &'a mut Tensor,
}

impl Linear {
    /// The backward of a layer applied at every position of a batch of
    /// sequences (`x` is `[B, T…, in]`): the gradients as for any input,
    /// and the per-example statistics of a shared weight.
    fn backward_shared(&self, cx: &mut Backward, dz: &Tensor, buffers: Shared) {
        let Shared {
            per_example,
            per_example_bias,
            scratch,
        } = buffers;
        let (xv, wv) = (cx.x[0], cx.x[1]);
        let (outputs, inputs) = (wv.shape()[0], wv.shape()[1]);
        let (batch, rows) = (cx.batch(), dz.len() / outputs.max(1));
        let t = rows / batch.max(1);
        let dims = (t, inputs, outputs);
        let s = batch as f32;
        let norms_by = sharing::norms_by(cx.clipping(), batch, inputs, outputs, t);
        let bias_stats = self.bias && (cx.per_example(2) || cx.wants_norms(2));
        if bias_stats {
            per_example_bias.resize_for(&[batch, outputs]);
            kernels::example_row_sums(dz.data(), t, per_example_bias.data_mut(), outputs);
        }
        if let Some(c) = cx.clip_factors() {
            // Clipping's second pass: Σ_b c_b·(g_b/B) from the walk's g_b/B,
            // or dZᵀ·x from the scaled rows.
            if norms_by == Norms::Kept {
                cx.accumulate(1, |g, first| {
                    kernels::weighted_row_sum(per_example.data(), c, first, g.data_mut())
                });
            } else {
                cx.accumulate(1, |g, first| weight_gradient(dz, xv, rows, first, g));
            }
            if self.bias {
                cx.accumulate(2, |g, first| {
                    kernels::weighted_row_sum(per_example_bias.data(), c, first, g.data_mut())
                });
            }
            return;
        }
        if cx.per_example(1) || (cx.wants_norms(1) && norms_by == Norms::Kept) {
            // g_b(W)/B = Σ_t dZ_b,tᵀ x_b,t for every example.
            per_example.resize_for(&[batch, outputs * inputs]);
            let (x, d) = (xv.data(), dz.data());
            kernels::per_example_products(per_example.data_mut(), outputs * inputs, |b, g| {
                kernels::sequence_product(x, d, dims, b, g)
            });
        }
        if cx.wants_norms(1) {
            let (x, d) = (xv.data(), dz.data());
            cx.norms(1, |n| match norms_by {
                Norms::Ghost => {
                    // ‖g_b‖² = B²·⟨X_b X_bᵀ, D_b D_bᵀ⟩
                    scratch.resize_for(&[batch, 2 * t * t]);
                    kernels::sequence_ghost_norms(x, d, dims, s * s, scratch.data_mut(), n);
                }
                // ‖g_b‖² = B²·‖g_b/B‖², from the kept rows or each made in
                // scratch.
                Norms::Kept => kernels::row_norms(per_example.data(), s * s, n),
                Norms::Scratch => {
                    kernels::norms_of_products(n, outputs * inputs, s * s, scratch, |b, g| {
                        kernels::sequence_product(x, d, dims, b, g)
                    })
                }
            });
        }
        if self.bias && cx.wants_norms(2) {
            cx.norms(2, |n| kernels::row_norms(per_example_bias.data(), s * s, n));
        }
        cx.accumulate(1, |g, first| weight_gradient(dz, xv, rows, first, g));
        if cx.per_example(1) {
            cx.stats(1, |sq, pe| {
                per_example_stats(per_example, wv.shape(), s, sq, pe)
            });
        }
        if self.bias {
            cx.accumulate(2, |g, first| bias_gradient(dz.data(), outputs, first, g));
            if cx.per_example(2) {
                let shape = [outputs];
                cx.stats(2, |sq, pe| {
                    per_example_stats(per_example_bias, &shape, s, sq, pe)
                });
            }
        }
        cx.accumulate(0, |g, first| input_gradient(dz, wv, rows, first, g));
    }
}

/// From the rows g_b/B of `per_example`: (1/B)·Σ_b g_b² = B·Σ_b (g_b/B)²
/// into `sq`, and when asked the g_b into `pe` (`[B, shape…]`).
fn per_example_stats(
    per_example: &Tensor,
    shape: &[usize],
    s: f32,
    sq: &mut Tensor,
    pe: Option<&mut Tensor>,
) {
    sq.resize_for(shape);
    kernels::scaled_column_sums_of_squares(per_example.data(), s, sq.data_mut());
    if let Some(pe) = pe {
        let mut full = [0; MAX_DIMS];
        full[0] = per_example.shape()[0];
        full[1..=shape.len()].copy_from_slice(shape);
        pe.resize_for(&full[..=shape.len()]);
        pe.data_mut()
            .iter_mut()
            .zip(per_example.data())
            .for_each(|(o, &v)| *o = s * v);
    }
}

/// db (+)= Σ over the rows of dZ.
fn bias_gradient(dz: &[f32], outputs: usize, first: bool, g: &mut Tensor) {
    if first {
        column_sums(dz, outputs, g.data_mut());
    } else {
        for row in dz.chunks_exact(outputs) {
            g.data_mut().iter_mut().zip(row).for_each(|(g, r)| *g += r);
        }
    }
}

/// dW (+)= dZᵀ·x over all `rows` (positions included; none for an empty
/// batch, which leaves dW zero).
fn weight_gradient(dz: &Tensor, x: &Tensor, rows: usize, first: bool, g: &mut Tensor) {
    let (outputs, inputs) = (g.shape()[0], g.shape()[1]);
    let beta = if first { 0.0 } else { 1.0 };
    gemm(
        outputs,
        rows,
        inputs,
        1.0,
        dz.data(),
        Yes,
        x.data(),
        No,
        beta,
        g.data_mut(),
    );
}

/// dx (+)= dZ·W over all `rows`.
fn input_gradient(dz: &Tensor, w: &Tensor, rows: usize, first: bool, g: &mut Tensor) {
    let (outputs, inputs) = (w.shape()[0], w.shape()[1]);
    let beta = if first { 0.0 } else { 1.0 };
    gemm(
        rows,
        outputs,
        inputs,
        1.0,
        dz.data(),
        No,
        w.data(),
        No,
        beta,
        g.data_mut(),
    );
}

impl Graph<'_, '_> {
    /// `f(x·Wᵀ + b)` for a batch `x` of shape `[B, in]` — or `[B, T, …, in]`,
    /// the layer applied at every position — a weight `w` of shape
    /// `[out, in]` (PyTorch's `nn.Linear` layout), an optional bias `b` of
    /// shape `[out]` and an optional activation `f`; the output has x's
    /// shape with `out` last.
    ///
    /// # Panics
    /// If the shapes do not fit.
    pub fn linear(&mut self, x: Var, w: Var, b: Option<Var>, f: Option<Activation>) -> Var {
        let xs = self.value(x).shape();
        assert!(
            xs.len() >= 2,
            "linear: input {xs:?} must be [B, in] or [B, T, …, in]"
        );
        let inputs = xs[xs.len() - 1];
        let (outputs, w_in) = self.value(w).dims2("linear (weight)");
        assert!(
            w_in == inputs,
            "linear: input {xs:?} and weight [{outputs}, {w_in}] differ in the number of inputs"
        );
        let op = Linear {
            bias: b.is_some(),
            f,
        };
        match b {
            Some(b) => {
                let shape = self.value(b).shape();
                assert!(
                    shape == [outputs],
                    "linear: bias of shape {shape:?} for {outputs} outputs"
                );
                self.apply(op, &[x, w, b])
            }
            None => self.apply(op, &[x, w]),
        }
    }
}

/// Whether f′ needs z itself; for the others it can be read off y = f(z)
/// (for ReLU, z > 0 exactly when y > 0).
fn keeps_input(f: Activation) -> bool {
    matches!(f, Activation::LeakyRelu(_) | Activation::Gelu)
}
