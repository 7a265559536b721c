//! The training loop: forward, backward, step — for any model and any
//! supervised data.
//!
//! A step ([`Trainer::step`]) gathers a batch into the tape's input buffer,
//! records the model's forward pass and the per-example losses, asks
//! backward for the statistics the optimizer needs, and updates the
//! parameters. Everything else here is bookkeeping: epochs, evaluation,
//! divergence, logs and checkpoints.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use gradlab_autodiff::{Clipping, GradRequest, Graph, NoiseScale, ParamStore, Tape, Var};
use gradlab_data::{Batches, Dataset, Targets};
use gradlab_layers::{Mlp, Mode, Model};
use gradlab_optim::{GaussianMechanism, Optimizer, RdpAccountant};
use gradlab_tensor::reduce::argmax;

use crate::checkpoint::{Checkpoints, DataIdentity};
use crate::config::{default_optimizer, parse_activation, DEFAULT_OPTIMIZER};
use crate::helpers::{catch_quietly, with_pool_awake};
use crate::tape::{privatize_tape, FromTape};
use crate::{memory, CsvLog, Privacy, TrainConfig, TrainError};

/// Examples per forward pass when evaluating.
pub(crate) const EVAL_BATCH: usize = 1000;

/// A loss this many times the chance-level loss means the run has
/// diverged: a model that knows nothing does 100× better. The chance level
/// is ln C for C classes (every class equally likely) and E\[t²\] for a
/// regression (predicting 0). Weights can blow up while every loss stays
/// finite (plain SGD at a rate far too large ends at a test loss of 10³⁴),
/// so waiting for a NaN is not enough.
pub const DIVERGENCE_FACTOR: f64 = 100.0;

/// What the model learns, read from the data's targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Classify into this many classes: softmax cross-entropy, accuracy.
    Classes(usize),
    /// Predict this many real values per example: mean squared error, RMSE.
    Values(usize),
}

impl Task {
    /// The task of a training and a test set: classes (as many as either
    /// set has), or values of one width. Sets of two kinds, or values of
    /// two widths, are an error.
    pub fn of(train: &Dataset, test: &Dataset) -> Result<Task, TrainError> {
        match (train.classes(), test.classes()) {
            (Some(a), Some(b)) => return Ok(Task::Classes(a.max(b))),
            (None, None) => {}
            _ => {
                return Err(TrainError::Config(
                    "the training and the test set have targets of two kinds (class labels and \
                     values)"
                        .into(),
                ))
            }
        }
        let (a, b) = (train.target_width(), test.target_width());
        if a != b {
            return Err(TrainError::Config(format!(
                "the training targets have {} values each but the test targets {}",
                a.unwrap_or(0),
                b.unwrap_or(0)
            )));
        }
        Ok(Task::Values(a.unwrap_or(0)))
    }

    /// The width of the model's output: C logits, or the k values.
    pub fn outputs(self) -> usize {
        match self {
            Task::Classes(c) | Task::Values(c) => c,
        }
    }
}

/// A model's loss and metric on a dataset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// The mean per-example loss.
    pub loss: f64,
    /// The fraction classified correctly, for classes.
    pub accuracy: Option<f64>,
    /// The root mean squared error over every target value, for a
    /// regression.
    pub rmse: Option<f64>,
}

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
    /// Seconds the step took (forward, backward and update).
    pub seconds: f64,
    /// The step's gradient-noise sums, when it computed per-example
    /// second moments.
    pub noise: Option<NoiseScale>,
    /// Training examples per second so far in this call of the training
    /// loop (the epoch, unless it was resumed or stopped mid-way).
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
    /// Fraction of the test set classified correctly, for classes.
    pub test_accuracy: Option<f64>,
    /// The root mean squared error on the test set, for a regression.
    pub test_rmse: Option<f64>,
    /// Training examples per second (evaluation excluded).
    pub examples_per_s: f64,
    /// Seconds spent training in this epoch.
    pub train_seconds: f64,
    /// The gradient noise scale over the epoch, when the optimizer asked for
    /// per-example second moments.
    pub b_noise: Option<f64>,
    /// For a private run: ε spent so far, at the config's δ.
    pub epsilon: Option<f64>,
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
    /// The network and its weights.
    pub model: Model,
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
    task: Task,
    loss_limit: f64,
    tape: Tape,
    eval_tape: Tape,
    targets: Targets,
    request: GradRequest,
    /// For a private run: the noise, the accounting and the sampling.
    pub(crate) private: Option<Private>,
}

