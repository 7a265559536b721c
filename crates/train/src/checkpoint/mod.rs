//! Crash-safe checkpoints of a run, and resuming it exactly.
//!
//! ## On disk
//!
//! ```text
//! runs/a/                      the checkpoint directory (`--save runs/a`)
//!   step-000000469/            the checkpoint: the run after 469 steps
//!     model.safetensors        the weights, loadable by PyTorch
//!     optimizer.safetensors    the optimizer's state tensors, `<param id>.<name>`
//!     state.json               everything else, under one checksum
//! ```
//!
//! ## The guarantee
//!
//! The checkpoint directory always holds a complete, loadable checkpoint —
//! the previous one or the new one — whatever happens during a save: the
//! process killed (`kill -9`, Ctrl-C), the disk full, the power cut. A save
//!
//! 1. writes the three files into `.partial-<pid>-step-000000938/` beside
//!    the current checkpoint, syncs each to disk, then syncs that directory;
//! 2. renames it to `step-000000938/`, which is the commit: a rename is
//!    atomic, and a `step-*` name never exists before its files are
//!    complete; then syncs the checkpoint directory, so that the rename
//!    itself survives a power cut;
//! 3. retires the older checkpoint: renames it to `.stale-step-000000469/`,
//!    then deletes it.
//!
//! A crash during 1 leaves a partial directory, which loading ignores and
//! the next [`Checkpoints::open`] deletes; a crash during 2 or 3 leaves two
//! complete checkpoints, of which loading takes the newest. A failed write
//! (a full disk) deletes its partial directory and returns the error, the
//! previous checkpoint untouched.
//!
//! ## One writer at a time
//!
//! Two runs saving into one directory at once would retire each other's
//! checkpoints and mix their files. [`Checkpoints::open`] therefore takes an
//! advisory lock on the directory's `.lock` file (and writes its process id
//! there) and holds it for as long as the [`Checkpoints`] lives: for a
//! [`Trainer::fit`], the whole run. A second run that opens the directory
//! meanwhile is refused with [`TrainError::Locked`], naming the directory
//! and the process that holds it, before it trains. The operating system
//! releases the lock when its process ends, however it ends, so a lock left
//! by a killed run never blocks the next one. Partial directories carry the
//! process id in their names as well.
//!
//! ## What a checkpoint records
//!
//! `state.json` holds everything that defines the run: its [`TrainConfig`],
//! its model's name, the standardization of its features (if any), the
//! length of its learning-rate schedule, the identity of its data (the
//! number, size and SHA-256 of the examples trained and tested on, and the
//! directory they were loaded from), its progress (steps done, and the
//! current epoch's partial sums, so a run stopped mid-epoch reports the same
//! epoch metrics), the optimizer's spec and step count, and the checksums of
//! the two tensor files. A SHA-256 over all of it catches a hand edit.
//!
//! No random generator state needs saving: the shuffle of epoch e is drawn
//! from (seed, e) and the dropout masks of step t from (seed, t), so a run
//! resumed after any step continues bit for bit as if it had never stopped.
//!
//! ## Resuming
//!
//! [`Checkpoint::latest`] reads the newest checkpoint of a directory and
//! checks its state; [`Checkpoint::resume`] rebuilds the trainer on the
//! data given, which must be the data the run was saved with. The schedule
//! is the saved one: resuming with more epochs continues it to its saved
//! end and then as it is defined beyond it (a cosine schedule stays at its
//! final rate, 0), so the extra epochs of a cosine run do not move the
//! weights; a longer schedule is a new run.
//!
//! [`Trainer::fit`]: crate::Trainer::fit
//! [`TrainError::Locked`]: crate::TrainError::Locked

use std::path::{Path, PathBuf};

use gradlab_data::Standardization;

use crate::TrainConfig;

mod atomic_dir;
mod resume;
mod state;

pub use crate::trainer::DataIdentity;
pub use atomic_dir::{Checkpoints, Disk, FileWriter};
pub(crate) use state::RunState;
pub use state::STATE_VERSION;

/// The files of a checkpoint.
const MODEL: &str = "model.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";
const STATE: &str = "state.json";

/// A saved run: the newest complete checkpoint of a directory, its state
/// read and checked.
#[derive(Debug)]
pub struct Checkpoint {
    path: PathBuf,
    pub(crate) state: RunState,
}

impl Checkpoint {
    /// The checkpoint's directory (`…/step-000000469`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The checkpoint directory that holds it (`…`, where a resumed run
    /// goes on saving).
    pub fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        }
    }

    /// The saved run's settings.
    pub fn config(&self) -> &TrainConfig {
        &self.state.config
    }

    /// Steps the saved run has taken.
    pub fn steps_done(&self) -> u64 {
        self.state.steps_done
    }

    /// The length of the saved run's learning-rate schedule.
    pub fn schedule_steps(&self) -> u64 {
        self.state.schedule_steps
    }

    /// The directory the saved run's data was loaded from, if it was given
    /// ([`Trainer::with_data_source`]).
    ///
    /// [`Trainer::with_data_source`]: crate::Trainer::with_data_source
    pub fn data_source(&self) -> Option<&Path> {
        self.state.data_source.as_deref().map(Path::new)
    }

    /// The saved run's model name.
    pub fn model_name(&self) -> &str {
        &self.state.model
    }

    /// The standardization the saved run applies to every input, if its
    /// config asked for one: what a user of the saved model applies to new
    /// data.
    pub fn standardization(&self) -> Option<Standardization> {
        let (mean, std) = self.state.standardization.clone()?;
        Some(Standardization { mean, std })
    }
}
