//! The softplus op of `examples/custom_op.rs`, defined outside the autodiff
//! crate: its backward against finite differences, alone and inside an MLP
//! (with respect to every weight), its per-example gradients against a loop
//! of batch-size-1 backwards, and the trainer fitting the example's model.

#[allow(dead_code)] // the example's `main` is not called here
#[path = "../examples/custom_op.rs"]
mod example;

use example::{circle, gradient_error, model, Softplus, SoftplusExt};
use gradlab::autodiff::{gradient_check, GradRequest, Tape};
use gradlab::layers::Mode;
use gradlab::tensor::{rng, Tensor};
use gradlab::train::{FitOptions, TrainConfig, Trainer};

#[test]
fn softplus_backward_matches_finite_differences() {
    // f32 rounding of L over h = 1e-2 and the O(h²) truncation stay below
    // 1e-4 here; a wrong derivative is off by O(1).
    let err = gradient_error();
    assert!(err < 1e-3, "max error {err}");
}

#[test]
fn softplus_values_are_stable() {
    let mut params = gradlab::autodiff::ParamStore::new();
    let id = params.add("x", Tensor::from_vec(vec![-100.0, 0.0, 100.0], &[3]));
    let mut tape = Tape::new();
    let mut g = tape.record(&params);
    let x = g.param(id);
    let y = g.apply(Softplus, &[x]);
    let v = g.value(y).data().to_vec();
    assert!(v[0] >= 0.0 && v[0] < 1e-40, "{}", v[0]);
    assert!((v[1] - std::f32::consts::LN_2).abs() < 1e-7, "{}", v[1]);
    assert_eq!(v[2], 100.0);
    assert_eq!(
        tape.describe()[1].split_whitespace().nth(2),
        Some("softplus")
    );
}

/// ∂L/∂θ of L = Σ c ⊙ net(x) for every weight of the example's MLP, by
/// central differences, with the tolerance of the autodiff crate's
/// gradient checks.
#[test]
fn an_mlp_with_softplus_matches_finite_differences() {
    let mut m = model(3).unwrap();
    let x = Tensor::uniform(&[6, 2], -2.0, 2.0, &mut rng(4));
    let net = &m.net;
    let worst = gradient_check(&mut m.params, 1e-2, |g, _| {
        let xv = g.input(&x);
        net.forward(g, xv, Mode::Eval)
    });
    assert!(worst.error() <= 5e-3, "{worst:?}");
}

/// Softplus declares that it keeps examples apart, so the per-example
/// request goes through it and gives every g_b exactly as one backward per
/// example does.
#[test]
fn per_example_gradients_pass_through_softplus() {
    let m = model(6).unwrap();
    let b = 7;
    let x = Tensor::uniform(&[b, 2], -2.0, 2.0, &mut rng(7));
    let labels: Vec<usize> = (0..b).map(|i| i % 2).collect();
    let mut tape = Tape::new();
    let mut g = tape.record(&m.params);
    let xv = g.input(&x);
    let y = m.net.forward(&mut g, xv, Mode::Eval);
    let losses = g.softmax_cross_entropy(y, &labels);
    g.backward(losses, GradRequest::PerExample).unwrap();
    let mut single = Tape::new();
    for i in 0..b {
        let xi = Tensor::from_vec(x.row(i).to_vec(), &[1, 2]);
        let mut g = single.record(&m.params);
        let xv = g.input(&xi);
        let y = m.net.forward(&mut g, xv, Mode::Eval);
        let loss = g.softmax_cross_entropy(y, &labels[i..=i]);
        g.backward(loss, GradRequest::Mean).unwrap();
        for id in m.params.ids() {
            let want = single.grad(id).unwrap();
            let pe = tape.per_example(id).unwrap();
            let got = &pe.data()[i * want.len()..(i + 1) * want.len()];
            for (a, w) in got.iter().zip(want.data()) {
                assert!(
                    (a - w).abs() <= 1e-5 * (1.0 + w.abs()),
                    "example {i}: {a} vs {w}"
                );
            }
        }
    }
}

#[test]
fn the_trainer_fits_the_softplus_model() {
    let config = TrainConfig {
        optimizer: "adam(lr=3e-3)".into(),
        batch_size: 32,
        epochs: 10,
        ..TrainConfig::default()
    };
    let data = (circle(1000, 10), circle(500, 11));
    let mut trainer = Trainer::with_model(config, model(0).unwrap(), data.0, data.1).unwrap();
    let history = trainer.fit(&FitOptions::default(), &mut |_| {}).unwrap();
    let acc = history.last().unwrap().test_accuracy.unwrap();
    assert!(acc > 0.9, "test accuracy {acc}");
    // The same graph method as the built-in ops.
    let mut g = Tape::new();
    let mut g = g.record(&trainer.model.params);
    let x = g.input(&Tensor::zeros(&[1, 2]));
    let y = g.softplus(x);
    assert_eq!(g.value(y).data(), [std::f32::consts::LN_2; 2]);
}
