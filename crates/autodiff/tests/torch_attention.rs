//! The ops of a GPT against PyTorch — causal attention, embedding, layer
//! norm over positions, a linear layer with GELU over positions,
//! cross-entropy over positions: forward values and gradients of every
//! input, from `tests/reference/torch_attention.py` (run by hand; it writes
//! `reference/torch_attention.rs`). The inputs are closed formulas of their
//! flat index, as in the script; each op's output y is reduced to
//! L = Σ y ⊙ R.

use gradlab_autodiff::{Activation, GradRequest, Graph, ParamStore, Tape, Var};
use gradlab_tensor::Tensor;

#[path = "reference/torch_attention.rs"]
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
/// output and every input's gradient against PyTorch's, within 2·10⁻⁵ of
/// the largest magnitude of each.
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
fn causal_attention_matches_pytorch() {
    check(
        "causal attention",
        vec![tensor(&[2, 5, 12], x_at)],
        |g, v| g.causal_attention(v[0], 2),
        &torch::ATTENTION_Y,
        &[&torch::ATTENTION_D0],
    );
}

#[test]
fn embedding_matches_pytorch() {
    let ids = Tensor::from_vec(
        (0..10).map(|k| ((3 * k + k * k) % 7) as f32).collect(),
        &[2, 5],
    );
    check(
        "embedding",
        vec![tensor(&[7, 3], w_at)],
        |g, v| {
            let x = g.input(&ids);
            g.embedding(x, v[0])
        },
        &torch::EMBEDDING_Y,
        &[&torch::EMBEDDING_D0],
    );
}

#[test]
fn layer_norm_over_positions_matches_pytorch() {
    check(
        "layer norm",
        vec![
            tensor(&[2, 5, 4], x_at),
            tensor(&[4], gamma_at),
            tensor(&[4], beta_at),
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
fn linear_over_positions_matches_pytorch() {
    check(
        "linear + gelu",
        vec![
            tensor(&[2, 3, 4], x_at),
            tensor(&[5, 4], w_at),
            tensor(&[5], b_at),
        ],
        |g, v| g.linear(v[0], v[1], Some(v[2]), Some(Activation::Gelu)),
        &torch::LINEAR_Y,
        &[&torch::LINEAR_D0, &torch::LINEAR_D1, &torch::LINEAR_D2],
    );
}

#[test]
fn cross_entropy_over_positions_matches_pytorch() {
    let labels: Vec<usize> = (0..6).map(|k| (5 * k + 1) % 6).collect();
    check(
        "cross-entropy",
        vec![tensor(&[2, 3, 6], x_at)],
        |g, v| g.softmax_cross_entropy(v[0], &labels),
        &torch::CROSS_ENTROPY_Y,
        &[&torch::CROSS_ENTROPY_D0],
    );
}
