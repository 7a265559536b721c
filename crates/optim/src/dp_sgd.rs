//! DP-SGD's Gaussian mechanism: noise added to the clipped gradients
//! before any rule reads them (Abadi et al. 2016, "Deep Learning with
//! Differential Privacy"; Opacus' `DPOptimizer`).
//!
//! A private step has three parts, and this module is the middle one:
//!
//! 1. backward with [`GradRequest::Clipped`]: ḡ = (1/B) Σ_b c_b·g_b, each
//!    example's gradient scaled to norm at most C;
//! 2. [`GaussianMechanism::privatize`]: the noisy estimate
//!
//!    ```text
//!    g̃ = (B·ḡ + σC·z) / (q·N),    z ~ N(0, I)
//!    ```
//!
//!    divided by the *expected* batch size q·N rather than by the batch's
//!    own size B (which depends on who is in the batch, and would leak it);
//! 3. any rule of this crate on g̃ ([`Optimizer::update_for`]): DP-SGD with
//!    `sgd`, DP-Adam with `adam`, and so on. Whatever a rule does with g̃ is
//!    post-processing and spends no privacy, so every rule composes.
//!
//! The privacy each step spends is accounted by the
//! [`accountant`](crate::accountant) from σ and the sampling rate q.
//!
//! **The noise is seeded.** z is drawn from ChaCha8 keyed by the run's
//! seed, the step and the parameter, so a run is reproducible and a resumed
//! run draws the same noise as one that did not stop. Anyone who knows the
//! seed can recompute z and remove it: a real deployment must draw the
//! seed from the operating system (`/dev/urandom`) and keep it secret. (The
//! sampler is also a floating-point one: Mironov 2012 shows that textbook
//! floating-point Laplace and Gaussian samplers leak through their
//! rounding; a deployment against such an adversary needs a discrete
//! sampler.)
//!
//! [`GradRequest::Clipped`]: crate::GradRequest::Clipped
//! [`Optimizer::update_for`]: crate::Optimizer::update_for

use gradlab_autodiff::{ParamStore, Tape};
use gradlab_tensor::parallel;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use crate::accountant::PrivacyError;

/// Elements per noise stream: the noise of a parameter is drawn in chunks
/// of this size, chunk k from its own ChaCha8 stream, so chunks can be
/// drawn in parallel and the noise is the same for any number of threads.
/// It matches the tensor crate's parallel chunk, so a chunk is one call.
const STREAM: usize = 1 << 14;

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
        let key = self.key(step, id);
        parallel::chunks_mut(grad, |at, chunk| {
            for (k, part) in chunk.chunks_mut(STREAM).enumerate() {
                if std == 0.0 {
                    part.iter_mut().for_each(|g| *g *= scale);
                    continue;
                }
                let mut rng = rand_chacha::ChaCha8Rng::from_seed(key);
                rng.set_stream((at / STREAM + k) as u64);
                for g in part.iter_mut() {
                    let z: f32 = StandardNormal.sample(&mut rng);
                    *g = *g * scale + std * z;
                }
            }
        });
    }

    /// [`privatize`](GaussianMechanism::privatize) for every parameter of
    /// `params` that has a gradient on `tape` (after a clipped backward):
    /// each parameter's noise is its own stream.
    pub fn privatize_tape(
        &self,
        params: &ParamStore,
        tape: &mut Tape,
        batch: usize,
        expected_batch: f64,
        step: u64,
    ) {
        for id in params.ids() {
            if let Some(g) = tape.grad_mut(id) {
                self.privatize(g.data_mut(), batch, expected_batch, step, id.0);
            }
        }
    }

    /// The ChaCha8 key of one parameter's noise at one step: the seed, the
    /// step and the parameter's id side by side, so no two differ in
    /// nothing.
    fn key(&self, step: u64, id: usize) -> [u8; 32] {
        let mut key = [0; 32];
        key[..8].copy_from_slice(&self.seed.to_le_bytes());
        key[8..16].copy_from_slice(&step.to_le_bytes());
        key[16..24].copy_from_slice(&(id as u64).to_le_bytes());
        key[24..].copy_from_slice(b"DP-NOISE");
        key
    }
}
