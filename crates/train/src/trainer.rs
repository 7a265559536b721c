//! The training loop.

use std::cell::OnceCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use gradlab_autodiff::{GradRequest, NoiseScale, Tape};
use gradlab_data::{Batches, Dataset};
use gradlab_layers::{Mlp, Mode, Module};
use gradlab_optim::{self as optim, Optimizer, Param};
use gradlab_tensor::reduce::argmax;
use rayon::Yield;

use crate::checkpoint::{Checkpoints, DataIdentity};
use crate::config::parse_activation;
use crate::{memory, CsvLog, TrainConfig, TrainError};

/// Number of classes of an MNIST-layout dataset.
pub const CLASSES: usize = 10;

/// Examples per forward pass when evaluating.
pub(crate) const EVAL_BATCH: usize = 1000;

/// A loss this many times the chance-level loss ln C (that of a model that
/// gives every class the same probability) means the run has diverged: a
/// network that knows nothing does 100× better. Weights can blow up while
/// every loss stays finite (plain SGD at a rate far too large ends at a test
/// loss of 10³⁴), so waiting for a NaN is not enough.
pub const DIVERGENCE_FACTOR: f64 = 100.0;

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
    /// Training examples per second so far in this epoch.
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
    /// Fraction of the test set classified correctly.
    pub test_accuracy: f64,
    /// Training examples per second (evaluation excluded).
    pub examples_per_s: f64,
    /// Seconds spent training in this epoch.
    pub train_seconds: f64,
    /// The gradient noise scale over the epoch, when the optimizer asked for
    /// per-example second moments.
    pub b_noise: Option<f64>,
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

/// A model, its optimizer and its data, and how far training has come.
pub struct Trainer {
    /// The run's definition.
    pub config: TrainConfig,
    /// The network.
    pub model: Mlp,
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
    tape: Tape,
    eval_tape: Tape,
    labels: Vec<usize>,
    request: GradRequest,
    /// The allocation of the list of parameters handed to the optimizer,
    /// kept empty between steps.
    param_list: Vec<Param<'static>>,
}

impl Trainer {
    /// A fresh run of `config` on `train`, evaluated on `test`. Every value
    /// that has no meaning — no epochs, a batch larger than the training
    /// set, test images of another size than the training images, a model
    /// larger than the memory available — is an error, before anything is
    /// allocated.
    pub fn new(config: TrainConfig, train: Dataset, test: Dataset) -> Result<Trainer, TrainError> {
        Trainer::build(config, train, test, None)
    }

    /// [`Trainer::new`] with a schedule of `schedule_steps` steps, if given
    /// (a resumed run keeps its own), else of the run's length.
    pub(crate) fn build(
        config: TrainConfig,
        train: Dataset,
        test: Dataset,
        schedule_steps: Option<u64>,
    ) -> Result<Trainer, TrainError> {
        config.validate()?;
        let limited = config.limit.is_some_and(|n| n < train.len());
        let train = match config.limit {
            Some(n) => train.limit(n),
            None => train,
        };
        if train.is_empty() {
            return Err(TrainError::Config("the training set is empty".into()));
        }
        if test.is_empty() {
            return Err(TrainError::Config("the test set is empty".into()));
        }
        if train.num_features() != test.num_features() {
            return Err(TrainError::Config(format!(
                "the test images are {}×{} but the training images {}×{}: a model takes \
                 inputs of one size",
                test.rows(),
                test.cols(),
                train.rows(),
                train.cols()
            )));
        }
        if config.batch_size > train.len() {
            return Err(TrainError::Config(format!(
                "the batch size {} is larger than the {} training examples{}",
                config.batch_size,
                train.len(),
                if limited { " (after --limit)" } else { "" }
            )));
        }
        let steps_per_epoch = train.len().div_ceil(config.batch_size) as u64;
        let schedule_steps =
            schedule_steps.unwrap_or(steps_per_epoch.saturating_mul(config.epochs as u64));
        let mut sizes = vec![train.num_features()];
        sizes.extend(&config.hidden);
        sizes.push(CLASSES);
        let optimizer =
            Optimizer::from_spec(&config.optimizer)?.with_total_steps(schedule_steps)?;
        let moments = optimizer.state_names();
        memory::check(
            &sizes,
            config.batch_size,
            moments.len(),
            optimizer.grad_request() == optim::GradRequest::MeanAndSquares,
            &format!("{}'s {}", optimizer.name(), moments.join(" and ")),
        )?;
        let activation = parse_activation(&config.activation)?;
        let model = Mlp::with_dropout(&sizes, activation, config.dropout, config.seed)?;
        let request = match optimizer.grad_request() {
            optim::GradRequest::Mean => GradRequest::Mean,
            optim::GradRequest::MeanAndSquares => GradRequest::MeanAndSquares,
        };
        Ok(Trainer {
            config,
            model,
            optimizer,
            steps_done: 0,
            schedule_steps,
            data_source: None,
            data_ids: OnceCell::new(),
            epoch_loss_sum: 0.0,
            epoch_noise: None,
            train,
            test,
            tape: Tape::new(),
            eval_tape: Tape::new(),
            labels: Vec::new(),
            request,
            param_list: Vec::new(),
        })
    }

