//! Saving a run and resuming it exactly.
//!
//! A checkpoint is a directory:
//!
//! * `model.safetensors` — the weights, loadable by PyTorch (see
//!   [`gradlab_layers::checkpoint`]);
//! * `optimizer.safetensors` — the optimizer's moment tensors, named
//!   `<param id>.<moment>`;
//! * `state.json` — everything else: format version, the run's config,
//!   epochs and steps done, the optimizer's spec and step count, and the
//!   checksums of the two tensor files, so a directory whose files come from
//!   different saves is refused.
//!
//! No random generator state needs saving: the shuffle of epoch e is drawn
//! from (seed, e) and the dropout masks of step t from (seed, t), so a run
//! resumed after epoch e continues exactly as if it had never stopped.
//! `state.json` is written last; each file is replaced atomically.

use std::fs;
use std::path::Path;

use gradlab_data::Dataset;
use gradlab_layers::{load_weights, read_tensors, save_weights, write_atomic, write_tensors};
use gradlab_optim::{Optimizer, OptimizerState, StateHeader};
use serde::{Deserialize, Serialize};

use crate::{TrainConfig, TrainError, Trainer};

/// The version of `state.json` this code writes and reads.
pub const STATE_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct RunState {
    format: String,
    version: u32,
    config: TrainConfig,
    epochs_done: usize,
    steps_done: u64,
    optimizer: StateHeader,
    model_checksum: String,
    optimizer_checksum: String,
}

/// Saves `trainer` into `dir` (created if needed).
pub fn save(dir: &Path, trainer: &Trainer) -> Result<(), TrainError> {
    fs::create_dir_all(dir).map_err(|source| TrainError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let config = serde_json::to_string(&trainer.config).expect("a config serializes");
    let model_path = dir.join("model.safetensors");
    save_weights(&model_path, &trainer.model.params, &[("config", config)])?;
    let state = trainer.optimizer.state();
    let opt_path = dir.join("optimizer.safetensors");
    write_tensors(&opt_path, state.tensors(), &[("spec", state.spec.clone())])?;
    let run = RunState {
        format: "gradlab-run".into(),
        version: STATE_VERSION,
        config: trainer.config.clone(),
        epochs_done: trainer.epochs_done,
        steps_done: trainer.steps_done,
        optimizer: state.header(),
        model_checksum: read_checksum(&model_path)?,
        optimizer_checksum: read_checksum(&opt_path)?,
    };
    let json = serde_json::to_string_pretty(&run).expect("a run state serializes");
    write_atomic(&dir.join("state.json"), json.as_bytes())?;
    Ok(())
}

fn read_checksum(path: &Path) -> Result<String, TrainError> {
    let (_, meta) = read_tensors(path)?;
    Ok(meta.get("checksum").cloned().unwrap_or_default())
}

/// Resumes the run saved in `dir` on the same data. With `epochs`, the run
/// is extended (or shortened) to that many epochs in total.
pub fn resume(
    dir: &Path,
    train: Dataset,
    test: Dataset,
    epochs: Option<usize>,
) -> Result<Trainer, TrainError> {
    let state_path = dir.join("state.json");
    let resume_err = |reason: String| TrainError::Resume {
        path: state_path.clone(),
        reason,
    };
    let text =
        fs::read_to_string(&state_path).map_err(|e| resume_err(format!("cannot read ({e})")))?;
    let run: RunState =
        serde_json::from_str(&text).map_err(|e| resume_err(format!("not a run state ({e})")))?;
    if run.format != "gradlab-run" || run.version != STATE_VERSION {
        return Err(resume_err(format!(
            "format {:?} version {}, expected \"gradlab-run\" version {STATE_VERSION}",
            run.format, run.version
        )));
    }
    let mut config = run.config;
    if let Some(e) = epochs {
        config.epochs = e;
    }
    let mut trainer = Trainer::new(config, train, test)?;

    let model_path = dir.join("model.safetensors");
    let meta = load_weights(&model_path, &mut trainer.model.params)?;
    let opt_path = dir.join("optimizer.safetensors");
    let (tensors, opt_meta) = read_tensors(&opt_path)?;
    for (file, expected, meta) in [
        (&model_path, &run.model_checksum, &meta),
        (&opt_path, &run.optimizer_checksum, &opt_meta),
    ] {
        if meta.get("checksum") != Some(expected) {
            return Err(resume_err(format!(
                "{} does not belong to this state (it comes from another save)",
                file.display()
            )));
        }
    }
    let params = &trainer.model.params;
    for p in &run.optimizer.params {
        let fits =
            p.id < params.len() && params.get(gradlab_autodiff::ParamId(p.id)).shape() == p.shape;
        if !fits {
            return Err(resume_err(format!(
                "the optimizer state of parameter #{} (shape {:?}) fits no parameter of the model",
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
    let state = OptimizerState::from_parts(run.optimizer, parts).map_err(state_err)?;
    let total = trainer
        .train_set()
        .len()
        .div_ceil(trainer.config.batch_size) as u64
        * trainer.config.epochs as u64;
    trainer.optimizer = Optimizer::from_state(state)
        .map_err(state_err)?
        .with_total_steps(total)?;
    trainer.epochs_done = run.epochs_done;
    trainer.steps_done = run.steps_done;
    Ok(trainer)
}
