//! AdEMAMix: Adam whose numerator adds a slow average of ĝ to the fast one.

use crate::hyperparameters;
use crate::rule::{Gradient, Rule};
use crate::search::{decay, log};

hyperparameters! {
    /// AdEMAMix (Pagliardini, Ablin and Grangier 2024, "The AdEMAMix
    /// Optimizer: Better, Faster, Older", Algorithm 1), exactly the authors'
    /// PyTorch `AdEMAMix` (apple/ml-ademamix):
    ///
    /// ```text
    /// m₁ ← β₁·m₁ + (1 − β₁)·ĝ          m̂₁ = m₁/(1 − β₁ᵗ)
    /// m₂ ← β₃(t)·m₂ + (1 − β₃(t))·ĝ    (not corrected)
    /// v ← β₂·v + (1 − β₂)·ĝ²           v̂ = v/(1 − β₂ᵗ)
    /// Φ ← Φ − η·(m̂₁ + α(t)·m₂)/(√v̂ + ε)
    /// ```
    ///
    /// Adam forgets a gradient after ≈ 1/(1 − β₁) = 10 steps; m₂, with
    /// β₃ = 0.9999, remembers it for ≈ 10 000, and α weighs how much of that
    /// old direction joins the step. Because a slow average started at 0 is
    /// mostly noise at first, both may be warmed up over the first steps:
    /// α(t) = α·t/T_α for t < T_α, and β₃(t) moves from β₁ to β₃ linearly in
    /// half-life, β₃(t) = f⁻¹((1 − t/T_β)·f(β₁) + (t/T_β)·f(β₃)) with
    /// f(β) = ln ½ / ln(β + 10⁻⁸) − 1 and f⁻¹(h) = ½^(1/(h + 1)), for
    /// t < T_β. The paper warms both over the whole run (T_α = T_β = T) and
    /// finds α between 5 and 8 best for long runs; the defaults are the
    /// reference's (α = 2, no warm-up: `alpha_warmup=0`, `b3_warmup=0`).
    /// With `decoupled_weight_decay=λ` Φ also shrinks by ηλΦ, as the
    /// reference's `weight_decay`. State: `m1`, `m2`, `v`.
    pub struct AdEMAMix {
        /// η, the step size.
        lr: f64 = 1e-3, Positive;
        /// β₁, the decay of the fast average m₁.
        b1: f64 = 0.9, Fraction;
        /// β₂, the decay of v.
        b2: f64 = 0.999, Fraction;
        /// β₃, the decay of the slow average m₂ (after its warm-up).
        b3: f64 = 0.9999, Fraction;
        /// α, the weight of m₂ in the step (after its warm-up).
        alpha: f64 = 2.0, NonNegative;
        /// ε, added to √v̂.
        eps: f64 = 1e-8, NonNegative;
        /// T_α, the steps over which α grows from 0 (0: none).
        alpha_warmup: f64 = 0.0, NonNegative;
        /// T_β, the steps over which β₃ grows from β₁ (0: none).
        b3_warmup: f64 = 0.0, NonNegative;
    }
    search: [
        log("lr", 1e-4, 3e-2),
        decay("b1", 0.5, 0.99),
        decay("b2", 0.9, 0.9999),
        decay("b3", 0.99, 0.99999),
        log("alpha", 0.5, 10.0),
    ];
    tuned: "lr=3e-3";
}

impl Rule for AdEMAMix {
    const NAME: &'static str = "ademamix";
    const STATE: &'static [&'static str] = &["m1", "m2", "v"];
    type State = [f32; 3];
    type Scalars = AdEMAMixScalars;

    fn update(c: &AdEMAMixScalars, phi: &mut f32, g: Gradient, [m1, m2, v]: &mut [f32; 3]) {
        *m1 = c.b1 * *m1 + c.take1 * g.mean; // m₁ ← β₁·m₁ + (1 − β₁)·ĝ
        *m2 = c.b3 * *m2 + c.take3 * g.mean; // m₂ ← β₃·m₂ + (1 − β₃)·ĝ
        *v = c.b2 * *v + c.take2 * g.mean * g.mean; // v ← β₂·v + (1 − β₂)·ĝ²
                                                    // Φ ← Φ − η·(m̂₁ + α·m₂)/(√v̂ + ε)
        *phi -= c.eta * (c.debias1 * *m1 + c.alpha * *m2) / (v.sqrt() * c.root2 + c.eps);
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, t: u64, eta: f64) -> AdEMAMixScalars {
        let step = t as f64;
        let alpha = if step < self.alpha_warmup {
            self.alpha * step / self.alpha_warmup
        } else {
            self.alpha
        };
        let b3 = if step < self.b3_warmup {
            let half_life = |b: f64| 0.5f64.ln() / (b + 1e-8).ln() - 1.0;
            let a = step / self.b3_warmup;
            0.5f64.powf(1.0 / ((1.0 - a) * half_life(self.b1) + a * half_life(self.b3) + 1.0))
        } else {
            self.b3
        };
        AdEMAMixScalars {
            eta: eta as f32,
            b1: self.b1 as f32,
            take1: (1.0 - self.b1) as f32,
            b2: self.b2 as f32,
            take2: (1.0 - self.b2) as f32,
            b3: b3 as f32,
            take3: (1.0 - b3) as f32,
            alpha: alpha as f32,
            debias1: (1.0 / (1.0 - self.b1.powf(step))) as f32,
            root2: (1.0 / (1.0 - self.b2.powf(step)).sqrt()) as f32,
            eps: self.eps as f32,
        }
    }
}

/// The scalars of a step of [`AdEMAMix`]: η, the three decays β and 1 − β
/// (computed before rounding, β₃ and α at this step), 1/(1 − β₁ᵗ) and
/// 1/√(1 − β₂ᵗ).
#[derive(Clone, Copy, Debug)]
pub struct AdEMAMixScalars {
    eta: f32,
    b1: f32,
    take1: f32,
    b2: f32,
    take2: f32,
    b3: f32,
    take3: f32,
    alpha: f32,
    debias1: f32,
    root2: f32,
    eps: f32,
}
