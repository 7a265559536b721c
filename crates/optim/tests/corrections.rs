//! The lecture's four bias corrections as a key of every running average.

mod common;

use common::Noisy;
use gradlab_optim::{Adam, Correction, Optimizer, Param, SgdEma};
use gradlab_tensor::Tensor;

/// m of `spec` (which keeps one average `m`) after each of `steps` steps
/// of the constant gradient 1.
fn averages(spec: &str, steps: usize) -> Vec<f32> {
    let mut opt = Optimizer::from_spec(spec).unwrap();
    let mut phi = Tensor::from_vec(vec![0.0], &[1]);
    let g = Tensor::from_vec(vec![1.0], &[1]);
    (0..steps)
        .map(|_| {
            opt.step(&mut [Param::new(0, &mut phi, &g)], 1);
            opt.moment(0, "m").unwrap().data()[0]
        })
        .collect()
}

#[test]
fn sgd_ema_without_correction_is_the_plain_ema_started_at_zero() {
    // The weight the average gives the (constant) gradient: 1 − 0.9ᵗ.
    let m = averages("sgd_ema(lr=0.1,n_g=10,correction=none)", 3);
    let want = [0.1f32, 0.19, 0.271];
    for (t, (m, w)) in m.iter().zip(want).enumerate() {
        assert!((m - w).abs() < 1e-7, "t = {}: {m} vs {w}", t + 1);
    }
    // The lecture's min(N, t) average (the default) is exact from the start.
    assert_eq!(averages("sgd_ema(lr=0.1,n_g=10)", 3), [1.0, 1.0, 1.0]);
    // The cumulative mean and the published correction: the stored value
    // of the published one is the plain EMA; its debiased estimate is 1.
    assert_eq!(
        averages("sgd_ema(lr=0.1,n_g=10,correction=cumulative)", 3),
        [1.0, 1.0, 1.0]
    );
    let published = averages("sgd_ema(lr=0.1,n_g=10,correction=published)", 3);
    assert!((published[2] - 0.271).abs() < 1e-7);
}

#[test]
fn adam_with_the_lectures_correction_is_adam_lecture() {
    let mut adam = Optimizer::from_spec("adam(lr=0.01,correction=min_nt)").unwrap();
    let mut lecture = Optimizer::from_spec("adam_lecture(lr=0.01)").unwrap();
    let (mut a, mut b) = (Noisy::new(), Noisy::new());
    a.run(&mut adam, 100);
    b.run(&mut lecture, 100);
    assert_eq!(a.bits(), b.bits());
    for id in 0..2 {
        assert_eq!(adam.moment(id, "m"), lecture.moment(id, "m"));
        assert_eq!(adam.moment(id, "v"), lecture.moment(id, "s"));
    }
}

#[test]
fn each_rule_keeps_its_published_correction_by_default() {
    let adam = Optimizer::from_spec("adam").unwrap();
    assert_eq!(
        adam.rule::<Adam>().unwrap().correction,
        Correction::Published
    );
    assert_eq!(
        adam.hyperparameter("correction").as_deref(),
        Some("published")
    );
    let ema = Optimizer::from_spec("sgd_ema").unwrap();
    assert_eq!(ema.rule::<SgdEma>().unwrap().correction, Correction::MinNT);
    assert_eq!(
        Optimizer::from_spec("rmsprop")
            .unwrap()
            .hyperparameter("correction")
            .as_deref(),
        Some("none")
    );
    // The canonical spec names a correction only when it is not the rule's.
    assert_eq!(adam.to_string(), "adam(lr=0.001,b1=0.9,b2=0.999,eps=1e-8)");
    let spec = "rmsprop(lr=0.01,n_s=100,eps=1e-8,correction=published)";
    assert_eq!(Optimizer::from_spec(spec).unwrap().to_string(), spec);
    assert_eq!(
        Optimizer::from_spec("adam(correction=lecture)")
            .unwrap_err()
            .to_string(),
        "bad value 'lecture' for correction of adam: expected one of none, cumulative, min_nt, \
         published"
    );
    // Classical momentum sums, it does not average: no correction to choose.
    assert!(Optimizer::from_spec("sgd_momentum(correction=none)")
        .unwrap_err()
        .to_string()
        .starts_with("unknown key 'correction' for sgd_momentum"));
}

#[test]
fn decoupled_decay_works_for_every_rule() {
    // One step with ĝ = 0 moves Φ only by the decay: Φ·(1 − ηλ) for every
    // rule whose update is 0 at ĝ = 0.
    for spec in [
        "sgd(lr=0.1,decoupled_weight_decay=0.5)",
        "sgd_momentum(lr=0.1,decoupled_weight_decay=0.5)",
        "rmsprop(lr=0.1,decoupled_weight_decay=0.5)",
        "adam(lr=0.1,decoupled_weight_decay=0.5)",
        "adamw(lr=0.1,weight_decay=0.5)",
        "adam_eta0(eta0=0.1,decoupled_weight_decay=0.5)",
    ] {
        let mut opt = Optimizer::from_spec(spec).unwrap();
        let mut phi = Tensor::from_vec(vec![2.0, -4.0], &[2]);
        let g = Tensor::zeros(&[2]);
        opt.step(&mut [Param::new(0, &mut phi, &g)], 1);
        assert_eq!(phi.data(), &[1.9, -3.8], "{spec}");
        assert_eq!(opt.decoupled_weight_decay(), 0.5, "{spec}");
    }
    // adamw's weight_decay is the decoupled one, under either spelling,
    // and it takes no L2 term.
    let spelled = |spec| Optimizer::from_spec(spec).unwrap();
    assert_eq!(
        spelled("adamw(decoupled_weight_decay=0.1)"),
        spelled("adamw(weight_decay=0.1)")
    );
    assert_eq!(spelled("adamw(weight_decay=0.1)").weight_decay(), 0.0);
}

#[test]
fn rmsprop_with_the_published_correction_starts_with_full_steps() {
    // t = 1: s = ĝ²/N, debiased ŝ = ĝ², so the step is η·ĝ/(|ĝ| + ε).
    for spec in [
        "rmsprop(lr=0.1,eps=0.5,correction=published)",
        "rmsprop_momentum(lr=0.1,eps=0.5,correction=published)",
    ] {
        let mut opt = Optimizer::from_spec(spec).unwrap();
        let mut phi = Tensor::from_vec(vec![1.0, 1.0], &[2]);
        let g = Tensor::from_vec(vec![2.0, -0.5], &[2]);
        opt.step(&mut [Param::new(0, &mut phi, &g)], 1);
        let want = [1.0 - 0.1 * 2.0 / 2.5, 1.0 + 0.1 * 0.5 / 1.0];
        for (p, w) in phi.data().iter().zip(want) {
            assert!((p - w).abs() < 1e-6, "{spec}: {:?} vs {want:?}", phi.data());
        }
    }
}
