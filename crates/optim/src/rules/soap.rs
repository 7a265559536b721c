//! SOAP: Adam run in the eigenbasis of Shampoo's preconditioner.

use crate::hyperparameters;
use crate::search::{decay, log};
use gradlab_tensor::simd::{vectorized_loop, Loop};
use gradlab_tensor::{gemm, Tensor, Transpose};
use rayon::prelude::*;

use crate::eigen::{dot, symmetric_eigen};
use crate::rule::Options;
use crate::step::{PerTensor, TensorStep, Tensors, Whole};
use crate::tensor_rule::TensorRule;

hyperparameters! {
    /// SOAP (Vyas et al. 2024, "SOAP: Improving and Stabilizing Shampoo
    /// using Adam"), the authors' `SOAP` (nikhilvyas/SOAP, `soap.py`) for a
    /// matrix G (m × n) with Q_L, Q_R the eigenvectors of Shampoo's
    /// factors:
    ///
    /// ```text
    /// first step:  L = (1 − β_s)·G·Gᵀ, R = (1 − β_s)·Gᵀ·G, Q_L, Q_R their eigenvectors
    ///              (by decreasing eigenvalue); Φ does not move
    /// step t + 1:  G' = Q_Lᵀ·G·Q_R                       (the gradient in the eigenbasis)
    ///              m ← β₁·m + (1 − β₁)·G'    v ← β₂·v + (1 − β₂)·G'²
    ///              Φ ← Φ − η·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · Q_L·(m/(√v + ε))·Q_Rᵀ
    ///              Φ ← Φ − η·λ·Φ
    ///              L ← β_s·L + (1 − β_s)·G·Gᵀ    R likewise
    ///              every f-th t: sort Q's columns by qᵀLq (v's rows or columns with them),
    ///              Q_L ← QR(L·Q_L), Q_R ← QR(R·Q_R), m carried to the new basis
    /// ```
    ///
    /// Shampoo preconditions by L^(−1/4)·G·R^(−1/4), fixed between its
    /// refreshes; SOAP instead rotates the gradient into the eigenbasis of
    /// L and R, where their product is diagonal, and runs Adam there, so
    /// its second moment keeps adapting at every step while the basis
    /// changes slowly. A refresh is one step of power iteration (L·Q) and
    /// an orthonormalization, not an eigendecomposition; only the first
    /// step takes one (in f64, as [`Shampoo`](crate::Shampoo)'s roots). A
    /// matrix of m·n weights costs ≈ 6·(m + n) flops per weight at every
    /// step (six products) and O(m³ + n³) at a refresh — on the
    /// 784-512-512-10 MLP (AVX-512, 2 cores) a step takes ≈ 30 ms, a
    /// refresh ≈ 0.4 s (mostly the f64 orthonormalization of 784 + 512
    /// vectors) and the first step ≈ 0.7 s. A side longer than `max_precond_dim`
    /// is not rotated, and a
    /// vector (a bias, a gain) is not rotated at all (the reference's
    /// `precondition_1d=False`): it steps as Adam. The defaults are the
    /// reference's: η = 3·10⁻³, β₁ = β₂ = β_s = 0.95, ε = 10⁻⁸, f = 10,
    /// λ = 0.01 (`decoupled_weight_decay`, spelled `weight_decay` as in the
    /// reference, applied after the step as there). Deliberate
    /// differences: sides longer than 1 024 are not rotated (the
    /// reference's `max_precond_dim` is 10 000; a CPU core would take
    /// minutes over the first eigendecomposition of a 3 000-wide layer);
    /// the reference's β_s defaults to β₂ (`shampoo_beta=-1`),
    /// here to 0.95, which is the same number; a tensor of more than two
    /// axes is taken as a matrix, its first axis × the rest (the reference
    /// rotates each axis); the orthonormalization is Gram–Schmidt
    /// in f64, twice, with a column that L·Q leaves near zero replaced by
    /// its previous one (the reference's QR in f32 completes the basis
    /// arbitrarily there); m is carried to the new basis at a refresh only
    /// (the reference goes back and forth at every step, which changes
    /// nothing but rounding). State: `m`, `v` (like Φ, in the eigenbasis),
    /// `l`, `r` (the factors), `ql`, `qr` (Q_Lᵀ and Q_Rᵀ: the eigenvectors
    /// as rows); the last four empty for a vector and for a side not
    /// rotated.
    pub struct Soap {
        /// η, the step size.
        lr: f64 = 3e-3, Positive;
        /// β₁, the decay of m.
        b1: f64 = 0.95, Fraction;
        /// β₂, the decay of v.
        b2: f64 = 0.95, Fraction;
        /// β_s, the decay of the factors L and R.
        shampoo_beta: f64 = 0.95, Fraction;
        /// ε, added to √v.
        eps: f64 = 1e-8, Positive;
        /// f, the steps between two refreshes of the eigenbasis.
        precondition_frequency: u64 = 10;
        /// The longest side that is rotated.
        max_precond_dim: u64 = 1024;
        /// λ, the decoupled weight decay (times η), after the step.
        decoupled_weight_decay: f64 = 0.01, NonNegative;
    }
    search: [
        log("lr", 1e-4, 3e-2),
        decay("b1", 0.5, 0.99),
        decay("b2", 0.8, 0.999),
        decay("shampoo_beta", 0.8, 0.999),
    ];
    tuned: "lr=3e-3";
}

