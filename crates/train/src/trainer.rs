//! The training loop.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use gradlab_autodiff::{GradRequest, NoiseScale, Tape};
use gradlab_data::{Batches, Dataset};
use gradlab_layers::{Mlp, Mode, Module};
use gradlab_optim::{self as optim, Optimizer, Param};
use gradlab_tensor::reduce::argmax;
use rayon::Yield;

use crate::config::parse_activation;
use crate::{CsvLog, TrainConfig, TrainError};

/// Number of classes of an MNIST-layout dataset.
pub const CLASSES: usize = 10;

/// Examples per forward pass when evaluating.
const EVAL_BATCH: usize = 1000;

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

/// Where a run writes what it produces.
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    /// Save a checkpoint here after every epoch.
    pub save: Option<PathBuf>,
    /// Append per-step and per-epoch rows to this CSV file.
    pub log: Option<PathBuf>,
}

/// A model, its optimizer and its data, and how far training has come.
pub struct Trainer {
    /// The run's definition.
    pub config: TrainConfig,
    /// The network.
    pub model: Mlp,
    /// The optimizer and its state.
    pub optimizer: Optimizer,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Steps completed.
    pub steps_done: u64,
    pub(crate) train: Dataset,
    test: Dataset,
    tape: Tape,
    eval_tape: Tape,
    labels: Vec<usize>,
    request: GradRequest,
    /// The allocation of the list of parameters handed to the optimizer,
    /// kept empty between steps.
    param_list: Vec<Param<'static>>,
}

impl Trainer {
    /// A fresh run of `config` on `train`, evaluated on `test`.
    pub fn new(config: TrainConfig, train: Dataset, test: Dataset) -> Result<Trainer, TrainError> {
        config.validate()?;
        let train = match config.limit {
            Some(n) => train.limit(n),
            None => train,
        };
        if train.is_empty() {
            return Err(TrainError::Config("the training set is empty".into()));
        }
        let mut sizes = vec![train.num_features()];
        sizes.extend(&config.hidden);
        sizes.push(CLASSES);
        let activation = parse_activation(&config.activation)?;
        let model = Mlp::with_dropout(&sizes, activation, config.dropout, config.seed)?;
        let steps_per_epoch = train.len().div_ceil(config.batch_size) as u64;
        let optimizer = Optimizer::from_spec(&config.optimizer)?
            .with_total_steps(steps_per_epoch * config.epochs as u64)?;
        let request = match optimizer.grad_request() {
            optim::GradRequest::Mean => GradRequest::Mean,
            optim::GradRequest::MeanAndSquares => GradRequest::MeanAndSquares,
        };
        Ok(Trainer {
            config,
            model,
            optimizer,
            epochs_done: 0,
            steps_done: 0,
            train,
            test,
            tape: Tape::new(),
            eval_tape: Tape::new(),
            labels: Vec::new(),
            request,
            param_list: Vec::new(),
        })
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
        if !loss.is_finite() {
            return Err(TrainError::Diverged {
                step: self.steps_done + 1,
                epoch: self.epochs_done + 1,
                loss,
                lr: optimizer.learning_rate(indices.len()),
                checkpoint: None,
            });
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

    /// Trains one epoch (the next one) and evaluates it.
    pub fn train_epoch(
        &mut self,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<EpochMetrics, TrainError> {
        let epoch = self.epochs_done + 1;
        let order = Batches::new(
            self.train.len(),
            self.config.batch_size,
            self.config.seed,
            epoch,
            false,
        )?;
        let batches = order.num_batches();
        on_event(Event::EpochStart { epoch, batches });
        let start = Instant::now();
        let (mut loss_sum, mut seen, mut batch) = (0.0f64, 0usize, 0usize);
        let mut noise = NoiseScale::default();
        let mut noisy = false;
        for indices in order.iter() {
            let lr = self.optimizer.learning_rate(indices.len());
            let loss = self.step(indices)?;
            if let Some(n) = self.last_noise_scale() {
                noise += n;
                noisy = true;
            }
            batch += 1;
            seen += indices.len();
            loss_sum += loss as f64;
            let info = StepInfo {
                epoch,
                step: self.steps_done,
                batch,
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
        self.epochs_done = epoch;
        let metrics = EpochMetrics {
            epoch,
            steps: self.steps_done,
            train_loss: loss_sum / batch.max(1) as f64,
            test_loss,
            test_accuracy,
            examples_per_s: seen as f64 / train_seconds,
            train_seconds,
            b_noise: noisy.then(|| noise.b_noise()),
        };
        on_event(Event::Epoch(&metrics));
        Ok(metrics)
    }

    /// Trains the remaining epochs, logging and checkpointing as `outputs`
    /// says. On divergence the run stops with [`TrainError::Diverged`] and
    /// the checkpoint of the last completed epoch stays in place.
    pub fn fit(
        &mut self,
        outputs: &Outputs,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Vec<EpochMetrics>, TrainError> {
        let mut log = match &outputs.log {
            Some(path) => Some(CsvLog::open(path, self.epochs_done > 0)?),
            None => None,
        };
        let mut all = Vec::new();
        while self.epochs_done < self.config.epochs {
            let mut log_err = None;
            let result = self.train_epoch(&mut |e| {
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
            let metrics = match result {
                Ok(m) => m,
                Err(TrainError::Diverged {
                    step,
                    epoch,
                    loss,
                    lr,
                    ..
                }) => {
                    return Err(TrainError::Diverged {
                        step,
                        epoch,
                        loss,
                        lr,
                        checkpoint: outputs.save.clone().filter(|_| self.epochs_done > 0),
                    })
                }
                Err(e) => return Err(e),
            };
            if let Some(log) = &mut log {
                log.epoch(&metrics)?;
            }
            if let Some(dir) = &outputs.save {
                crate::checkpoint::save(dir, self)?;
            }
            all.push(metrics);
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
