//! Clipping, weight decay, schedules and batch-size rules around the rules.

mod common;

use gradlab_optim::{global_norm, Optimizer, Param, SpecError, Statistics};
use gradlab_tensor::Tensor;

fn t(v: &[f32]) -> Tensor {
    Tensor::from_vec(v.to_vec(), &[v.len()])
}

#[test]
fn clipping_uses_the_norm_over_all_parameters() {
    // ĝ = (3) and (4): ‖ĝ‖ = 5 over both parameters, so with max_norm = 1
    // both are scaled by c = 1/(5 + 10⁻⁶), and SGD with η = 1 moves them by
    // −(0.6, 0.8).
    let mut opt = Optimizer::from_spec("sgd(lr=1,clip_norm=1)").unwrap();
    let mut values = [t(&[0.0]), t(&[0.0])];
    let grads = [t(&[3.0]), t(&[4.0])];
    {
        let mut params: Vec<Param<'_>> = values
            .iter_mut()
            .zip(&grads)
            .enumerate()
            .map(|(i, (v, g))| Param::new(i, v, g))
            .collect();
        assert_eq!(global_norm(&params), 5.0);
        opt.step(&mut params, 1);
    }
    let c = 1.0 / (5.0 + 1e-6);
    common::assert_close(
        "clipped",
        &[values[0].data()[0], values[1].data()[0]],
        &[-3.0 * c, -4.0 * c],
        1e-7,
    );
    // Below the threshold nothing changes (c = min(1, 10/(5 + 10⁻⁶)) = 1).
    let mut opt = Optimizer::from_spec("sgd(lr=1,clip_norm=10)").unwrap();
    let mut values = vec![t(&[0.0]), t(&[0.0])];
    common::step(&mut opt, &mut values, &grads, None, 1);
    assert_eq!((values[0].data()[0], values[1].data()[0]), (-3.0, -4.0));
}

#[test]
fn l2_decay_adds_lambda_phi_to_the_gradient() {
    // Φ = 2, ĝ = 0.5, λ = 0.1: g = 0.5 + 0.2 = 0.7; SGD η = 0.1: Φ = 2 − 0.07.
    let mut opt = Optimizer::from_spec("sgd(lr=0.1,weight_decay=0.1)").unwrap();
    let mut values = vec![t(&[2.0])];
    common::step(&mut opt, &mut values, &[t(&[0.5])], None, 1);
    assert!((values[0].data()[0] - 1.93).abs() < 1e-6);
    // Clipping applies to ĝ before the decay term: c·ĝ + λΦ with ĝ = 4,
    // max_norm = 1: c ≈ 1/4, g = 1 + 0.2 = 1.2; Φ = 2 − 0.12.
    let mut opt = Optimizer::from_spec("sgd(lr=0.1,weight_decay=0.1,clip_norm=1)").unwrap();
    let mut values = vec![t(&[2.0])];
    common::step(&mut opt, &mut values, &[t(&[4.0])], None, 1);
    assert!((values[0].data()[0] - 1.88).abs() < 1e-6);
}

#[test]
fn per_example_squares_follow_clipping_and_decay() {
    // Two examples g_b = (1, 3): ĝ = 2, (1/B) Σ g_b² = 5. With clipping by
    // c = 1/(2 + 10⁻⁶) ≈ 0.5 and λ = 0.1 at Φ = 2 the examples become
    // c·g_b + λΦ = (0.7, 1.7): mean 1.2, mean of squares (0.49 + 2.89)/2 = 1.69.
    // First step (t = 1, min(N, t) = 1): g̃ = 1.2, s = 1.69, η = B·η₀ = 0.2:
    // Φ = 2 − 0.2·1.2/1.3 = 1.8153846.
    let mut opt =
        Optimizer::from_spec("adam_per_example(eta0=0.1,eps=0,weight_decay=0.1,clip_norm=1)")
            .unwrap();
    assert_eq!(opt.statistics(), Statistics::MeanAndSquares);
    let mut values = vec![t(&[2.0])];
    common::step(&mut opt, &mut values, &[t(&[2.0])], Some(&[t(&[5.0])]), 2);
    assert!(
        (values[0].data()[0] - 1.815_384_6).abs() < 1e-6,
        "{}",
        values[0].data()[0]
    );
    assert!((opt.moment(0, "s").unwrap().data()[0] - 1.69).abs() < 1e-5);
    assert!((opt.moment(0, "m").unwrap().data()[0] - 1.2).abs() < 1e-6);
}

#[test]
fn schedules_scale_the_step() {
    // SGD with ĝ = 1 from Φ = 0 moves Φ to −η_t, the rate the optimizer
    // reports for that step, in a run of T = 4 steps (5 for the warm-up, which
    // must be shorter than the run).
    let steps = |spec: &str, n: usize| -> Vec<f32> {
        let total = if spec.contains("warmup") { 5 } else { 4 };
        let mut opt = Optimizer::for_run(spec, total).unwrap();
        let mut values = vec![t(&[0.0])];
        (0..n)
            .map(|_| {
                let lr = opt.learning_rate(1);
                values[0].fill(0.0);
                common::step(&mut opt, &mut values, &[t(&[1.0])], None, 1);
                assert_eq!(values[0].data()[0], -lr);
                lr
            })
            .collect()
    };
    assert_eq!(
        steps("sgd(lr=1,schedule=step,step_size=2,gamma=0.5)", 5),
        [1.0, 1.0, 0.5, 0.5, 0.25]
    );
    // Cosine over T = 4: (1 + cos(πk/4))/2 for k = 0..4, then 0.
    let cos = steps("sgd(lr=1,schedule=cosine)", 6);
    common::assert_close(
        "cosine",
        &cos,
        &[1.0, 0.853_553_4, 0.5, 0.146_446_6, 0.0, 0.0],
        1e-7,
    );
    // Warm-up over 4 steps: t/4.
    assert_eq!(steps("sgd(lr=1,warmup=4)", 5), [0.25, 0.5, 0.75, 1.0, 1.0]);
}

