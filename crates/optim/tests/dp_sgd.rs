//! DP-SGD's Gaussian mechanism: the noise's scale, its seeding, its
//! independence of the thread count, and its errors.

use gradlab_optim::{GaussianMechanism, PrivacyError};

fn moments(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = v
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    (mean, var.sqrt())
}

#[test]
fn the_noisy_gradient_is_the_batch_sum_plus_sigma_c_noise_over_the_expected_batch() {
    // σ = 1.5, C = 2, a batch of 30 where 40 were expected.
    let m = GaussianMechanism::new(1.5, 2.0, 9).unwrap();
    let n = 200_000;
    let mut g = vec![0.25f32; n];
    m.privatize(&mut g, 30, 40.0, 1, 0);
    let (mean, std) = moments(&g);
    // Mean 0.25·30/40, standard deviation 1.5·2/40 = 0.075.
    assert!((mean - 0.1875).abs() < 5e-4, "mean {mean}");
    assert!((std / 0.075 - 1.0).abs() < 0.01, "std {std}");
    // Every element of its own draw: no two stream chunks repeat.
    assert_ne!(g[..16384], g[16384..32768]);
}

#[test]
fn without_noise_a_full_batch_keeps_the_gradient_bitwise() {
    let m = GaussianMechanism::new(0.0, f32::INFINITY, 1).unwrap();
    let g: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin() * 1e-3).collect();
    let mut h = g.clone();
    m.privatize(&mut h, 64, 64.0, 5, 2);
    assert_eq!(g, h);
    // Without noise a smaller batch is scaled by B/B_exp.
    m.privatize(&mut h, 32, 64.0, 5, 2);
    assert_eq!(h[1], g[1] * 0.5);
}

#[test]
fn the_noise_depends_on_seed_step_and_parameter_and_not_on_threads() {
    let draw = |seed: u64, step: u64, id: usize, threads: usize| {
        let m = GaussianMechanism::new(1.0, 1.0, seed).unwrap();
        let mut g = vec![0.0f32; 100_000];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| m.privatize(&mut g, 10, 10.0, step, id));
        g
    };
    let base = draw(1, 1, 0, 1);
    assert_eq!(base, draw(1, 1, 0, 2), "one thread or two");
    assert_eq!(base, draw(1, 1, 0, 3));
    assert_ne!(base, draw(2, 1, 0, 1), "seed");
    assert_ne!(base, draw(1, 2, 0, 1), "step");
    assert_ne!(base, draw(1, 1, 1, 1), "parameter");
}

#[test]
fn bad_settings_are_errors() {
    let cases = [
        (-0.5, 1.0, "noise multiplier"),
        (f64::INFINITY, 1.0, "noise multiplier"),
        (1.0, 0.0, "clipping bound"),
        (1.0, -1.0, "clipping bound"),
        (1.0, f32::NAN, "clipping bound"),
        (1.0, f32::INFINITY, "∞ only without noise"),
    ];
    for (sigma, c, message) in cases {
        let err = GaussianMechanism::new(sigma, c, 0).unwrap_err();
        assert!(
            matches!(
                err,
                PrivacyError::NoiseMultiplier(_) | PrivacyError::MaxNorm(_)
            ),
            "{err}"
        );
        assert!(err.to_string().contains(message), "σ={sigma} C={c}: {err}");
    }
}
