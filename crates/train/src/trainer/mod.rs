//! The training loop: forward, backward, step — for any model and any
//! supervised data.
//!
//! A step ([`Trainer::step`]) gathers a batch into the tape's input buffer,
//! records the model's forward pass and the per-example losses, asks
//! backward for the statistics the optimizer needs, and updates the
//! parameters. Everything else here is bookkeeping: epochs, evaluation,
//! divergence, logs and checkpoints.

use std::cell::OnceCell;
use std::path::PathBuf;

use gradlab_autodiff::{GradRequest, NoiseScale, Tape};
use gradlab_data::{Batches, Dataset, Targets};
use gradlab_layers::Model;
use gradlab_optim::{GaussianMechanism, Optimizer, RdpAccountant};

use crate::{Privacy, TrainConfig, TrainError};

mod build;
mod epochs;
mod evaluate;
mod identity;
mod memory;
mod step;

pub use identity::DataIdentity;

use build::epoch_steps;
pub(crate) use evaluate::EVAL_BATCH;

/// A loss this many times the chance-level loss means the run has
/// diverged: a model that knows nothing does 100× better. The chance level
/// is ln C for C classes (every class equally likely) and E\[t²\] for a
/// regression (predicting 0). Weights can blow up while every loss stays
/// finite (plain SGD at a rate far too large ends at a test loss of 10³⁴),
/// so waiting for a NaN is not enough.
pub const DIVERGENCE_FACTOR: f64 = 100.0;

/// What the model learns, read from the data's targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Classify into this many classes: softmax cross-entropy, accuracy.
    Classes(usize),
    /// Predict this many real values per example: mean squared error, RMSE.
    Values(usize),
    /// Classify each of `positions` positions of every example (the next
    /// character of a text) into `classes` classes: cross-entropy averaged
    /// over the positions, accuracy over every position.
    Sequences {
        /// Classes at each position.
        classes: usize,
        /// Positions per example.
        positions: usize,
    },
}

impl Task {
    /// The task of a training and a test set: labelled sequences of one
    /// length, classes (as many as either set has), or values of one
    /// width. Sets of two kinds, sequences of two lengths or values of two
    /// widths are an error.
    pub fn of(train: &Dataset, test: &Dataset) -> Result<Task, TrainError> {
        match (train.positions(), test.positions()) {
            (Some(a), Some(b)) if a == b => {
                let classes = train.classes().max(test.classes()).unwrap_or(0);
                return Ok(Task::Sequences {
                    classes,
                    positions: a,
                });
            }
            (None, None) => {}
            (a, b) => {
                let kind = |p: Option<usize>| match p {
                    Some(t) => format!("a label at each of {t} positions"),
                    None => "one target".into(),
                };
                return Err(TrainError::Config(format!(
                    "the training examples have {} but the test examples {}",
                    kind(a),
                    kind(b)
                )));
            }
        }
        match (train.classes(), test.classes()) {
            (Some(a), Some(b)) => return Ok(Task::Classes(a.max(b))),
            (None, None) => {}
            _ => {
                return Err(TrainError::Config(
                    "the training and the test set have targets of two kinds (class labels and \
                     values)"
                        .into(),
                ))
            }
        }
        let (a, b) = (train.target_width(), test.target_width());
        if a != b {
            return Err(TrainError::Config(format!(
                "the training targets have {} values each but the test targets {}",
                a.unwrap_or(0),
                b.unwrap_or(0)
            )));
        }
        Ok(Task::Values(a.unwrap_or(0)))
    }

    /// The width of the model's output (at each position, for sequences):
    /// C logits, or the k values.
    pub fn outputs(self) -> usize {
        match self {
            Task::Classes(c) | Task::Values(c) | Task::Sequences { classes: c, .. } => c,
        }
    }

    /// The shape of the model's output for a batch of `b` examples:
    /// `[B, C]`, `[B, k]`, or `[B, T, C]` for sequences.
    pub fn output_shape(self, b: usize) -> Vec<usize> {
        match self {
            Task::Sequences { classes, positions } => vec![b, positions, classes],
            _ => vec![b, self.outputs()],
        }
    }
}

