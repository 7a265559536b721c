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
//! operands and one more column sum.

use gradlab_tensor::parallel;
use gradlab_tensor::reduce::column_sums;
use gradlab_tensor::simd::vectorized;
use gradlab_tensor::Transpose;

use crate::backward::Ctx;
use crate::ops::activation::Activation;
use crate::tape::{value, Graph, Node, Op, Var};

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
        if let Some(b) = b {
            let shape = self.value(b).shape();
            assert!(
                shape == [outputs],
                "linear: bias of shape {shape:?} for {outputs} outputs"
            );
        }
        let batched = self.node(x).batched;
        // A weight or bias that is itself a batch would sum over examples.
        let mixes = self.node(w).batched || b.is_some_and(|b| self.node(b).batched);
        self.push(Op::Linear { x, w, b, f }, batched, |n, before, store| {
            let (xv, wv) = (value(before, store, x), value(before, store, w));
            n.value.resize_for(&[rows, outputs]);
            let beta = match b {
                Some(b) => {
                    let bias = value(before, store, b).data();
                    fill_rows(n.value.data_mut(), bias);
                    1.0
                }
                None => 0.0,
            };
            xv.matmul_into(Transpose::No, wv, Transpose::Yes, 1.0, beta, &mut n.value);
            if let Some(f) = f {
                if keeps_input(f) {
                    n.aux.assign(&n.value);
                }
                f.apply_slice(n.value.data_mut());
            }
            n.mixed |= mixes;
        })
    }
}

/// Whether f′ needs z itself; for the others it can be read off y = f(z)
/// (for ReLU, z > 0 exactly when y > 0).
fn keeps_input(f: Activation) -> bool {
    matches!(f, Activation::LeakyRelu(_) | Activation::Gelu)
}

/// Every row of `out` ← `row`.
fn fill_rows(out: &mut [f32], row: &[f32]) {
    parallel::rows_mut(out, row.len(), |_, rows| {
        for o in rows.chunks_exact_mut(row.len()) {
            o.copy_from_slice(row);
        }
    });
}

pub(crate) fn backward(node: &Node, ctx: &mut Ctx) {
    let Op::Linear { x, w, b, f } = node.op else {
        unreachable!()
    };
    // dZ = dY ⊙ f′(z), in a scratch buffer; without an activation dZ = dY.
    let mut dz_buf = std::mem::take(&mut ctx.scratch[2]);
    let dz = match f {
        Some(f) => {
            let z = if keeps_input(f) {
                &node.aux
            } else {
                &node.value
            };
            dz_buf.resize_for(node.grad.shape());
            f.derivative_slice(
                node.grad.data(),
                z.data(),
                node.value.data(),
                dz_buf.data_mut(),
            );
            &dz_buf
        }
        None => &node.grad,
    };
    let outputs = dz.shape()[1];
    if let Some(b) = b {
        ctx.accumulate(b, |g, first, _, _| {
            if first {
                column_sums(dz.data(), outputs, g.data_mut());
            } else {
                for row in dz.data().chunks_exact(outputs) {
                    g.data_mut().iter_mut().zip(row).for_each(|(g, r)| *g += r);
                }
            }
        });
    }
    let batch = ctx.batch as f32;
    let batched = ctx.nodes[x.0].batched;
    if batched && ctx.wants_stats(w) {
        ctx.accumulate_with_stats(w, |g, first, sq, pe, nodes, store| {
            let xv = value(nodes, store, x);
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
        ctx.accumulate(w, |g, first, nodes, store| {
            let xv = value(nodes, store, x);
            let beta = if first { 0.0 } else { 1.0 };
            dz.matmul_into(Transpose::Yes, xv, Transpose::No, 1.0, beta, g);
        });
    }
    // dx = dZ·W
    ctx.accumulate(x, |g, first, nodes, store| {
        let wv = value(nodes, store, w);
        let beta = if first { 0.0 } else { 1.0 };
        dz.matmul_into(Transpose::No, wv, Transpose::No, 1.0, beta, g);
    });
    if let Some(b) = b.filter(|&b| batched && ctx.wants_stats(b)) {
        ctx.stats(b, |sq, per_example, _| {
            // (1/B) Σ_b g_b² = B·Σ_b dZ_b²
            sq.resize_for(&[outputs]);
            sq.fill(0.0);
            vectorized(|| {
                for row in dz.data().chunks_exact(outputs) {
                    for (s, &d) in sq.data_mut().iter_mut().zip(row) {
                        *s += d * d;
                    }
                }
                sq.data_mut().iter_mut().for_each(|s| *s *= batch);
            });
            if let Some(pe) = per_example {
                pe.assign(dz);
                pe.map_inplace(|d| batch * d);
            }
        });
    }
    ctx.scratch[2] = dz_buf;
}
