//! Elementwise arithmetic `a ∘ b` (∘ ∈ {+, −, ⊙, ÷}) with row-vector
//! broadcasting, and scaling by a constant.
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
//!
//! When `b` is a row vector broadcast over the rows of `a` (`[B, n] ∘ [n]`,
//! a bias), its gradient sums the rows' contributions `r_b`:
//! `∂L/∂b = Σ_b r_b`. Each `r_b` belongs to one example, so for a parameter
//! row the per-example gradient is `g_b = B·r_b` and
//! `(1/B) Σ_b g_b² = B·Σ_b r_b²` (see the `backward` module).

use gradlab_tensor::reduce::column_sums;

use crate::backward::{emit, Ctx};
use crate::tape::{value, Graph, Node, Op, Var};

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
        let (na, nb) = (self.node(a), self.node(b));
        // A batch broadcast as a row would pair example j with column j.
        let mixes = row && nb.batched;
        let batched = na.batched || (!row && nb.batched);
        self.push(
            Op::Binary { kind, a, b, row },
            batched,
            |n, before, store| {
                n.value.assign(value(before, store, a));
                n.value
                    .zip_map_inplace(value(before, store, b), |x, y| kind.apply(x, y));
                n.mixed |= mixes;
            },
        )
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
        let batched = self.node(x).batched;
        self.push(Op::Scale { x, s }, batched, |n, before, store| {
            n.value.assign(value(before, store, x));
            n.value.map_inplace(|v| s * v);
        })
    }
}

pub(crate) fn backward(node: &Node, ctx: &mut Ctx) {
    let dy = node.grad.data();
    let (kind, a, b, row) = match node.op {
        Op::Scale { x, s } => {
            ctx.accumulate(x, |g, first, _, _| emit(g.data_mut(), first, |i| s * dy[i]));
            return;
        }
        Op::Binary { kind, a, b, row } => (kind, a, b, row),
        _ => unreachable!(),
    };
    let n = value(ctx.nodes, ctx.store, b).len();
    ctx.accumulate(a, |g, first, nodes, store| {
        let (va, vb) = (value(nodes, store, a).data(), value(nodes, store, b).data());
        let j = |i: usize| if row { i % n } else { i };
        emit(g.data_mut(), first, |i| {
            dy[i] * kind.d_left(va[i], vb[j(i)])
        });
    });
    if !row {
        ctx.accumulate(b, |g, first, nodes, store| {
            let (va, vb) = (value(nodes, store, a).data(), value(nodes, store, b).data());
            emit(g.data_mut(), first, |i| dy[i] * kind.d_right(va[i], vb[i]));
        });
        return;
    }
    if !ctx.nodes[b.0].needs_grad {
        return;
    }
    // r_b: each row's contribution to the row vector's gradient.
    let mut r = std::mem::take(&mut ctx.scratch[0]);
    {
        let (va, vb) = (
            value(ctx.nodes, ctx.store, a),
            value(ctx.nodes, ctx.store, b).data(),
        );
        r.resize_for(va.shape());
        let va = va.data();
        emit(r.data_mut(), true, |i| {
            dy[i] * kind.d_right(va[i], vb[i % n])
        });
    }
    // The row vector's gradient is Σ_b r_b; a second use adds to it.
    let mut sums = std::mem::take(&mut ctx.scratch[1]);
    ctx.accumulate(b, |g, first, _, _| {
        if first {
            column_sums(r.data(), n, g.data_mut());
        } else {
            r.sum_axis_into(0, &mut sums);
            g.add_assign(&sums);
        }
    });
    if ctx.nodes[a.0].batched && ctx.wants_stats(b) {
        let batch = ctx.batch as f32;
        ctx.stats(b, |sq, per_example, _| {
            sq.resize_for(&[n]);
            sq.fill(0.0);
            for rb in r.data().chunks_exact(n) {
                for (s, &x) in sq.data_mut().iter_mut().zip(rb) {
                    *s += x * x;
                }
            }
            sq.map_inplace(|s| batch * s);
            if let Some(pe) = per_example {
                pe.assign(&r);
                pe.map_inplace(|x| batch * x);
            }
        });
    }
    ctx.scratch[1] = sums;
    ctx.scratch[0] = r;
}
