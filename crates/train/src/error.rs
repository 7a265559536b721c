//! Everything that can stop a run.

use std::path::PathBuf;

use gradlab_autodiff::BackwardError;
use gradlab_data::DataError;
use gradlab_layers::{CheckpointError, LayerError};
use gradlab_optim::{SpecError, StateError};
use thiserror::Error;

/// Why a run could not start, continue or be saved.
#[derive(Debug, Error)]
pub enum TrainError {
    /// The data could not be loaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A checkpoint could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The model cannot be built.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// The optimizer spec is invalid.
    #[error("--optimizer: {0}")]
    Spec(#[from] SpecError),
    /// A saved optimizer state does not fit the model.
    #[error("{path}: {source}")]
    State {
        /// The state file.
        path: PathBuf,
        /// What does not fit.
        source: StateError,
    },
    /// The backward pass cannot give what the optimizer needs.
    #[error(transparent)]
    Backward(#[from] BackwardError),
    /// A setting has no valid meaning.
    #[error("{0}")]
    Config(String),
    /// A run's state file is missing, unreadable or inconsistent.
    #[error("{path}: {reason}")]
    Resume {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A log file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The loss became NaN or infinite.
    #[error(
        "training diverged at step {step} (epoch {epoch}): the loss is {loss}; try a smaller \
         learning rate (the effective rate was {lr:e}){}",
        .checkpoint.as_ref().map(|p| format!("; the last good checkpoint is in {}", p.display())).unwrap_or_default()
    )]
    Diverged {
        /// The step (1-based) whose loss was not finite.
        step: u64,
        /// The epoch (1-based) it was in.
        epoch: usize,
        /// The loss.
        loss: f32,
        /// The learning rate in effect.
        lr: f32,
        /// Where the last good checkpoint is, if the run saves them.
        checkpoint: Option<PathBuf>,
    },
}