impl TensorRule for Soap {
    const NAME: &'static str = "soap";
    const STATE: &'static [&'static str] = &["m", "v", "l", "r", "ql", "qr"];
    type Scalars = SoapScalars;

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    /// Its decay comes after the step and not at the first call: the rule
    /// applies it.
    fn options(&self) -> Options {
        Options {
            decoupled_decay: false,
            ..Options::default()
        }
    }

    /// m and v like Φ; each rotated side's factor and basis.
    fn init(&self, value: &Tensor) -> Vec<Tensor> {
        let sides = Sides::of(value.shape(), self.max_precond_dim as usize);
        let square = |n: usize, rotated: bool| Tensor::zeros(&[if rotated { n * n } else { 0 }]);
        vec![
            Tensor::zeros(value.shape()),
            Tensor::zeros(value.shape()),
            square(sides.rows, sides.left),
            square(sides.cols, sides.right),
            square(sides.rows, sides.left),
            square(sides.cols, sides.right),
        ]
    }

    fn scalars(&self, t: u64, eta: f64, _: &mut [f64]) -> SoapScalars {
        // The reference counts steps from the one after its first call.
        let s = t.saturating_sub(1);
        let sf = s as f64;
        SoapScalars {
            first: t == 1,
            refresh: s > 0 && s.is_multiple_of(self.precondition_frequency),
            b1: self.b1 as f32,
            take1: (1.0 - self.b1) as f32,
            b2: self.b2 as f32,
            take2: (1.0 - self.b2) as f32,
            bs: self.shampoo_beta as f32,
            takes: (1.0 - self.shampoo_beta) as f32,
            eps: self.eps as f32,
            step: (eta * (1.0 - self.b2.powf(sf)).sqrt() / (1.0 - self.b1.powf(sf))) as f32,
            decay: (eta * self.decoupled_weight_decay) as f32,
            max_dim: self.max_precond_dim as usize,
        }
    }

    fn update(&self, c: &SoapScalars, tensors: &mut Tensors<'_>, _: &mut [f64]) {
        tensors.each(&mut SoapTensor(*c));
    }
}

/// SOAP's work on one tensor.
struct SoapTensor(SoapScalars);

impl PerTensor for SoapTensor {
    fn tensor(&mut self, p: TensorStep<'_>) {
        let sides = Sides::of(p.shape(), self.0.max_dim);
        update_tensor(&self.0, sides, p.whole());
    }
}

