//! `BatchNorm2d`: its running averages against PyTorch's after a training
//! step (the numbers `autodiff/tests/reference/torch_conv.py` wrote), what
//! it does while evaluating, that no optimizer could step its averages, and
//! that a per-example request through it is an error naming it.

use gradlab_autodiff::{GradRequest, ParamStore, Tape};
use gradlab_layers::{BatchNorm2d, Mode, Module};
use gradlab_tensor::Tensor;

#[allow(dead_code)]
#[path = "../../autodiff/tests/reference/torch_conv.rs"]
mod torch;

/// The script's input z: `[2, 4, 5, 3]`, sin(0.3 + 0.37k) + 0.2·cos(1.9k).
fn z() -> Tensor {
    let data = (0..120)
        .map(|k| {
            let k = k as f64;
            ((0.3 + 0.37 * k).sin() + 0.2 * (1.9 * k).cos()) as f32
        })
        .collect();
    Tensor::from_vec(data, &[2, 4, 5, 3])
}

fn close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (a, b) in got.iter().zip(want) {
        assert!(
            (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
            "{what}: {a} against PyTorch's {b}"
        );
    }
}

#[test]
fn running_averages_follow_pytorch_and_evaluation_reads_them() {
    let mut store = ParamStore::new();
    let bn = BatchNorm2d::new(&mut store, "bn", 4).unwrap();
    assert_eq!(
        bn.params(),
        vec![bn.weight, bn.bias],
        "the averages are no parameters"
    );
    let mut tape = Tape::new();
    let x = z();
    let mut g = tape.record(&store);
    let xv = g.input(&x);
    let y = bn.forward(&mut g, xv, Mode::Train { seed: 0 });
    let loss = g.sum(y);
    g.backward(loss, GradRequest::Mean).unwrap();
    assert!(tape.grad(bn.running_mean).is_none() && tape.grad(bn.running_var).is_none());
    // Nothing moves before the step is taken, then the batch is folded in
    // once.
    close(
        "running mean before",
        store.get(bn.running_mean).data(),
        &[0.0; 4],
    );
    bn.update_state(&mut store);
    bn.update_state(&mut store);
    close(
        "running mean",
        store.get(bn.running_mean).data(),
        &torch::BATCH_NORM_RUNNING_MEAN,
    );
    close(
        "running var",
        store.get(bn.running_var).data(),
        &torch::BATCH_NORM_RUNNING_VAR,
    );
    // Evaluating standardizes by the running averages:
    // y = γ(x − μ)/√(σ² + ε) + β with γ = 1, β = 0.
    let mut g = tape.record(&store);
    let xv = g.input(&x);
    let y = bn.forward(&mut g, xv, Mode::Eval);
    let (mean, var) = (
        store.get(bn.running_mean).data(),
        store.get(bn.running_var).data(),
    );
    let want: Vec<f32> = x
        .data()
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = i / 15 % 4;
            (v - mean[c]) / (var[c] + 1e-5).sqrt()
        })
        .collect();
    close("evaluation", g.value(y).data(), &want);
}

#[test]
fn a_per_example_request_through_batch_norm_names_it() {
    let mut store = ParamStore::new();
    let bn = BatchNorm2d::new(&mut store, "bn", 4).unwrap();
    let mut tape = Tape::new();
    let mut g = tape.record(&store);
    let xv = g.input(&z());
    let y = bn.forward(&mut g, xv, Mode::Train { seed: 0 });
    let pooled = g.global_avg_pool(y);
    let loss = g.softmax_cross_entropy(pooled, &[0, 3]);
    let err = g
        .backward(loss, GradRequest::PerExample)
        .unwrap_err()
        .to_string();
    assert!(err.contains("batch norm (batch statistics)"), "{err}");
}

#[test]
fn no_channels_and_a_name_taken_are_errors() {
    let mut store = ParamStore::new();
    let err = BatchNorm2d::new(&mut store, "bn", 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "BatchNorm2d \"bn\": needs at least one channel"
    );
    BatchNorm2d::new(&mut store, "bn", 2).unwrap();
    let err = BatchNorm2d::new(&mut store, "bn", 2).unwrap_err();
    assert!(
        err.to_string()
            .contains("already holds a parameter named \"bn.weight\""),
        "{err}"
    );
    assert_eq!(store.len(), 4, "the failed layer added nothing");
}
