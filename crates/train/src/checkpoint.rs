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

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use gradlab_autodiff::NoiseScale;
use gradlab_data::{Dataset, Standardization};
use gradlab_layers::{encode_tensors, encode_weights, load_weights, read_tensors};
use gradlab_optim::{Optimizer, OptimizerState, RdpAccountant, StateHeader};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::tape::FromTape;
use crate::{TrainConfig, TrainError, Trainer};

/// The version of `state.json` this code writes and reads.
pub const STATE_VERSION: u32 = 3;

/// The files of a checkpoint.
const MODEL: &str = "model.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";
const STATE: &str = "state.json";

/// Name prefixes of a complete checkpoint, one being written, and one being
/// deleted.
const COMPLETE: &str = "step-";
const PARTIAL: &str = ".partial-";
const STALE: &str = ".stale-";
/// The file that shows the directory is writable, while it exists.
const PROBE: &str = ".probe-";
/// The file whose advisory lock marks the directory's one writer.
const LOCK: &str = ".lock";

/// What a dataset is, for telling whether a resumed run got the same data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataIdentity {
    /// Number of examples.
    pub examples: usize,
    /// Feature rows per example (image rows; 1 for tabular data).
    pub rows: usize,
    /// Feature columns per example.
    pub cols: usize,
    /// SHA-256 of the sizes, the features and the targets, in hex
    /// ([`Dataset::hash_into`]).
    pub sha256: String,
}

impl DataIdentity {
    /// The identity of `data`.
    pub fn of(data: &Dataset) -> DataIdentity {
        let mut h = Sha256::new();
        data.hash_into(&mut |bytes| h.update(bytes));
        DataIdentity {
            examples: data.len(),
            rows: data.rows(),
            cols: data.cols(),
            sha256: hex(&h.finalize()),
        }
    }

    fn describe(&self, source: Option<&str>) -> String {
        format!(
            "{} examples of {}×{}{} (sha256 {}…)",
            self.examples,
            self.rows,
            self.cols,
            source.map(|s| format!(" from {s}")).unwrap_or_default(),
            &self.sha256[..12]
        )
    }
}

/// The contents of `state.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunState {
    format: String,
    version: u32,
    /// The run's definition; `epochs` is where it stops, which a resume may
    /// move.
    pub(crate) config: TrainConfig,
    /// The model's name ([`Model::name`](gradlab_layers::Model::name)).
    pub(crate) model: String,
    /// The per-feature mean and standard deviation the data is standardized
    /// by, when the config asks for it: what a user of the saved model must
    /// apply to its inputs.
    pub(crate) standardization: Option<(Vec<f32>, Vec<f32>)>,
    /// T, the length of the learning-rate schedule, fixed when the run
    /// started.
    pub(crate) schedule_steps: u64,
    /// Where the data was loaded from, if the caller said.
    pub(crate) data_source: Option<String>,
    pub(crate) train_data: DataIdentity,
    pub(crate) test_data: DataIdentity,
    pub(crate) steps_done: u64,
    /// The current epoch's sum of batch losses so far.
    pub(crate) epoch_loss_sum: f64,
    /// The current epoch's gradient-noise sums (tr Σ, |G|²) so far, if the
    /// run computes them.
    pub(crate) epoch_noise: Option<(f64, f64)>,
    /// For a private run: every step's (σ, q), so a resumed run continues
    /// the accounting exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) accountant: Option<RdpAccountant>,
    optimizer: StateHeader,
    model_checksum: String,
    optimizer_checksum: String,
    /// SHA-256 of everything above, as compact JSON with this field empty.
    checksum: String,
}

impl RunState {
    fn sealed(mut self) -> RunState {
        self.checksum = self.digest();
        self
    }

    fn digest(&self) -> String {
        let body = RunState {
            checksum: String::new(),
            ..self.clone()
        };
        let json = serde_json::to_vec(&body).expect("a run state serializes");
        hex(&Sha256::digest(json))
    }