/// What a private run keeps besides an ordinary one's state.
pub(crate) struct Private {
    pub(crate) settings: Privacy,
    pub(crate) mechanism: GaussianMechanism,
    pub(crate) accountant: RdpAccountant,
    /// q: the probability of each example being in a batch.
    pub(crate) rate: f64,
    /// q·N, what a batch's sum of gradients is divided by.
    pub(crate) expected_batch: f64,
}

impl Trainer {
    /// A fresh run of `config` on `train`, evaluated on `test`, training
    /// the config's MLP (its output width read from the data: one logit per
    /// class, or one output per target value). Every value that has no
    /// meaning — no epochs, a batch larger than the training set, test
    /// examples of another size than the training ones, a model larger than
    /// the memory available — is an error, before anything is allocated.
    pub fn new(config: TrainConfig, train: Dataset, test: Dataset) -> Result<Trainer, TrainError> {
        Trainer::build(config, None, train, test, None)
    }

    /// A fresh run of `config` training `model` (any network; the config's
    /// MLP settings are not used). The model's output for a batch must be
    /// `[B, outputs]`, `outputs` being the number of classes or target
    /// values; anything else is an error.
    pub fn with_model(
        config: TrainConfig,
        model: Model,
        train: Dataset,
        test: Dataset,
    ) -> Result<Trainer, TrainError> {
        Trainer::build(config, Some(model), train, test, None)
    }

    /// [`Trainer::new`] or [`Trainer::with_model`], with a schedule of
    /// `schedule_steps` steps, if given (a resumed run keeps its own), else
    /// of the run's length.
    pub(crate) fn build(
        config: TrainConfig,
        model: Option<Model>,
        train: Dataset,
        test: Dataset,
        schedule_steps: Option<u64>,
    ) -> Result<Trainer, TrainError> {
        config.validate()?;
        let limited = config.limit.is_some_and(|n| n < train.len());
        let mut train = match config.limit {
            Some(n) => train.limit(n),
            None => train,
        };
        let mut test = test;
        if train.is_empty() {
            return Err(TrainError::Config("the training set is empty".into()));
        }
        if test.is_empty() {
            return Err(TrainError::Config("the test set is empty".into()));
        }
        if train.num_features() != test.num_features() {
            let size = |d: &Dataset| match d.rows() {
                1 => format!("have {} features", d.cols()),
                _ => format!("are {}×{}", d.rows(), d.cols()),
            };
            let what = if train.rows() > 1 {
                "images"
            } else {
                "examples"
            };
            return Err(TrainError::Config(format!(
                "the test {what} {} but the training {what} {}: a model takes inputs of one size",
                size(&test),
                size(&train),
            )));
        }
        if let (Some(a), Some(b)) = (train.feature_names(), test.feature_names()) {
            if let Some(j) = (0..a.len()).find(|&j| a[j] != b[j]) {
                return Err(TrainError::Config(format!(
                    "feature {} is {:?} in the training data but {:?} in the test data: the \
                     columns must come in the same order",
                    j + 1,
                    a[j],
                    b[j]
                )));
            }
        }
        if config.batch_size > train.len() {
            return Err(TrainError::Config(format!(
                "the batch size {} is larger than the {} training examples{}",
                config.batch_size,
                train.len(),
                if limited { " (after --limit)" } else { "" }
            )));
        }
        let task = Task::of(&train, &test)?;
        if config.standardize {
            let s = train.standardization();
            train = train.standardize(s.clone())?;
            test = test.standardize(s)?;
        }
        let steps_per_epoch = epoch_steps(train.len(), &config);
        let schedule_steps =
            schedule_steps.unwrap_or(steps_per_epoch.saturating_mul(config.epochs as u64));
        // The default recipe's warm-up shrinks with a short run; the saved
        // config records the spec the run uses.
        let mut config = config;
        if config.optimizer == DEFAULT_OPTIMIZER {
            config.optimizer = default_optimizer(schedule_steps);
        }
        let optimizer = Optimizer::for_run(&config.optimizer, schedule_steps)?;
        let state = format!(
            "{}'s {}",
            optimizer.name(),
            optimizer.state_names().join(" and ")
        );
        let squares = optimizer.grad_request() != GradRequest::Mean;
        let moments = optimizer.state_names().len();
        let model = match model {
            None => {
                let mut sizes = vec![train.num_features()];
                sizes.extend(&config.hidden);
                sizes.push(task.outputs());
                memory::check_mlp(&sizes, config.batch_size, moments, squares, &state)?;
                let activation = parse_activation(&config.activation)?;
                Model::from(Mlp::with_dropout(
                    &sizes,
                    activation,
                    config.dropout,
                    config.seed,
                )?)
            }
            Some(model) => {
                let scalars = model.params.num_scalars() as u64;
                memory::check(scalars, 0, moments, squares, &state)?;
                check_output(&model, &train, task)?;
                model
            }
        };
        let loss_limit = DIVERGENCE_FACTOR * chance_loss(task, &train);
        let private = match config.privacy {
            Some(settings) => Some(private(&config, settings, &optimizer, &train)?),
            None => None,
        };
        let request = match &private {
            Some(p) => GradRequest::Clipped(Clipping {
                max_norm: p.settings.max_norm,
                per_tensor: p.settings.per_tensor,
            }),
            None => optimizer.grad_request(),
        };
        Ok(Trainer {
            config,
            model,
            request,
            private,
            optimizer,
            steps_done: 0,
            schedule_steps,
            data_source: None,
            data_ids: OnceCell::new(),
            epoch_loss_sum: 0.0,
            epoch_noise: None,
            train,
            test,
            task,
            loss_limit,
            tape: Tape::new(),
            eval_tape: Tape::new(),
            targets: Targets::default(),
        })
    }