/// "10 classes", "1 value", "81 classes at 128 positions".
impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Task::Classes(c) => write!(f, "{c} classes"),
            Task::Values(k) => write!(f, "{k} value{}", if k == 1 { "" } else { "s" }),
            Task::Sequences { classes, positions } => {
                write!(f, "{classes} classes at {positions} positions")
            }
        }
    }
}

/// A model's loss and metric on a dataset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// The mean per-example loss.
    pub loss: f64,
    /// The fraction classified correctly, for classes (of every position,
    /// for sequences).
    pub accuracy: Option<f64>,
    /// The root mean squared error over every target value, for a
    /// regression.
    pub rmse: Option<f64>,
}

/// What happened in one training step.
#[derive(Clone, Copy, Debug)]
pub struct StepInfo {
    /// The epoch, from 1.
    pub epoch: usize,
    /// The step, from 1, counted over the whole run.
    pub step: u64,
    /// The batch within the epoch, from 1.
    pub batch: usize,
    /// Batches in this epoch.
    pub batches: usize,
    /// Examples in this batch.
    pub batch_size: usize,
    /// The batch's mean loss.
    pub loss: f32,
    /// The learning rate used.
    pub lr: f32,
    /// Seconds the step took (forward, backward and update).
    pub seconds: f64,
    /// The step's gradient-noise sums, when it computed per-example
    /// second moments.
    pub noise: Option<NoiseScale>,
    /// Training examples per second so far in this call of the training
    /// loop (the epoch, unless it was resumed or stopped mid-way).
    pub examples_per_s: f64,
}

/// The summary of one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochMetrics {
    /// The epoch, from 1.
    pub epoch: usize,
    /// Steps taken so far in the run.
    pub steps: u64,
    /// Mean training loss over the epoch's batches.
    pub train_loss: f64,
    /// Mean loss on the test set after the epoch.
    pub test_loss: f64,
    /// Fraction of the test set classified correctly, for classes.
    pub test_accuracy: Option<f64>,
    /// The root mean squared error on the test set, for a regression.
    pub test_rmse: Option<f64>,
    /// Training examples per second (evaluation excluded).
    pub examples_per_s: f64,
    /// Seconds spent training in this epoch.
    pub train_seconds: f64,
    /// The gradient noise scale over the epoch, when the optimizer asked for
    /// per-example second moments.
    pub b_noise: Option<f64>,
    /// For a private run: ε spent so far, at the config's δ.
    pub epsilon: Option<f64>,
}

