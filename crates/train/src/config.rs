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
    /// Drop the last batch of every epoch when it would be shorter than
    /// `batch_size`, so that every step sees exactly `batch_size` examples
    /// (an epoch is then ⌊N/B⌋ steps). Ignored by the Poisson batches of a
    /// private run.
    #[serde(default)]
    pub drop_last: bool,
    /// Train with DP-SGD: per-example clipping, Gaussian noise and the
    /// privacy accounting (see [`Privacy`]). `None`: an ordinary run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<Privacy>,
}

/// DP-SGD's settings (Abadi et al. 2016, as Opacus runs it).
///
/// Each step draws its batch by Poisson sampling with rate q = 1/steps per
/// epoch (each training example independently, so a batch has
/// N/steps ≈ `batch_size` examples on average), clips every example's
/// gradient to norm C, adds N(0, σ²C²) to their sum and divides by the
/// expected batch size; the optimizer's rule then steps on that. The
/// [RDP accountant](gradlab_optim::accountant) adds up the privacy spent,
/// reported as ε at δ after every epoch.
///
/// What it guarantees: the sequence of weights (everything the run
/// publishes) is (ε, δ)-differentially private with respect to any one
/// training example, provided the noise seed is secret (the run's `seed`,
/// see [`gradlab_optim::dp_sgd`]: a deployment must draw it from the
/// operating system) and the batches are Poisson-sampled. Evaluating on
/// the test set, and choosing hyperparameters by it, is outside the
/// guarantee, and so is anything done with the training data besides the
/// steps (the standardization's means, for one).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Privacy {
    /// C, the bound on each example's gradient norm. `f32::INFINITY`
    /// (written `null` in JSON) clips nothing, and allows no noise.
    #[serde(with = "bound")]
    pub max_norm: f32,
    /// σ: the noise's standard deviation is σC on the sum of clipped
    /// gradients.
    pub noise_multiplier: f64,
    /// δ of the reported (ε, δ); well below 1/N.
    pub delta: f64,
    /// Clip each parameter tensor to C/√P instead of the whole gradient to
    /// C (see [`Clipping`](gradlab_autodiff::Clipping)).
    #[serde(default)]
    pub per_tensor: bool,
    /// Draw batches by Poisson sampling (the default, and what the
    /// accounting assumes). `false` takes the ordinary shuffled batches of
    /// exactly `batch_size`: the step is then a plain clipped and noised
    /// step, for testing, and the ε reported is not a guarantee.
    #[serde(default = "yes")]
    pub poisson: bool,
}

fn yes() -> bool {
    true
}

/// C as JSON: a number, or `null` for ∞ (JSON has no infinity).
mod bound {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(c: &f32, s: S) -> Result<S::Ok, S::Error> {
        c.is_finite().then_some(*c).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
        Ok(Option::<f32>::deserialize(d)?.unwrap_or(f32::INFINITY))
    }
}

fn one() -> f32 {
    1.0
}

impl Default for TrainConfig {
    /// The default MNIST recipe, the fastest of the optimizer benchmark's
    /// speedrun whose every seed 0–9 ends at or above 98 % test accuracy:
    /// MLP 784-256-256-10 with ReLU, Adam at 3·10⁻³ warmed up over 100
    /// steps (5 % of a shorter run, see [`DEFAULT_OPTIMIZER`]) and
    /// cosine-decayed, batches of 64, 3 epochs.
    fn default() -> TrainConfig {
        TrainConfig {
            hidden: vec![256, 256],
            activation: "relu".into(),
            dropout: 0.0,
            optimizer: DEFAULT_OPTIMIZER.into(),
            batch_size: 64,
            epochs: 3,
            seed: 0,
            limit: None,
            loss_scale: 1.0,
            standardize: false,
            drop_last: false,
            privacy: None,
        }
    }
}

/// The default optimizer of [`TrainConfig::default`]: Adam at 3·10⁻³,
/// cosine-decayed, warmed up over 100 steps. A run shorter than 2 000
/// steps warms up over its first 5 % instead (⌊T/20⌋ steps: none below 20),
/// so that a short run is not spent warming up; see [`default_optimizer`].
pub const DEFAULT_OPTIMIZER: &str = "adam(lr=3e-3,schedule=cosine,warmup=100)";

/// The default recipe [`DEFAULT_OPTIMIZER`] for a run of `total_steps`
/// steps: its warm-up is min(100, ⌊T/20⌋) steps, at most 5 % of the run.
pub fn default_optimizer(total_steps: u64) -> String {
    match (total_steps / 20).min(100) {
        100 => DEFAULT_OPTIMIZER.to_string(),
        0 => "adam(lr=3e-3,schedule=cosine)".to_string(),
        w => format!("adam(lr=3e-3,schedule=cosine,warmup={w})"),
    }
}

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
        if let Some(p) = &self.privacy {
            gradlab_optim::GaussianMechanism::new(p.noise_multiplier, p.max_norm, self.seed)
                .map_err(TrainError::Privacy)?;
            if !(p.delta > 0.0 && p.delta < 1.0) {
                return Err(TrainError::Privacy(gradlab_optim::PrivacyError::Delta(
                    p.delta,
                )));
            }
            if self.loss_scale != 1.0 {
                return bad(format!(
                    "a private run clips the gradients of the loss itself; a loss scale of {} \
                     would scale the bound C with it: leave it at 1",
                    self.loss_scale
                ));
            }
        }
        Ok(())
    }
}
