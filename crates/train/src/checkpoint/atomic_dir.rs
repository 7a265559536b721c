//! The atomic-directory protocol: a checkpoint directory locked for one
//! writer, each checkpoint written beside the current one and committed by a
//! rename, the older ones retired (see the [module docs](super)).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use gradlab_layers::{encode_tensors, encode_weights};

use super::state::{checksum_of, RunState};
use super::{Checkpoint, MODEL, OPTIMIZER, STATE};
use crate::{TrainError, Trainer};

/// Name prefixes of a complete checkpoint, one being written, and one being
/// deleted.
const COMPLETE: &str = "step-";
const PARTIAL: &str = ".partial-";
const STALE: &str = ".stale-";
/// The file that shows the directory is writable, while it exists.
const PROBE: &str = ".probe-";
/// The file whose advisory lock marks the directory's one writer.
const LOCK: &str = ".lock";

/// Writes one file of a checkpoint. [`Disk`] is the real one; a test can
/// pass a writer that fails part-way, as a full disk does.
pub trait FileWriter {
    /// Creates `path` holding `bytes`, durably: when this returns `Ok`, the
    /// bytes are on the storage device.
    fn write_file(&mut self, path: &Path, bytes: &[u8]) -> io::Result<()>;
}

/// Writes files to disk and syncs them.
pub struct Disk;

impl FileWriter for Disk {
    fn write_file(&mut self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut f = fs::File::create(path)?;
        f.write_all(bytes)?;
        f.sync_all()
    }
}

/// Syncs a directory, so that the entries created or renamed in it survive
/// a power cut. (Not every platform can open a directory for this; there
/// the rename is still atomic.)
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The steps of a checkpoint directory's entry name `step-N`.
pub(super) fn complete_steps(name: &str) -> Option<u64> {
    name.strip_prefix(COMPLETE)?.parse().ok()
}

/// The complete checkpoints in `dir`, newest first.
pub(super) fn generations(dir: &Path) -> Result<Vec<(u64, PathBuf)>, TrainError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        if let Some(steps) = name.to_str().and_then(complete_steps) {
            found.push((steps, entry.path()));
        }
    }
    found.sort_by_key(|&(steps, _)| std::cmp::Reverse(steps));
    Ok(found)
}

/// A directory a run saves its checkpoints into, locked for this process
/// while the value lives (see [One writer at a time](super#one-writer-at-a-time)).
#[derive(Debug)]
pub struct Checkpoints {
    dir: PathBuf,
    /// The locked `.lock` file: dropping it releases the lock.
    _lock: fs::File,
}