#[test]
fn the_run_length_only_touches_cosine() {
    let opt = Optimizer::for_run("sgd(schedule=cosine)", 1000).unwrap();
    assert_eq!(
        opt.to_string(),
        "sgd(lr=0.001,schedule=cosine,total_steps=1000)"
    );
    let opt = Optimizer::for_run("sgd", 1000).unwrap();
    assert_eq!(opt.to_string(), "sgd(lr=0.001)");
}

#[test]
fn a_run_of_no_steps_is_an_error() {
    let err = Optimizer::for_run("adam(schedule=cosine)", 0).unwrap_err();
    assert!(
        matches!(&err, SpecError::BadValue { key, .. } if key == "total_steps"),
        "{err:?}"
    );
    assert!(err.to_string().contains("at least one step"), "{err}");
}

#[test]
fn cosine_without_a_length_is_an_error_at_construction() {
    let err = Optimizer::from_spec("sgd(schedule=cosine)").unwrap_err();
    assert!(
        matches!(&err, SpecError::BadValue { key, .. } if key == "schedule"),
        "{err:?}"
    );
    assert!(err.to_string().contains("total_steps=N"), "{err}");
    assert!(err.to_string().contains("Optimizer::for_run"), "{err}");
    // With the length in the spec, or from the training loop, it runs.
    let mut opt = Optimizer::from_spec("sgd(schedule=cosine,total_steps=2)").unwrap();
    common::step(&mut opt, &mut [t(&[0.0])], &[t(&[1.0])], None, 1);
    let mut opt = Optimizer::for_run("sgd(schedule=cosine)", 2).unwrap();
    common::step(&mut opt, &mut [t(&[0.0])], &[t(&[1.0])], None, 1);
}

#[test]
fn batch_rules_scale_the_learning_rate() {
    let lr = |spec: &str, b: usize| Optimizer::from_spec(spec).unwrap().learning_rate(b);
    assert_eq!(lr("adam", 64), 1e-3);
    assert_eq!(lr("adam(batch_rule=linear)", 64), 0.064);
    assert_eq!(lr("adam(batch_rule=sqrt)", 64), 0.008);
    // The per-example rule scales linearly unless told otherwise.
    assert_eq!(lr("adam_per_example(eta0=1e-4)", 64), 0.0064);
    assert_eq!(lr("adam_per_example(eta0=1e-4,batch_rule=fixed)", 64), 1e-4);
    // And the step follows: SGD with η₀ = 0.01, B = 16, ĝ = 1.
    let mut opt = Optimizer::from_spec("sgd(lr=0.01,batch_rule=sqrt)").unwrap();
    let mut values = vec![t(&[0.0])];
    common::step(&mut opt, &mut values, &[t(&[1.0])], None, 16);
    assert!((values[0].data()[0] + 0.04).abs() < 1e-8);
}

#[test]
fn grad_requests() {
    for name in common::ALL {
        let want = if name == "adam_per_example" {
            Statistics::MeanAndSquares
        } else {
            Statistics::Mean
        };
        assert_eq!(
            Optimizer::from_spec(name).unwrap().statistics(),
            want,
            "{name}"
        );
    }
}

#[test]
fn moments_are_named_and_created_on_first_sight() {
    let mut opt = Optimizer::from_spec("adam(lr=0.1)").unwrap();
    assert!(opt.moment(0, "m").is_none());
    common::step(&mut opt, &mut [t(&[1.0, 2.0])], &[t(&[0.5, -1.0])], None, 1);
    // m = 0.1·ĝ, v = 0.001·ĝ², stored without the bias correction.
    common::assert_close("m", opt.moment(0, "m").unwrap().data(), &[0.05, -0.1], 1e-8);
    common::assert_close(
        "v",
        opt.moment(0, "v").unwrap().data(),
        &[0.000_25, 0.001],
        1e-10,
    );
    assert!(opt.moment(0, "s").is_none());
    assert!(opt.moment(1, "m").is_none());
    assert_eq!(opt.state_names(), ["m", "v"]);
}

#[test]
#[should_panic(
    expected = "adam_per_example needs the per-example squares (1/B) Σ g_b² of parameter 0: ask backward for GradRequest::MeanAndSquares"
)]
fn missing_squares_panic_clearly() {
    let mut opt = Optimizer::from_spec("adam_per_example").unwrap();
    common::step(&mut opt, &mut [t(&[0.0])], &[t(&[1.0])], None, 1);
}

#[test]
#[should_panic(
    expected = "parameter 0 has shape [2], but the optimizer state for it has shape [1]"
)]
fn a_parameter_changing_shape_panics_clearly() {
    let mut opt = Optimizer::from_spec("adam").unwrap();
    common::step(&mut opt, &mut [t(&[0.0])], &[t(&[1.0])], None, 1);
    common::step(&mut opt, &mut [t(&[0.0, 0.0])], &[t(&[1.0, 1.0])], None, 1);
}

#[test]
#[should_panic(expected = "parameter id 3 appears twice")]
fn duplicate_ids_panic() {
    let mut opt = Optimizer::from_spec("sgd").unwrap();
    let (mut a, mut b, g) = (t(&[0.0]), t(&[0.0]), t(&[1.0]));
    opt.step(
        &mut [Param::new(3, &mut a, &g), Param::new(3, &mut b, &g)],
        1,
    );
}
