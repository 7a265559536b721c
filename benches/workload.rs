//! The workload of gradlab's speed benches, which `cargo bench` at the
//! root runs (criterion is a dev-dependency, so depending on `gradlab`
//! pulls in no benchmark harness):
//!
//! ```text
//! cargo bench                          # all four
//! cargo bench --bench train_throughput # training examples/s
//! cargo bench --bench matmul           # GFLOP/s of the MLP's products
//! cargo bench --bench train_step       # forward + backward per request
//! cargo bench --bench optim_step       # one optimizer step vs a memcpy
//! ```
//!
//! Every bench measures the one workload its peers (`benches/peers/`)
//! measure, pinned here rather than taken from a default that can move:
//! [`MLP_SIZES`] with ReLU and softmax cross-entropy, and for training the
//! whole [`train_config`] written out. `tests/bench_workloads.rs` checks
//! each bench's documentation, and each peer's model, against it.

use gradlab::train::{Privacy, TrainConfig};

/// The widths of the benches' model, MLP 784-512-512-10: MNIST's 784 pixels,
/// two hidden layers of 512 with ReLU, ten logits.
pub const MLP_SIZES: [usize; 4] = [784, 512, 512, 10];

/// The activation of its hidden layers.
pub const ACTIVATION: &str = "relu";

/// The model's name as the benches' documentation writes it:
/// `MLP 784-512-512-10`.
pub fn model_name() -> String {
    let widths: Vec<String> = MLP_SIZES.iter().map(usize::to_string).collect();
    format!("MLP {}", widths.join("-"))
}

/// The shapes of the model's parameters as it stores them, layer by layer:
/// the weight `[out, in]` (PyTorch's layout), then the bias `[out]`.
pub fn param_shapes() -> Vec<Vec<usize>> {
    MLP_SIZES
        .windows(2)
        .flat_map(|w| [vec![w[1], w[0]], vec![w[1]]])
        .collect()
}

/// The run a training bench measures: the model above (its input and
/// output widths come from MNIST), `optimizer` at batch size `batch_size`,
/// one epoch, seed 0, no dropout, no standardization, every batch kept,
/// and `privacy` if given. Every field is written out, so that no change of
/// [`TrainConfig::default`] moves what a bench measures.
pub fn train_config(optimizer: &str, batch_size: usize, privacy: Option<Privacy>) -> TrainConfig {
    TrainConfig {
        hidden: MLP_SIZES[1..MLP_SIZES.len() - 1].to_vec(),
        activation: ACTIVATION.into(),
        dropout: 0.0,
        optimizer: optimizer.into(),
        batch_size,
        epochs: 1,
        seed: 0,
        limit: None,
        loss_scale: 1.0,
        standardize: false,
        drop_last: false,
        privacy,
    }
}
