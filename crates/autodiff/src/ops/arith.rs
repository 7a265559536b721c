//! Elementwise arithmetic `a ∘ b` (∘ ∈ {+, −, ⊙, ÷}) with row-vector
//! broadcasting, scaling by a constant, and the affine map `s·a + c`.
//!
//! **Derivatives** (elementwise, `dY = ∂L/∂Y`):
//!
//! | op | ∂L/∂a | ∂L/∂b |
//! |---|---|---|
//! | a + b | dY | dY |
//! | a − b | dY | −dY |
//! | a ⊙ b | dY ⊙ b | dY ⊙ a |
//! | a ÷ b | dY ÷ b | −dY ⊙ a ÷ b² |
//! | s·a | s·dY | |
//! | s·a + c | s·dY | |
//!
//! When `b` is a row vector broadcast over the rows of `a` (`[B, n] ∘ [n]`,
//! a bias), its gradient sums the rows' contributions `r_b`:
//! `∂L/∂b = Σ_b r_b`. Each `r_b` belongs to one example, so for a parameter
//! row the per-example gradient is `g_b = B·r_b` and
//! `(1/B) Σ_b g_b² = B·Σ_b r_b²` (see the `backward` module), and
//! `‖g_b‖² = B²·‖r_b‖²`.

use gradlab_tensor::reduce::column_sums;
use gradlab_tensor::Tensor;

use crate::kernels;
use crate::op::{Backward, Examples, Op};
use crate::tape::{Graph, Var};

/// Which elementwise binary op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryKind {
    /// a + b
    Add,
    /// a − b
    Sub,
    /// a ⊙ b
    Mul,
    /// a ÷ b
    Div,
}

impl BinaryKind {
    fn apply(self, x: f32, y: f32) -> f32 {
        match self {
            BinaryKind::Add => x + y,
            BinaryKind::Sub => x - y,
            BinaryKind::Mul => x * y,
            BinaryKind::Div => x / y,
        }
    }

    /// ∂(x ∘ y)/∂x.
    fn d_left(self, _x: f32, y: f32) -> f32 {
        match self {
            BinaryKind::Add | BinaryKind::Sub => 1.0,
            BinaryKind::Mul => y,
            BinaryKind::Div => 1.0 / y,
        }
    }

    /// ∂(x ∘ y)/∂y.
    fn d_right(self, x: f32, y: f32) -> f32 {
        match self {
            BinaryKind::Add => 1.0,
            BinaryKind::Sub => -1.0,
            BinaryKind::Mul => x,
            BinaryKind::Div => -x / (y * y),
        }
    }
}

/// `a ∘ b`; with `row`, `b` is a row vector broadcast over the rows of `a`.
pub struct Binary {
    /// Which op.
    pub kind: BinaryKind,
    /// `b` is a row vector broadcast over the rows of `a`.
    pub row: bool,
}

/// The row-broadcast backward's buffers, reused by every step.
#[derive(Default)]
pub struct RowSums {
    /// r_b: each row's contribution to the row vector's gradient.
    r: Tensor,
    /// Σ_b r_b, when it is added to an earlier contribution.
    sums: Tensor,
}

impl Op for Binary {
    type Saved = RowSums;

    fn name(&self) -> String {
        format!(
            "{:?}{}",
            self.kind,
            if self.row { " (row broadcast)" } else { "" }
        )
        .to_lowercase()
    }

    /// Same shapes: elementwise. A batch broadcast as a row would pair
    /// example j with column j: it mixes examples.
    fn examples(&self, batched: &[bool]) -> Examples {
        if self.row {
            Examples {
                batched: batched[0],
                mixes: batched[1],
            }
        } else {
            Examples::rowwise(batched)
        }
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, _: &mut RowSums) {
        let kind = self.kind;
        y.assign(x[0]);
        y.zip_map_inplace(x[1], |a, b| kind.apply(a, b));
    }

