//! The lecture's claims, as properties.

mod common;

use gradlab_optim::{Correction, Optimizer, RunningAverage};
use gradlab_tensor::{rng, Tensor};
use rand::Rng as _;

/// Per-step updates ΔΦ of `spec` on a gradient stream (mean 1, spread 0.5,
/// independent of Φ) multiplied by `alpha`, with per-example squares
/// ĝ² + 0.1 scaled by α² alike. Φ is set to 0 before each step, so that Φ
/// after it is the update, exactly.
fn updates(spec: &str, alpha: f32) -> Vec<Vec<f32>> {
    let mut r = rng(3);
    let mut opt = Optimizer::from_spec(spec).unwrap();
    let mut values = vec![Tensor::zeros(&[16])];
    let mut out = Vec::new();
    for _ in 0..20 {
        let g = Tensor::normal(&[16], 1.0, 0.5, &mut r);
        let q = g.map(|x| x * x + 0.1).mul_scalar(alpha * alpha);
        values[0].fill(0.0);
        common::step(&mut opt, &mut values, &[g.mul_scalar(alpha)], Some(&[q]), 8);
        out.push(values[0].data().to_vec());
    }
    out
}

#[test]
fn rmsprop_and_adams_are_scale_invariant() {
    // With ε = 0, scaling every gradient by α scales √s by α as well, and the
    // update η·g̃/√s is unchanged (slide "RMSProp Analysis").
    for spec in [
        "rmsprop(eps=0)",
        "rmsprop_momentum(eps=0)",
        "adam(eps=0)",
        "adam_lecture(eps=0)",
        "adam_per_example(eps=0)",
    ] {
        let base = updates(spec, 1.0);
        for alpha in [1e-3, 1e3] {
            let scaled = updates(spec, alpha);
            for (t, (a, b)) in base.iter().zip(&scaled).enumerate() {
                for (x, y) in a.iter().zip(b) {
                    assert!(
                        (x - y).abs() <= 1e-5 * x.abs(),
                        "{spec}, α = {alpha}, step {}: update {y} vs {x} unscaled",
                        t + 1
                    );
                }
            }
        }
    }
}

#[test]
fn sgd_updates_scale_with_the_gradient() {
    for spec in ["sgd", "sgd_momentum", "sgd_ema"] {
        let base = updates(spec, 1.0);
        for alpha in [1e-3f32, 1e3] {
            for (a, b) in base.iter().zip(&updates(spec, alpha)) {
                for (x, y) in a.iter().zip(b) {
                    assert!(
                        (y / (alpha * x) - 1.0).abs() <= 1e-5,
                        "{spec}, α = {alpha}: {y} vs α·{x}"
                    );
                }
            }
        }
    }
}

/// Samples x_1..x_n uniform in [−1, 3).
fn samples(n: usize) -> Vec<f32> {
    let mut r = rng(9);
    (0..n).map(|_| r.random_range(-1.0..3.0)).collect()
}

/// The corrected estimates x̃_1..x̃_n of `avg` over `xs`.
fn estimates(avg: RunningAverage, xs: &[f32]) -> Vec<f32> {
    let mut stored = 0.0;
    xs.iter()
        .enumerate()
        .map(|(i, &x)| avg.update(i as u64 + 1, &mut stored, x))
        .collect()
}

fn exact_means(xs: &[f32]) -> Vec<f64> {
    let mut sum = 0.0;
    xs.iter()
        .enumerate()
        .map(|(i, &x)| {
            sum += f64::from(x);
            sum / (i + 1) as f64
        })
        .collect()
}

#[test]
fn cumulative_is_the_exact_mean() {
    let xs = samples(2000);
    let got = estimates(RunningAverage::cumulative(), &xs);
    for (t, (g, w)) in got.iter().zip(exact_means(&xs)).enumerate() {
        assert!(
            (f64::from(*g) - w).abs() <= 1e-5,
            "t = {}: {g} vs mean {w}",
            t + 1
        );
    }
}

