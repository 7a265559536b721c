//! Shampoo: each block of a weight matrix preconditioned on the left and
//! on the right by inverse fourth roots of its gradients' outer products,
//! its step's size grafted from Adam.

use crate::hyperparameters;
use crate::search::{decay, log};
use gradlab_tensor::{gemm_strided, Tensor};

use crate::eigen::symmetric_eigen;
use crate::step::{PerTensor, TensorStep, Tensors, Whole, Work};
use crate::tensor_rule::TensorRule;

hyperparameters! {
    /// Shampoo (Gupta, Koren and Singer 2018; Anil et al. 2020), exactly
    /// Distributed Shampoo's rule (Shi et al. 2023, facebookresearch/
    /// optimizers at 4be04ba, the version of AlgoPerf's winning submission)
    /// with Adam grafting and decoupled weight decay. For each block G of
    /// a gradient (m × n; a vector's block has one side, R):
    ///
    /// ```text
    /// L ← β₂·L + (1 − β₂)·G·Gᵀ        R ← β₂·R + (1 − β₂)·Gᵀ·G
    /// m ← β₁·m + (1 − β₁)·G           m̂ = m/(1 − β₁ᵗ)
    /// v ← β₂·v + (1 − β₂)·G²          D = m̂/(√(v/(1 − β₂ᵗ)) + ε_g)   (Adam, the graft)
    /// at t = s and every f-th step after:
    ///   L̃ = (L/(1 − β₂ᵗ) + εI)^(−1/4)    R̃ likewise   (−1/2 for a vector's one side)
    /// P = D                                     for t < s
    /// P = ‖D‖_F/(‖L̃·m̂·R̃‖_F + 10⁻¹⁶) · L̃·m̂·R̃    from t = s on
    /// Φ ← Φ − η·λ·Φ − η·P
    /// ```
    ///
    /// AdaGrad, full-matrix, would precondition by (Σ g gᵀ)^(−1/2) over all
    /// of a layer's weights at once; Shampoo keeps one factor per side of
    /// the matrix, whose Kronecker product approximates it, so a layer of
    /// m·n weights keeps m² + n² numbers and takes roots of m × m and
    /// n × n matrices. The roots are recomputed every f steps only (each
    /// is an eigendecomposition, L = QΛQᵀ, L̃ = Q(Λ + ε)^(−1/4)Qᵀ, in f64
    /// from the f32 factors — Householder tridiagonalization, then QR
    /// sweeps — with Λ shifted up by its most negative rounding as the
    /// reference does),
    /// and Adam alone steers before step s, when the factors are still
    /// poor. Grafting borrows Adam's step length per block and keeps
    /// Shampoo's direction, so η means what it means for Adam.
    ///
    /// As the reference, a tensor first drops its axes of size 1 and
    /// merges neighbouring axes while their product stays ≤ the block size
    /// b (`max_preconditioner_dim`); if an axis is then longer than b every
    /// axis is cut into blocks of b (the last shorter), each block with its
    /// own factors and graft. Deliberate differences: a tensor still of
    /// more than two axes after merging is taken as a matrix (its first
    /// axis × the rest; the reference keeps one factor per axis); b is
    /// 128, not 1 024, because the blocks run one after another on a CPU
    /// core: a matrix's blocks cost ≈ 8·b flops per weight at every step
    /// (four products) and ≈ 20·b at a refresh (two eigendecompositions),
    /// a vector's ≈ 10·b² at a refresh — on the 784-512-512-10 MLP
    /// (670 000 weights, AVX-512) a step takes ≈ 13 ms and a refresh
    /// ≈ 0.3 s, AdamW's step 0.2 ms; ε = 10⁻⁸ (the winning
    /// submission's; the library's default is 10⁻¹²); the graft's β₂ is
    /// β₂, as the submission sets it. The reference's `momentum`, NAdam
    /// and Nesterov switches are not here (its defaults are off). λ is
    /// `decoupled_weight_decay`, spelled `weight_decay` as in the
    /// reference (`use_decoupled_weight_decay=True`), 0 by default. State:
    /// `m`, `v` (like Φ), `l`, `r` (each block's factors, one after
    /// another), `l_root`, `r_root` (their roots; `l` and `l_root` empty
    /// for a vector).
    pub struct Shampoo {
        /// η, the step size (the graft's, Adam's).
        lr: f64 = 1e-3, Positive;
        /// β₁, the decay of the filtered gradient m.
        b1: f64 = 0.9, Fraction;
        /// β₂, the decay of the factors L, R and of the graft's v.
        b2: f64 = 0.999, Fraction;
        /// ε, added to the factors' eigenvalues before the root.
        eps: f64 = 1e-8, Positive;
        /// ε_g, added to the graft's √v̂.
        graft_eps: f64 = 1e-8, NonNegative;
        /// f, the steps between two recomputations of the roots.
        precondition_frequency: u64 = 100;
        /// s, the first step that preconditions (Adam before it).
        start_preconditioning_step: u64 = 100;
        /// b, the largest side of a block.
        max_preconditioner_dim: u64 = 128;
    }
    search: [
        log("lr", 1e-4, 3e-2),
        decay("b1", 0.5, 0.99),
        decay("b2", 0.9, 0.9999),
    ];
    tuned: "lr=3e-3";
}

