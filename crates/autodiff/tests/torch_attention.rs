//! The ops of a GPT against PyTorch — causal attention, embedding, layer
//! norm over positions, a linear layer with GELU over positions,
//! cross-entropy over positions: forward values and gradients of every
//! input, from `tests/reference/torch_attention.py` (run by hand; it writes
//! `reference/torch_attention.rs`). The inputs are closed formulas of their
//! flat index, as in the script; each op's output y is reduced to
//! L = Σ y ⊙ R.

use gradlab_autodiff::Activation;
use gradlab_tensor::Tensor;

mod common;

use common::{b_at, beta_at, check_against_torch, gamma_at, tensor, w_at, x_at};

#[path = "reference/torch_attention.rs"]
mod torch;

#[test]
fn causal_attention_matches_pytorch() {
    check_against_torch(
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
    check_against_torch(
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
    check_against_torch(
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
    check_against_torch(
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
    check_against_torch(
        "cross-entropy",
        vec![tensor(&[2, 3, 6], x_at)],
        |g, v| g.softmax_cross_entropy(v[0], &labels),
        &torch::CROSS_ENTROPY_Y,
        &[&torch::CROSS_ENTROPY_D0],
    );
}
