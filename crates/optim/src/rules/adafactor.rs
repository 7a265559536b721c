//! Adafactor: a second moment factored into row and column averages, a
//! step relative to the parameter's size, and update clipping.

use crate::hyperparameters;
use crate::search::{linear, log};
use gradlab_tensor::Tensor;

use crate::rule::Options;
use crate::step::{PerTensor, TensorStep, Tensors, Whole, Work};
use crate::tensor_rule::TensorRule;

hyperparameters! {
    /// Adafactor (Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates
    /// with Sublinear Memory Cost"), exactly `torch.optim.Adafactor`
    /// (PyTorch 2.5+, its ε₁ and learning-rate conventions included):
    ///
    /// ```text
    /// 1 − β̂₂ₜ = t^τ                      (τ = −0.8: the average lengthens with t)
    /// α_t = max(ε₂, RMS(Φ))·min(η_t, 1/√t)       (the step is relative to Φ's size)
    /// matrix (rows × cols):
    ///   R ← R + t^τ·(mean_j ĝ²_ij − R)    C ← C + t^τ·(mean_i ĝ²_ij − C)
    ///   V̂_ij = R_i·C_j / max(mean_i R_i, ε₁)
    /// any other parameter:
    ///   V̂ ← V̂ + t^τ·(ĝ² − V̂)
    /// U = ĝ/√max(V̂, ε₁²)
    /// Φ ← Φ − α_t·U/max(1, RMS(U)/d)     (update clipping)
    /// ```
    ///
    /// A matrix keeps rows + cols numbers instead of rows·cols: the outer
    /// product of the row and column averages, divided by their mean, is
    /// the rank-one estimate of the second moment that minimizes the
    /// I-divergence. torch's `weight_decay` is the decoupled decay
    /// (Φ ← Φ − η_t·λ·Φ first), default 0: `decoupled_weight_decay` here,
    /// which the spec also reads as `weight_decay`. Every parameter is taken whole
    /// (α_t and the clipping read whole-tensor RMS values, summed in f64).
    /// ε₁ is torch's default, the f32 machine epsilon. A deliberate
    /// difference: torch factors the last two dimensions of a tensor of more
    /// than two; here such a tensor (no layer of gradlab has one) keeps the
    /// unfactored V̂. State: `row` (R), `col` (C), `v` (V̂); a matrix's `v`
    /// and a vector's `row` and `col` are empty.
    pub struct Adafactor {
        /// η, the largest relative step (min(η_t, 1/√t)).
        lr: f64 = 0.01, Positive;
        /// τ, the decay exponent of β̂₂ₜ; at most 0.
        beta2_decay: f64 = -0.8;
        /// ε₁, the smallest second moment's root.
        eps1: f64 = 1.1920929e-7, NonNegative;
        /// ε₂, the smallest RMS(Φ) a step is relative to.
        eps2: f64 = 1e-3, NonNegative;
        /// d, the clipping threshold of RMS(U).
        d: f64 = 1.0, Length;
    }
    search: [
        log("lr", 1e-3, 0.3),
        linear("beta2_decay", -1.0, -0.5),
    ];
    tuned: "lr=3e-2";
}

impl TensorRule for Adafactor {
    const NAME: &'static str = "adafactor";
    const STATE: &'static [&'static str] = &["row", "col", "v"];
    type Scalars = AdafactorScalars;

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn options(&self) -> Options {
        Options {
            check: match self.beta2_decay > 0.0 {
                true => Err(("beta2_decay", "a finite number ≤ 0".into())),
                false => Ok(()),
            },
            ..Options::default()
        }
    }

    /// A matrix keeps its row and column averages (`v` empty), any other
    /// parameter the whole V̂ (`row` and `col` empty).
    fn init(&self, value: &Tensor) -> Vec<Tensor> {
        let empty = || Tensor::zeros(&[0]);
        match *value.shape() {
            [rows, cols] => vec![Tensor::zeros(&[rows]), Tensor::zeros(&[cols]), empty()],
            _ => vec![empty(), empty(), Tensor::zeros(value.shape())],
        }
    }

    fn scalars(&self, t: u64, eta: f64, _: &mut [f64]) -> AdafactorScalars {
        let t = t as f64;
        AdafactorScalars {
            take: t.powf(self.beta2_decay) as f32,
            rho: eta.min(1.0 / t.sqrt()),
            eps1: self.eps1 as f32,
            eps1_sq: (self.eps1 * self.eps1) as f32,
            eps2: self.eps2,
            d: self.d,
        }
    }

    fn update(&self, c: &AdafactorScalars, tensors: &mut Tensors<'_>, _: &mut [f64]) {
        tensors.each(&mut AdafactorTensor(*c));
    }
}