#[test]
fn min_nt_is_the_exact_mean_then_forgets_like_the_ema() {
    let n = 50;
    let xs = samples(400);
    let got = estimates(
        RunningAverage::new(n as f64, Correction::MinNT).unwrap(),
        &xs,
    );
    let means = exact_means(&xs);
    // t ≤ N: the mean of x_1..x_t.
    for t in 0..n {
        assert!(
            (f64::from(got[t]) - means[t]).abs() <= 1e-5,
            "t = {}",
            t + 1
        );
    }
    // t > N: x̃_t = βᵗ⁻ᴺ·mean(x_1..x_N) + Σ_{k=N+1..t} (1/N)·βᵗ⁻ᵏ·x_k, β = 1 − 1/N.
    let beta = 1.0 - 1.0 / n as f64;
    let mut ema = means[n - 1];
    for t in n..xs.len() {
        ema = beta * ema + f64::from(xs[t]) / n as f64;
        assert!((f64::from(got[t]) - ema).abs() <= 1e-5, "t = {}", t + 1);
    }
    // A step from 1 to 0 after N samples decays as βᵏ, where the cumulative
    // mean decays as N/t.
    let step: Vec<f32> = (0..3 * n).map(|t| if t < n { 1.0 } else { 0.0 }).collect();
    let min_nt = estimates(
        RunningAverage::new(n as f64, Correction::MinNT).unwrap(),
        &step,
    );
    let cumulative = estimates(RunningAverage::cumulative(), &step);
    for k in 1..2 * n {
        let t = n + k;
        assert!((f64::from(min_nt[t - 1]) - beta.powi(k as i32)).abs() <= 1e-5);
        assert!((f64::from(cumulative[t - 1]) - n as f64 / t as f64).abs() <= 1e-5);
    }
}

#[test]
fn published_tracks_a_constant_from_the_first_step_and_none_does_not() {
    let c = 2.5;
    let xs = vec![c; 300];
    for n in [10.0, 1000.0] {
        let published = estimates(RunningAverage::new(n, Correction::Published).unwrap(), &xs);
        // Exactly c in exact arithmetic; in f32 the recursion's rounding
        // errors add up over the steps.
        assert!(
            (published[0] / c - 1.0).abs() <= 2e-7,
            "N = {n}, t = 1: {}",
            published[0]
        );
        for (t, &x) in published.iter().enumerate() {
            assert!((x / c - 1.0).abs() <= 1e-5, "N = {n}, t = {}: {x}", t + 1);
        }
        // The plain EMA starts at x₁/N and is still biased toward 0 for t < N.
        let none = estimates(RunningAverage::new(n, Correction::None).unwrap(), &xs);
        assert!((none[0] - c / n as f32).abs() <= 1e-7);
        let t = 5;
        let want = c as f64 * (1.0 - (1.0 - 1.0 / n).powi(t));
        assert!((f64::from(none[t as usize - 1]) - want).abs() <= 1e-6);
    }
}

#[test]
fn slices_average_element_by_element() {
    let xs = samples(30);
    let avg = RunningAverage::new(4.0, Correction::Published).unwrap();
    let mut stored = [0.0f32; 3];
    let mut scalars = [0.0f32; 3];
    for (t, chunk) in xs.chunks(3).enumerate() {
        avg.update_slice(t as u64 + 1, &mut stored, chunk);
        for (s, &x) in scalars.iter_mut().zip(chunk) {
            avg.update(t as u64 + 1, s, x);
        }
        assert_eq!(stored, scalars);
    }
}

/// Φ over 100 steps of `spec` on L = ½ Σ h_i Φ_i², h_i ∈ [0.5, 2), from
/// Φ_i ~ N(0, 0.5²): gradients of order 1 and below.
fn quadratic_trajectory(spec: &str) -> Vec<Vec<f32>> {
    let mut r = rng(4);
    let h = Tensor::uniform(&[8], 0.5, 2.0, &mut r);
    let mut values = vec![Tensor::normal(&[8], 0.0, 0.5, &mut r)];
    let mut opt = Optimizer::from_spec(spec).unwrap();
    (0..100)
        .map(|_| {
            let g = values[0].mul(&h);
            common::step(&mut opt, &mut values, &[g], None, 1);
            values[0].data().to_vec()
        })
        .collect()
}

