//! Muon: momentum orthogonalized by Newton–Schulz for each weight matrix,
//! AdamW for every other parameter.

use crate::search::{decay, log};
use gradlab_tensor::{gemm, Tensor, Transpose};

use crate::average::{Correction, RunningAverage, VALID};
use crate::hyperparameters;
use crate::rule::{Gradient, Options};
use crate::rules::adam::AdamScalars;
use crate::step::{decayed, Kernel, PerTensor, TensorStep, Tensors, Whole};
use crate::tensor_rule::TensorRule;

hyperparameters! {
    /// Muon (Jordan et al. 2024, "Muon: An optimizer for hidden layers in
    /// neural networks"), for each 2-D parameter exactly
    /// `torch.optim.Muon`'s documented rule (PyTorch 2.9), and for every
    /// other parameter (biases, gains) AdamW, as Keller Jordan's reference
    /// `MuonWithAuxAdam` splits them:
    ///
    /// ```text
    /// matrix W (rows × cols):
    ///   B ← μ·B + ĝ
    ///   B̃ = ĝ + μ·B  (Nesterov)  or  B
    ///   X = B̃/max(‖B̃‖_F, ε)        (transposed first if rows > cols)
    ///   5 ×: A = X·Xᵀ;  X ← a·X + (b·A + c·A·A)·X    (a, b, c) = (3.4445, −4.7750, 2.0315)
    ///   W ← W − η·λ·W − η·√max(1, rows/cols)·X
    /// any other parameter: AdamW with η_a = η·adam_lr/lr, β₁, β₂, ε_a, λ_a
    /// ```
    ///
    /// Newton–Schulz drives every singular value of B̃ towards 1 (into
    /// [0.7, 1.2] with these coefficients, which trade exactness for speed),
    /// so the step is the nearest semi-orthogonal matrix to the momentum:
    /// every direction of the layer moves by the same amount. Its products
    /// run on the tensor crate's GEMM (deterministic for any number of
    /// threads); for rows ≤ cols one iteration costs
    /// 4·rows²·cols + 2·rows³ flops. λ (`decoupled_weight_decay`, torch's
    /// `weight_decay`, which the spec reads too) is torch's decoupled
    /// weight decay of the matrices, 0.1, and λ_a
    /// (`adam_decoupled_weight_decay`) the AdamW half's, the reference's 0:
    /// each half decays with its own rate, so the rule applies both
    /// itself. Deliberate differences: the iteration runs in f32 (torch
    /// runs it in bfloat16); torch's code keeps the momentum as an average
    /// (B ← B + (1 − μ)(ĝ − B), B̃ = ĝ + μ(B − ĝ)), its documented rule and
    /// this one keep the sum, which is 1/(1 − μ) times it: the step is the
    /// same after the normalization, the stored `m` is larger by that
    /// factor and ε acts on it; the AdamW half scales with the same schedule
    /// as η; and the split is by shape — every 2-D parameter is a matrix,
    /// the output layer's included, which the reference would give to AdamW
    /// (a rule sees shapes, not roles). The AdamW defaults are the
    /// reference's (η_a = 3·10⁻⁴, β = (0.9, 0.95), ε = 10⁻¹⁰, λ_a = 0);
    /// η = 10⁻³ is torch's (the reference uses 0.02). State: `m` (B for a
    /// matrix), `v` (empty for a matrix).
    pub struct Muon {
        /// η, the step size of the matrices.
        lr: f64 = 1e-3, Positive;
        /// μ, the momentum.
        momentum: f64 = 0.95, Fraction;
        /// Step along ĝ + μB (Nesterov) instead of B.
        nesterov: bool = true;
        /// The number of Newton–Schulz iterations.
        ns_steps: u64 = 5;
        /// ε, the smallest norm the momentum is divided by.
        eps: f64 = 1e-7, Positive;
        /// η_a, the AdamW half's step size (scaled by the schedule as η is).
        adam_lr: f64 = 3e-4, Positive;
        /// β₁ of the AdamW half.
        adam_b1: f64 = 0.9, Fraction;
        /// β₂ of the AdamW half.
        adam_b2: f64 = 0.95, Fraction;
        /// ε of the AdamW half, added to √v̂.
        adam_eps: f64 = 1e-10, NonNegative;
        /// λ, the decoupled weight decay of the matrices (times η).
        decoupled_weight_decay: f64 = 0.1, NonNegative;
        /// λ_a, the decoupled weight decay of the AdamW half (times η_a).
        adam_decoupled_weight_decay: f64 = 0.0, NonNegative;
    }
    search: [
        log("lr", 1e-3, 0.1),
        decay("momentum", 0.8, 0.99),
        log("adam_lr", 1e-4, 1e-2),
    ];
    tuned: "lr=2e-2";
}

