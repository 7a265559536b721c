//! Prodigy: Adam whose learning rate is an estimate of the distance to the
//! solution, grown from a tiny start.

use crate::hyperparameters;
use crate::search::{decay, log};
use gradlab_tensor::Tensor;

use crate::rule::{Gradient, Options};
use crate::step::{Kernel, PerTensor, TensorStep, Tensors, Whole};
use crate::tensor_rule::TensorRule;

hyperparameters! {
    /// Prodigy (Mishchenko & Defazio 2024, "Prodigy: An Expeditiously
    /// Adaptive Parameter-Free Learner"), exactly `optax.contrib.prodigy`
    /// (optax 0.2.x): AdamW on d·ĝ, where d estimates D = ‖Φ₀ − Φ*‖ from
    /// how far the iterates have moved against the gradients:
    ///
    /// ```text
    /// d_lr = d·η_t·√(1 − β₂ᵗ)/(1 − β₁ᵗ)
    /// m ← β₁·m + (1 − β₁)·d·ĝ          v ← β₂·v + (1 − β₂)·d²·ĝ²
    /// s ← β₃·s + (d_lr·d/d₀)·ĝ          (per element)
    /// r ← β₃·r + (d/d₀)·d_lr·Σ ĝ·(Φ₀ − Φ)   (sums over every parameter)
    /// d ← max(d, c·r/Σ |s|)
    /// Φ ← Φ − λ·d_lr·Φ − d_lr·m/(√v + d·ε)     (with the new d in d·ε)
    /// ```
    ///
    /// The sums run over all parameters before any moves (the rule's first
    /// pass); d and r are the rule's global numbers,
    /// saved in checkpoints; Φ₀ is kept per parameter. η is a multiplier of
    /// the estimated rate, 1 by default, for a schedule to shape. β₃ defaults
    /// to √β₂ as in optax (`beta3=0` here means that default). λ is optax's
    /// `weight_decay` (which the spec reads too), a decoupled decay scaled
    /// by d_lr, so the rule applies it itself. State: `m`, `v`, `s`, `x0`.
    pub struct Prodigy {
        /// η, the multiplier of the estimated rate.
        lr: f64 = 1.0, Positive;
        /// β₁, the decay of m.
        b1: f64 = 0.9, Fraction;
        /// β₂, the decay of v.
        b2: f64 = 0.999, Fraction;
        /// β₃, the decay of s and r (0: √β₂).
        beta3: f64 = 0.0, Fraction;
        /// ε, added to √v (times d).
        eps: f64 = 1e-8, NonNegative;
        /// d₀, the first (under-)estimate of the distance.
        estim_lr0: f64 = 1e-6, Positive;
        /// c, the factor of every new estimate.
        estim_lr_coef: f64 = 1.0, Positive;
        /// λ, the decoupled weight decay, scaled by d_lr.
        decoupled_weight_decay: f64 = 0.0, NonNegative;
    }
    search: [
        log("lr", 0.1, 3.0),
        decay("b1", 0.5, 0.99),
        decay("b2", 0.9, 0.9999),
    ];
    tuned: "lr=1";
}

impl Prodigy {
    /// β₃, or √β₂ when it is not set.
    fn beta3(&self) -> f64 {
        if self.beta3 == 0.0 {
            self.b2.sqrt()
        } else {
            self.beta3
        }
    }
}

