//! Decoupled weight decay, Φ ← Φ − η·λ·Φ, rounded once per step: with
//! zero gradients, every rule whose update is then the decay alone takes
//! each of 1 000 steps to within an ulp of the same step in f64, and stays
//! within 10⁻⁵ (relative) of the trajectory of f64 steps rounded to f32,
//! for η·λ from 10⁻⁹ to 10⁻². (What drift there is comes from η·λ itself
//! rounded to f32, 2⁻²⁴ relative: 38 ulps after 1 000 steps at 10⁻².)
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
        "ademamix",
        "cautious_adamw",
        "shampoo",
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
            let mut want: Vec<f64> = start.iter().map(|&x| f64::from(x)).collect();
            let (mut worst_step, mut worst_drift) = (0, 0.0f64);
            for _ in 0..1000 {
                let before: Vec<f32> = w.data().iter().chain(b.data()).copied().collect();
                opt.step(
                    &mut [Param::new(0, &mut w, &gw), Param::new(1, &mut b, &gb)],
                    1,
                );
                // Adafactor's rate is min(η_t, 1/√t): η here throughout.
                let decay = |x: f64| x * (1.0 - eta * lambda);
                let after = w.data().iter().chain(b.data());
                for (got, &was) in after.clone().zip(&before) {
                    let step = (decay(f64::from(was))) as f32;
                    worst_step = worst_step.max(ulps(*got, step));
                }
                // f64 rounded to f32 after each step, as any f32 parameter is.
                want.iter_mut()
                    .for_each(|x| *x = f64::from(decay(*x) as f32));
                for (got, want) in after.zip(want.iter().cycle()) {
                    worst_drift = worst_drift.max((f64::from(*got) / want - 1.0).abs());
                }
            }
            assert!(
                worst_step <= 1 && worst_drift <= 1e-5,
                "{name}, ηλ = 1e{exponent}: a step {worst_step} ulps from f64, the run \
                 {worst_drift:e} from f64's (got {:?}, want {want:?})",
                w.data()
            );
        }
    }
}
