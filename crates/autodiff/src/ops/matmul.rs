//! Matrix product `Y = op(A)·op(B)`.
//!
//! **Derivative.** With `dY = ∂L/∂Y`:
//! `∂L/∂op(A) = dY·op(B)ᵀ` and `∂L/∂op(B) = op(A)ᵀ·dY`. For a transposed
//! operand the gradient is transposed back, which the tensor crate's
//! transpose flags do without copying: for `Y = A·Bᵀ`, `dB = dYᵀ·A`.
//!
//! **Per example.** When A is a batch `x` (row b is example b) and B a weight
//! `W`, `Y = x·W` gives `g_b(W) = x_bᵀ δ_b` with `δ_b = ∂ℓ_b/∂y_b`: an outer
//! product per example. Their mean of squares needs no outer product at all:
//! `Σ_b (x_b,i δ_b,j)² = Σ_b x²_b,i δ²_b,j = ((x²)ᵀ·(δ²))_ij`, one more
//! matmul on squared operands. Its squared norm is
//! `‖x_b‖²·‖δ_b‖²`.

use gradlab_tensor::{Tensor, Transpose};

use crate::op::{Backward, Examples, Op};
use crate::tape::{Graph, Var};

/// `op(a)·op(b)`, with a transpose flag per operand.
pub struct MatMul {
    /// Whether `a` is transposed.
    pub ta: Transpose,
    /// Whether `b` is transposed.
    pub tb: Transpose,
}

fn flip(t: Transpose) -> Transpose {
    match t {
        Transpose::No => Transpose::Yes,
        Transpose::Yes => Transpose::No,
    }
}

impl Op for MatMul {
    type Saved = ();

    fn name(&self) -> String {
        format!(
            "matmul{}{}",
            if self.ta == Transpose::Yes {
                " Aᵀ"
            } else {
                ""
            },
            if self.tb == Transpose::Yes {
                " Bᵀ"
            } else {
                ""
            }
        )
    }

    /// The result is a batch when `a` is one and not transposed. A product
    /// that sums over the examples (a transposed batch on the left, or a
    /// batch on the right) mixes them.
    fn examples(&self, batched: &[bool]) -> Examples {
        let a_rows = self.ta == Transpose::No;
        Examples {
            batched: batched[0] && a_rows,
            mixes: (batched[0] && !a_rows) || batched[1],
        }
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, _: &mut ()) {
        x[0].matmul_into(self.ta, x[1], self.tb, 1.0, 0.0, y);
    }

    fn backward(&self, cx: &mut Backward, _: &mut ()) {
        let (x, dy) = (cx.x, cx.dy);
        let (a, b) = (x[0], x[1]);
        let (ta, tb) = (self.ta, self.tb);
        cx.accumulate(0, |g, first| {
            let beta = if first { 0.0 } else { 1.0 };
            match ta {
                // dA = dY·op(B)ᵀ
                Transpose::No => dy.matmul_into(Transpose::No, b, flip(tb), 1.0, beta, g),
                // A stored transposed: dA = (dY·op(B)ᵀ)ᵀ = op(B)·dYᵀ
                Transpose::Yes => b.matmul_into(tb, dy, Transpose::Yes, 1.0, beta, g),
            }
        });
        cx.accumulate(1, |g, first| {
            let beta = if first { 0.0 } else { 1.0 };
            match tb {
                // dB = op(A)ᵀ·dY
                Transpose::No => a.matmul_into(flip(ta), dy, Transpose::No, 1.0, beta, g),
                // B stored transposed: dB = dYᵀ·op(A)
                Transpose::Yes => dy.matmul_into(Transpose::Yes, a, ta, 1.0, beta, g),
            }
        });
        let per_example_weight = cx.is_batch(0) && ta == Transpose::No;
        if per_example_weight && cx.wants_norms(1) {
            // Row b of dY is δ_b / B: ‖g_b‖² = B²·‖x_b‖²·‖dY_b‖².
            let s = (cx.batch() * cx.batch()) as f32;
            cx.norms(1, |n| {
                crate::kernels::outer_product_norms(a.data(), dy.data(), s, n)
            });
        }
        if per_example_weight && cx.per_example(1) {
            let batch = cx.batch() as f32;
            cx.stats(1, |sq, per_example| {
                // Row b of dY is δ_b / B, so (1/B) Σ_b g_b² = B · (x²)ᵀ(dY²).
                match tb {
                    Transpose::No => {
                        a.matmul_squares_into(Transpose::Yes, dy, Transpose::No, batch, sq)
                    }
                    Transpose::Yes => {
                        dy.matmul_squares_into(Transpose::Yes, a, Transpose::No, batch, sq)
                    }
                }
                if let Some(pe) = per_example {
                    outer_products(a, dy, tb, batch, pe);
                }
            });
        }
    }
}

impl Graph<'_, '_> {
    /// `a·b`.
    pub fn matmul(&mut self, a: Var, b: Var) -> Var {
        self.matmul_t(a, Transpose::No, b, Transpose::No)
    }

    /// `op(a)·op(b)` with transpose flags.
    pub fn matmul_t(&mut self, a: Var, ta: Transpose, b: Var, tb: Transpose) -> Var {
        self.apply(MatMul { ta, tb }, &[a, b])
    }
}

/// `pe[b] = s · x_bᵀ dy_b` (or `s · dy_bᵀ x_b` for a transposed weight).
pub(crate) fn outer_products(x: &Tensor, dy: &Tensor, tb: Transpose, s: f32, pe: &mut Tensor) {
    let (bsz, k) = x.dims2("per-example matmul");
    let (_, n) = dy.dims2("per-example matmul");
    let (rows, cols) = match tb {
        Transpose::No => (k, n),
        Transpose::Yes => (n, k),
    };
    pe.resize_for(&[bsz, rows, cols]);
    for ((g, xb), db) in pe
        .data_mut()
        .chunks_exact_mut(rows * cols)
        .zip(x.data().chunks_exact(k))
        .zip(dy.data().chunks_exact(n))
    {
        let (u, v) = match tb {
            Transpose::No => (xb, db),
            Transpose::Yes => (db, xb),
        };
        for (row, &ui) in g.chunks_exact_mut(cols).zip(u) {
            for (o, &vj) in row.iter_mut().zip(v) {
                *o = s * ui * vj;
            }
        }
    }
}