impl TensorRule for Prodigy {
    const NAME: &'static str = "prodigy";
    const STATE: &'static [&'static str] = &["m", "v", "s", "x0"];
    const GLOBAL: &'static [&'static str] = &["d", "r"];
    type Scalars = ProdigyScalars;

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    /// Its decay is scaled by d_lr: the rule applies it.
    fn options(&self) -> Options {
        Options {
            decoupled_decay: false,
            ..Options::default()
        }
    }

    /// m, v and s start at 0, Φ₀ at Φ.
    fn init(&self, value: &Tensor) -> Vec<Tensor> {
        let zeros = || Tensor::zeros(value.shape());
        vec![zeros(), zeros(), zeros(), value.clone()]
    }

    /// d starts at d₀, r at 0.
    fn initial_global(&self) -> Vec<f64> {
        vec![self.estim_lr0, 0.0]
    }

    /// d_lr = d·η_t·√(1 − β₂ᵗ)/(1 − β₁ᵗ) and the rates that follow from d.
    fn scalars(&self, t: u64, eta: f64, global: &mut [f64]) -> ProdigyScalars {
        let t = t as f64;
        let d = global[0];
        let d_lr = d * eta * (1.0 - self.b2.powf(t)).sqrt() / (1.0 - self.b1.powf(t));
        ProdigyScalars {
            d_lr64: d_lr,
            d_lr: d_lr as f32,
            d: d as f32,
            b1: self.b1 as f32,
            take1: (1.0 - self.b1) as f32,
            b2: self.b2 as f32,
            take2: (1.0 - self.b2) as f32,
            b3: self.beta3() as f32,
            s_rate: (d_lr * d / self.estim_lr0) as f32,
            // Set once the sums have updated d.
            d_eps: 0.0,
            decay: (self.decoupled_weight_decay * d_lr) as f32,
        }
    }

    /// A first pass for m, v, s and the sums over every parameter, the new
    /// d, then the step.
    fn update(&self, c: &ProdigyScalars, tensors: &mut Tensors<'_>, global: &mut [f64]) {
        let mut first = FirstPass {
            c: *c,
            sums: [0.0; 2],
        };
        tensors.each(&mut first);
        let sums = first.sums;
        let [d, r] = global else {
            unreachable!("two global numbers")
        };
        // r ← β₃·r + (d/d₀)·d_lr·Σ ĝ·(Φ₀ − Φ); d ← max(d, c·r/Σ |s|).
        *r = self.beta3() * *r + (*d / self.estim_lr0) * c.d_lr64 * sums[0];
        if sums[1] > 0.0 {
            *d = d.max(self.estim_lr_coef * *r / sums[1]);
        }
        let c = ProdigyScalars {
            d_eps: (*d * self.eps) as f32,
            ..*c
        };
        tensors.each(&mut |p: TensorStep<'_>| p.elementwise(Step(c)));
    }
}

/// The first pass: the step's scalars, and the sums Σ ĝ·(Φ₀ − Φ) and
/// Σ |s| so far.
struct FirstPass {
    c: ProdigyScalars,
    sums: [f64; 2],
}

impl PerTensor for FirstPass {
    /// One parameter: m, v and s, and its part of the sums.
    #[inline(always)]
    fn tensor(&mut self, p: TensorStep<'_>) {
        accumulate(&self.c, p, &mut self.sums);
    }
}

/// The first pass over one parameter: m, v and s, and the sums
/// Σ ĝ·(Φ₀ − Φ) and Σ |s|.
#[inline(always)]
fn accumulate(c: &ProdigyScalars, p: TensorStep<'_>, sums: &mut [f64; 2]) {
    let Whole {
        value, grad, state, ..
    } = p.whole();
    let [m, v, s, x0] = state else {
        unreachable!("four state tensors")
    };
    let (m, v, s, x0) = (m.data_mut(), v.data_mut(), s.data_mut(), x0.data());
    let (mut moved, mut total) = (0.0f64, 0.0f64);
    for i in 0..value.len() {
        let (g, dg) = (grad[i], c.d * grad[i]);
        moved += f64::from(g) * (f64::from(x0[i]) - f64::from(value[i])); // ĝ·(Φ₀ − Φ)
        m[i] = c.b1 * m[i] + c.take1 * dg; // m ← β₁·m + (1 − β₁)·d·ĝ
        v[i] = c.b2 * v[i] + c.take2 * dg * dg; // v ← β₂·v + (1 − β₂)·d²·ĝ²
        s[i] = c.b3 * s[i] + c.s_rate * g; // s ← β₃·s + (d_lr·d/d₀)·ĝ
        total += f64::from(s[i].abs());
    }
    sums[0] += moved;
    sums[1] += total;
}

/// The step, with m and v from the first pass.
#[derive(Clone, Copy)]
struct Step(ProdigyScalars);

impl Kernel<4> for Step {
    #[inline(always)]
    fn update(&self, phi: &mut f32, _: Gradient, [m, v, _, _]: &mut [f32; 4]) {
        let c = &self.0;
        *phi -= c.decay * *phi + c.d_lr * *m / (v.sqrt() + c.d_eps); // Φ ← Φ − λ·d_lr·Φ − d_lr·m/(√v + d·ε)
    }
}

/// The scalars of a step of [`Prodigy`]: d_lr (in f64 and f32), d, β₁ and
/// 1 − β₁, β₂ and 1 − β₂, β₃, d_lr·d/d₀, the new d·ε, and λ·d_lr.
#[derive(Clone, Copy, Debug)]
pub struct ProdigyScalars {
    d_lr64: f64,
    d_lr: f32,
    d: f32,
    b1: f32,
    take1: f32,
    b2: f32,
    take2: f32,
    b3: f32,
    s_rate: f32,
    d_eps: f32,
    decay: f32,
}
