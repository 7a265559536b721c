//! DP-SGD's Gaussian mechanism: noise added to the clipped gradients
//! before any rule reads them (Abadi et al. 2016, "Deep Learning with
//! Differential Privacy"; Opacus' `DPOptimizer`).
//!
//! A private step has three parts, and this module is the middle one:
//!
//! 1. backward with the clipped request (`GradRequest::Clipped` of the
//!    autodiff crate): ḡ = (1/B) Σ_b c_b·g_b, each example's gradient
//!    scaled to norm at most C;
//! 2. [`GaussianMechanism::privatize`]: the noisy estimate
//!
//!    ```text
//!    g̃ = (B·ḡ + σC·z) / (q·N),    z ~ N(0, I)
//!    ```
//!
//!    divided by the *expected* batch size q·N rather than by the batch's
//!    own size B (which depends on who is in the batch, and would leak it);
//! 3. any rule of this crate on g̃ ([`Optimizer::step`](crate::Optimizer::step),
//!    through the trainer's `update_for`): DP-SGD with `sgd`, DP-Adam with
//!    `adam`, and so on. Whatever a rule does with g̃ is
//!    post-processing and spends no privacy, so every rule composes.
//!
//! The privacy each step spends is accounted by the
//! [`accountant`](crate::accountant) from σ and the sampling rate q.
//!
//! **The noise is seeded.** z is drawn by Philox4x32-10 and Box–Muller
//! ([`GaussianStream`]) keyed by the run's seed, in the stream of the step
//! and the parameter, so a run is reproducible and a resumed run draws the
//! same noise as one that did not stop. Anyone who knows the seed can
//! recompute z and remove it: a real deployment must draw the seed from the
//! operating system (`/dev/urandom`) and keep it secret. Philox is a
//! statistical generator, as PyTorch's and so Opacus' default is (Opacus'
//! `secure_mode` swaps in a cryptographic one): it is not built to keep
//! its key from someone who sees its output. (The sampler is also a
//! floating-point one: Mironov 2012 shows that textbook floating-point
//! Laplace and Gaussian samplers leak through their rounding; a deployment
//! against such an adversary needs a discrete sampler.)
//!
//! [`GaussianStream`]: gradlab_tensor::philox::GaussianStream
//!

use gradlab_tensor::parallel;
use gradlab_tensor::philox::GaussianStream;

use crate::accountant::PrivacyError;

/// The Gaussian mechanism of DP-SGD: N(0, σ²C²) added to the sum of the
/// clipped per-example gradients.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GaussianMechanism {
    noise_multiplier: f64,
    max_norm: f32,
    seed: u64,
}

impl GaussianMechanism {
    /// The mechanism for noise multiplier σ and clipping bound C, drawing
    /// from `seed` (see the module docs). σ must be finite and ≥ 0, C > 0
    /// (C = ∞ only without noise: its noise would be infinite).
    pub fn new(
        noise_multiplier: f64,
        max_norm: f32,
        seed: u64,
    ) -> Result<GaussianMechanism, PrivacyError> {
        if !(noise_multiplier.is_finite() && noise_multiplier >= 0.0) {
            return Err(PrivacyError::NoiseMultiplier(noise_multiplier));
        }
        let finite = max_norm.is_finite() || noise_multiplier == 0.0;
        if !(max_norm > 0.0 && finite) {
            return Err(PrivacyError::MaxNorm(max_norm));
        }
        Ok(GaussianMechanism {
            noise_multiplier,
            max_norm,
            seed,
        })
    }

    /// σ.
    pub fn noise_multiplier(&self) -> f64 {
        self.noise_multiplier
    }

    /// C.
    pub fn max_norm(&self) -> f32 {
        self.max_norm
    }

    /// The standard deviation of the noise on the sum of clipped
    /// gradients: σC.
    pub fn std(&self) -> f64 {
        if self.noise_multiplier == 0.0 {
            0.0
        } else {
            self.noise_multiplier * f64::from(self.max_norm)
        }
    }

    /// g̃ = (B·ḡ + σC·z)/B_exp in place, for the clipped mean `grad` of a
    /// batch of `batch` examples, the expected batch size `expected_batch`
    /// (q·N), the step `step` (counted from 1) and the parameter `id`. A
    /// batch of exactly B_exp examples keeps ḡ bitwise when σ = 0.
    ///
    /// # Panics
    /// If `expected_batch` is not positive.
    pub fn privatize(
        &self,
        grad: &mut [f32],
        batch: usize,
        expected_batch: f64,
        step: u64,
        id: usize,
    ) {
        assert!(
            expected_batch > 0.0,
            "GaussianMechanism::privatize: the expected batch size must be positive, got \
             {expected_batch}"
        );
        let scale = (batch as f64 / expected_batch) as f32;
        let std = (self.std() / expected_batch) as f32;
        if scale == 1.0 && std == 0.0 {
            return;
        }
        if std == 0.0 {
            // Without noise, only the rescaling (and no +0 to turn −0 into 0).
            parallel::chunks_mut(grad, |_, chunk| chunk.iter_mut().for_each(|g| *g *= scale));
            return;
        }
        // The step's two words and the parameter's name the stream; every
        // element of it is a function of its index, so threads can split it.
        let stream = [step as u32, (step >> 32) as u32, id as u32];
        GaussianStream::new(self.seed, stream).axpby(grad, scale, std);
    }
}