/// Adafactor's work on one tensor.
struct AdafactorTensor(AdafactorScalars);

impl PerTensor for AdafactorTensor {
    #[inline(always)]
    fn tensor(&mut self, p: TensorStep<'_>) {
        update_tensor(&self.0, p);
    }
}

/// One tensor: the second moment (factored for a matrix), U, the clipped
/// step relative to RMS(Φ).
#[inline(always)]
fn update_tensor(c: &AdafactorScalars, p: TensorStep<'_>) {
    let Whole {
        shape,
        value,
        grad,
        state,
        decay,
        work,
        ..
    } = p.whole();
    let n = value.len();
    if n == 0 {
        return; // nothing to update (and no row or column to average)
    }
    // RMS(Φ) before the step's decay.
    let rms_phi = (sum_sq(value) / n as f64).sqrt() / (1.0 - f64::from(decay));
    let alpha = (c.eps2.max(rms_phi) * c.rho) as f32; // α_t = max(ε₂, RMS(Φ))·ρ_t
    let Work {
        f32s: u,
        f64s: col_sum,
    } = work;
    u.resize(n, 0.0);
    if let &[rows, cols] = shape {
        let [row, col, _] = state else {
            unreachable!("three state tensors")
        };
        let (row, col) = (row.data_mut(), col.data_mut());
        // Means of ĝ² per row and per column, in f64.
        col_sum.clear();
        col_sum.resize(cols, 0.0);
        for (r, g) in row.iter_mut().zip(grad.chunks_exact(cols)) {
            let mut sum = 0.0f64;
            for (s, &g) in col_sum.iter_mut().zip(g) {
                let g2 = f64::from(g) * f64::from(g);
                sum += g2;
                *s += g2;
            }
            *r += c.take * ((sum / cols as f64) as f32 - *r); // R ← R + t^τ(mean_j ĝ² − R)
        }
        for (cj, s) in col.iter_mut().zip(col_sum.iter()) {
            *cj += c.take * ((s / rows as f64) as f32 - *cj); // C ← C + t^τ(mean_i ĝ² − C)
        }
        let mean_r = (row.iter().map(|&r| f64::from(r)).sum::<f64>() / rows as f64) as f32;
        let mean_r = mean_r.max(c.eps1);
        // U = ĝ/√max(R_i·C_j/mean(R), ε₁²), into `work`.
        let rows_of = u.chunks_exact_mut(cols).zip(grad.chunks_exact(cols));
        for ((u, g), &r) in rows_of.zip(row.iter()) {
            for ((u, &g), &cj) in u.iter_mut().zip(g).zip(col.iter()) {
                *u = g / (r * cj / mean_r).max(c.eps1_sq).sqrt();
            }
        }
    } else {
        let v = state[2].data_mut();
        for ((u, &g), v) in u.iter_mut().zip(grad).zip(v.iter_mut()) {
            *v += c.take * (g * g - *v); // V̂ ← V̂ + t^τ(ĝ² − V̂)
            *u = g / v.max(c.eps1_sq).sqrt(); // U = ĝ/√max(V̂, ε₁²)
        }
    }
    let rms_u = (sum_sq(u) / n as f64).sqrt();
    let step = alpha / (rms_u / c.d).max(1.0) as f32; // α_t/max(1, RMS(U)/d)
    for (phi, &u) in value.iter_mut().zip(u.iter()) {
        *phi -= step * u;
    }
}

/// Σ x², in f64.
fn sum_sq(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v) * f64::from(v)).sum()
}

/// The scalars of a step of [`Adafactor`]: 1 − β̂₂ₜ = t^τ, ρ_t, ε₁, ε₁², ε₂
/// and d.
#[derive(Clone, Copy, Debug)]
pub struct AdafactorScalars {
    take: f32,
    rho: f64,
    eps1: f32,
    eps1_sq: f32,
    eps2: f64,
    d: f64,
}
