//! The whole run: epochs until the config's last, with a CSV log and a
//! checkpoint after each, stopped cleanly by a flag.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::checkpoint::Checkpoints;
use crate::{CsvLog, EpochMetrics, Event, TrainError, Trainer};

/// How [`Trainer::fit`] runs: where it writes, and when it stops early.
#[derive(Clone, Debug, Default)]
pub struct FitOptions {
    /// The checkpoint directory: a checkpoint after every epoch, and one at
    /// an interrupt (see [`checkpoint`](crate::checkpoint)).
    pub save: Option<PathBuf>,
    /// Per-step and per-epoch rows go to this CSV file: a new file for a new
    /// run, the continued log for a resumed one.
    pub log: Option<PathBuf>,
    /// Set this flag (from a Ctrl-C handler, say) to stop at the next step
    /// boundary: the run is saved if `save` is set, and `fit` returns
    /// [`TrainError::Interrupted`].
    pub stop: Option<Arc<AtomicBool>>,
}

impl Trainer {
    /// Trains the remaining epochs, logging and checkpointing as `options`
    /// says. A diverging run stops with [`TrainError::Diverged`], an
    /// interrupted one with [`TrainError::Interrupted`] after saving; in
    /// both cases the checkpoint directory holds the last good checkpoint.
    pub fn fit(
        &mut self,
        options: &FitOptions,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Vec<EpochMetrics>, TrainError> {
        // Everything that could fail at the end of the first epoch is
        // checked before it starts.
        let checkpoints = match &options.save {
            Some(dir) => {
                let c = Checkpoints::open(dir)?;
                c.check_continues(self)?;
                Some(c)
            }
            None => None,
        };
        let mut last_saved = match &checkpoints {
            Some(c) => c.latest()?.map(|c| c.path().to_path_buf()),
            None => None,
        };
        let mut log = match &options.log {
            Some(path) if self.steps_done > 0 => Some(CsvLog::resume(path, self.steps_done)?),
            Some(path) => Some(CsvLog::create(path)?),
            None => None,
        };
        if let (Some(c), true) = (&checkpoints, self.epochs_done() >= self.config.epochs) {
            // A complete run has nothing to train; a new directory still
            // gets its checkpoint.
            c.save(self)?;
        }
        let mut all = Vec::new();
        while self.epochs_done() < self.config.epochs {
            let mut log_err = None;
            let result = self.run_epoch(options.stop.as_deref(), &mut |e| {
                if let (Some(log), Event::Step(s)) = (&mut log, &e) {
                    if let Err(err) = log.step(s) {
                        log_err.get_or_insert(err);
                    }
                }
                on_event(e)
            });
            if let Some(err) = log_err {
                return Err(err);
            }
            if let Some(log) = &mut log {
                log.flush()?;
            }
            match result {
                Ok(metrics) => {
                    if let Some(log) = &mut log {
                        log.epoch(&metrics)?;
                    }
                    if let Some(c) = &checkpoints {
                        last_saved = Some(c.save(self)?);
                    }
                    all.push(metrics);
                }
                Err(TrainError::Interrupted { step, epoch, .. }) => {
                    let saved = match &checkpoints {
                        Some(c) => {
                            c.save(self)?;
                            Some(c.dir().to_path_buf())
                        }
                        None => None,
                    };
                    return Err(TrainError::Interrupted { step, epoch, saved });
                }
                Err(TrainError::Diverged {
                    step,
                    epoch,
                    what,
                    loss,
                    limit,
                    hint,
                    ..
                }) => {
                    return Err(TrainError::Diverged {
                        step,
                        epoch,
                        what,
                        loss,
                        limit,
                        hint,
                        checkpoint: last_saved,
                    })
                }
                Err(e) => return Err(e),
            }
        }
        Ok(all)
    }
}