impl TensorRule for Shampoo {
    const NAME: &'static str = "shampoo";
    const STATE: &'static [&'static str] = &["m", "v", "l", "r", "l_root", "r_root"];
    type Scalars = ShampooScalars;

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    /// m and v like Φ; each side's factors and roots, block after block.
    fn init(&self, value: &Tensor) -> Vec<Tensor> {
        let view = View::of(value.shape(), self.max_preconditioner_dim as usize);
        let (mut left, mut right) = (0, 0);
        view.blocks(|b| {
            left += b.rows * b.rows * usize::from(view.matrix);
            right += b.cols * b.cols;
        });
        let zeros = |n: usize| Tensor::zeros(&[n]);
        vec![
            Tensor::zeros(value.shape()),
            Tensor::zeros(value.shape()),
            zeros(left),
            zeros(right),
            zeros(left),
            zeros(right),
        ]
    }

    fn scalars(&self, t: u64, eta: f64, _: &mut [f64]) -> ShampooScalars {
        let (s, f) = (self.start_preconditioning_step, self.precondition_frequency);
        let tf = t as f64;
        ShampooScalars {
            b1: self.b1 as f32,
            take1: (1.0 - self.b1) as f32,
            b2: self.b2 as f32,
            take2: (1.0 - self.b2) as f32,
            correction1: (1.0 - self.b1.powf(tf)) as f32,
            correction2: 1.0 - self.b2.powf(tf),
            eps: self.eps,
            graft_eps: self.graft_eps as f32,
            eta: eta as f32,
            precondition: t >= s,
            refresh: t == s || (t > s && t.is_multiple_of(f)),
            block: self.max_preconditioner_dim as usize,
        }
    }

    fn update(&self, c: &ShampooScalars, tensors: &mut Tensors<'_>, _: &mut [f64]) {
        tensors.each(&mut ShampooTensor(*c));
    }
}

/// Shampoo's work on one tensor.
struct ShampooTensor(ShampooScalars);

impl PerTensor for ShampooTensor {
    fn tensor(&mut self, p: TensorStep<'_>) {
        let view = View::of(p.shape(), self.0.block);
        update_tensor(&self.0, view, p.whole());
    }
}

