//! NAdam: Adam with Nesterov momentum and a warming-up momentum.

use crate::hyperparameters;
use crate::rule::{Gradient, Rule};
use crate::search::{decay, log};

hyperparameters! {
    /// NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam"),
    /// exactly `torch.optim.NAdam`'s documented rule (PyTorch 2.x); `nadamw`
    /// is the same with decoupled weight decay, as
    /// `torch.optim.NAdam(decoupled_weight_decay=True)`, its `weight_decay`
    /// key the decoupled λ with `adamw`'s default 0.01 (PyTorch's default is
    /// 0, which would make `nadamw` another name for `nadam`):
    ///
    /// ```text
    /// μ_t = β₁·(1 − ½·0.96^(t·ψ))       Π_t = μ₁·μ₂·…·μ_t
    /// m ← β₁·m + (1 − β₁)·ĝ
    /// v ← β₂·v + (1 − β₂)·ĝ²            v̂ = v/(1 − β₂ᵗ)
    /// Φ ← Φ − η·[(1 − μ_t)/(1 − Π_t)·ĝ + μ_{t+1}/(1 − Π_{t+1})·m]/(√v̂ + ε)
    /// ```
    ///
    /// The step looks ahead: the current gradient enters with the weight it
    /// will have once it is in m, and m with the momentum of the next step.
    /// The momentum μ_t warms up from β₁/2 towards β₁ at the pace ψ (the
    /// "momentum decay"). The products Π are the same for every element and
    /// are computed with the step's scalars. The defaults are PyTorch's.
    /// State: `m`, `v`.
    pub struct Nadam {
        /// η, the step size.
        lr: f64 = 2e-3, Positive;
        /// β₁, the decay of m and the momentum's limit.
        b1: f64 = 0.9, Fraction;
        /// β₂, the decay of v.
        b2: f64 = 0.999, Fraction;
        /// ε, added to √v̂.
        eps: f64 = 1e-8, NonNegative;
        /// ψ, how fast the momentum μ_t warms up to β₁.
        momentum_decay: f64 = 4e-3, NonNegative;
    }
    search: [
        log("lr", 1e-4, 3e-2),
        decay("b1", 0.5, 0.99),
        decay("b2", 0.9, 0.9999),
        log("eps", 1e-10, 1e-2),
    ];
    tuned: "lr=3e-3";
}

impl Rule for Nadam {
    const NAME: &'static str = "nadam";
    const STATE: &'static [&'static str] = &["m", "v"];
    type State = [f32; 2];
    type Scalars = NadamScalars;

    fn update(c: &NadamScalars, phi: &mut f32, g: Gradient, [m, v]: &mut [f32; 2]) {
        *m = c.b1 * *m + c.take1 * g.mean; // m ← β₁·m + (1 − β₁)·ĝ
        *v = c.b2 * *v + c.take2 * g.mean * g.mean; // v ← β₂·v + (1 − β₂)·ĝ²
        let denom = c.root * v.sqrt() + c.eps; // √v̂ + ε
        *phi -= (c.grad_step * g.mean + c.m_step * *m) / denom; // Φ ← Φ − η·[…]/(√v̂ + ε)
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, t: u64, eta: f64) -> NadamScalars {
        let mu = |i: u64| self.b1 * (1.0 - 0.5 * 0.96f64.powf(i as f64 * self.momentum_decay));
        // Π_t, in the order PyTorch multiplies its running product. Each μ_i
        // is below β₁ < 1 (and about β₁/2 for the first thousands of steps),
        // so Π_t soon falls below 2⁻⁷⁰, where 1 − Π is exactly 1 in f64: the
        // product stops there, the same numbers in O(1) instead of O(t).
        let mut product = 1.0;
        for i in 1..=t {
            product *= mu(i);
            if product < TINY {
                break;
            }
        }
        let next = product * mu(t + 1);
        NadamScalars {
            b1: self.b1 as f32,
            take1: (1.0 - self.b1) as f32,
            b2: self.b2 as f32,
            take2: (1.0 - self.b2) as f32,
            eps: self.eps as f32,
            root: (1.0 / (1.0 - self.b2.powf(t as f64))).sqrt() as f32,
            grad_step: (eta * (1.0 - mu(t)) / (1.0 - product)) as f32,
            m_step: (eta * mu(t + 1) / (1.0 - next)) as f32,
        }
    }
}

/// A product below which 1 − product is 1 in f64 (2⁻⁷⁰).
const TINY: f64 = 1.0 / (1u128 << 70) as f64;

/// The scalars of a step of [`Nadam`]: the decays β and 1 − β (computed
/// before rounding: 1 − f32(0.999) is off by 10⁻⁵), ε, 1/√(1 − β₂ᵗ) and the
/// two step sizes η(1 − μ_t)/(1 − Π_t) and η·μ_{t+1}/(1 − Π_{t+1}).
#[derive(Clone, Copy, Debug)]
pub struct NadamScalars {
    b1: f32,
    take1: f32,
    b2: f32,
    take2: f32,
    eps: f32,
    root: f32,
    grad_step: f32,
    m_step: f32,
}
