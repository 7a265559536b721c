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

use gradlab_tensor::reduce::column_sums;
use gradlab_tensor::{Tensor, Transpose};

use crate::kernels;
use crate::op::{Backward, Examples, Op};
use crate::ops::activation::Activation;
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
        let (rows, outputs) = (x[0].shape()[0], x[1].shape()[0]);
        y.resize_for(&[rows, outputs]);
        // The bias is written first and the matmul adds to it (β = 1).
        let beta = if self.bias {
            kernels::fill_rows(y.data_mut(), x[2].data());
            1.0
        } else {
            0.0
        };
        x[0].matmul_into(Transpose::No, x[1], Transpose::Yes, 1.0, beta, y);
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
        // dZ = dY ⊙ f′(z); without an activation dZ = dY.
        let dz = match self.f {
            Some(f) => {
                let z = if keeps_input(f) { &saved.z } else { y };
                saved.dz.resize_for(dy.shape());
                let dz = saved.dz.data_mut();
                kernels::activation_derivative(f, dy.data(), z.data(), y.data(), dz);
                &saved.dz
            }
            None => dy,
        };
        let outputs = dz.shape()[1];
        if self.bias {
            // db = Σ_b dZ_b
            cx.accumulate(2, |g, first| {
                if first {
                    column_sums(dz.data(), outputs, g.data_mut());
                } else {
                    for row in dz.data().chunks_exact(outputs) {
                        g.data_mut().iter_mut().zip(row).for_each(|(g, r)| *g += r);
                    }
                }
            });
        }
        let batch = cx.batch() as f32;
        let batched = cx.is_batch(0);
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
                dz.matmul_with_squares_into(Transpose::Yes, xv, Transpose::No, beta, g, batch, sq);
                if let Some(pe) = pe {
                    super::matmul::outer_products(xv, dz, Transpose::Yes, batch, pe);
                }
            });
        } else {
            // dW = dZᵀ·x
            cx.accumulate(1, |g, first| {
                let beta = if first { 0.0 } else { 1.0 };
                dz.matmul_into(Transpose::Yes, xv, Transpose::No, 1.0, beta, g);
            });
        }
        // dx = dZ·W
        cx.accumulate(0, |g, first| {
            let beta = if first { 0.0 } else { 1.0 };
            dz.matmul_into(Transpose::No, wv, Transpose::No, 1.0, beta, g);
        });
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

impl Graph<'_, '_> {
    /// `f(x·Wᵀ + b)` for a batch `x` of shape `[B, in]`, a weight `w` of
    /// shape `[out, in]` (PyTorch's `nn.Linear` layout), an optional bias `b`
    /// of shape `[out]` and an optional activation `f`.
    ///
    /// # Panics
    /// If the shapes do not fit.
    pub fn linear(&mut self, x: Var, w: Var, b: Option<Var>, f: Option<Activation>) -> Var {
        let (rows, inputs) = self.value(x).dims2("linear (input)");
        let (outputs, w_in) = self.value(w).dims2("linear (weight)");
        assert!(
            w_in == inputs,
            "linear: input [{rows}, {inputs}] and weight [{outputs}, {w_in}] differ in the \
             number of inputs"
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