/// The quintic's coefficients (a, b, c), torch's and the reference's.
const NS: (f32, f32, f32) = (3.4445, -4.7750, 2.0315);

impl TensorRule for Muon {
    const NAME: &'static str = "muon";
    const STATE: &'static [&'static str] = &["m", "v"];
    type Scalars = MuonScalars;

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    /// Each half decays at its own rate: the rule applies both.
    fn options(&self) -> Options {
        Options {
            decoupled_decay: false,
            ..Options::default()
        }
    }

    /// `m` (B for a matrix, AdamW's m otherwise) and `v` (empty for a
    /// matrix).
    fn init(&self, value: &Tensor) -> Vec<Tensor> {
        let shape = value.shape();
        let v = if shape.len() == 2 { &[0][..] } else { shape };
        vec![Tensor::zeros(shape), Tensor::zeros(v)]
    }

    fn scalars(&self, t: u64, eta: f64, _: &mut [f64]) -> MuonScalars {
        let m = RunningAverage::from_beta(self.adam_b1, Correction::Published).expect(VALID);
        let v = RunningAverage::from_beta(self.adam_b2, Correction::Published).expect(VALID);
        let eta_a = eta * self.adam_lr / self.lr;
        MuonScalars {
            eta: eta as f32,
            decay: (eta * self.decoupled_weight_decay) as f32,
            adam_decay: (eta_a * self.adam_decoupled_weight_decay) as f32,
            momentum: self.momentum as f32,
            nesterov: self.nesterov,
            ns_steps: self.ns_steps,
            eps: self.eps as f32,
            adam: AdamScalars::new(m, v, t, eta_a, self.adam_eps),
        }
    }

    /// Every matrix by Newton–Schulz, every other parameter by AdamW.
    fn update(&self, c: &MuonScalars, tensors: &mut Tensors<'_>, _: &mut [f64]) {
        tensors.each(&mut MuonTensor(*c));
    }
}

/// Muon's work on one tensor: a matrix by Newton–Schulz, any other by
/// AdamW.
struct MuonTensor(MuonScalars);

impl PerTensor for MuonTensor {
    #[inline(always)]
    fn tensor(&mut self, p: TensorStep<'_>) {
        match p.shape().len() {
            2 => update_matrix(&self.0, p.whole()),
            _ => p.elementwise(AdamWHalf(self.0)),
        }
    }
}

/// The AdamW half, element by element.
#[derive(Clone, Copy)]
struct AdamWHalf(MuonScalars);

impl Kernel<2> for AdamWHalf {
    #[inline(always)]
    fn update(&self, phi: &mut f32, g: Gradient, [m, v]: &mut [f32; 2]) {
        let (c, a) = (&self.0, &self.0.adam);
        *m = a.m.keep * *m + a.m.take * g.mean; // m ← β₁·m + (1 − β₁)·ĝ
        *v = a.v.keep * *v + a.v.take * g.mean * g.mean; // v ← β₂·v + (1 − β₂)·ĝ²
                                                         // Φ ← Φ − η_a·λ_a·Φ − η_a·m̂/(√v̂ + ε)
        *phi = decayed(*phi, c.adam_decay) - a.step * *m / (a.root * v.sqrt() + a.eps);
    }
}