    /// Records that the data was loaded from `dir`, so that checkpoints
    /// name it and a resume can load it again
    /// ([`Checkpoint::data_source`](crate::checkpoint::Checkpoint::data_source)).
    pub fn with_data_source(mut self, dir: impl Into<PathBuf>) -> Trainer {
        self.data_source = Some(dir.into());
        self
    }

    /// What the model learns.
    pub fn task(&self) -> Task {
        self.task
    }

    /// Steps completed.
    pub fn steps_done(&self) -> u64 {
        self.steps_done
    }

    /// Steps per epoch: ⌈training examples / batch size⌉, or ⌊…⌋ with
    /// [`drop_last`](TrainConfig::drop_last).
    pub fn steps_per_epoch(&self) -> u64 {
        epoch_steps(self.train.len(), &self.config)
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
    /// counts as diverged: [`DIVERGENCE_FACTOR`] × the chance-level loss.
    pub fn loss_limit(&self) -> f64 {
        self.loss_limit
    }

    /// Whether `loss` means the run has diverged: NaN, or above
    /// [`loss_limit`](Trainer::loss_limit).
    pub fn diverges(&self, loss: f64) -> bool {
        loss.is_nan() || loss > self.loss_limit()
    }

    /// Computes the per-example mean of squares (1/B) Σ_b g_b² at every
    /// step even if the optimizer does not use it, so that every epoch
    /// reports the gradient noise scale ([`EpochMetrics::b_noise`]). Costs
    /// a second pass of the weight-gradient matmul on squared operands. A
    /// private run does not compute it (its backward clips instead).
    pub fn with_noise_scale(mut self) -> Trainer {
        if self.private.is_none() {
            self.request = GradRequest::MeanAndSquares;
        }
        self
    }

    /// A warning when the learning-rate warm-up takes more than half of the
    /// run's schedule (a longer one is an error when the run is built).
    pub fn warmup_warning(&self) -> Option<String> {
        let warmup = self.optimizer.schedule().warmup;
        (2 * warmup > self.schedule_steps).then(|| {
            format!(
                "the warm-up of {warmup} steps takes more than half of the run's {} steps",
                self.schedule_steps
            )
        })
    }

    /// For a private run: the privacy spent so far, ε at the config's δ.
    pub fn epsilon(&self) -> Option<f64> {
        let p = self.private.as_ref()?;
        let spent = p.accountant.spent(p.settings.delta);
        Some(spent.map_or(f64::INFINITY, |s| s.epsilon))
    }

    /// For a private run: the accountant, with every step so far.
    pub fn accountant(&self) -> Option<&RdpAccountant> {
        self.private.as_ref().map(|p| &p.accountant)
    }

    /// For a private run: q, the probability that a training example is in
    /// a batch (1/steps per epoch).
    pub fn sample_rate(&self) -> Option<f64> {
        self.private.as_ref().map(|p| p.rate)
    }

    /// The batches of epoch `epoch` (from 1) as [`fit`](Trainer::fit) takes
    /// them: Poisson-sampled at rate q in a private run that asks for it,
    /// else the run's seeded shuffle cut into batches of the batch size (the
    /// last one shorter, or dropped with
    /// [`drop_last`](TrainConfig::drop_last)).
    pub fn batches(&self, epoch: usize) -> Result<Batches, TrainError> {
        Ok(match &self.private {
            Some(p) if p.settings.poisson => Batches::poisson(
                self.train.len(),
                p.rate,
                self.steps_per_epoch() as usize,
                self.config.seed,
                epoch,
            )?,
            _ => Batches::new(
                self.train.len(),
                self.config.batch_size,
                self.config.seed,
                epoch,
                self.config.drop_last,
            )?,
        })
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
        with_pool_awake(|| self.step_here(indices))
    }

    fn step_here(&mut self, indices: &[usize]) -> Result<f32, TrainError> {
        let seed = self.config.seed ^ (self.steps_done + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
        let loss_limit = self.loss_limit;
        let Trainer {
            model,
            optimizer,
            train,
            tape,
            targets,
            ..
        } = self;
        // Forward: the batch's per-example losses ℓ_b.
        let mut g = tape.record(&model.params);
        let x = g.input_with(|batch| train.gather(indices, batch, targets));
        let y = model.net.forward(&mut g, x, Mode::Train { seed });
        let losses = loss(&mut g, y, targets);
        // A Poisson-sampled batch may be empty: its loss is no loss, and
        // its gradient is 0 (the noise alone remains).
        let loss = if indices.is_empty() {
            0.0
        } else {
            g.value(losses).mean()
        };
        if loss.is_nan() || f64::from(loss) > loss_limit {
            let lr = optimizer.learning_rate(indices.len().max(1));
            let (step, epoch) = (self.steps_done + 1, self.epochs_done() + 1);
            return Err(self.diverged(step, epoch, "the batch's loss", loss.into(), lr));
        }
        let scaled = match self.config.loss_scale {
            1.0 => losses,
            alpha => g.scale(losses, alpha),
        };
        // Backward: ĝ, and (1/B) Σ_b g_b² when the optimizer reads it; for
        // a private run the clipped mean.
        g.backward(scaled, self.request)?;
        // Step: every parameter updated from its gradient statistics.
        match &mut self.private {
            None => optimizer.update(&mut model.params, tape),
            Some(p) => {
                let step = self.steps_done + 1;
                let (b, expected) = (indices.len(), p.expected_batch);
                privatize_tape(&p.mechanism, &model.params, tape, b, expected, step);
                optimizer.update_for(&mut model.params, tape, self.config.batch_size);
                p.accountant
                    .step(p.mechanism.noise_multiplier(), p.rate)
                    .expect("σ and q were checked when the run was built");
            }
        }
        self.steps_done += 1;
        Ok(loss)
    }

    /// The noise-scale estimate of the last step, if it computed per-example
    /// second moments.
    pub fn last_noise_scale(&self) -> Option<NoiseScale> {
        self.tape.noise_scale().map(|(total, _)| total)
    }

    /// The model's mean loss and metric on `data` (dropout off), its
    /// features standardized as the training set's are if `data` carries no
    /// standardization of its own. Data of another width or task (values
    /// for a classifier, a class the model has no output for) is an error.
    pub fn evaluate(&mut self, data: &Dataset) -> Result<Evaluation, TrainError> {
        let fits = match self.task {
            Task::Classes(c) => data.classes().is_some_and(|d| d <= c),
            Task::Values(k) => data.target_width() == Some(k),
        };
        if data.num_features() != self.train.num_features() || !fits {
            let kind = |d: &Dataset| match (d.classes(), d.target_width()) {
                (Some(c), _) => format!("{} features, {c} classes", d.num_features()),
                (_, w) => format!("{} features, {} values", d.num_features(), w.unwrap_or(0)),
            };
            return Err(TrainError::Config(format!(
                "cannot evaluate on data of {} with a model trained on data of {}",
                kind(data),
                kind(&self.train)
            )));
        }
        let standardized;
        let data = match (self.train.standardized(), data.standardized()) {
            (Some(s), None) => {
                standardized = data.clone().standardize(s.clone())?;
                &standardized
            }
            _ => data,
        };
        let params = evaluation_point(&self.optimizer, &self.model.params);
        Ok(evaluate(
            &self.model,
            &params,
            &mut self.eval_tape,
            &mut self.targets,
            data,
        ))
    }

    /// The model's mean loss and metric on the test set.
    pub fn evaluate_test(&mut self) -> Evaluation {
        let params = evaluation_point(&self.optimizer, &self.model.params);
        evaluate(
            &self.model,
            &params,
            &mut self.eval_tape,
            &mut self.targets,
            &self.test,
        )
    }

    /// The weights to evaluate and save: the model's parameters, or, for a
    /// rule that takes its gradients elsewhere than where it should be
    /// evaluated (Schedule-Free's x, see
    /// [`Optimizer::evaluation_params`]), its evaluation point. Every
    /// evaluation and checkpoint of the trainer uses these.
    pub fn evaluation_params(&self) -> Cow<'_, ParamStore> {
        evaluation_point(&self.optimizer, &self.model.params)
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

    /// Trains until `steps` steps have been taken in all, across epochs and
    /// stopping mid-epoch if that is where the count falls, without
    /// evaluating: [`Event::EpochStart`] as each epoch begins and
    /// [`Event::Step`] after every step. An epoch finished this way is not
    /// evaluated and reports no [`Event::Epoch`]; its loss and noise sums
    /// carry on into [`train_epoch`](Trainer::train_epoch) as after a
    /// resume. A harness that evaluates on its own schedule (by examples
    /// seen, say) calls this between its evaluations.
    pub fn train_until(
        &mut self,
        steps: u64,
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
            self.run_steps(epoch, &order, steps, None, on_event)?;
        }
        Ok(())
    }

    /// [`train_epoch`](Trainer::train_epoch), returning
    /// [`TrainError::Interrupted`] before a step if `stop` is set.
    fn run_epoch(
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
/// The per-example losses of outputs `y` against `targets`: softmax
/// cross-entropy for classes, mean squared error for values.
fn loss(g: &mut Graph, y: Var, targets: &Targets) -> Var {
    match targets {
        Targets::Classes(labels) => g.softmax_cross_entropy(y, labels),
        Targets::Values(t) => g.mse(y, t),
    }
}

/// The loss of a model that knows nothing: ln C for C classes, E[t²] (the
/// loss of predicting 0) for values — or 1 if the targets are all 0.
fn chance_loss(task: Task, train: &Dataset) -> f64 {
    match (task, train.targets()) {
        (Task::Classes(c), _) => (c.max(2) as f64).ln(),
        (Task::Values(_), Targets::Values(t)) => {
            let sq = t.data().iter().map(|&v| f64::from(v) * f64::from(v));
            let mean_sq = sq.sum::<f64>() / t.len().max(1) as f64;
            if mean_sq > 0.0 {
                mean_sq
            } else {
                1.0
            }
        }
        (Task::Values(_), Targets::Classes(_)) => unreachable!("the task is read from the targets"),
    }
}

/// Checks that `model` takes a batch of `train` and maps it to
/// `[B, outputs]`.
fn check_output(model: &Model, train: &Dataset, task: Task) -> Result<(), TrainError> {
    let probe = || {
        let mut tape = Tape::new();
        let mut g = tape.record(&model.params);
        let x = g.input_with(|batch| train.gather(&[0], batch, &mut Targets::default()));
        let y = model.net.forward(&mut g, x, Mode::Eval);
        g.value(y).shape().to_vec()
    };
    // A model built for inputs of another width fails a shape check in its
    // first op: that is the user's data meeting the user's model, an error
    // to report, not a bug to panic on.
    let shape = catch_quietly(probe).map_err(|reason| {
        TrainError::Config(format!(
            "the model {:?} cannot take the data's examples of {} features: {reason}",
            model.name,
            train.num_features()
        ))
    })?;
    if shape != [1, task.outputs()] {
        let wanted = match task {
            Task::Classes(c) => format!("one logit per class: the data has {c} classes"),
            Task::Values(k) => format!("one output per target value: the data has {k}"),
        };
        return Err(TrainError::Config(format!(
            "the model {:?} maps a batch of 1 example to shape {shape:?}, but a trainer needs \
             [1, {}] ({wanted})",
            model.name,
            task.outputs()
        )));
    }
    Ok(())
}

/// The weights `optimizer` evaluates `params` at.
fn evaluation_point<'a>(optimizer: &Optimizer, params: &'a ParamStore) -> Cow<'a, ParamStore> {
    match optimizer.evaluation_params(params) {
        Some(params) => Cow::Owned(params),
        None => Cow::Borrowed(params),
    }
}

/// `model`'s mean loss and metric on `data` with weights `params`, in
/// batches, dropout off.
fn evaluate(
    model: &Model,
    params: &ParamStore,
    tape: &mut Tape,
    targets: &mut Targets,
    data: &Dataset,
) -> Evaluation {
    let order = Batches::sequential(data.len(), EVAL_BATCH).expect("EVAL_BATCH is not 0");
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    for indices in order.iter() {
        let mut g = tape.record(params);
        let x = g.input_with(|batch| data.gather(indices, batch, targets));
        let y = model.net.forward(&mut g, x, Mode::Eval);
        let losses = loss(&mut g, y, targets);
        loss_sum += g.value(losses).sum() as f64;
        if let Targets::Classes(labels) = &*targets {
            let z = g.value(y);
            let classes = z.shape()[1];
            correct += z
                .data()
                .chunks_exact(classes)
                .zip(labels.iter())
                .filter(|(row, &y)| argmax(row) == y)
                .count();
        }
    }
    let n = data.len().max(1) as f64;
    let loss = loss_sum / n;
    match data.classes() {
        Some(_) => Evaluation {
            loss,
            accuracy: Some(correct as f64 / n),
            rmse: None,
        },
        // Each example's loss is the mean of its k squared errors, so their
        // mean is the mean over every value.
        None => Evaluation {
            loss,
            accuracy: None,
            rmse: Some(loss.sqrt()),
        },
    }
}

/// The private state of a run of `config` with `settings`: the mechanism
/// seeded by the run's seed, an empty accountant, q = 1/steps per epoch
/// (Opacus' `DPDataLoader`: its `sample_rate` is 1/len(loader)) and q·N.
/// A rule that reads the per-example squares is an error: DP-SGD privatizes
/// the gradient only.
fn private(
    config: &TrainConfig,
    settings: Privacy,
    optimizer: &Optimizer,
    train: &Dataset,
) -> Result<Private, TrainError> {
    if optimizer.grad_request() != GradRequest::Mean {
        return Err(TrainError::Config(format!(
            "{} reads the per-example squares (1/B) Σ g_b², which DP-SGD does not privatize; \
             a private run takes a rule that reads the gradient only",
            optimizer.name()
        )));
    }
    let mechanism =
        GaussianMechanism::new(settings.noise_multiplier, settings.max_norm, config.seed)?;
    let n = train.len();
    let (rate, expected_batch) = if settings.poisson {
        let rate = 1.0 / n.div_ceil(config.batch_size) as f64;
        (rate, rate * n as f64)
    } else {
        (
            config.batch_size as f64 / n as f64,
            config.batch_size as f64,
        )
    };
    Ok(Private {
        settings,
        mechanism,
        accountant: RdpAccountant::new(),
        rate,
        expected_batch,
    })
}

/// Steps per epoch of `config` on `n` training examples: ⌈n/B⌉, or ⌊n/B⌋
/// with `drop_last` (which the Poisson batches of a private run ignore).
fn epoch_steps(n: usize, config: &TrainConfig) -> u64 {
    let b = config.batch_size;
    if config.drop_last && config.privacy.is_none() {
        (n / b) as u64
    } else {
        n.div_ceil(b) as u64
    }
}
