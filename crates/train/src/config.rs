//! What a run is: model, data, optimizer, schedule and seed.

use gradlab_autodiff::Activation;
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// Everything that determines a training run, besides its model and data.
/// Two runs with equal configs, models and data produce bitwise equal
/// weights, whatever the number of threads. `hidden`, `activation` and
/// `dropout` describe the MLP [`Trainer::new`](crate::Trainer::new) builds;
/// a run of another model ([`Trainer::with_model`](crate::Trainer::with_model))
/// does not read them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Hidden layer widths of the MLP [`Trainer::new`](crate::Trainer::new)
    /// builds (the input and output widths come from the data).
    pub hidden: Vec<usize>,
    /// Activation after every hidden layer: `relu`, `leaky_relu`, `tanh`,
    /// `sigmoid` or `gelu`.
    pub activation: String,
    /// Dropout probability after every hidden activation (0: none).
    pub dropout: f32,
    /// Optimizer spec string, e.g. `adam(lr=1e-3)`.
    pub optimizer: String,
    /// Examples per step.
    pub batch_size: usize,
    /// Passes over the training set.
    pub epochs: usize,
    /// Seed of the initial weights, the per-epoch shuffles and dropout.
    pub seed: u64,
    /// Train on the first `limit` training examples only.
    pub limit: Option<usize>,
    /// Multiplies the loss that is differentiated (not the one reported) by
    /// α: every gradient scales by α, every squared gradient by α². Adaptive
    /// optimizers are invariant to it (the lecture's "RMSProp Analysis").
    #[serde(default = "one")]
    pub loss_scale: f32,
    /// Standardize every feature by the training set's mean and standard
    /// deviation (recorded in checkpoints), for data whose features have
    /// unlike scales.
    #[serde(default)]
    pub standardize: bool,
}

fn one() -> f32 {
    1.0
}

impl Default for TrainConfig {
    /// The default MNIST recipe: MLP 784-512-512-10 with ReLU, Adam with a
    /// cosine-decayed learning rate, batches of 128, 8 epochs.
    fn default() -> TrainConfig {
        TrainConfig {
            hidden: vec![512, 512],
            activation: "relu".into(),
            dropout: 0.0,
            optimizer: DEFAULT_OPTIMIZER.into(),
            batch_size: 128,
            epochs: 8,
            seed: 0,
            limit: None,
            loss_scale: 1.0,
            standardize: false,
        }
    }
}

/// The default optimizer of [`TrainConfig::default`].
pub const DEFAULT_OPTIMIZER: &str = "adam(lr=1e-3,schedule=cosine)";

/// The activation names [`parse_activation`] accepts.
pub const ACTIVATIONS: [&str; 5] = ["relu", "leaky_relu", "tanh", "sigmoid", "gelu"];

/// The activation called `name` (leaky ReLU with slope 0.01, PyTorch's
/// default).
pub fn parse_activation(name: &str) -> Result<Activation, TrainError> {
    Ok(match name {
        "relu" => Activation::Relu,
        "leaky_relu" => Activation::LeakyRelu(0.01),
        "tanh" => Activation::Tanh,
        "sigmoid" => Activation::Sigmoid,
        "gelu" => Activation::Gelu,
        _ => {
            return Err(TrainError::Config(format!(
                "unknown activation {name:?}; expected one of {}",
                ACTIVATIONS.join(", ")
            )))
        }
    })
}

impl TrainConfig {
    /// Checks the values that have no valid meaning.
    pub fn validate(&self) -> Result<(), TrainError> {
        parse_activation(&self.activation)?;
        let bad = |msg: String| Err(TrainError::Config(msg));
        if self.batch_size == 0 {
            return bad("batch size must be at least 1".into());
        }
        if self.epochs == 0 {
            return bad("--epochs must be at least 1".into());
        }
        if self.hidden.contains(&0) {
            return bad(format!(
                "hidden layer widths must be positive, got {:?}",
                self.hidden
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        if !(self.loss_scale.is_finite() && self.loss_scale > 0.0) {
            return bad(format!(
                "the loss scale must be positive and finite, got {}",
                self.loss_scale
            ));
        }
        if self.limit == Some(0) {
            return bad("--limit must be at least 1".into());
        }
        Ok(())
    }
}