impl Checkpoints {
    /// Opens `dir` for saving: creates it if needed, locks it against other
    /// writers ([`TrainError::Locked`] if a live process holds it), checks
    /// that files can be written into it (so an unwritable directory is
    /// found before training, not after the first epoch), and deletes what
    /// an interrupted save left behind (a partial checkpoint, or an older
    /// one that was being retired).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Checkpoints, TrainError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let lock = lock(&dir)?;
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let path = entry.path();
            if name.starts_with(PARTIAL) || name.starts_with(STALE) {
                fs::remove_dir_all(&path).map_err(io_err(&path))?;
            } else if name.starts_with(PROBE) {
                fs::remove_file(&path).map_err(io_err(&path))?;
            }
        }
        let probe = dir.join(format!("{PROBE}{}", std::process::id()));
        fs::write(&probe, b"").map_err(io_err(&dir))?;
        fs::remove_file(&probe).map_err(io_err(&probe))?;
        let checkpoints = Checkpoints { dir, _lock: lock };
        if let Some((_, newest)) = generations(&checkpoints.dir)?.first() {
            checkpoints.retire_all_but(newest)?;
        }
        Ok(checkpoints)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The newest checkpoint in the directory, if there is one.
    pub fn latest(&self) -> Result<Option<Checkpoint>, TrainError> {
        match generations(&self.dir)?.into_iter().next() {
            Some((_, path)) => Checkpoint::read(path).map(Some),
            None => Ok(None),
        }
    }

    /// Checks that saving `trainer` here loses nothing: the directory holds
    /// no checkpoint, or one of the same run at no later step.
    pub fn check_continues(&self, trainer: &Trainer) -> Result<(), TrainError> {
        let Some(existing) = self.latest()? else {
            return Ok(());
        };
        let refuse = |reason: String| {
            Err(TrainError::Resume {
                path: existing.path.clone(),
                reason,
            })
        };
        if !existing.state.same_run(&trainer.run_state_body()) {
            return refuse(
                "this directory holds the checkpoint of another run (other settings or data); \
                 resume that run, or save into another directory"
                    .into(),
            );
        }
        if existing.state.steps_done > trainer.steps_done() {
            return refuse(format!(
                "this directory holds a later checkpoint of the same run (after {} steps, this \
                 run is at {}); resume from it, or save into another directory",
                existing.state.steps_done,
                trainer.steps_done()
            ));
        }
        Ok(())
    }

    /// Saves `trainer` as the directory's new checkpoint (see the module
    /// docs for how) and returns its path. A directory holding another
    /// run's checkpoint, or a later one of this run, is left alone with an
    /// error ([`check_continues`](Checkpoints::check_continues)).
    pub fn save(&self, trainer: &Trainer) -> Result<PathBuf, TrainError> {
        self.save_with(trainer, &mut Disk)
    }

    /// [`save`](Checkpoints::save), writing each file with `files`.
    pub fn save_with(
        &self,
        trainer: &Trainer,
        files: &mut dyn FileWriter,
    ) -> Result<PathBuf, TrainError> {
        self.check_continues(trainer)?;
        let name = format!("{COMPLETE}{:09}", trainer.steps_done());
        let target = self.dir.join(&name);
        if target.is_dir() {
            // The same run at the same step (an interrupt right after an
            // epoch's save): the checkpoint is there already, and a run is
            // deterministic, so it holds these very bytes.
            return Ok(target);
        }
        let partial = self
            .dir
            .join(format!("{PARTIAL}{}-{name}", std::process::id()));
        let written = write_generation(&partial, trainer, files).and_then(|()| {
            fs::rename(&partial, &target).map_err(io_err(&target))?;
            sync_dir(&self.dir);
            Ok(())
        });
        if let Err(e) = written {
            let _ = fs::remove_dir_all(&partial);
            return Err(e);
        }
        self.retire_all_but(&target)?;
        Ok(target)
    }

    /// Deletes every complete checkpoint but `keep`: each is first renamed
    /// out of the `step-*` names, so that no `step-*` directory is ever
    /// incomplete.
    fn retire_all_but(&self, keep: &Path) -> Result<(), TrainError> {
        for (_, path) in generations(&self.dir)? {
            if path == keep {
                continue;
            }
            let name = path.file_name().expect("a checkpoint has a name");
            let stale = self.dir.join(format!("{STALE}{}", name.to_string_lossy()));
            fs::rename(&path, &stale).map_err(io_err(&path))?;
            fs::remove_dir_all(&stale).map_err(io_err(&stale))?;
        }
        sync_dir(&self.dir);
        Ok(())
    }
}

/// Takes the advisory lock of checkpoint directory `dir` for this process
/// and records the process id in the lock file; a lock held by another
/// process is [`TrainError::Locked`], naming it if its id can be read.
fn lock(dir: &Path) -> Result<fs::File, TrainError> {
    let path = dir.join(LOCK);
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err(&path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = io::Read::read_to_string(&mut file, &mut text);
            return Err(TrainError::Locked {
                dir: dir.to_path_buf(),
                holder: text.trim().parse().ok(),
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(io_err(&path)(e)),
    }
    file.set_len(0).map_err(io_err(&path))?;
    writeln!(file, "{}", std::process::id()).map_err(io_err(&path))?;
    Ok(file)
}

/// Writes the three files of `trainer`'s checkpoint into a new directory
/// `dir`, each synced, then syncs `dir`.
fn write_generation(
    dir: &Path,
    trainer: &Trainer,
    files: &mut dyn FileWriter,
) -> Result<(), TrainError> {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(io_err(dir))?;
    }
    fs::create_dir(dir).map_err(io_err(dir))?;
    let config = serde_json::to_string(&trainer.config).expect("a config serializes");
    let model = encode_weights(&trainer.evaluation_params(), &[("config", config)]);
    let state = trainer.optimizer.state();
    let optimizer = encode_tensors(state.tensors(), &[("spec", state.spec.clone())]);
    let run = RunState {
        optimizer: state.header(),
        model_checksum: checksum_of(&model),
        optimizer_checksum: checksum_of(&optimizer),
        ..trainer.run_state_body()
    }
    .sealed();
    let json = serde_json::to_string_pretty(&run).expect("a run state serializes") + "\n";
    for (file, bytes) in [
        (MODEL, model.as_slice()),
        (OPTIMIZER, optimizer.as_slice()),
        (STATE, json.as_bytes()),
    ] {
        let path = dir.join(file);
        files.write_file(&path, bytes).map_err(io_err(&path))?;
    }
    sync_dir(dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_names_parse() {
        assert_eq!(complete_steps("step-000000469"), Some(469));
        assert_eq!(complete_steps(".partial-step-000000469"), None);
        assert_eq!(complete_steps("step-x"), None);
    }
}
