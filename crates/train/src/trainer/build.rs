//! Building a run: the checks of its config and data, the default MLP, the
//! memory checks and the privacy wiring.

use std::cell::OnceCell;
use std::path::PathBuf;

use gradlab_autodiff::{Clipping, GradRequest, Tape};
use gradlab_data::{Dataset, Targets};
use gradlab_layers::{Mlp, Mode, Model};
use gradlab_optim::{GaussianMechanism, Optimizer, RdpAccountant};

use super::evaluate::chance_loss;
use super::memory;
use super::{Private, Task, Trainer, DIVERGENCE_FACTOR};
use crate::config::{default_optimizer, parse_activation, DEFAULT_OPTIMIZER};
use crate::helpers::catch_quietly;
use crate::tape::FromTape;
use crate::{Privacy, TrainConfig, TrainError};

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
        validate_data(&config, &train, &test, limited)?;
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
        let model = checked_model(&config, model, &train, task, &optimizer)?;
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

    /// Computes the per-example mean of squares (1/B) Σ_b g_b² at every
    /// step even if the optimizer does not use it, so that every epoch
    /// reports the gradient noise scale ([`EpochMetrics::b_noise`]). Costs
    /// a second pass of the weight-gradient matmul on squared operands. A
    /// private run does not compute it (its backward clips instead).
    ///
    /// [`EpochMetrics::b_noise`]: crate::EpochMetrics::b_noise
    pub fn with_noise_scale(mut self) -> Trainer {
        if self.private.is_none() {
            self.request = GradRequest::MeanAndSquares;
        }
        self
    }
}

/// Checks that `train` and `test` can be trained and tested on with
/// `config`: neither is empty, their examples have one size and their
/// features the same names, and a batch fits in the training set (`limited`:
/// which `--limit` made smaller).
fn validate_data(
    config: &TrainConfig,
    train: &Dataset,
    test: &Dataset,
    limited: bool,
) -> Result<(), TrainError> {
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
            size(test),
            size(train),
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
    Ok(())
}

/// The model of a run of `config` on `train` with `optimizer`: the config's
/// MLP, checked to fit the memory before it is allocated, or `model`, checked
/// to fit the memory and to map a batch of `train` to `[B, outputs]`.
fn checked_model(
    config: &TrainConfig,
    model: Option<Model>,
    train: &Dataset,
    task: Task,
    optimizer: &Optimizer,
) -> Result<Model, TrainError> {
    let state = format!(
        "{}'s {}",
        optimizer.name(),
        optimizer.state_names().join(" and ")
    );
    let squares = optimizer.grad_request() != GradRequest::Mean;
    let moments = optimizer.state_names().len();
    Ok(match model {
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
            check_output(&model, train, task)?;
            model
        }
    })
}

/// Checks that `model` takes a batch of `train` and maps it to
/// [`Task::output_shape`].
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
    let needed = task.output_shape(1);
    if shape != needed {
        let wanted = match task {
            Task::Classes(c) => format!("one logit per class: the data has {c} classes"),
            Task::Values(k) => format!("one output per target value: the data has {k}"),
            Task::Sequences { classes, positions } => format!(
                "one logit per class at each position: the data has {classes} classes at \
                 {positions} positions"
            ),
        };
        return Err(TrainError::Config(format!(
            "the model {:?} maps a batch of 1 example to shape {shape:?}, but a trainer needs \
             {needed:?} ({wanted})",
            model.name,
        )));
    }
    Ok(())
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
pub(super) fn epoch_steps(n: usize, config: &TrainConfig) -> u64 {
    let b = config.batch_size;
    if config.drop_last && config.privacy.is_none() {
        (n / b) as u64
    } else {
        n.div_ceil(b) as u64
    }
}
