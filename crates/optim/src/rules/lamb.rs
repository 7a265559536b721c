//! LAMB: Adam's direction, scaled per tensor by the trust ratio ‖Φ‖/‖u‖.

use crate::hyperparameters;
use crate::search::{decay, log};
use gradlab_tensor::Tensor;

use crate::step::{PerTensor, TensorStep, Tensors, Whole};
use crate::tensor_rule::TensorRule;

hyperparameters! {
    /// LAMB (You et al. 2020, "Large Batch Optimization for Deep Learning:
    /// Training BERT in 76 minutes"), exactly `optax.lamb` (optax 0.2.x:
    /// `scale_by_adam`, `add_decayed_weights`, `scale_by_trust_ratio`, the
    /// learning rate):
    ///
    /// ```text
    /// m ← β₁·m + (1 − β₁)·ĝ            m̂ = m/(1 − β₁ᵗ)
    /// v ← β₂·v + (1 − β₂)·ĝ²           v̂ = v/(1 − β₂ᵗ)
    /// u = m̂/(√v̂ + ε) + λ·Φ
    /// Φ ← Φ − η·(‖Φ‖/‖u‖)·u           (ratio 1 if ‖Φ‖ or ‖u‖ is 0)
    /// ```
    ///
    /// The norms are of the whole tensor, so each layer's step has the size
    /// η·‖Φ‖ whatever the scale of its gradients: the rule runs through the
    /// whole-tensor hook, a pass for the moments and the norms (summed in
    /// f64) and a pass for the step. λ is optax's `weight_decay` (which
    /// the spec reads as this key), spelled `trust_weight_decay` because it
    /// sits inside the trust ratio, unlike the L2 `weight_decay` of other
    /// rules and `decoupled_weight_decay` (before the step, outside the
    /// ratio). optax takes no default rate; η = 10⁻³ is Adam's. State: `m`,
    /// `v`.
    pub struct Lamb {
        /// η, the step size relative to ‖Φ‖.
        lr: f64 = 1e-3, Positive;
        /// β₁, the decay of m.
        b1: f64 = 0.9, Fraction;
        /// β₂, the decay of v.
        b2: f64 = 0.999, Fraction;
        /// ε, added to √v̂.
        eps: f64 = 1e-6, NonNegative;
        /// λ, the weight decay added to the direction before the trust ratio.
        trust_weight_decay: f64 = 0.0, NonNegative;
    }
    search: [
        log("lr", 1e-3, 0.1),
        decay("b1", 0.5, 0.99),
        decay("b2", 0.9, 0.9999),
    ];
    tuned: "lr=1e-2";
}

impl TensorRule for Lamb {
    const NAME: &'static str = "lamb";
    const STATE: &'static [&'static str] = &["m", "v"];
    type Scalars = LambScalars;

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    /// m and v, shaped like the parameter.
    fn init(&self, value: &Tensor) -> Vec<Tensor> {
        vec![Tensor::zeros(value.shape()), Tensor::zeros(value.shape())]
    }

    fn scalars(&self, t: u64, eta: f64, _: &mut [f64]) -> LambScalars {
        let t = t as f64;
        LambScalars {
            eta: eta as f32,
            b1: self.b1 as f32,
            take1: (1.0 - self.b1) as f32,
            b2: self.b2 as f32,
            take2: (1.0 - self.b2) as f32,
            eps: self.eps as f32,
            step: (1.0 / (1.0 - self.b1.powf(t))) as f32,
            root: (1.0 / (1.0 - self.b2.powf(t))).sqrt() as f32,
            decay: self.trust_weight_decay as f32,
        }
    }

    fn update(&self, c: &LambScalars, tensors: &mut Tensors<'_>, _: &mut [f64]) {
        tensors.each(&mut LambTensor(*c));
    }
}

/// LAMB's work on one tensor.
struct LambTensor(LambScalars);

impl PerTensor for LambTensor {
    #[inline(always)]
    fn tensor(&mut self, p: TensorStep<'_>) {
        update_tensor(&self.0, p);
    }
}