/// One tensor: the moments, each block's factors (and roots when due),
/// then each block's step.
fn update_tensor(c: &ShampooScalars, view: View, p: Whole<'_>) {
    let Whole {
        value,
        grad,
        state,
        work,
        ..
    } = p;
    let [m, v, l, r, l_root, r_root] = state else {
        unreachable!("Shampoo keeps six state tensors")
    };
    let (m, v) = (m.data_mut(), v.data_mut());
    for ((m, v), &g) in m.iter_mut().zip(v.iter_mut()).zip(grad) {
        *m = c.b1 * *m + c.take1 * g; // m ← β₁·m + (1 − β₁)·G
        *v = c.b2 * *v + c.take2 * g * g; // v ← β₂·v + (1 − β₂)·G²
    }
    let root2 = c.correction2.sqrt() as f32;
    // D = m̂/(√(v/(1 − β₂ᵗ)) + ε_g), element by element.
    let graft = |m: f32, v: f32| m / c.correction1 / (v.sqrt() / root2 + c.graft_eps);
    let (l, r) = (l.data_mut(), r.data_mut());
    let (l_root, r_root) = (l_root.data_mut(), r_root.data_mut());
    let order = if view.matrix { 2.0 } else { 1.0 };
    let (mut lo, mut ro) = (0, 0);
    view.blocks(|b| {
        let (rows, cols) = (b.rows, b.cols);
        let (ln, rn) = (rows * rows * usize::from(view.matrix), cols * cols);
        let (l, l_root) = (&mut l[lo..lo + ln], &mut l_root[lo..lo + ln]);
        let (r, r_root) = (&mut r[ro..ro + rn], &mut r_root[ro..ro + rn]);
        (lo, ro) = (lo + ln, ro + rn);
        let g = &grad[b.offset..];
        let strides = (view.cols, 1);
        let transposed = (1, view.cols);
        if view.matrix {
            // L ← β₂·L + (1 − β₂)·G·Gᵀ
            gemm_strided(
                rows, cols, rows, c.take2, g, strides, g, transposed, c.b2, l, rows,
            );
        }
        // R ← β₂·R + (1 − β₂)·Gᵀ·G
        gemm_strided(
            cols, rows, cols, c.take2, g, transposed, g, strides, c.b2, r, cols,
        );
        // The roots' working memory, reserved from the first step so that
        // the first refresh does not allocate.
        let side = rows.max(cols);
        if work.f64s.len() < 2 * side * side + 5 * side {
            work.f64s.resize(2 * side * side + 5 * side, 0.0);
        }
        if work.f32s.len() < 2 * rows * cols {
            work.f32s.resize(2 * rows * cols, 0.0);
        }
        if c.refresh {
            if view.matrix {
                inverse_root(
                    l,
                    l_root,
                    rows,
                    c.correction2,
                    c.eps,
                    -1.0 / (2.0 * order),
                    work,
                );
            }
            inverse_root(
                r,
                r_root,
                cols,
                c.correction2,
                c.eps,
                -1.0 / (2.0 * order),
                work,
            );
        }
        let at = |i: usize, j: usize| b.offset + i * view.cols + j;
        if !c.precondition {
            for i in 0..rows {
                for j in 0..cols {
                    let k = at(i, j);
                    value[k] -= c.eta * graft(m[k], v[k]); // Φ ← Φ − η·D
                }
            }
            return;
        }
        // P̃ = L̃·m̂·R̃ (m̂·R̃ for a vector), then its norm against D's.
        let (left, shampoo) = work.f32s[..2 * rows * cols].split_at_mut(rows * cols);
        let m_block = &m[b.offset..];
        let unbias = 1.0 / c.correction1;
        let input: &[f32] = if view.matrix {
            gemm_strided(
                rows,
                rows,
                cols,
                unbias,
                l_root,
                (rows, 1),
                m_block,
                strides,
                0.0,
                left,
                cols,
            );
            left
        } else {
            m_block
        };
        let (input_strides, alpha) = match view.matrix {
            true => ((cols, 1), 1.0),
            false => (strides, unbias),
        };
        gemm_strided(
            rows,
            cols,
            cols,
            alpha,
            input,
            input_strides,
            r_root,
            (cols, 1),
            0.0,
            shampoo,
            cols,
        );
        let (mut graft_sq, mut shampoo_sq) = (0.0f64, 0.0f64);
        for i in 0..rows {
            for j in 0..cols {
                let k = at(i, j);
                graft_sq += f64::from(graft(m[k], v[k])).powi(2);
                shampoo_sq += f64::from(shampoo[i * cols + j]).powi(2);
            }
        }
        // ‖D‖_F/(‖P̃‖_F + 10⁻¹⁶), times η.
        let scale = (f64::from(c.eta) * graft_sq.sqrt() / (shampoo_sq.sqrt() + 1e-16)) as f32;
        for i in 0..rows {
            for j in 0..cols {
                value[at(i, j)] -= scale * shampoo[i * cols + j]; // Φ ← Φ − η·P
            }
        }
    });
}