/// A tensor as SOAP sees it: `rows × cols` (a vector's `rows` 1), and
/// which sides are rotated.
#[derive(Clone, Copy, Debug)]
struct Sides {
    rows: usize,
    cols: usize,
    left: bool,
    right: bool,
}

impl Sides {
    fn of(shape: &[usize], max_dim: usize) -> Sides {
        match *shape {
            [rows, ref rest @ ..] if !rest.is_empty() => {
                let cols = rest.iter().product();
                Sides {
                    rows,
                    cols,
                    left: rows <= max_dim,
                    right: cols <= max_dim,
                }
            }
            _ => Sides {
                rows: 1,
                cols: shape.iter().product(),
                left: false,
                right: false,
            },
        }
    }
}

/// One tensor: the factors; at the first call their eigenbases; then Adam
/// in the eigenbasis, the decay, and every f-th step a refresh of the
/// bases.
fn update_tensor(c: &SoapScalars, sides: Sides, p: Whole<'_>) {
    let Whole {
        value,
        grad,
        state,
        work,
        ..
    } = p;
    let [m, v, l, r, ql, qr] = state else {
        unreachable!("SOAP keeps six state tensors")
    };
    let Sides {
        rows,
        cols,
        left,
        right,
    } = sides;
    let (m, v) = (m.data_mut(), v.data_mut());
    let (l, r, ql, qr) = (l.data_mut(), r.data_mut(), ql.data_mut(), qr.data_mut());
    let n = rows * cols;
    let side = if left { rows } else { 0 }.max(if right { cols } else { 0 });
    // Working memory for the largest tensor and side, from the first step
    // on, so that no later step allocates.
    let f32s = 3 * n + side * side;
    if work.f32s.len() < f32s {
        work.f32s.resize(f32s, 0.0);
    }
    if work.f64s.len() < 2 * side * side + 5 * side {
        work.f64s.resize(2 * side * side + 5 * side, 0.0);
    }
    let (rotated, rest) = work.f32s[..f32s].split_at_mut(n);
    let (tmp, rest) = rest.split_at_mut(n);
    let (step, power) = rest.split_at_mut(n);
    // L ← β_s·L + (1 − β_s)·G·Gᵀ, R likewise: (1 − β_s)·G·Gᵀ at the first
    // call, from 0. The step reads the bases, not the factors, so taking
    // them before it gives the reference's numbers (it takes them after).
    if left {
        gemm(
            rows,
            cols,
            rows,
            c.takes,
            grad,
            Transpose::No,
            grad,
            Transpose::Yes,
            c.bs,
            l,
        );
    }
    if right {
        gemm(
            cols,
            rows,
            cols,
            c.takes,
            grad,
            Transpose::Yes,
            grad,
            Transpose::No,
            c.bs,
            r,
        );
    }
    if c.first {
        // The bases: the first factors' eigenvectors.
        if left {
            eigenbasis(l, ql, rows, &mut work.f64s);
        }
        if right {
            eigenbasis(r, qr, cols, &mut work.f64s);
        }
        return;
    }
    let bases = Bases {
        rows,
        cols,
        ql: left.then_some(&*ql),
        qr: right.then_some(&*qr),
    };
    bases.project(grad, rotated, tmp); // G' = Q_Lᵀ·G·Q_R
    for (((m, v), &g), x) in m
        .iter_mut()
        .zip(v.iter_mut())
        .zip(&*rotated)
        .zip(step.iter_mut())
    {
        *m = c.b1 * *m + c.take1 * g; // m ← β₁·m + (1 − β₁)·G'
        *v = c.b2 * *v + c.take2 * g * g; // v ← β₂·v + (1 − β₂)·G'²
        *x = *m / (v.sqrt() + c.eps);
    }
    bases.back(step, rotated, tmp); // Q_L·(m/(√v + ε))·Q_Rᵀ
    for (phi, &u) in value.iter_mut().zip(&*rotated) {
        *phi -= c.step * u; // Φ ← Φ − η·√(1 − β₂ᵗ)/(1 − β₁ᵗ)·N
        *phi -= c.decay * *phi; // Φ ← Φ − η·λ·Φ
    }
    if !c.refresh || !(left || right) {
        return;
    }
    // m back in Φ's coordinates, the bases refreshed (v's rows or columns
    // follow their basis vectors' order, through `step`), m into the new
    // ones.
    bases.back(m, rotated, tmp);
    if left {
        refresh(l, ql, rows, power, &mut work.f64s, |k, i| {
            step[k * cols..][..cols].copy_from_slice(&v[i * cols..][..cols]);
        });
        v.copy_from_slice(step);
    }
    if right {
        refresh(r, qr, cols, power, &mut work.f64s, |k, i| {
            for row in 0..rows {
                step[row * cols + k] = v[row * cols + i];
            }
        });
        v.copy_from_slice(step);
    }
    let bases = Bases {
        rows,
        cols,
        ql: left.then_some(&*ql),
        qr: right.then_some(&*qr),
    };
    bases.project(rotated, m, tmp);
}

