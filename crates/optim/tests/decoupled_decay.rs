//! Decoupled weight decay, Φ ← Φ − η·λ·Φ, as f64 arithmetic rounded to f32
//! once per step: with zero gradients, 1 000 steps of every rule whose
//! update is then the decay alone follow that recurrence bitwise, for η·λ
//! from 10⁻⁹ to 10⁻².
//!
//! Multiplying by f32(1 − η·λ) instead, as gradlab did before, rounds the
//! factor rather than the result: 1 − 10⁻⁸ is 1 in f32, and 1 − 10⁻⁷ is
//! 1 − 1.19·10⁻⁷, a decay 19 % too strong, compounding over the steps.

use gradlab_optim::{Optimizer, Param};
use gradlab_tensor::Tensor;

/// The distance between two f32 in units in the last place.
fn ulps(a: f32, b: f32) -> u32 {
    let key = |x: f32| {
        let bits = x.to_bits() as i64;
        if bits < 0 {
            i64::from(i32::MIN) - bits
        } else {
            bits
        }
    };
    (key(a) - key(b)).unsigned_abs() as u32
}

/// The spec of rule `name` with decoupled decay λ at rate η (Muon decays
/// both halves, its AdamW half at the rate adam_lr = η).
fn spec(name: &str, eta: f64, lambda: f64) -> String {
    match name {
        "muon" => format!(
            "muon(lr={eta:e},adam_lr={eta:e},decoupled_weight_decay={lambda:e},\
             adam_decoupled_weight_decay={lambda:e})"
        ),
        "adafactor" => format!("adafactor(lr={eta:e},decoupled_weight_decay={lambda:e})"),
        _ => format!("{name}(lr={eta:e},decoupled_weight_decay={lambda:e})"),
    }
}

#[test]
fn a_thousand_steps_of_decay_follow_f64_rounded_each_step() {
    let start = [1.7f32, -0.3, 123.4, 1e-3, -5.5e4, 0.9];
    let eta = 1e-2;
    for name in [
        "adamw",
        "nadamw",
        "lion",
        "adafactor",
        "muon",
        "sgd",
        "adam",
    ] {
        for exponent in -9..=-2 {
            let lambda = 10f64.powi(exponent) / eta;
            let mut opt = Optimizer::from_spec(&spec(name, eta, lambda)).unwrap();
            // A matrix and a vector, for the rules that tell them apart.
            let mut w = Tensor::from_vec(start.to_vec(), &[2, 3]);
            let mut b = Tensor::from_vec(start.to_vec(), &[6]);
            let (gw, gb) = (Tensor::zeros(&[2, 3]), Tensor::zeros(&[6]));
            let mut want = start;
            let mut worst = 0;
            for _ in 0..1000 {
                opt.step(
                    &mut [Param::new(0, &mut w, &gw), Param::new(1, &mut b, &gb)],
                    1,
                );
                // Adafactor's rate is min(η_t, 1/√t): η here throughout.
                for x in &mut want {
                    *x = (f64::from(*x) * (1.0 - eta * lambda)) as f32;
                }
                for (got, &want) in w.data().iter().chain(b.data()).zip(want.iter().cycle()) {
                    worst = worst.max(ulps(*got, want));
                }
            }
            assert!(
                worst == 0,
                "{name}, ηλ = 1e{exponent}: {worst} ulps from f64 rounded each step \
                 (got {:?}, want {want:?})",
                w.data()
            );
        }
    }
}