    /// Records that the data was loaded from `dir`, so that checkpoints
    /// name it and a resume can load it again
    /// ([`Checkpoint::data_source`](crate::checkpoint::Checkpoint::data_source)).
    pub fn with_data_source(mut self, dir: impl Into<PathBuf>) -> Trainer {
        self.data_source = Some(dir.into());
        self
    }

    /// Steps completed.
    pub fn steps_done(&self) -> u64 {
        self.steps_done
    }

    /// Steps per epoch: ⌈training examples / batch size⌉.
    pub fn steps_per_epoch(&self) -> u64 {
        self.train.len().div_ceil(self.config.batch_size) as u64
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
    /// counts as diverged: [`DIVERGENCE_FACTOR`] × ln C.
    pub fn loss_limit(&self) -> f64 {
        DIVERGENCE_FACTOR * (CLASSES as f64).ln()
    }

    /// Whether `loss` means the run has diverged: NaN, or above
    /// [`loss_limit`](Trainer::loss_limit).
    pub fn diverges(&self, loss: f64) -> bool {
        loss.is_nan() || loss > self.loss_limit()
    }

    /// Computes the per-example mean of squares (1/B) Σ_b g_b² at every
    /// step even if the optimizer does not use it, so that every epoch
    /// reports the gradient noise scale ([`EpochMetrics::b_noise`]). Costs
    /// a second pass of the weight-gradient matmul on squared operands.
    pub fn with_noise_scale(mut self) -> Trainer {
        self.request = GradRequest::MeanAndSquares;
        self
    }

    /// The training set (after `limit`).
    pub fn train_set(&self) -> &Dataset {
        &self.train
    }

    /// The test set.
    pub fn test_set(&self) -> &Dataset {
        &self.test
    }

    /// One step on the training examples `indices`: forward, backward with
    /// the statistics the optimizer asks for, update. Returns the batch's
    /// mean loss, or an error (and no update) if it is not finite.
    pub fn step(&mut self, indices: &[usize]) -> Result<f32, TrainError> {
        // The step runs on one of rayon's threads, so its parallel loops
        // start from inside the pool and the calling thread sleeps once per
        // step rather than once per loop. The pool's other threads stay
        // awake for the step's duration, running its parallel pieces as
        // they appear: an idle rayon thread soon goes to sleep, and waking
        // it for each of a step's dozen parallel loops (a system call and a
        // context switch each) cost 15–20 % of a step at batch size 32.
        //
        // The first step allocates every worker's matmul buffers (a
        // broadcast to the pool, which `Tape::record` would otherwise do)
        // before the helpers start: a thread that waits for a broadcast runs
        // queued jobs meanwhile, and if it picked up its own helper job, that
        // helper would spin until the step it sits inside has finished.
        gradlab_tensor::reserve_workers();
        let done = AtomicBool::new(false);
        rayon::scope(|_| {
            with_helpers(rayon::current_num_threads() - 1, &done, || {
                let _stop_helpers = SetOnDrop(&done);
                self.step_here(indices)
            })
        })
    }

    fn step_here(&mut self, indices: &[usize]) -> Result<f32, TrainError> {
        let loss_limit = self.loss_limit();
        let Trainer {
            model,
            optimizer,
            train,
            tape,
            labels,
            param_list,
            ..
        } = self;
        let seed = self.config.seed ^ (self.steps_done + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut g = tape.record(&model.params);
        let x = g.input_with(|buf| train.gather(indices, buf, labels));
        let logits = model.forward(&mut g, x, Mode::Train { seed });
        let losses = g.softmax_cross_entropy(logits, labels);
        let loss = g.value(losses).mean();
        if loss.is_nan() || f64::from(loss) > loss_limit {
            let lr = optimizer.learning_rate(indices.len());
            let (step, epoch) = (self.steps_done + 1, self.epochs_done() + 1);
            return Err(self.diverged(step, epoch, "the batch's loss", loss.into(), lr));
        }
        let scaled = match self.config.loss_scale {
            1.0 => losses,
            alpha => g.scale(losses, alpha),
        };
        g.backward(scaled, self.request)?;
        let mut params = reuse(std::mem::take(param_list));
        params.extend(model.params.iter_mut().map(|(id, value)| {
            let grad = tape.grad(id).expect("every parameter reaches the loss");
            let p = Param::new(id.0, value, grad);
            match tape.grad_sq(id) {
                Some(sq) => p.with_grad_sq(sq),
                None => p,
            }
        }));
        optimizer.step(&mut params, indices.len());
        *param_list = reuse(params);
        self.steps_done += 1;
        Ok(loss)
    }

    /// The noise-scale estimate of the last step, if it computed per-example
    /// second moments.
    pub fn last_noise_scale(&self) -> Option<NoiseScale> {
        self.tape.noise_scale().map(|(total, _)| total)
    }

    /// Mean loss and accuracy of the model on `data` (dropout off).
    pub fn evaluate(&mut self, data: &Dataset) -> (f64, f64) {
        evaluate(&self.model, &mut self.eval_tape, &mut self.labels, data)
    }

    /// Mean loss and accuracy on the test set.
    pub fn evaluate_test(&mut self) -> (f64, f64) {
        evaluate(
            &self.model,
            &mut self.eval_tape,
            &mut self.labels,
            &self.test,
        )
    }

    /// The divergence error for `loss` (`what` says which) at `step` of
    /// `epoch`, with a hint at the cause.
    fn diverged(
        &self,
        step: u64,
        epoch: usize,
        what: &'static str,
        loss: f64,
        lr: f32,
    ) -> TrainError {
        let eps = self.optimizer.hyperparameter("eps");
        let hint = if !loss.is_finite() && eps.as_deref() == Some("0") {
            format!(
                "{} divides by √s + ε with eps=0, and a weight whose gradient has been 0 so far \
                 (such as one of a pixel that is 0 in every image) gets 0/0 = NaN; give eps > 0, \
                 e.g. eps=1e-8",
                self.optimizer.name()
            )
        } else {
            format!("try a smaller learning rate (the effective rate was {lr:e})")
        };
        TrainError::Diverged {
            step,
            epoch,
            what,
            loss,
            limit: self.loss_limit(),
            hint,
            checkpoint: None,
        }
    }

    /// Trains the rest of the current epoch (all of the next one, unless
    /// the run stopped mid-epoch) and evaluates it.
    pub fn train_epoch(
        &mut self,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<EpochMetrics, TrainError> {
        self.run_epoch(None, on_event)
    }

    /// [`train_epoch`](Trainer::train_epoch), returning
    /// [`TrainError::Interrupted`] before a step if `stop` is set.
    fn run_epoch(
        &mut self,
        stop: Option<&AtomicBool>,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<EpochMetrics, TrainError> {
        let epoch = self.epochs_done() + 1;
        let order = Batches::new(
            self.train.len(),
            self.config.batch_size,
            self.config.seed,
            epoch,
            false,
        )?;
        let batches = order.num_batches();
        let done = (self.steps_done % self.steps_per_epoch()) as usize;
        on_event(Event::EpochStart { epoch, batches });
        let start = Instant::now();
        let mut seen = 0usize;
        for (batch, indices) in order.iter().enumerate().skip(done) {
            if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                return Err(TrainError::Interrupted {
                    step: self.steps_done,
                    epoch,
                    saved: None,
                });
            }
            let lr = self.optimizer.learning_rate(indices.len());
            let loss = self.step(indices)?;
            if let Some(n) = self.last_noise_scale() {
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
                examples_per_s: seen as f64 / start.elapsed().as_secs_f64(),
            };
            on_event(Event::Step(&info));
        }
        let train_seconds = start.elapsed().as_secs_f64();
        let (test_loss, test_accuracy) = self.evaluate_test();
        if self.diverges(test_loss) {
            let lr = self.optimizer.learning_rate(self.config.batch_size);
            return Err(self.diverged(self.steps_done, epoch, "the test loss", test_loss, lr));
        }
        let metrics = EpochMetrics {
            epoch,
            steps: self.steps_done,
            train_loss: self.epoch_loss_sum / batches as f64,
            test_loss,
            test_accuracy,
            examples_per_s: seen as f64 / train_seconds,
            train_seconds,
            b_noise: self.epoch_noise.take().map(|n| n.b_noise()),
        };
        self.epoch_loss_sum = 0.0;
        on_event(Event::Epoch(&metrics));
        Ok(metrics)
    }

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

/// Runs `body` while `helpers` other threads of the pool run its parallel
/// pieces or spin, until `done`. (`rayon::join` keeps its jobs on the
/// stack, so this allocates nothing.)
fn with_helpers<R: Send>(helpers: usize, done: &AtomicBool, body: impl FnOnce() -> R + Send) -> R {
    if helpers == 0 {
        return body();
    }
    rayon::join(
        || with_helpers(helpers - 1, done, body),
        || help_until(done),
    )
    .0
}

/// Runs the pool's pending jobs, or spins, until `done`.
fn help_until(done: &AtomicBool) {
    let mut idle = 0u32;
    while !done.load(Ordering::Acquire) {
        if rayon::yield_now() == Some(Yield::Executed) {
            idle = 0;
            continue;
        }
        idle += 1;
        // With more threads than free cores, a helper that only spins would
        // take the core from the thread doing the step's serial work.
        if idle.is_multiple_of(256) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Sets the flag when dropped, so that helpers stop even if the step panics.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// An empty `Vec` with the allocation of `v`, for borrows of another
/// lifetime. Collecting a vector's own `into_iter` reuses its buffer when the
/// element layout is the same, so once the list has held every parameter,
/// a step allocates nothing for it.
fn reuse<'a, 'b>(mut v: Vec<Param<'a>>) -> Vec<Param<'b>> {
    v.clear();
    v.into_iter()
        .map(|_| unreachable!("the vector is empty"))
        .collect()
}

/// Mean loss and accuracy of `model` on `data`, in batches, dropout off.
fn evaluate(model: &Mlp, tape: &mut Tape, labels: &mut Vec<usize>, data: &Dataset) -> (f64, f64) {
    let order = Batches::sequential(data.len(), EVAL_BATCH).expect("EVAL_BATCH is not 0");
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    for indices in order.iter() {
        let mut g = tape.record(&model.params);
        let x = g.input_with(|buf| data.gather(indices, buf, labels));
        let logits = model.forward(&mut g, x, Mode::Eval);
        let losses = g.softmax_cross_entropy(logits, labels);
        loss_sum += g.value(losses).sum() as f64;
        let z = g.value(logits);
        let classes = z.shape()[1];
        correct += z
            .data()
            .chunks_exact(classes)
            .zip(labels.iter())
            .filter(|(row, &y)| argmax(row) == y)
            .count();
    }
    let n = data.len().max(1) as f64;
    (loss_sum / n, correct as f64 / n)
}
