//! Convolution, pooling and normalization against PyTorch: forward values
//! and gradients of every input, from `tests/reference/torch_conv.py` (run
//! by hand; it writes `reference/torch_conv.rs`). The inputs are closed
//! formulas of their flat index, as in the script; each op's output y is
//! reduced to L = Σ y ⊙ R.

use gradlab_autodiff::ops::conv::Conv2d;
use gradlab_autodiff::ops::pool::{Pool2d, Pooling};
use gradlab_autodiff::{GradRequest, Graph, ParamStore, Tape, Var};
use gradlab_tensor::Tensor;

// BATCH_NORM_RUNNING_* are the layers crate's (its BatchNorm2d updates them).
#[allow(dead_code)]
#[path = "reference/torch_conv.rs"]
mod torch;

fn tensor(shape: &[usize], f: fn(f64) -> f64) -> Tensor {
    let n = shape.iter().product::<usize>();
    Tensor::from_vec((0..n).map(|k| f(k as f64) as f32).collect(), shape)
}

fn x_at(k: f64) -> f64 {
    (0.3 + 0.37 * k).sin() + 0.2 * (1.9 * k).cos()
}

fn w_at(k: f64) -> f64 {
    0.5 * (1.0 + 0.61 * k).sin()
}

fn b_at(k: f64) -> f64 {
    0.2 * (2.0 + 0.9 * k).cos()
}

fn r_at(k: f64) -> f64 {
    (0.5 + 0.77 * k).cos()
}

fn gamma_at(k: f64) -> f64 {
    1.0 + 0.3 * (0.4 + 1.7 * k).sin()
}

fn beta_at(k: f64) -> f64 {
    0.1 * (0.8 + 1.3 * k).cos()
}

/// Runs `f` on `inputs` (as parameters), backpropagates R and checks the
/// output and every input's gradient against PyTorch's, within `tol`
/// relative to the largest magnitude of each.
fn check(
    name: &str,
    inputs: Vec<Tensor>,
    f: impl Fn(&mut Graph, &[Var]) -> Var,
    want_y: &[f32],
    want_grads: &[&[f32]],
) {
    let mut store = ParamStore::new();
    let ids: Vec<_> = inputs
        .into_iter()
        .enumerate()
        .map(|(i, t)| store.add(format!("x{i}"), t))
        .collect();
    let mut tape = Tape::new();
    let mut g = tape.record(&store);
    let vars: Vec<Var> = ids.iter().map(|&id| g.param(id)).collect();
    let y = f(&mut g, &vars);
    let shape = g.value(y).shape().to_vec();
    let got_y = g.value(y).data().to_vec();
    let r = g.input(&tensor(&shape, r_at));
    let weighted = g.mul(y, r);
    let loss = g.sum(weighted);
    g.backward(loss, GradRequest::Mean).unwrap();
    let close = |what: &str, got: &[f32], want: &[f32]| {
        assert_eq!(got.len(), want.len(), "{name} {what}: length");
        let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        for (k, (a, b)) in got.iter().zip(want).enumerate() {
            assert!(
                (a - b).abs() <= 2e-5 * scale,
                "{name} {what}[{k}]: {a} against PyTorch's {b}"
            );
        }
    };
    close("y", &got_y, want_y);
    for (i, (&id, want)) in ids.iter().zip(want_grads).enumerate() {
        close(
            &format!("∂L/∂input {i}"),
            tape.grad(id).unwrap().data(),
            want,
        );
    }
}

#[test]
fn convolution_matches_pytorch() {
    let op = Conv2d {
        stride: (2, 1),
        padding: (1, 2),
        dilation: (1, 2),
        bias: true,
    };
    check(
        "conv2d",
        vec![
            tensor(&[2, 3, 7, 6], x_at),
            tensor(&[4, 3, 3, 3], w_at),
            tensor(&[4], b_at),
        ],
        |g, v| g.conv2d(v[0], v[1], Some(v[2]), op),
        &torch::CONV_Y,
        &[&torch::CONV_D0, &torch::CONV_D1, &torch::CONV_D2],
    );
}

#[test]
fn pooling_matches_pytorch() {
    let x = || vec![tensor(&[2, 3, 7, 6], x_at)];
    let max = Pool2d {
        kind: Pooling::Max,
        kernel: (3, 2),
        stride: (2, 1),
        padding: (1, 1),
    };
    check(
        "max pool",
        x(),
        |g, v| g.pool2d(v[0], max),
        &torch::MAX_POOL_Y,
        &[&torch::MAX_POOL_D0],
    );
    let average = Pool2d {
        kind: Pooling::Average,
        kernel: (3, 3),
        stride: (2, 2),
        padding: (1, 1),
    };
    check(
        "average pool",
        x(),
        |g, v| g.pool2d(v[0], average),
        &torch::AVG_POOL_Y,
        &[&torch::AVG_POOL_D0],
    );
    check(
        "global average pool",
        x(),
        |g, v| g.global_avg_pool(v[0]),
        &torch::GLOBAL_POOL_Y,
        &[&torch::GLOBAL_POOL_D0],
    );
}

#[test]
fn normalization_matches_pytorch() {
    check(
        "group norm",
        vec![
            tensor(&[2, 4, 5, 3], x_at),
            tensor(&[4], gamma_at),
            tensor(&[4], beta_at),
        ],
        |g, v| g.group_norm(v[0], 2, v[1], v[2], 1e-5),
        &torch::GROUP_NORM_Y,
        &[
            &torch::GROUP_NORM_D0,
            &torch::GROUP_NORM_D1,
            &torch::GROUP_NORM_D2,
        ],
    );
    check(
        "layer norm",
        vec![
            tensor(&[3, 5], x_at),
            tensor(&[5], gamma_at),
            tensor(&[5], beta_at),
        ],
        |g, v| g.layer_norm(v[0], v[1], v[2], 1e-5),
        &torch::LAYER_NORM_Y,
        &[
            &torch::LAYER_NORM_D0,
            &torch::LAYER_NORM_D1,
            &torch::LAYER_NORM_D2,
        ],
    );
}

#[test]
fn batch_normalization_matches_pytorch() {
    let inputs = || {
        vec![
            tensor(&[2, 4, 5, 3], x_at),
            tensor(&[4], gamma_at),
            tensor(&[4], beta_at),
        ]
    };
    check(
        "batch norm, training",
        inputs(),
        |g, v| g.batch_norm(v[0], v[1], v[2], 1e-5),
        &torch::BATCH_NORM_Y,
        &[
            &torch::BATCH_NORM_D0,
            &torch::BATCH_NORM_D1,
            &torch::BATCH_NORM_D2,
        ],
    );
    check(
        "batch norm, evaluating",
        inputs(),
        |g, v| {
            let mean = g.constant(&tensor(&[4], b_at));
            let var = g.constant(&tensor(&[4], gamma_at));
            g.batch_norm_with(v[0], v[1], v[2], mean, var, 1e-5)
        },
        &torch::BATCH_NORM_EVAL_Y,
        &[
            &torch::BATCH_NORM_EVAL_D0,
            &torch::BATCH_NORM_EVAL_D1,
            &torch::BATCH_NORM_EVAL_D2,
        ],
    );
}
