//! RAdam: Adam whose adaptive step is switched on, and rectified, once the
//! variance of v̂ can be trusted.

use crate::hyperparameters;
use crate::rule::{Gradient, Rule};
use crate::search::{decay, log};

hyperparameters! {
    /// RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate
    /// and Beyond"), exactly `torch.optim.RAdam`'s documented rule (PyTorch
    /// 2.x):
    ///
    /// ```text
    /// m ← β₁·m + (1 − β₁)·ĝ            m̂ = m/(1 − β₁ᵗ)
    /// v ← β₂·v + (1 − β₂)·ĝ²
    /// ρ_∞ = 2/(1 − β₂) − 1             ρ_t = ρ_∞ − 2t·β₂ᵗ/(1 − β₂ᵗ)
    /// ρ_t > 5:  r_t = √((ρ_t − 4)(ρ_t − 2)ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2)ρ_t))
    ///           Φ ← Φ − η·m̂·r_t·√(1 − β₂ᵗ)/(√v + ε)
    /// else:     Φ ← Φ − η·m̂                    (SGD with momentum)
    /// ```
    ///
    /// In its first steps v averages too few squares for 1/√v̂ to be a
    /// stable scale, so RAdam takes momentum steps until ρ_t, the length of
    /// the simple moving average v approximates, passes 5 (from step 6 with
    /// the default β₂), then Adam's step shrunk by r_t < 1, which tends to 1.
    /// The branch depends on t alone: it is chosen with the step's scalars,
    /// the same for every element. The defaults are PyTorch's. State: `m`,
    /// `v`.
    pub struct Radam {
        /// η, the step size.
        lr: f64 = 1e-3, Positive;
        /// β₁, the decay of m.
        b1: f64 = 0.9, Fraction;
        /// β₂, the decay of v.
        b2: f64 = 0.999, Fraction;
        /// ε, added to √v.
        eps: f64 = 1e-8, NonNegative;
    }
    search: [
        log("lr", 1e-4, 3e-2),
        decay("b1", 0.5, 0.99),
        decay("b2", 0.9, 0.9999),
    ];
    tuned: "lr=1e-2";
}

impl Rule for Radam {
    const NAME: &'static str = "radam";
    const STATE: &'static [&'static str] = &["m", "v"];
    type State = [f32; 2];
    type Scalars = RadamScalars;

    fn update(c: &RadamScalars, phi: &mut f32, g: Gradient, [m, v]: &mut [f32; 2]) {
        *m = c.b1 * *m + c.take1 * g.mean; // m ← β₁·m + (1 − β₁)·ĝ
        *v = c.b2 * *v + c.take2 * g.mean * g.mean; // v ← β₂·v + (1 − β₂)·ĝ²
        if c.rectified {
            *phi -= c.step * *m / (v.sqrt() + c.eps); // Φ ← Φ − η·m̂·r·√(1 − β₂ᵗ)/(√v + ε)
        } else {
            *phi -= c.step * *m; // Φ ← Φ − η·m̂
        }
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, t: u64, eta: f64) -> RadamScalars {
        let t_f = t as f64;
        let (bias1, bias2) = (1.0 - self.b1.powf(t_f), 1.0 - self.b2.powf(t_f));
        let rho_inf = 2.0 / (1.0 - self.b2) - 1.0;
        let rho = rho_inf - 2.0 * t_f * self.b2.powf(t_f) / bias2;
        let rectified = rho > 5.0;
        let step = if rectified {
            let r = ((rho - 4.0) * (rho - 2.0) * rho_inf
                / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho))
                .sqrt();
            eta * r * bias2.sqrt() / bias1
        } else {
            eta / bias1
        };
        RadamScalars {
            b1: self.b1 as f32,
            take1: (1.0 - self.b1) as f32,
            b2: self.b2 as f32,
            take2: (1.0 - self.b2) as f32,
            step: step as f32,
            eps: self.eps as f32,
            rectified,
        }
    }
}

/// The scalars of a step of [`Radam`]: the decays β and 1 − β (computed
/// before rounding), the step size, ε and the branch.
#[derive(Clone, Copy, Debug)]
pub struct RadamScalars {
    b1: f32,
    take1: f32,
    b2: f32,
    take2: f32,
    step: f32,
    eps: f32,
    rectified: bool,
}