/// The eigenbases of a matrix's two sides, as rows (`None`: that side is
/// not rotated).
struct Bases<'a> {
    rows: usize,
    cols: usize,
    ql: Option<&'a [f32]>,
    qr: Option<&'a [f32]>,
}

impl Bases<'_> {
    /// `out` = Q_Lᵀ·x·Q_R.
    fn project(&self, x: &[f32], out: &mut [f32], tmp: &mut [f32]) {
        self.both(x, out, tmp, Transpose::No, Transpose::Yes);
    }

    /// `out` = Q_L·x·Q_Rᵀ.
    fn back(&self, x: &[f32], out: &mut [f32], tmp: &mut [f32]) {
        self.both(x, out, tmp, Transpose::Yes, Transpose::No);
    }

    /// `out` = op(Q_Lᵀ)·x·op(Q_Rᵀ) with the rows-as-eigenvectors matrices.
    fn both(&self, x: &[f32], out: &mut [f32], tmp: &mut [f32], tl: Transpose, tr: Transpose) {
        let (rows, cols) = (self.rows, self.cols);
        match self.ql {
            Some(ql) => gemm(rows, rows, cols, 1.0, ql, tl, x, Transpose::No, 0.0, tmp),
            None => tmp.copy_from_slice(x),
        }
        match self.qr {
            Some(qr) => gemm(rows, cols, cols, 1.0, tmp, Transpose::No, qr, tr, 0.0, out),
            None => out.copy_from_slice(tmp),
        }
    }
}

/// `basis` ← the eigenvectors of the `n × n` factor (+ 10⁻³⁰·I, as the
/// reference), as rows, by decreasing eigenvalue.
fn eigenbasis(factor: &[f32], basis: &mut [f32], n: usize, f64s: &mut [f64]) {
    let (a, rest) = f64s[..2 * n * n + 5 * n].split_at_mut(n * n);
    let (q, rest) = rest.split_at_mut(n * n);
    let (order, scratch) = rest.split_at_mut(n);
    for (i, (a, &x)) in a.iter_mut().zip(factor).enumerate() {
        *a = f64::from(x) + if i % (n + 1) == 0 { 1e-30 } else { 0.0 };
    }
    symmetric_eigen(a, q, scratch, n);
    for (i, e) in order.iter_mut().enumerate() {
        *e = a[i * n + i];
    }
    decreasing(order, |k, i| {
        for (b, &x) in basis[k * n..][..n].iter_mut().zip(&q[i * n..][..n]) {
            *b = x as f32;
        }
    });
}

/// Calls `place(k, i)` for k = 0, 1, … with i the index of the k-th
/// largest of `keys` (the first of equals first), which it overwrites: a
/// selection sort, allocation-free, for a basis of at most a few thousand
/// vectors refreshed every f steps.
fn decreasing(keys: &mut [f64], mut place: impl FnMut(usize, usize)) {
    for k in 0..keys.len() {
        let mut best = None;
        for (i, &e) in keys.iter().enumerate() {
            if e != f64::NEG_INFINITY && best.is_none_or(|b: usize| e > keys[b]) {
                best = Some(i);
            }
        }
        let i = best.expect("a key is left for each position");
        place(k, i);
        keys[i] = f64::NEG_INFINITY;
    }
}

