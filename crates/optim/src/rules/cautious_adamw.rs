//! Cautious AdamW: AdamW that moves only the coordinates where its
//! momentum agrees with the gradient.

use crate::hyperparameters;
use crate::search::{decay, log};
use gradlab_tensor::Tensor;

use crate::step::{PerTensor, TensorStep, Tensors, Whole};
use crate::tensor_rule::TensorRule;

hyperparameters! {
    /// Cautious AdamW, C-AdamW (Liang, Chen, Liu and Liu 2024, "Cautious
    /// Optimizers: Improving Training with One Line of Code"), exactly
    /// timm's `cadamw` (`AdamWLegacy(caution=True)`, timm 1.0):
    ///
    /// ```text
    /// Φ ← (1 − ηλ)·Φ
    /// m ← β₁·m + (1 − β₁)·ĝ            m̂ = m/(1 − β₁ᵗ)
    /// v ← β₂·v + (1 − β₂)·ĝ²           v̂ = v/(1 − β₂ᵗ)
    /// μ = 1[m·ĝ > 0] / max(mean(1[m·ĝ > 0]), 10⁻³)   over the tensor
    /// Φ ← Φ − η·μ ⊙ m̂/(√v̂ + ε)
    /// ```
    ///
    /// A coordinate whose momentum points against its current gradient
    /// would, on this step, move uphill: it stays put, and the coordinates
    /// that do move are scaled up by the fraction left out, so the step's
    /// overall size stays Adam's. The mask's mean is over the whole tensor,
    /// so the rule runs through the whole-tensor hook: a pass for the
    /// moments and the count, a pass for the step. λ is
    /// `decoupled_weight_decay`, spelled `weight_decay` as in timm (10⁻² by
    /// default, as AdamW's). State: `m`, `v`.
    pub struct CautiousAdamW {
        /// η, the step size.
        lr: f64 = 1e-3, Positive;
        /// β₁, the decay of m.
        b1: f64 = 0.9, Fraction;
        /// β₂, the decay of v.
        b2: f64 = 0.999, Fraction;
        /// ε, added to √v̂.
        eps: f64 = 1e-8, NonNegative;
    }
    search: [
        log("lr", 1e-4, 3e-2),
        decay("b1", 0.5, 0.99),
        decay("b2", 0.9, 0.9999),
        log("eps", 1e-10, 1e-2),
    ];
    tuned: "lr=1e-3";
}

impl TensorRule for CautiousAdamW {
    const NAME: &'static str = "cautious_adamw";
    const STATE: &'static [&'static str] = &["m", "v"];
    type Scalars = CautiousScalars;

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    /// m and v, shaped like the parameter.
    fn init(&self, value: &Tensor) -> Vec<Tensor> {
        vec![Tensor::zeros(value.shape()), Tensor::zeros(value.shape())]
    }

    fn scalars(&self, t: u64, eta: f64, _: &mut [f64]) -> CautiousScalars {
        let t = t as f64;
        CautiousScalars {
            b1: self.b1 as f32,
            take1: (1.0 - self.b1) as f32,
            b2: self.b2 as f32,
            take2: (1.0 - self.b2) as f32,
            eps: self.eps as f32,
            step: (eta / (1.0 - self.b1.powf(t))) as f32,
            root: (1.0 / (1.0 - self.b2.powf(t))).sqrt() as f32,
        }
    }

    fn update(&self, c: &CautiousScalars, tensors: &mut Tensors<'_>, _: &mut [f64]) {
        tensors.each(&mut CautiousTensor(*c));
    }
}

/// Cautious AdamW's work on one tensor.
struct CautiousTensor(CautiousScalars);

impl PerTensor for CautiousTensor {
    #[inline(always)]
    fn tensor(&mut self, p: TensorStep<'_>) {
        update_tensor(&self.0, p);
    }
}

/// One tensor: the moments and the count of agreeing coordinates in one
/// pass, then the masked step.
#[inline(always)]
fn update_tensor(c: &CautiousScalars, p: TensorStep<'_>) {
    let Whole {
        value, grad, state, ..
    } = p.whole();
    let [m, v] = state else {
        unreachable!("Cautious AdamW keeps two state tensors")
    };
    let (m, v) = (m.data_mut(), v.data_mut());
    let mut agree = 0usize;
    for ((m, v), &g) in m.iter_mut().zip(v.iter_mut()).zip(grad) {
        *m = c.b1 * *m + c.take1 * g; // m ← β₁·m + (1 − β₁)·ĝ
        *v = c.b2 * *v + c.take2 * g * g; // v ← β₂·v + (1 − β₂)·ĝ²
        agree += usize::from(*m * g > 0.0);
    }
    // 1/max(mean(mask), 10⁻³), the mean rounded to f32 as timm's is.
    let mean = (agree as f64 / value.len().max(1) as f64) as f32;
    let scale = 1.0 / mean.max(1e-3);
    for ((phi, &m), (&v, &g)) in value.iter_mut().zip(m.iter()).zip(v.iter().zip(grad)) {
        // Φ ← Φ − η·μ·m̂/(√v̂ + ε) where the mask is 1; computed everywhere
        // and selected, without a branch, so that the loop vectorizes.
        let moved = *phi - c.step * (m * scale) / (c.root * v.sqrt() + c.eps);
        *phi = if m * g > 0.0 { moved } else { *phi };
    }
}

/// The scalars of a step of [`CautiousAdamW`]: the decays β and 1 − β
/// (computed before rounding), ε, η/(1 − β₁ᵗ) and 1/√(1 − β₂ᵗ).
#[derive(Clone, Copy, Debug)]
pub struct CautiousScalars {
    b1: f32,
    take1: f32,
    b2: f32,
    take2: f32,
    eps: f32,
    step: f32,
    root: f32,
}
