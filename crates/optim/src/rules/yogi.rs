//! Yogi: Adam whose second moment moves additively, by at most (1 − β₂)ĝ².

use crate::hyperparameters;
use crate::rule::{sign, Gradient, Options, Rule};
use crate::search::{decay, log};

hyperparameters! {
    /// Yogi (Zaheer et al. 2018, "Adaptive Methods for Nonconvex
    /// Optimization"), exactly `optax.yogi` (optax 0.2.x, `scale_by_yogi`
    /// with its defaults):
    ///
    /// ```text
    /// m ← β₁·m + (1 − β₁)·ĝ                       m₀ = v₀ = τ
    /// v ← v − (1 − β₂)·sign(v − ĝ²)·ĝ²
    /// Φ ← Φ − η·m̂/(√v̂ + ε)       m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)
    /// ```
    ///
    /// Adam's v moves towards ĝ² by a fraction (1 − β₂) of the gap
    /// v − ĝ², which lets a run of small gradients shrink v, and so grow the
    /// step, quickly; Yogi's v moves by (1 − β₂)ĝ² in the gap's direction,
    /// so it grows as fast as Adam's when gradients jump and decays
    /// slowly. Both moments start at τ, as in optax. optax's `eps_root`
    /// (0 in `optax.yogi`) is left out. optax takes no default rate; η =
    /// 10⁻² is the paper's. State: `m`, `v`.
    pub struct Yogi {
        /// η, the step size.
        lr: f64 = 1e-2, Positive;
        /// β₁, the decay of m.
        b1: f64 = 0.9, Fraction;
        /// β₂, the pace of v.
        b2: f64 = 0.999, Fraction;
        /// ε, added to √v̂.
        eps: f64 = 1e-3, NonNegative;
        /// τ, the value both moments start from.
        initial_accumulator_value: f64 = 1e-6, NonNegative;
    }
    search: [
        log("lr", 1e-3, 0.1),
        decay("b1", 0.5, 0.99),
        decay("b2", 0.9, 0.9999),
        log("eps", 1e-6, 1e-2),
    ];
    tuned: "lr=1e-2";
}

impl Rule for Yogi {
    const NAME: &'static str = "yogi";
    const STATE: &'static [&'static str] = &["m", "v"];
    type State = [f32; 2];
    type Scalars = YogiScalars;

    fn update(c: &YogiScalars, phi: &mut f32, g: Gradient, [m, v]: &mut [f32; 2]) {
        let g2 = g.mean * g.mean;
        *m = c.b1 * *m + c.take1 * g.mean; // m ← β₁·m + (1 − β₁)·ĝ
        *v -= c.take2 * sign(*v - g2) * g2; // v ← v − (1 − β₂)·sign(v − ĝ²)·ĝ²
        *phi -= c.step * *m / (c.root * v.sqrt() + c.eps); // Φ ← Φ − η·m̂/(√v̂ + ε)
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, t: u64, eta: f64) -> YogiScalars {
        let t = t as f64;
        YogiScalars {
            b1: self.b1 as f32,
            take1: (1.0 - self.b1) as f32,
            take2: (1.0 - self.b2) as f32,
            eps: self.eps as f32,
            step: (eta / (1.0 - self.b1.powf(t))) as f32,
            root: (1.0 / (1.0 - self.b2.powf(t))).sqrt() as f32,
        }
    }

    /// m and v start at the initial accumulator value.
    fn options(&self) -> Options {
        Options {
            initial_state: vec![self.initial_accumulator_value as f32; 2],
            ..Options::default()
        }
    }
}

/// The scalars of a step of [`Yogi`]: β₁, 1 − β₁ and 1 − β₂ (computed
/// before rounding: 1 − f32(0.999) is off by 10⁻⁵), ε, η/(1 − β₁ᵗ) and
/// 1/√(1 − β₂ᵗ).
#[derive(Clone, Copy, Debug)]
pub struct YogiScalars {
    b1: f32,
    take1: f32,
    take2: f32,
    eps: f32,
    step: f32,
    root: f32,
}
