//! Schedule-Free AdamW: no learning-rate decay, an average of the iterates
//! instead.

use crate::denormal::flush;
use crate::hyperparameters;
use crate::hyperparameters::Flag;
use crate::search::{decay, integer, log};
use gradlab_tensor::Tensor;

use crate::rule::{Gradient, Options};
use crate::step::{Kernel, TensorStep, Tensors};
use crate::tensor_rule::TensorRule;

hyperparameters! {
    /// Schedule-Free AdamW (Defazio, Yang, Mehta, Mishchenko, Khaled &
    /// Cutkosky 2024, "The Road Less Scheduled"), the reference
    /// `AdamWScheduleFree` of facebookresearch/schedule_free, which
    /// `optax.contrib.schedule_free_adamw` (optax 0.2.x) follows. Three
    /// sequences: z takes Adam's steps without momentum, x is a weighted
    /// average of the z's, and gradients are taken at y, between them:
    ///
    /// ```text
    /// v ← β₂·v + (1 − β₂)·ĝ²           v̂ = v/(1 − β₂ᵗ)    (ĝ taken at y)
    /// z ← z − η_t·(ĝ/(√v̂ + ε) + λ·y)
    /// c_t = w_t/(w_1 + … + w_t),  w_t = (max_{s≤t} η_s)^p
    /// x ← (1 − c_t)·x + c_t·z
    /// y ← β₁·x + (1 − β₁)·z            (Φ = y; z = x = Φ₀ at the start)
    /// ```
    ///
    /// With a constant rate c_t = 1/t and x is the plain average of the
    /// z's: the averaging does what a decaying schedule would, so the
    /// optimizer takes no schedule (a warm-up, `warmup=`, is recommended by
    /// the authors; w_t uses the largest rate so far, so the warm-up's small
    /// steps weigh little). The model to evaluate and to save is **x**
    /// ([`TensorRule::EVALUATE_AT`]): the trainer evaluates and checkpoints
    /// x and rebuilds y from x and z on resume. Differences from optax,
    /// none of which changes a number beyond rounding without a warm-up: x
    /// is kept as a third state tensor (optax recomputes it as
    /// (y − (1 − β₁)z)/β₁, which costs no memory but adds rounding each
    /// step); the weight c_t is computed in f64. With a warm-up, η_t here is
    /// step t's rate in z's step and in w_t alike, as in the reference;
    /// optax 0.2.8 evaluates its schedule at the count before the step for
    /// z's step (the rate of step t − 1, 0 at the first step of a linear
    /// warm-up) and after it for w_t, so its z lags one step of the
    /// warm-up behind. λ is the decoupled decay of z's step, applied at y
    /// (optax's `weight_decay`, which the spec reads too); the rule applies
    /// it itself, as y is recomputed each step. With `corrected_step=true`
    /// the bias correction scales the whole step instead of v, ε and λ
    /// included — z ← z − η_t·√(1 − β₂ᵗ)·(ĝ/(√v + ε) + λ·y), the same step
    /// as ĝ/(√v̂ + ε/√(1 − β₂ᵗ)) + √(1 − β₂ᵗ)·λ·y — as the paper's
    /// algorithm and AlgoPerf's winning self-tuning submission, "Schedule
    /// Free AdamW v2" (mlcommons/submissions_algorithms,
    /// `AdamWScheduleFreeV2`), do; w_t still uses η_t. State: `z`, `v`,
    /// `x`; global: the largest rate so far and the sum of the weights.
    pub struct ScheduleFreeAdamW {
        /// η, the step size of z.
        lr: f64 = 0.0025, Positive;
        /// β₁, where y sits between x (β₁ = 1) and z (β₁ = 0).
        b1: f64 = 0.9, Fraction;
        /// β₂, the decay of v.
        b2: f64 = 0.999, Fraction;
        /// ε, added to √v̂.
        eps: f64 = 1e-8, NonNegative;
        /// λ, the decoupled weight decay of z's step, applied at y.
        decoupled_weight_decay: f64 = 0.0, NonNegative;
        /// p, the power of the largest rate so far that weighs each z in x.
        weight_lr_power: f64 = 2.0, NonNegative;
        /// Scale the whole step by √(1 − β₂ᵗ) instead of correcting v
        /// (AlgoPerf's v2).
        corrected_step: Flag = false;
    }
    search: [
        log("lr", 1e-3, 0.1),
        decay("b1", 0.5, 0.99),
        decay("b2", 0.9, 0.9999),
        integer("warmup", 0.0, 100.0),
    ];
    tuned: "lr=1e-2";
}