/// A matrix: momentum, Newton–Schulz, the scaled step.
#[inline(always)]
fn update_matrix(c: &MuonScalars, p: Whole<'_>) {
    let Whole {
        shape,
        value,
        grad,
        state,
        work,
        ..
    } = p;
    let (rows, cols) = (shape[0], shape[1]);
    let buffer = state[0].data_mut();
    for (b, &g) in buffer.iter_mut().zip(grad) {
        *b = c.momentum * *b + g; // B ← μ·B + ĝ
    }
    // X = B̃, as a (short × long) matrix.
    let (short, long) = (rows.min(cols), rows.max(cols));
    let n = short * long;
    work.f32s.resize(2 * n + 2 * short * short, 0.0);
    let (x, rest) = work.f32s.split_at_mut(n);
    let (next, rest) = rest.split_at_mut(n);
    let (gram, poly) = rest.split_at_mut(short * short);
    for i in 0..rows {
        for j in 0..cols {
            let k = i * cols + j;
            let b = if c.nesterov {
                grad[k] + c.momentum * buffer[k] // B̃ = ĝ + μ·B
            } else {
                buffer[k]
            };
            // Row-major X, transposed when rows > cols.
            x[if rows > cols { j * rows + i } else { k }] = b;
        }
    }
    orthogonalize(x, next, gram, poly, short, long, c.ns_steps, c.eps);
    let step = c.eta * (rows as f32 / cols as f32).max(1.0).sqrt(); // η·√max(1, rows/cols)
    for i in 0..rows {
        for j in 0..cols {
            let o = x[if rows > cols {
                j * rows + i
            } else {
                i * cols + j
            }];
            let w = &mut value[i * cols + j];
            *w = decayed(*w, c.decay) - step * o; // W ← W − η·λ·W − η·scale·X
        }
    }
}

/// X ← X/max(‖X‖_F, ε), then `steps` Newton–Schulz iterations
/// X ← a·X + (b·A + c·A²)·X with A = X·Xᵀ, for X `short × long` in `x`
/// (`next`, `gram` and `poly` are working space of X's and A's sizes).
#[allow(clippy::too_many_arguments)]
fn orthogonalize(
    x: &mut [f32],
    next: &mut [f32],
    gram: &mut [f32],
    poly: &mut [f32],
    short: usize,
    long: usize,
    steps: u64,
    eps: f32,
) {
    let norm = x
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt() as f32;
    let scale = 1.0 / norm.max(eps);
    x.iter_mut().for_each(|v| *v *= scale);
    let (a, b, c) = NS;
    let (x, next) = (x, next);
    for _ in 0..steps {
        // A = X·Xᵀ
        gemm(
            short,
            long,
            short,
            1.0,
            x,
            Transpose::No,
            x,
            Transpose::Yes,
            0.0,
            gram,
        );
        // P = b·A + c·A·A
        poly.copy_from_slice(gram);
        gemm(
            short,
            short,
            short,
            c,
            gram,
            Transpose::No,
            gram,
            Transpose::No,
            b,
            poly,
        );
        // X' = a·X + P·X
        next.copy_from_slice(x);
        gemm(
            short,
            short,
            long,
            1.0,
            poly,
            Transpose::No,
            x,
            Transpose::No,
            a,
            next,
        );
        x.copy_from_slice(next);
    }
}

/// The scalars of a step of [`Muon`]: η, the decay fractions η·λ and
/// η_a·λ_a (see [`decayed`]), μ, whether Nesterov, the iterations, ε, and
/// the AdamW half's scalars.
#[derive(Clone, Copy, Debug)]
pub struct MuonScalars {
    eta: f32,
    decay: f32,
    adam_decay: f32,
    momentum: f32,
    nesterov: bool,
    ns_steps: u64,
    eps: f32,
    adam: AdamScalars,
}
