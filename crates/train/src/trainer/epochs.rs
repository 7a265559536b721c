//! Training loops: an epoch, and up to a step.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use gradlab_autodiff::NoiseScale;
use gradlab_data::Batches;

use super::{EpochMetrics, Event, StepInfo, Trainer};
use crate::TrainError;

impl Trainer {
    /// Trains the rest of the current epoch (all of the next one, unless
    /// the run stopped mid-epoch) and evaluates it.
    pub fn train_epoch(
        &mut self,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<EpochMetrics, TrainError> {
        self.run_epoch(None, on_event)
    }

    /// Trains until `steps` steps have been taken in all, across epochs and
    /// stopping mid-epoch if that is where the count falls, without
    /// evaluating: [`Event::EpochStart`] as each epoch begins and
    /// [`Event::Step`] after every step. An epoch finished this way is not
    /// evaluated and reports no [`Event::Epoch`]; its loss and noise sums
    /// carry on into [`train_epoch`](Trainer::train_epoch) as after a
    /// resume. A harness that evaluates on its own schedule (by examples
    /// seen, say) calls this between its evaluations. If `stop` is set
    /// before a step, it returns [`TrainError::Interrupted`] there (and
    /// saves nothing: saving is the caller's).
    pub fn train_until(
        &mut self,
        steps: u64,
        stop: Option<&AtomicBool>,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), TrainError> {
        while self.steps_done < steps {
            let epoch = self.epochs_done() + 1;
            let order = self.batches(epoch)?;
            if self.steps_done.is_multiple_of(self.steps_per_epoch()) {
                // The sums of an epoch that ended here, unevaluated, are
                // not the new epoch's.
                self.epoch_loss_sum = 0.0;
                self.epoch_noise = None;
                let batches = order.num_batches();
                on_event(Event::EpochStart { epoch, batches });
            }
            self.run_steps(epoch, &order, steps, stop, on_event)?;
        }
        Ok(())
    }

    /// [`train_epoch`](Trainer::train_epoch), returning
    /// [`TrainError::Interrupted`] before a step if `stop` is set.
    pub(crate) fn run_epoch(
        &mut self,
        stop: Option<&AtomicBool>,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<EpochMetrics, TrainError> {
        let epoch = self.epochs_done() + 1;
        let order = self.batches(epoch)?;
        let batches = order.num_batches();
        on_event(Event::EpochStart { epoch, batches });
        let end = epoch as u64 * self.steps_per_epoch();
        let start = Instant::now();
        let seen = self.run_steps(epoch, &order, end, stop, on_event)?;
        let train_seconds = start.elapsed().as_secs_f64();
        let test = self.evaluate_test();
        if self.diverges(test.loss) {
            let lr = self.optimizer.learning_rate(self.config.batch_size);
            return Err(self.diverged(self.steps_done, epoch, "the test loss", test.loss, lr));
        }
        let metrics = EpochMetrics {
            epoch,
            steps: self.steps_done,
            train_loss: self.epoch_loss_sum / batches as f64,
            test_loss: test.loss,
            test_accuracy: test.accuracy,
            test_rmse: test.rmse,
            examples_per_s: seen as f64 / train_seconds,
            train_seconds,
            b_noise: self.epoch_noise.take().map(|n| n.b_noise()),
            epsilon: self.epsilon(),
        };
        self.epoch_loss_sum = 0.0;
        on_event(Event::Epoch(&metrics));
        Ok(metrics)
    }

    /// The steps of epoch `epoch` (its batches `order`) from where the run
    /// is to step `until` or the epoch's end, adding up the epoch's loss
    /// and noise sums; returns the examples seen.
    fn run_steps(
        &mut self,
        epoch: usize,
        order: &Batches,
        until: u64,
        stop: Option<&AtomicBool>,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<usize, TrainError> {
        let per_epoch = self.steps_per_epoch();
        let done = (self.steps_done % per_epoch) as usize;
        let take = until.saturating_sub(self.steps_done).min(per_epoch) as usize;
        let batches = order.num_batches();
        let start = Instant::now();
        let mut seen = 0usize;
        for (batch, indices) in order.iter().enumerate().skip(done).take(take) {
            if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                return Err(TrainError::Interrupted {
                    step: self.steps_done,
                    epoch,
                    saved: None,
                });
            }
            // A private step divides by the expected batch size, and its
            // rate is the one for that size.
            let lr = match self.private {
                Some(_) => self.optimizer.learning_rate(self.config.batch_size),
                None => self.optimizer.learning_rate(indices.len()),
            };
            let step_start = Instant::now();
            let loss = self.step(indices)?;
            let seconds = step_start.elapsed().as_secs_f64();
            let noise = self.last_noise_scale();
            if let Some(n) = noise {
                *self.epoch_noise.get_or_insert_with(NoiseScale::default) += n;
            }
            seen += indices.len();
            self.epoch_loss_sum += loss as f64;
            let info = StepInfo {
                epoch,
                step: self.steps_done,
                batch: batch + 1,
                batches,
                batch_size: indices.len(),
                loss,
                lr,
                seconds,
                noise,
                examples_per_s: seen as f64 / start.elapsed().as_secs_f64(),
            };
            on_event(Event::Step(&info));
        }
        Ok(seen)
    }
}