/// A refresh of one side's basis `q` (rows) from its factor: each basis
/// vector's estimated eigenvalue qᵀ·factor·q, the basis (and `reorder`,
/// given each new position's old index) sorted by it, decreasing; then
/// one power iteration, factor·q, orthonormalized in that order.
fn refresh(
    factor: &[f32],
    q: &mut [f32],
    n: usize,
    work: &mut [f32],
    f64s: &mut [f64],
    mut reorder: impl FnMut(usize, usize),
) {
    let power = &mut work[..n * n];
    // Rows of Qᵀ·factor = (factor·q_k)ᵀ, the factor being symmetric.
    gemm(
        n,
        n,
        n,
        1.0,
        q,
        Transpose::No,
        factor,
        Transpose::No,
        0.0,
        power,
    );
    let (sorted, rest) = f64s[..2 * n * n + n].split_at_mut(n * n);
    let (old, estimate) = rest.split_at_mut(n * n);
    for (k, e) in estimate.iter_mut().enumerate() {
        let (p, qk) = (&power[k * n..][..n], &q[k * n..][..n]);
        *e = p
            .iter()
            .zip(qk)
            .map(|(&p, &q)| f64::from(p) * f64::from(q))
            .sum();
    }
    decreasing(estimate, |k, i| {
        for j in 0..n {
            sorted[k * n + j] = f64::from(power[i * n + j]);
            old[k * n + j] = f64::from(q[i * n + j]);
        }
        reorder(k, i);
    });
    orthonormalize(sorted, old, n);
    for (q, &x) in q.iter_mut().zip(sorted.iter()) {
        *q = x as f32;
    }
}

/// Rows orthonormalized together by [`orthonormalize`]: a block of them
/// (32 × 784 f64s, 200 kB) stays in the core's L2 cache while each
/// finished row streams past once.
const BLOCK: usize = 32;

/// The rows of `rows` (n × n) made orthonormal in order by Gram–Schmidt,
/// twice (once loses orthogonality when a row is nearly in the span of
/// the earlier ones), a block of rows at a time: each block has the
/// finished rows' projections taken out twice, one finished row at a time
/// for the whole block, then its own rows are orthonormalized against one
/// another in order (block Gram–Schmidt; the arithmetic is the row-by-row
/// method's, reordered so that the finished rows are read once per block
/// instead of once per row, and split over the threads). A row that the
/// factor left below 10⁻⁶ of the longest (a direction the factor does not
/// reach, where the product holds only rounding), or that lies in the
/// span of the earlier rows to 10⁻⁶ of its length, is replaced by the old
/// basis vector in its place, `old`'s row, before it is orthonormalized.
fn orthonormalize(rows: &mut [f64], old: &[f64], n: usize) {
    let norm = |x: &[f64]| dot(x, x).sqrt();
    let longest = (0..n)
        .map(|k| norm(&rows[k * n..][..n]))
        .fold(0.0, f64::max);
    for start in (0..n).step_by(BLOCK) {
        let (done, rest) = rows.split_at_mut(start * n);
        let block = &mut rest[..(n - start).min(BLOCK) * n];
        // A row the factor left near zero is replaced at once (a
        // low-rank factor leaves most rows so: a 10 × 512 layer's 512-wide
        // side has rank 10).
        let mut before = [0.0; BLOCK];
        for (i, (b, x)) in before.iter_mut().zip(block.chunks_exact_mut(n)).enumerate() {
            *b = norm(x);
            if *b <= 1e-6 * longest {
                x.copy_from_slice(&old[(start + i) * n..][..n]);
                *b = norm(x);
            }
        }
        for _ in 0..2 {
            project_block(block, done, n);
        }
        for i in 0..block.len() / n {
            let (earlier, rest) = block.split_at_mut(i * n);
            let x = &mut rest[..n];
            let mut length = project_out(x, earlier, n);
            if length <= 1e-6 * before[i] {
                x.copy_from_slice(&old[(start + i) * n..][..n]);
                for _ in 0..2 {
                    project_block(x, done, n);
                }
                length = project_out(x, earlier, n);
            }
            x.iter_mut().for_each(|x| *x /= length);
        }
    }
}