    fn backward(&self, cx: &mut Backward, saved: &mut RowSums) {
        let (x, dy) = (cx.x, cx.dy.data());
        let (va, vb) = (x[0].data(), x[1].data());
        let (kind, row, n) = (self.kind, self.row, vb.len());
        let j = |i: usize| if row { i % n } else { i };
        cx.add(0, |i| dy[i] * kind.d_left(va[i], vb[j(i)]));
        if !row {
            cx.add(1, |i| dy[i] * kind.d_right(va[i], vb[i]));
            return;
        }
        if !cx.needs_grad(1) {
            return;
        }
        let RowSums { r, sums } = saved;
        r.resize_for(x[0].shape());
        r.data_mut()
            .iter_mut()
            .enumerate()
            .for_each(|(i, r)| *r = dy[i] * kind.d_right(va[i], vb[i % n]));
        // The row vector's gradient is Σ_b r_b; a second use adds to it.
        cx.accumulate(1, |g, first| {
            if first {
                column_sums(r.data(), n, g.data_mut());
            } else {
                r.sum_axis_into(0, sums);
                g.add_assign(sums);
            }
        });
        // Row b of a 2-D batch is example b; for more dimensions a row is
        // only part of one, and the statistics are left unfilled (an error
        // of the per-example requests, not wrong numbers).
        if cx.is_batch(0) && x[0].ndim() == 2 && cx.wants_norms(1) {
            // ‖g_b‖² = B²·‖r_b‖²
            let s = (cx.batch() * cx.batch()) as f32;
            cx.norms(1, |norms| kernels::row_norms(r.data(), s, norms));
        }
        if cx.is_batch(0) && x[0].ndim() == 2 && cx.per_example(1) {
            let batch = cx.batch() as f32;
            cx.stats(1, |sq, per_example| {
                // (1/B) Σ_b g_b² = B·Σ_b r_b²
                sq.resize_for(&[n]);
                kernels::scaled_column_sums_of_squares(r.data(), batch, sq.data_mut());
                if let Some(pe) = per_example {
                    pe.assign(r);
                    pe.map_inplace(|x| batch * x);
                }
            });
        }
    }
}

/// `s·x` for a constant `s`.
pub struct Scale(pub f32);

impl Op for Scale {
    type Saved = ();

    fn name(&self) -> String {
        format!("scale ×{}", self.0)
    }

    fn examples(&self, batched: &[bool]) -> Examples {
        Examples::rowwise(batched)
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, _: &mut ()) {
        let s = self.0;
        y.assign(x[0]);
        y.map_inplace(|v| s * v);
    }

    fn backward(&self, cx: &mut Backward, _: &mut ()) {
        let (s, dy) = (self.0, cx.dy.data());
        cx.add(0, |i| s * dy[i]);
    }
}

/// `s·x + c` for constants `s` and `c`: a fixed normalization of the
/// inputs, `(x − μ)/σ` being `s = 1/σ`, `c = −μ/σ`.
pub struct Affine {
    /// s.
    pub scale: f32,
    /// c.
    pub shift: f32,
}

impl Op for Affine {
    type Saved = ();

    fn name(&self) -> String {
        format!("affine ×{} + {}", self.scale, self.shift)
    }

    fn examples(&self, batched: &[bool]) -> Examples {
        Examples::rowwise(batched)
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, _: &mut ()) {
        let (s, c) = (self.scale, self.shift);
        y.assign(x[0]);
        y.map_inplace(|v| s * v + c);
    }

    fn backward(&self, cx: &mut Backward, _: &mut ()) {
        let (s, dy) = (self.scale, cx.dy.data());
        cx.add(0, |i| s * dy[i]);
    }
}

impl Graph<'_, '_> {
    fn binary(&mut self, kind: BinaryKind, a: Var, b: Var) -> Var {
        let (sa, sb) = (self.value(a).shape(), self.value(b).shape());
        let row = sa != sb;
        if row {
            assert!(
                sb.len() == 1 && sa.last() == sb.first(),
                "{kind:?}: shapes {sa:?} and {sb:?} do not match (the right operand must have the \
                 same shape or be a row vector as long as the last dimension)"
            );
        }
        self.apply(Binary { kind, row }, &[a, b])
    }

    /// `a + b` (b: same shape, or a row vector broadcast over rows).
    pub fn add(&mut self, a: Var, b: Var) -> Var {
        self.binary(BinaryKind::Add, a, b)
    }

    /// `a − b` (b: same shape, or a row vector broadcast over rows).
    pub fn sub(&mut self, a: Var, b: Var) -> Var {
        self.binary(BinaryKind::Sub, a, b)
    }

    /// `a ⊙ b` (b: same shape, or a row vector broadcast over rows).
    pub fn mul(&mut self, a: Var, b: Var) -> Var {
        self.binary(BinaryKind::Mul, a, b)
    }

    /// `a ÷ b` (b: same shape, or a row vector broadcast over rows).
    pub fn div(&mut self, a: Var, b: Var) -> Var {
        self.binary(BinaryKind::Div, a, b)
    }

    /// `s·x` for a constant `s`.
    pub fn scale(&mut self, x: Var, s: f32) -> Var {
        self.apply(Scale(s), &[x])
    }

    /// `s·x + c` for constants `s` and `c`.
    pub fn affine(&mut self, x: Var, s: f32, c: f32) -> Var {
        self.apply(Affine { scale: s, shift: c }, &[x])
    }
}
