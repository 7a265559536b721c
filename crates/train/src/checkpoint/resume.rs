//! Reading a saved run back and resuming it: the checks that it is the same
//! run on the same data, then the weights, the optimizer and the progress.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use gradlab_data::Dataset;
use gradlab_layers::{load_weights, read_tensors};
use gradlab_optim::{Optimizer, OptimizerState};

use super::atomic_dir::{complete_steps, generations};
use super::state::{standardization, RunState, STATE_VERSION};
use super::{Checkpoint, MODEL, OPTIMIZER, STATE};
use crate::tape::FromTape;
use crate::trainer::DataIdentity;
use crate::{TrainError, Trainer};

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
    pub(super) fn read(path: PathBuf) -> Result<Checkpoint, TrainError> {
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
        let mut config = s.config.clone();
        if let Some(e) = epochs {
            config.epochs = e;
        }
        let given_model = model.is_some();
        let mut trainer = Trainer::build(config, model, train, test, Some(s.schedule_steps))?;
        self.check_model(&trainer, given_model)?;
        self.check_data(&trainer)?;
        self.check_standardization(&trainer)?;
        self.check_epochs(&trainer)?;

        let model_path = self.path.join(MODEL);
        let meta = load_weights(&model_path, &mut trainer.model.params)?;
        let opt_path = self.path.join(OPTIMIZER);
        let (tensors, opt_meta) = read_tensors(&opt_path)?;
        self.check_checksums([
            (&model_path, &s.model_checksum, &meta),
            (&opt_path, &s.optimizer_checksum, &opt_meta),
        ])?;
        self.check_optimizer_steps()?;
        self.check_accountant()?;
        self.check_optimizer_params(&trainer)?;
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

    /// The error for a saved state that cannot be resumed for `reason`,
    /// naming its `state.json`.
    fn bad(&self, reason: String) -> TrainError {
        TrainError::Resume {
            path: self.path.join(STATE),
            reason,
        }
    }

    /// Checks that `trainer`'s model is the saved run's: for a run of
    /// another model than the config's MLP, that one was given
    /// (`given_model`), of the saved name.
    fn check_model(&self, trainer: &Trainer, given_model: bool) -> Result<(), TrainError> {
        let s = &self.state;
        if trainer.model.name != s.model && !given_model {
            return Err(self.bad(format!(
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
        Ok(())
    }

    /// Checks that `trainer`'s training and test data are the saved run's.
    fn check_data(&self, trainer: &Trainer) -> Result<(), TrainError> {
        let s = &self.state;
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
        Ok(())
    }

    /// Checks that `trainer`'s data is standardized as the saved run's was.
    fn check_standardization(&self, trainer: &Trainer) -> Result<(), TrainError> {
        let s = &self.state;
        if standardization(trainer) != s.standardization {
            return Err(self.bad(
                "the saved standardization differs from the one of the training data".into(),
            ));
        }
        Ok(())
    }

    /// Checks that `trainer`'s run does not stop before the epochs the saved
    /// run has completed.
    fn check_epochs(&self, trainer: &Trainer) -> Result<(), TrainError> {
        let s = &self.state;
        let done = s.steps_done / trainer.steps_per_epoch();
        if trainer.config.epochs < done as usize {
            return Err(self.bad(format!(
                "the run has completed {done} epochs already; stopping after {} would undo them",
                trainer.config.epochs
            )));
        }
        Ok(())
    }

    /// Checks that each tensor file (its path, the checksum the state
    /// expects, its metadata) comes from the same save as the state.
    fn check_checksums(
        &self,
        files: [(&Path, &String, &HashMap<String, String>); 2],
    ) -> Result<(), TrainError> {
        for (file, expected, meta) in files {
            if meta.get("checksum") != Some(expected) {
                return Err(self.bad(format!(
                    "{} does not belong to this state (it comes from another save)",
                    file.display()
                )));
            }
        }
        Ok(())
    }

    /// Checks that the optimizer has taken as many steps as the run.
    fn check_optimizer_steps(&self) -> Result<(), TrainError> {
        let s = &self.state;
        if s.optimizer.steps != s.steps_done {
            return Err(self.bad(format!(
                "the optimizer has taken {} steps, the run {}",
                s.optimizer.steps, s.steps_done
            )));
        }
        Ok(())
    }

    /// Checks that a private run, and only a private run, has a privacy
    /// accountant, with as many steps as the run.
    fn check_accountant(&self) -> Result<(), TrainError> {
        let s = &self.state;
        let accounted = s.accountant.as_ref().map(|a| {
            let steps: u64 = a.history().iter().map(|p| p.steps).sum();
            steps
        });
        match (s.config.privacy.is_some(), accounted) {
            (true, Some(steps)) if steps == s.steps_done => {}
            (false, None) => {}
            (true, Some(steps)) => {
                return Err(self.bad(format!(
                    "the privacy accountant has {steps} steps, the run {}",
                    s.steps_done
                )))
            }
            (true, None) if s.steps_done == 0 => {}
            (true, None) => {
                return Err(self.bad(
                    "a private run's state has no privacy accountant: the privacy spent is unknown"
                        .into(),
                ))
            }
            (false, Some(_)) => {
                return Err(self
                    .bad("the state has a privacy accountant but the run is not private".into()))
            }
        }
        Ok(())
    }

    /// Checks that the optimizer state of every parameter fits a parameter
    /// of `trainer`'s model.
    fn check_optimizer_params(&self, trainer: &Trainer) -> Result<(), TrainError> {
        let s = &self.state;
        let params = &trainer.model.params;
        for p in &s.optimizer.params {
            let fits = p.id < params.len()
                && params.get(gradlab_autodiff::ParamId(p.id)).shape() == p.shape;
            if !fits {
                return Err(self.bad(format!(
                    "the optimizer state of parameter #{} (shape {:?}) fits no parameter of the \
                     model",
                    p.id, p.shape
                )));
            }
        }
        Ok(())
    }
}