/// `root` ← (X/correction + εI)^power for the symmetric `n × n` factor X,
/// through X̂ = QΛQᵀ: Q·(Λ − min(min Λ, 0) + ε)^power·Qᵀ (Qᵀ's rows are
/// the eigenvectors).
fn inverse_root(
    factor: &[f32],
    root: &mut [f32],
    n: usize,
    correction: f64,
    eps: f64,
    power: f64,
    work: &mut Work,
) {
    let (a, rest) = work.f64s[..2 * n * n + 5 * n].split_at_mut(n * n);
    let (q, rest) = rest.split_at_mut(n * n);
    let (lambda, scratch) = rest.split_at_mut(n);
    for (a, &x) in a.iter_mut().zip(factor) {
        *a = f64::from(x) / correction;
    }
    symmetric_eigen(a, q, scratch, n);
    let lowest = (0..n).map(|i| a[i * n + i]).fold(f64::INFINITY, f64::min);
    for (k, l) in lambda.iter_mut().enumerate() {
        *l = (a[k * n + k] - lowest.min(0.0) + eps).powf(power);
    }
    // Σ_k f(λ_k)·q_k·q_kᵀ, summed in f64 along rows, then rounded.
    let sum = &mut a[..];
    sum.fill(0.0);
    for (k, &f) in lambda.iter().enumerate() {
        let qk = &q[k * n..][..n];
        for (i, &qi) in qk.iter().enumerate() {
            let w = f * qi;
            for (s, &qj) in sum[i * n..][..n].iter_mut().zip(qk) {
                *s += w * qj;
            }
        }
    }
    for (r, &s) in root.iter_mut().zip(sum.iter()) {
        *r = s as f32;
    }
}

/// A tensor as Shampoo sees it: axes of size 1 dropped, neighbours merged
/// while their product stays ≤ b, at most two axes (`rows × cols`, a
/// vector's `rows` 1), cut into blocks of at most b × b.
#[derive(Clone, Copy, Debug)]
struct View {
    rows: usize,
    cols: usize,
    /// Two axes (two factors), not one.
    matrix: bool,
    block: usize,
}

/// One block of a [`View`]: its first element's index and its sides.
struct Block {
    offset: usize,
    rows: usize,
    cols: usize,
}

impl View {
    /// The view of a tensor of `shape` with blocks of at most `block`.
    fn of(shape: &[usize], block: usize) -> View {
        let mut axes = [1usize; 2];
        let mut count = 0;
        let mut current: Option<usize> = None;
        for &d in shape.iter().filter(|&&d| d != 1) {
            current = Some(match current {
                None => d,
                Some(c) if c * d <= block => c * d,
                Some(c) => {
                    // A third axis joins the second.
                    axes[count.min(1)] *= c;
                    count += 1;
                    d
                }
            });
        }
        axes[count.min(1)] *= current.unwrap_or(1);
        let matrix = count >= 1;
        let (rows, cols) = if matrix {
            (axes[0], axes[1])
        } else {
            (1, axes[0])
        };
        View {
            rows,
            cols,
            matrix,
            block,
        }
    }

    /// Calls `f` with each block, row of blocks after row of blocks.
    fn blocks(&self, mut f: impl FnMut(Block)) {
        for r0 in (0..self.rows).step_by(self.block) {
            for c0 in (0..self.cols).step_by(self.block) {
                f(Block {
                    offset: r0 * self.cols + c0,
                    rows: self.block.min(self.rows - r0),
                    cols: self.block.min(self.cols - c0),
                });
            }
        }
    }
}

/// The scalars of a step of [`Shampoo`]: the decays β and 1 − β (computed
/// before rounding), the corrections 1 − β₁ᵗ and 1 − β₂ᵗ, ε, ε_g, η,
/// whether the step preconditions and whether it recomputes the roots, b.
#[derive(Clone, Copy, Debug)]
pub struct ShampooScalars {
    b1: f32,
    take1: f32,
    b2: f32,
    take2: f32,
    correction1: f32,
    correction2: f64,
    eps: f64,
    graft_eps: f32,
    eta: f32,
    precondition: bool,
    refresh: bool,
    block: usize,
}
