//! Convolution, pooling and normalization against PyTorch: forward values
//! and gradients of every input, from `tests/reference/torch_conv.py` (run
//! by hand; it writes `reference/torch_conv.rs`). The inputs are closed
//! formulas of their flat index, as in the script; each op's output y is
//! reduced to L = Σ y ⊙ R.

use gradlab_autodiff::ops::conv::Conv2d;
use gradlab_autodiff::ops::pool::{Pool2d, Pooling};
mod common;

use common::{b_at, beta_at, check_against_torch, gamma_at, tensor, w_at, x_at};

// BATCH_NORM_RUNNING_* are the layers crate's (its BatchNorm2d updates them).
#[allow(dead_code)]
#[path = "reference/torch_conv.rs"]
mod torch;

#[test]
fn convolution_matches_pytorch() {
    let op = Conv2d {
        stride: (2, 1),
        padding: (1, 2),
        dilation: (1, 2),
        bias: true,
    };
    check_against_torch(
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
    check_against_torch(
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
    check_against_torch(
        "average pool",
        x(),
        |g, v| g.pool2d(v[0], average),
        &torch::AVG_POOL_Y,
        &[&torch::AVG_POOL_D0],
    );
    check_against_torch(
        "global average pool",
        x(),
        |g, v| g.global_avg_pool(v[0]),
        &torch::GLOBAL_POOL_Y,
        &[&torch::GLOBAL_POOL_D0],
    );
}

#[test]
fn normalization_matches_pytorch() {
    check_against_torch(
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
    check_against_torch(
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
    check_against_torch(
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
    check_against_torch(
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