#[test]
fn adam_eta0_tends_to_sgd_ema_as_eps_grows() {
    // Φ ← Φ − η₀/(1 + √s/ε)·g̃ becomes Φ ← Φ − η₀·g̃ as ε → ∞ (slide
    // "Decoupling η from ε").
    let sgd = quadratic_trajectory("sgd_ema(lr=0.1,n_g=10)");
    let distance = |eps: f64| -> f32 {
        let adam = quadratic_trajectory(&format!("adam_eta0(eta0=0.1,eps={eps},n_g=10)"));
        adam.iter()
            .zip(&sgd)
            .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
            .fold(0.0, f32::max)
    };
    let d: Vec<f32> = [1e-2, 1.0, 1e2, 1e4].iter().map(|&e| distance(e)).collect();
    for pair in d.windows(2) {
        assert!(
            pair[1] < pair[0],
            "trajectory differences {d:?} do not decrease"
        );
    }
    eprintln!("max |Φ_adam_eta0 − Φ_sgd_ema| for ε = 1e-2, 1, 1e2, 1e4: {d:?}");
    let far = distance(1e6);
    eprintln!("for ε = 1e6: {far}");
    assert!(far <= 1e-6, "difference {far} at ε = 10⁶");
    assert_eq!(distance(f64::INFINITY), 0.0, "ε = ∞ is SgdEma exactly");
}

#[test]
fn per_example_s_estimates_e_g2_whatever_the_batch_size() {
    // Per-coordinate μ and σ; each step draws B examples g_b ~ N(μ, σ²) and
    // feeds ĝ = mean and (1/B) Σ g_b². Adam's v estimates E ĝ² = μ² + σ²/B
    // (slide "Making Adam Adapt to the Batch Size B"); AdamPerExample's s
    // estimates E g² = μ² + σ² (slide "Making Adam Independent of B").
    let mu = [1.0f32, 0.1, 0.0, -0.5];
    let sigma = [0.5f32, 1.0, 2.0, 0.2];
    let steps = 40_000;
    let beta2: f64 = 1.0 - 1e-4;
    for batch in [1usize, 8, 64] {
        let mut adam = Optimizer::from_spec("adam(lr=1e-6,b2=0.9999)").unwrap();
        let mut per_example =
            Optimizer::from_spec("adam_per_example(eta0=1e-8,n_s=10000)").unwrap();
        let (mut pa, mut pp) = (vec![Tensor::zeros(&[4])], vec![Tensor::zeros(&[4])]);
        let mut r = rng(batch as u64);
        let mut sum = [0.0f32; 4];
        let mut sum_sq = [0.0f32; 4];
        for _ in 0..steps {
            let z = Tensor::normal(&[batch, 4], 0.0, 1.0, &mut r);
            sum.fill(0.0);
            sum_sq.fill(0.0);
            for row in z.data().chunks_exact(4) {
                for i in 0..4 {
                    let g = mu[i] + sigma[i] * row[i];
                    sum[i] += g;
                    sum_sq[i] += g * g;
                }
            }
            let b = batch as f32;
            let mean = [Tensor::from_vec(sum.iter().map(|s| s / b).collect(), &[4])];
            let squares = [Tensor::from_vec(
                sum_sq.iter().map(|s| s / b).collect(),
                &[4],
            )];
            common::step(&mut adam, &mut pa, &mean, None, batch);
            common::step(&mut per_example, &mut pp, &mean, Some(&squares), batch);
        }
        // Adam stores v uncorrected: v̂ = v/(1 − β₂ᵗ).
        let correction = 1.0 - beta2.powi(steps);
        let v = adam.moment(0, "v").unwrap().data();
        let s = per_example.moment(0, "s").unwrap().data();
        for i in 0..4 {
            let e_g2 = mu[i] * mu[i] + sigma[i] * sigma[i];
            let e_ghat2 = mu[i] * mu[i] + sigma[i] * sigma[i] / batch as f32;
            let v_hat = (f64::from(v[i]) / correction) as f32;
            assert!(
                (s[i] / e_g2 - 1.0).abs() <= 0.05,
                "B = {batch}, coordinate {i}: per-example s = {} vs μ² + σ² = {e_g2}",
                s[i]
            );
            assert!(
                (v_hat / e_ghat2 - 1.0).abs() <= 0.05,
                "B = {batch}, coordinate {i}: Adam's v̂ = {v_hat} vs μ² + σ²/B = {e_ghat2}"
            );
        }
    }
}