/// Each row of `block` minus its projection on each orthonormal row of
/// `done` in turn. The rows are independent: rayon's threads take groups
/// of four, each in the CPU's widest vectors, its four dot products in one
/// pass (four chains of additions in flight instead of one, each summed in
/// [`dot`]'s order, so the numbers are the same for any grouping).
fn project_block(block: &mut [f64], done: &[f64], n: usize) {
    block
        .par_chunks_mut(4 * n)
        .for_each(|rows| vectorized_loop(Project { rows, done, n }));
}

/// The loop of [`project_block`] over up to four rows.
struct Project<'a> {
    rows: &'a mut [f64],
    done: &'a [f64],
    n: usize,
}

impl Loop for Project<'_> {
    #[inline(always)]
    fn run(self) {
        let n = self.n;
        let k = self.rows.len() / n;
        for q in self.done.chunks_exact(n) {
            let mut d = [0.0; 4];
            if k == 4 {
                let (x0, rest) = self.rows.split_at(n);
                let (x1, rest) = rest.split_at(n);
                let (x2, x3) = rest.split_at(n);
                d = dot4([x0, x1, x2, x3], q);
            } else {
                for (d, x) in d.iter_mut().zip(self.rows.chunks_exact(n)) {
                    *d = dot(x, q);
                }
            }
            for (x, d) in self.rows.chunks_exact_mut(n).zip(d) {
                x.iter_mut().zip(q).for_each(|(x, q)| *x -= d * q);
            }
        }
    }
}

/// [`dot`] of four rows with `q` at once, each summed exactly as `dot`
/// sums it.
#[inline(always)]
fn dot4(xs: [&[f64]; 4], q: &[f64]) -> [f64; 4] {
    let mut lanes = [[0.0f64; 8]; 4];
    let whole = q.len() / 8 * 8;
    for j in (0..whole).step_by(8) {
        let qj = &q[j..j + 8];
        for (l, x) in lanes.iter_mut().zip(xs) {
            for ((l, x), q) in l.iter_mut().zip(&x[j..j + 8]).zip(qj) {
                *l += x * q;
            }
        }
    }
    let mut out = [0.0; 4];
    for ((o, l), x) in out.iter_mut().zip(&lanes).zip(xs) {
        let tail: f64 = x[whole..].iter().zip(&q[whole..]).map(|(x, q)| x * q).sum();
        *o = l.iter().sum::<f64>() + tail;
    }
    out
}

/// `x` minus its projections on the orthonormal rows of `done`, twice;
/// returns what is left of its length.
fn project_out(x: &mut [f64], done: &[f64], n: usize) -> f64 {
    for _ in 0..2 {
        project_block(x, done, n);
    }
    dot(x, x).sqrt()
}

/// The scalars of a step of [`Soap`]: whether it is the first call and
/// whether it refreshes the bases, the decays β and 1 − β (computed
/// before rounding), ε, η·√(1 − β₂ᵗ)/(1 − β₁ᵗ) with the reference's t, the
/// decay fraction η·λ, the longest side rotated.
#[derive(Clone, Copy, Debug)]
pub struct SoapScalars {
    first: bool,
    refresh: bool,
    b1: f32,
    take1: f32,
    b2: f32,
    take2: f32,
    bs: f32,
    takes: f32,
    eps: f32,
    step: f32,
    decay: f32,
    max_dim: usize,
}
