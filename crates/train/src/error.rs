//! Everything that can stop a run.

use std::path::PathBuf;

use gradlab_autodiff::BackwardError;
use gradlab_data::DataError;
use gradlab_layers::{CheckpointError, LayerError};
use gradlab_optim::{PrivacyError, SpecError, StateError};
use thiserror::Error;

/// Why a run could not start, continue or be saved.
#[derive(Debug, Error)]
pub enum TrainError {
    /// The data could not be loaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A checkpoint file could not be written or read.
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
    /// A privacy setting has no valid meaning.
    #[error("privacy: {0}")]
    Privacy(#[from] PrivacyError),
    /// The model would not fit in memory; nothing was allocated.
    #[error(
        "the model needs about {} ({parameters} parameters: weights, gradients{}), more than \
         the {} of memory available; use narrower or fewer --hidden layers",
        bytes(*.needed), .extra, bytes(*.available)
    )]
    TooLarge {
        /// Its parameter count (saturated at `u64::MAX`).
        parameters: u64,
        /// What the rest of the estimate holds (", adam's m and v", …).
        extra: String,
        /// The estimated bytes of a training step (saturated).
        needed: u64,
        /// The memory the system reports as available.
        available: u64,
    },
    /// A run's checkpoint is missing, unreadable, edited or inconsistent.
    #[error("{path}: {reason}")]
    Resume {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Another run, alive, is saving into the checkpoint directory.
    #[error(
        "{}: another run{} is saving into this checkpoint directory; wait for it to finish, or \
         save into another directory",
        .dir.display(),
        .holder.map(|pid| format!(" (process {pid})")).unwrap_or_default()
    )]
    Locked {
        /// The checkpoint directory.
        dir: PathBuf,
        /// The process id of the run that holds it, if it could be read.
        holder: Option<u32>,
    },
    /// A setting given for a resumed run differs from the saved run's.
    #[error(
        "{setting} {given} differs from the saved run's {saved} ({}); a resumed run keeps the \
         settings and data it was saved with (a new run in another directory can change them)",
        .checkpoint.display()
    )]
    Conflict {
        /// The setting, as the user names it (`--hidden`, `the training data`).
        setting: String,
        /// The value given now.
        given: String,
        /// The saved run's value.
        saved: String,
        /// The checkpoint.
        checkpoint: PathBuf,
    },
    /// A file of the run (log, checkpoint directory) could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The loss became non-finite or far larger than a model that knows
    /// nothing would have.
    #[error(
        "training diverged at step {step} (epoch {epoch}): {what} is {loss:.4e}{}; {hint}{}",
        if .loss.is_finite() { format!(", above the limit {limit:.4} (100 × the chance-level loss)") } else { String::new() },
        checkpoint_note(.checkpoint)
    )]
    Diverged {
        /// The step (1-based) whose loss was out of bounds, or the last step
        /// of the epoch whose test loss was.
        step: u64,
        /// The epoch (1-based) it was in.
        epoch: usize,
        /// Which loss: "the batch's loss" or "the test loss".
        what: &'static str,
        /// The loss.
        loss: f64,
        /// The largest loss the run accepts.
        limit: f64,
        /// What probably happened and what to change.
        hint: String,
        /// The last good checkpoint, if the run saves them.
        checkpoint: Option<PathBuf>,
    },
    /// The run was asked to stop (Ctrl-C) and stopped at a step boundary.
    #[error(
        "interrupted after step {step} (epoch {epoch}){}",
        match .saved {
            Some(dir) => format!("; the run is saved in {}, ready to resume", dir.display()),
            None => "; nothing was saved (no checkpoint directory)".to_string(),
        }
    )]
    Interrupted {
        /// Steps completed.
        step: u64,
        /// The epoch the run was in.
        epoch: usize,
        /// The checkpoint directory the run was saved in at the stop.
        saved: Option<PathBuf>,
    },
}

fn checkpoint_note(checkpoint: &Option<PathBuf>) -> String {
    match checkpoint {
        Some(p) => format!("; the last good checkpoint is {}", p.display()),
        None => String::new(),
    }
}

/// A byte count in the largest unit that keeps it above 1 (1 GB = 10⁹ B).
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
