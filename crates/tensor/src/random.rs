//! Seeded random initialisation.
//!
//! gradlab's generator is ChaCha8: portable, so the same seed gives the same
//! tensor on every machine and every version of this crate, and fast.

use rand::{Rng as _, SeedableRng};

use crate::Tensor;

/// The random number generator used throughout gradlab.
pub type Rng = rand_chacha::ChaCha8Rng;

/// A generator seeded with `seed`.
pub fn rng(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

impl Tensor {
    /// Elements drawn independently from 𝒰[lo, hi).
    pub fn uniform(shape: &[usize], lo: f32, hi: f32, rng: &mut Rng) -> Tensor {
        assert!(lo < hi, "uniform: empty range [{lo}, {hi})");
        let n = crate::tensor::numel(shape);
        let data = (0..n).map(|_| rng.random_range(lo..hi)).collect();
        Tensor::from_vec(data, shape)
    }

    /// Elements drawn independently from 𝒩(mean, std²), by the Box–Muller
    /// transform: z = √(−2 ln u₁) · cos(2π u₂) with u₁ ∈ (0, 1], u₂ ∈ [0, 1).
    pub fn normal(shape: &[usize], mean: f32, std: f32, rng: &mut Rng) -> Tensor {
        let n = crate::tensor::numel(shape);
        let mut data = Vec::with_capacity(n);
        while data.len() < n {
            let u1 = 1.0 - rng.random::<f64>();
            let u2 = rng.random::<f64>();
            let r = (-2.0 * u1.ln()).sqrt();
            let theta = std::f64::consts::TAU * u2;
            data.push(mean + std * (r * theta.cos()) as f32);
            if data.len() < n {
                data.push(mean + std * (r * theta.sin()) as f32);
            }
        }
        Tensor::from_vec(data, shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_tensor() {
        let a = Tensor::uniform(&[3, 5], -1.0, 1.0, &mut rng(7));
        let b = Tensor::uniform(&[3, 5], -1.0, 1.0, &mut rng(7));
        let c = Tensor::uniform(&[3, 5], -1.0, 1.0, &mut rng(8));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.data().iter().all(|&x| (-1.0..1.0).contains(&x)));
    }

    #[test]
    fn normal_has_the_requested_moments() {
        let t = Tensor::normal(&[200_001], 2.0, 3.0, &mut rng(1));
        let mean = t.mean();
        let var = t.map(|x| (x - mean) * (x - mean)).mean();
        assert!((mean - 2.0).abs() < 0.03, "mean {mean}");
        assert!((var.sqrt() - 3.0).abs() < 0.03, "std {}", var.sqrt());
    }
}