    /// Whether `other` is a state of the same run: the same settings (the
    /// epochs to train aside), schedule and data.
    fn same_run(&self, other: &RunState) -> bool {
        let settings = |s: &RunState| TrainConfig {
            epochs: 0,
            ..s.config.clone()
        };
        settings(self) == settings(other)
            && self.model == other.model
            && self.standardization == other.standardization
            && self.schedule_steps == other.schedule_steps
            && self.train_data == other.train_data
            && self.test_data == other.test_data
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

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
fn complete_steps(name: &str) -> Option<u64> {
    name.strip_prefix(COMPLETE)?.parse().ok()
}

/// The complete checkpoints in `dir`, newest first.
fn generations(dir: &Path) -> Result<Vec<(u64, PathBuf)>, TrainError> {
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
/// while the value lives (see [One writer at a time](self#one-writer-at-a-time)).
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

/// The standardization of `trainer`'s data, as a run state records it.
fn standardization(trainer: &Trainer) -> Option<(Vec<f32>, Vec<f32>)> {
    let s = trainer.train_set().standardized()?;
    Some((s.mean.clone(), s.std.clone()))
}

/// The checksum a gradlab tensor file carries in its metadata: written by
/// [`encode_tensors`], checked against the data when the file is read.
fn checksum_of(file: &[u8]) -> String {
    let (_, header) = safetensors::SafeTensors::read_metadata(file)
        .expect("encode_tensors writes a valid safetensors file");
    header
        .metadata()
        .as_ref()
        .and_then(|m| m.get("checksum").cloned())
        .expect("encode_tensors writes a checksum")
}

/// A saved run: the newest complete checkpoint of a directory, its state
/// read and checked.
#[derive(Debug)]
pub struct Checkpoint {
    path: PathBuf,
    pub(crate) state: RunState,
}

impl Checkpoint {
    /// The newest checkpoint in the checkpoint directory `dir`, or, if `dir`
    /// is itself a checkpoint (`runs/a/step-000000469`, as a run prints
    /// it), that checkpoint.
    pub fn latest(dir: impl AsRef<Path>) -> Result<Checkpoint, TrainError> {
        let dir = dir.as_ref();
        let missing = |reason: &str| TrainError::Resume {
            path: dir.to_path_buf(),
            reason: reason.to_string(),
        };
        if !dir.is_dir() {
            return Err(missing("no such checkpoint directory"));
        }
        let named_as_checkpoint = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(complete_steps)
            .is_some();
        if named_as_checkpoint && dir.join(STATE).is_file() {
            return Checkpoint::read(dir.to_path_buf());
        }
        match generations(dir)?.into_iter().next() {
            Some((_, path)) => Checkpoint::read(path),
            None if dir.join(STATE).is_file() => Err(missing(
                "this checkpoint was written by an older gradlab (state.json at the top \
                 level); it cannot be resumed, but its model.safetensors still loads",
            )),
            None => Err(missing("holds no checkpoint (no step-* directory)")),
        }
    }

    /// Reads and checks the state of the checkpoint at `path`.
    fn read(path: PathBuf) -> Result<Checkpoint, TrainError> {
        let state_path = path.join(STATE);
        let bad = |reason: String| TrainError::Resume {
            path: state_path.clone(),
            reason,
        };
        let text =
            fs::read_to_string(&state_path).map_err(|e| bad(format!("cannot read ({e})")))?;
        let state: RunState =
            serde_json::from_str(&text).map_err(|e| bad(format!("not a run state ({e})")))?;
        if state.format != "gradlab-run" || state.version != STATE_VERSION {
            return Err(bad(format!(
                "format {:?} version {}, expected \"gradlab-run\" version {STATE_VERSION}",
                state.format, state.version
            )));
        }
        if state.digest() != state.checksum {
            return Err(bad(
                "checksum mismatch: the file was edited or damaged (its checksum covers every \
                 field; a run's state is not edited by hand)"
                    .into(),
            ));
        }
        Ok(Checkpoint { path, state })
    }

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

    /// Rebuilds the saved run of the config's MLP on `train` and `test`,
    /// which must be the data it was saved with (an error says which
    /// differs). With `epochs`, the run stops after that many epochs
    /// instead of the saved number, on the saved schedule (see the module
    /// docs); fewer epochs than are done already is an error. A run of
    /// another model is resumed with [`resume_with`](Checkpoint::resume_with).
    pub fn resume(
        &self,
        train: Dataset,
        test: Dataset,
        epochs: Option<usize>,
    ) -> Result<Trainer, TrainError> {
        self.rebuild(None, train, test, epochs)
    }

    /// [`resume`](Checkpoint::resume) for a run of `model` (as given to
    /// [`Trainer::with_model`]): a model of the saved name, whose parameters
    /// have the saved names and shapes, into which the saved weights are
    /// loaded.
    pub fn resume_with(
        &self,
        model: gradlab_layers::Model,
        train: Dataset,
        test: Dataset,
        epochs: Option<usize>,
    ) -> Result<Trainer, TrainError> {
        self.rebuild(Some(model), train, test, epochs)
    }

    fn rebuild(
        &self,
        model: Option<gradlab_layers::Model>,
        train: Dataset,
        test: Dataset,
        epochs: Option<usize>,
    ) -> Result<Trainer, TrainError> {
        let s = &self.state;
        let state_path = self.path.join(STATE);
        let bad = |reason: String| TrainError::Resume {
            path: state_path.clone(),
            reason,
        };
        let mut config = s.config.clone();
        if let Some(e) = epochs {
            config.epochs = e;
        }
        let given_model = model.is_some();
        let mut trainer = Trainer::build(config, model, train, test, Some(s.schedule_steps))?;
        if trainer.model.name != s.model && !given_model {
            return Err(bad(format!(
                "this is a run of the model {:?}, not of the config's MLP ({:?}): resume it with \
                 Checkpoint::resume_with and that model",
                s.model, trainer.model.name
            )));
        }
        if trainer.model.name != s.model {
            return Err(TrainError::Conflict {
                setting: "the model".into(),
                given: trainer.model.name.clone(),
                saved: s.model.clone(),
                checkpoint: self.path.clone(),
            });
        }
        let source = s.data_source.as_deref();
        for (split, saved, given) in [
            ("training", &s.train_data, DataIdentity::of(&trainer.train)),
            ("test", &s.test_data, DataIdentity::of(trainer.test_set())),
        ] {
            if *saved != given {
                return Err(TrainError::Conflict {
                    setting: format!("the {split} data"),
                    given: given.describe(None),
                    saved: saved.describe(source),
                    checkpoint: self.path.clone(),
                });
            }
        }
        if standardization(&trainer) != s.standardization {
            return Err(bad(
                "the saved standardization differs from the one of the training data".into(),
            ));
        }
        let done = s.steps_done / trainer.steps_per_epoch();
        if trainer.config.epochs < done as usize {
            return Err(bad(format!(
                "the run has completed {done} epochs already; stopping after {} would undo them",
                trainer.config.epochs
            )));
        }

        let model_path = self.path.join(MODEL);
        let meta = load_weights(&model_path, &mut trainer.model.params)?;
        let opt_path = self.path.join(OPTIMIZER);
        let (tensors, opt_meta) = read_tensors(&opt_path)?;
        for (file, expected, meta) in [
            (&model_path, &s.model_checksum, &meta),
            (&opt_path, &s.optimizer_checksum, &opt_meta),
        ] {
            if meta.get("checksum") != Some(expected) {
                return Err(bad(format!(
                    "{} does not belong to this state (it comes from another save)",
                    file.display()
                )));
            }
        }
        if s.optimizer.steps != s.steps_done {
            return Err(bad(format!(
                "the optimizer has taken {} steps, the run {}",
                s.optimizer.steps, s.steps_done
            )));
        }
        let accounted = s.accountant.as_ref().map(|a| {
            let steps: u64 = a.history().iter().map(|p| p.steps).sum();
            steps
        });
        match (s.config.privacy.is_some(), accounted) {
            (true, Some(steps)) if steps == s.steps_done => {}
            (false, None) => {}
            (true, Some(steps)) => {
                return Err(bad(format!(
                    "the privacy accountant has {steps} steps, the run {}",
                    s.steps_done
                )))
            }
            (true, None) if s.steps_done == 0 => {}
            (true, None) => {
                return Err(bad(
                    "a private run's state has no privacy accountant: the privacy spent is unknown"
                        .into(),
                ))
            }
            (false, Some(_)) => {
                return Err(bad(
                    "the state has a privacy accountant but the run is not private".into(),
                ))
            }
        }
        let params = &trainer.model.params;
        for p in &s.optimizer.params {
            let fits = p.id < params.len()
                && params.get(gradlab_autodiff::ParamId(p.id)).shape() == p.shape;
            if !fits {
                return Err(bad(format!(
                    "the optimizer state of parameter #{} (shape {:?}) fits no parameter of the \
                     model",
                    p.id, p.shape
                )));
            }
        }
        let parts = tensors
            .into_iter()
            .map(|(name, t)| (name, t.shape().to_vec(), t.into_vec()));
        let state_err = |source| TrainError::State {
            path: opt_path.clone(),
            source,
        };
        let state = OptimizerState::from_parts(s.optimizer.clone(), parts).map_err(state_err)?;
        trainer.optimizer = Optimizer::from_state(state)
            .map_err(state_err)?
            .with_total_steps(s.schedule_steps)?;
        // model.safetensors holds the evaluation point; the run goes on from
        // the point the rule takes gradients at.
        trainer
            .optimizer
            .restore_training_point(&mut trainer.model.params);
        trainer.restore_progress(s);
        Ok(trainer)
    }
}

impl Trainer {
    /// The run state of this trainer, without the optimizer's header and
    /// the tensor files' checksums (filled in when saving).
    pub(crate) fn run_state_body(&self) -> RunState {
        let (train_data, test_data) = self.data_identities().clone();
        RunState {
            format: "gradlab-run".into(),
            version: STATE_VERSION,
            config: self.config.clone(),
            model: self.model.name.clone(),
            standardization: standardization(self),
            schedule_steps: self.schedule_steps,
            data_source: self
                .data_source
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
            train_data,
            test_data,
            steps_done: self.steps_done(),
            epoch_loss_sum: self.epoch_loss_sum,
            epoch_noise: self.epoch_noise.map(|n| (n.trace_sigma, n.grad_norm_sq)),
            accountant: self.accountant().cloned(),
            optimizer: StateHeader {
                spec: String::new(),
                steps: 0,
                global: Vec::new(),
                params: Vec::new(),
            },
            model_checksum: String::new(),
            optimizer_checksum: String::new(),
            checksum: String::new(),
        }
    }

    /// The identities of the training and test data, computed once.
    pub(crate) fn data_identities(&self) -> &(DataIdentity, DataIdentity) {
        self.data_ids
            .get_or_init(|| (DataIdentity::of(&self.train), DataIdentity::of(&self.test)))
    }

    /// Continues from a saved state's progress.
    fn restore_progress(&mut self, s: &RunState) {
        self.steps_done = s.steps_done;
        self.data_source = s.data_source.as_deref().map(PathBuf::from);
        self.epoch_loss_sum = s.epoch_loss_sum;
        self.epoch_noise = s.epoch_noise.map(|(trace_sigma, grad_norm_sq)| NoiseScale {
            trace_sigma,
            grad_norm_sq,
        });
        let ids = (s.train_data.clone(), s.test_data.clone());
        let _ = self.data_ids.set(ids);
        if let (Some(p), Some(a)) = (&mut self.private, &s.accountant) {
            p.accountant = a.clone();
        }
    }
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