/// An event a caller can observe: drive a progress bar, print a summary.
#[derive(Debug)]
pub enum Event<'a> {
    /// An epoch starts with this many batches.
    EpochStart {
        /// The epoch, from 1.
        epoch: usize,
        /// Batches in it.
        batches: usize,
    },
    /// A step finished.
    Step(&'a StepInfo),
    /// An epoch finished and was evaluated.
    Epoch(&'a EpochMetrics),
}

/// A model, its optimizer and its data, and how far training has come.
pub struct Trainer {
    /// The run's definition.
    pub config: TrainConfig,
    /// The network and its weights.
    pub model: Model,
    /// The optimizer and its state.
    pub optimizer: Optimizer,
    /// Steps completed; the epoch and the batch within it follow from it.
    pub(crate) steps_done: u64,
    /// T, the length of the learning-rate schedule.
    pub(crate) schedule_steps: u64,
    /// Where the data came from, recorded in checkpoints.
    pub(crate) data_source: Option<PathBuf>,
    /// The identities of the training and test data, once computed.
    pub(crate) data_ids: OnceCell<(DataIdentity, DataIdentity)>,
    /// The current epoch's sum of batch losses so far.
    pub(crate) epoch_loss_sum: f64,
    /// The current epoch's gradient-noise sums so far.
    pub(crate) epoch_noise: Option<NoiseScale>,
    pub(crate) train: Dataset,
    pub(crate) test: Dataset,
    task: Task,
    loss_limit: f64,
    tape: Tape,
    eval_tape: Tape,
    targets: Targets,
    request: GradRequest,
    /// For a private run: the noise, the accounting and the sampling.
    pub(crate) private: Option<Private>,
}

/// What a private run keeps besides an ordinary one's state.
pub(crate) struct Private {
    pub(crate) settings: Privacy,
    pub(crate) mechanism: GaussianMechanism,
    pub(crate) accountant: RdpAccountant,
    /// q: the probability of each example being in a batch.
    pub(crate) rate: f64,
    /// q·N, what a batch's sum of gradients is divided by.
    pub(crate) expected_batch: f64,
}

impl Trainer {
    /// What the model learns.
    pub fn task(&self) -> Task {
        self.task
    }

    /// Steps completed.
    pub fn steps_done(&self) -> u64 {
        self.steps_done
    }

    /// Steps per epoch: ⌈training examples / batch size⌉, or ⌊…⌋ with
    /// [`drop_last`](TrainConfig::drop_last).
    pub fn steps_per_epoch(&self) -> u64 {
        epoch_steps(self.train.len(), &self.config)
    }

    /// Epochs completed.
    pub fn epochs_done(&self) -> usize {
        (self.steps_done / self.steps_per_epoch()) as usize
    }

    /// T, the number of steps the learning-rate schedule spans: the run's
    /// length when it started, kept by a resume.
    pub fn schedule_steps(&self) -> u64 {
        self.schedule_steps
    }

    /// The largest loss a step or an evaluation may have before the run
    /// counts as diverged: [`DIVERGENCE_FACTOR`] × the chance-level loss.
    pub fn loss_limit(&self) -> f64 {
        self.loss_limit
    }

    /// Whether `loss` means the run has diverged: NaN, or above
    /// [`loss_limit`](Trainer::loss_limit).
    pub fn diverges(&self, loss: f64) -> bool {
        loss.is_nan() || loss > self.loss_limit()
    }

    /// A warning when the learning-rate warm-up takes more than half of the
    /// run's schedule (a longer one is an error when the run is built).
    pub fn warmup_warning(&self) -> Option<String> {
        let warmup = self.optimizer.schedule().warmup;
        (2 * warmup > self.schedule_steps).then(|| {
            format!(
                "the warm-up of {warmup} steps takes more than half of the run's {} steps",
                self.schedule_steps
            )
        })
    }

    /// For a private run: the privacy spent so far, ε at the config's δ.
    pub fn epsilon(&self) -> Option<f64> {
        let p = self.private.as_ref()?;
        let spent = p.accountant.spent(p.settings.delta);
        Some(spent.map_or(f64::INFINITY, |s| s.epsilon))
    }

    /// For a private run: the accountant, with every step so far.
    pub fn accountant(&self) -> Option<&RdpAccountant> {
        self.private.as_ref().map(|p| &p.accountant)
    }

    /// For a private run: q, the probability that a training example is in
    /// a batch (1/steps per epoch).
    pub fn sample_rate(&self) -> Option<f64> {
        self.private.as_ref().map(|p| p.rate)
    }

    /// The batches of epoch `epoch` (from 1) as [`fit`](Trainer::fit) takes
    /// them: Poisson-sampled at rate q in a private run that asks for it,
    /// else the run's seeded shuffle cut into batches of the batch size (the
    /// last one shorter, or dropped with
    /// [`drop_last`](TrainConfig::drop_last)).
    pub fn batches(&self, epoch: usize) -> Result<Batches, TrainError> {
        Ok(match &self.private {
            Some(p) if p.settings.poisson => Batches::poisson(
                self.train.len(),
                p.rate,
                self.steps_per_epoch() as usize,
                self.config.seed,
                epoch,
            )?,
            _ => Batches::new(
                self.train.len(),
                self.config.batch_size,
                self.config.seed,
                epoch,
                self.config.drop_last,
            )?,
        })
    }

    /// The training set (after `limit`).
    pub fn train_set(&self) -> &Dataset {
        &self.train
    }

    /// The test set.
    pub fn test_set(&self) -> &Dataset {
        &self.test
    }

    /// The noise-scale estimate of the last step, if it computed per-example
    /// second moments.
    pub fn last_noise_scale(&self) -> Option<NoiseScale> {
        self.tape.noise_scale().map(|(total, _)| total)
    }
}