/// One tensor: the moments and both norms in one pass, then the step.
#[inline(always)]
fn update_tensor(c: &LambScalars, p: TensorStep<'_>) {
    let Whole {
        value, grad, state, ..
    } = p.whole();
    let [m, v] = state else {
        unreachable!("LAMB keeps two state tensors")
    };
    let (m, v) = (m.data_mut(), v.data_mut());
    // ‖Φ‖² and ‖u‖², with the moments updated on the way: LANES
    // independent f64 partial sums (so the loop vectorizes) per BLOCK
    // elements, added up in a fixed order.
    let (mut phi_sq, mut u_sq) = (0.0f64, 0.0f64);
    for (((phi, g), m), v) in value
        .chunks(BLOCK)
        .zip(grad.chunks(BLOCK))
        .zip(m.chunks_mut(BLOCK))
        .zip(v.chunks_mut(BLOCK))
    {
        let (mut p2, mut u2) = ([0.0f64; LANES], [0.0f64; LANES]);
        let (mut pc, mut gc) = (phi.chunks_exact(LANES), g.chunks_exact(LANES));
        let (mut mc, mut vc) = (m.chunks_exact_mut(LANES), v.chunks_exact_mut(LANES));
        for (((p, g), m), v) in pc
            .by_ref()
            .zip(gc.by_ref())
            .zip(mc.by_ref())
            .zip(vc.by_ref())
        {
            for k in 0..LANES {
                let u = f64::from(direction(c, p[k], g[k], &mut m[k], &mut v[k]));
                p2[k] += f64::from(p[k]) * f64::from(p[k]);
                u2[k] += u * u;
            }
        }
        let rest = pc.remainder().iter().zip(gc.remainder());
        for ((&p, &g), (m, v)) in rest.zip(mc.into_remainder().iter_mut().zip(vc.into_remainder()))
        {
            let u = f64::from(direction(c, p, g, m, v));
            p2[0] += f64::from(p) * f64::from(p);
            u2[0] += u * u;
        }
        phi_sq += p2.iter().sum::<f64>();
        u_sq += u2.iter().sum::<f64>();
    }
    // ratio = ‖Φ‖/‖u‖, or 1 when either norm is 0.
    let ratio = if phi_sq == 0.0 || u_sq == 0.0 {
        1.0
    } else {
        (phi_sq.sqrt() / u_sq.sqrt()) as f32
    };
    let step = c.eta * ratio;
    for ((phi, &m), &v) in value.iter_mut().zip(m.iter()).zip(v.iter()) {
        // u again from the stored moments: the same numbers as above.
        let u = c.step * m / (c.root * v.sqrt() + c.eps) + c.decay * *phi;
        *phi -= step * u; // Φ ← Φ − η·ratio·u
    }
}

/// Elements per block of the norms' partial sums, and partial sums per
/// block.
const BLOCK: usize = 1024;
const LANES: usize = 8;

/// Updates m and v from ĝ and returns u = m̂/(√v̂ + ε) + λΦ.
#[inline(always)]
fn direction(c: &LambScalars, phi: f32, g: f32, m: &mut f32, v: &mut f32) -> f32 {
    *m = c.b1 * *m + c.take1 * g; // m ← β₁·m + (1 − β₁)·ĝ
    *v = c.b2 * *v + c.take2 * g * g; // v ← β₂·v + (1 − β₂)·ĝ²
    c.step * *m / (c.root * v.sqrt() + c.eps) + c.decay * phi // u = m̂/(√v̂ + ε) + λΦ
}

/// The scalars of a step of [`Lamb`]: η, the decays β and 1 − β (computed
/// before rounding), ε, 1/(1 − β₁ᵗ), 1/√(1 − β₂ᵗ) and λ.
#[derive(Clone, Copy, Debug)]
pub struct LambScalars {
    eta: f32,
    b1: f32,
    take1: f32,
    b2: f32,
    take2: f32,
    eps: f32,
    step: f32,
    root: f32,
    decay: f32,
}