impl TensorRule for ScheduleFreeAdamW {
    const NAME: &'static str = "schedule_free_adamw";
    const STATE: &'static [&'static str] = &["z", "v", "x"];
    const GLOBAL: &'static [&'static str] = &["max_lr", "weight_sum"];
    const EVALUATE_AT: Option<&'static str> = Some("x");
    type Scalars = ScheduleFreeScalars;

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    /// y is recomputed each step, so the rule applies its decay in z's
    /// step.
    fn options(&self) -> Options {
        Options {
            decoupled_decay: false,
            ..Options::default()
        }
    }

    /// z = x = Φ₀, v = 0.
    fn init(&self, value: &Tensor) -> Vec<Tensor> {
        vec![value.clone(), Tensor::zeros(value.shape()), value.clone()]
    }

    /// max_lr ← max(max_lr, η_t); w = max_lr^p; W ← W + w; c_t = w/W (0
    /// while W is 0).
    fn scalars(&self, t: u64, eta: f64, global: &mut [f64]) -> ScheduleFreeScalars {
        let [max_lr, weight_sum] = global else {
            unreachable!("two global numbers")
        };
        *max_lr = max_lr.max(eta);
        let weight = max_lr.powf(self.weight_lr_power);
        *weight_sum += weight;
        let ck = if *weight_sum > 0.0 {
            weight / *weight_sum
        } else {
            0.0
        };
        // 1/√(1 − β₂ᵗ) on √v, or √(1 − β₂ᵗ) on the whole step.
        let correction = 1.0 - self.b2.powf(t as f64);
        let (eta, root) = match self.corrected_step.0 {
            false => (eta, (1.0 / correction).sqrt()),
            true => (eta * correction.sqrt(), 1.0),
        };
        ScheduleFreeScalars {
            eta: eta as f32,
            b1: self.b1 as f32,
            take1: (1.0 - self.b1) as f32,
            b2: self.b2 as f32,
            take2: (1.0 - self.b2) as f32,
            root: root as f32,
            eps: self.eps as f32,
            decay: self.decoupled_weight_decay as f32,
            ck: ck as f32,
            keep: (1.0 - ck) as f32,
        }
    }

    fn update(&self, c: &ScheduleFreeScalars, tensors: &mut Tensors<'_>, _: &mut [f64]) {
        tensors.each(&mut |p: TensorStep<'_>| p.elementwise(Step(*c)));
    }

    /// y = β₁·x + (1 − β₁)·z, as the step computes it.
    fn training_point(&self, saved: &mut [f32], state: &[Tensor]) {
        let (z, x) = (state[0].data(), state[2].data());
        let (b1, take1) = (self.b1 as f32, (1.0 - self.b1) as f32);
        for ((y, &z), &x) in saved.iter_mut().zip(z).zip(x) {
            *y = b1 * x + take1 * z;
        }
    }
}

/// One element of a step.
#[derive(Clone, Copy)]
struct Step(ScheduleFreeScalars);

impl Kernel<3> for Step {
    #[inline(always)]
    fn update(&self, y: &mut f32, g: Gradient, [z, v, x]: &mut [f32; 3]) {
        let c = &self.0;
        *v = c.b2 * *v + c.take2 * g.mean * g.mean; // v ← β₂·v + (1 − β₂)·ĝ²
        let u = g.mean / (c.root * v.sqrt() + c.eps) + c.decay * *y; // ĝ/(√v̂ + ε) + λ·y
                                                                     // z and x flushed as the pass will store them, so that y rebuilt
                                                                     // from the stored state on resume is this y.
        *z = flush(*z - c.eta * u); // z ← z − η·u
        *x = flush(c.keep * *x + c.ck * *z); // x ← (1 − c_t)·x + c_t·z
        *y = c.b1 * *x + c.take1 * *z; // y ← β₁·x + (1 − β₁)·z
    }
}

/// The scalars of a step of [`ScheduleFreeAdamW`]: z's step size, β₁ and
/// 1 − β₁, β₂ and 1 − β₂ (computed before rounding), the factor of √v,
/// ε, λ, and c_t and 1 − c_t.
#[derive(Clone, Copy, Debug)]
pub struct ScheduleFreeScalars {
    eta: f32,
    b1: f32,
    take1: f32,
    b2: f32,
    take2: f32,
    root: f32,
    eps: f32,
    decay: f32,
    ck: f32,
    keep: f32,
}
