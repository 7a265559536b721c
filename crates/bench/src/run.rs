//! One run: a model trained with one optimizer spec, batch size and seed
//! until it has seen a fixed budget of examples, with its loss curve and its
//! evaluations at checkpoints of the budget.
//!
//! Runs are compared by examples seen, not steps or epochs, so that batch
//! sizes are compared fairly: a run of batch size B takes ⌈budget/B⌉ steps
//! of exactly B examples (the last partial batch of every epoch is dropped,
//! so a step never mixes batch sizes), looping over epochs 1, 2, … of the
//! seeded shuffle as long as needed. A private run takes the trainer's own
//! Poisson batches instead, B examples on average. Everything random
//! derives from the seed, so a run's numbers are the same on every
//! repetition and for any number of threads; only its timings vary.

use std::collections::BTreeMap;

use gradlab_autodiff::NoiseScale;
use gradlab_train::{Event, Privacy, Task, TrainConfig, TrainError, Trainer};
use serde::{Deserialize, Serialize};

use crate::options::Settings;
use crate::workloads::{self, Data, Goal, Workload};
use crate::BenchError;

/// Points of a run's loss curve: geometrically spaced in examples seen, so
/// that a log axis shows the start and the end of training equally well.
pub const CURVE_POINTS: u32 = 40;

/// Everything that determines a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The name of the experiment the run belongs to.
    pub experiment: String,
    /// The name of the configuration in tables and plots (`adam`,
    /// `sgd, η = B·η₀`, …); runs of one series differ only in batch size,
    /// seed and the experiment's parameter.
    pub series: String,
    /// The value the experiment sweeps, if any: α for scale-invariance, ε
    /// for eps-to-sgd, the base learning rate for lr-sweep.
    pub param: Option<f64>,
    /// The optimizer spec, in canonical form.
    pub optimizer: String,
    /// Examples per step.
    pub batch_size: usize,
    /// Seed of the weights and the shuffles.
    pub seed: u64,
    /// α multiplying the differentiated loss.
    pub loss_scale: f32,
    /// Examples seen by the end of the run.
    pub budget: usize,
    /// Number of evaluations, evenly spaced over the budget.
    pub checkpoints: usize,
    /// Hidden layer widths of the sweep's MLP; empty for a run of a
    /// workload, which makes its own model.
    pub hidden: Vec<usize>,
    /// DP-SGD's settings, for a private run: batches are then Poisson
    /// samples of expected size `batch_size`, and each checkpoint records ε.
    /// A run of a private workload leaves it `None`: its noise follows
    /// from the workload's budget and the run's steps when it runs
    /// ([`PrivateBudget`](crate::workloads::PrivateBudget)).
    #[serde(default)]
    pub privacy: Option<Privacy>,
    /// The [workload](crate::workloads) a `tune` run trains: its data,
    /// model and targets. `None`: the sweep's MNIST data and an MLP of
    /// `hidden` with ReLU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// For a `tune` run: the trial's index in its optimizer's search
    /// (study s holds trials sK … sK + K − 1; 0 when self-tuning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial: Option<usize>,
}

impl RunSpec {
    /// The workload the run trains, if it names one.
    ///
    /// # Panics
    /// If it names one that does not exist: specs come from the plan, whose
    /// names are those of [`workloads`](crate::workloads::workloads).
    pub fn workload(&self) -> Option<Workload> {
        let name = self.workload.as_deref()?;
        Some(workloads::workload(name).unwrap_or_else(|| panic!("no workload {name}")))
    }

    /// What the run's targets measure: the workload's goal, or test
    /// accuracy.
    pub fn goal(&self) -> Goal {
        self.workload().map_or(Goal::Accuracy, |w| w.goal)
    }

    /// Steps of the run: ⌈budget/B⌉.
    pub fn total_steps(&self) -> u64 {
        self.budget.div_ceil(self.batch_size) as u64
    }

    /// The step after which checkpoint k (1-based) is evaluated: the first
    /// step by which k/n of the budget has been seen.
    pub fn checkpoint_steps(&self) -> Vec<u64> {
        let (total, n) = (self.total_steps(), self.checkpoints as u64);
        let mut steps: Vec<u64> = (1..=n).map(|k| (k * total).div_ceil(n)).collect();
        steps.dedup();
        steps
    }

    /// The steps that end a point of the loss curve: the first steps by
    /// which budget^(j/CURVE_POINTS) examples have been seen, j = 1, 2, ….
    fn curve_steps(&self) -> Vec<u64> {
        let b = self.batch_size as f64;
        let mut steps: Vec<u64> = (1..=CURVE_POINTS)
            .map(|j| {
                let examples = (self.budget as f64).powf(f64::from(j) / f64::from(CURVE_POINTS));
                ((examples / b).ceil() as u64).max(1)
            })
            .collect();
        steps.push(self.total_steps());
        steps.sort_unstable();
        steps.dedup();
        steps.retain(|&s| s <= self.total_steps());
        steps
    }
}

/// What a run measured at one checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Mean of the batch losses since the previous checkpoint.
    pub train_loss: f64,
    /// Mean loss on the test set.
    pub test_loss: f64,
    /// Fraction of the test set classified correctly, for classes.
    pub test_accuracy: Option<f64>,
    /// Root mean squared error on the test set, for a regression.
    #[serde(default)]
    pub test_rmse: Option<f64>,
    /// The learning rate of the last step, batch-size rule and schedule
    /// included (as the optimizer computes it, in `f32`).
    pub lr: f32,
    /// Gradient-noise sums since the previous checkpoint, when the optimizer
    /// asked for per-example squares.
    pub noise: Option<NoiseScale>,
    /// Seconds spent in training steps so far (evaluations excluded).
    pub train_seconds: f64,
    /// For a private run: ε spent so far, at the run's δ (∞ without
    /// noise, written `"inf"` in JSON, which has no infinity).
    #[serde(default, with = "unbounded")]
    pub epsilon: Option<f64>,
}

impl Metrics {
    /// The test accuracy of a classifier.
    ///
    /// # Panics
    /// For a regression: the experiments that read it train classifiers.
    pub fn accuracy(&self) -> f64 {
        self.test_accuracy
            .expect("the experiment reads the accuracy of a classifier")
    }

    /// The value of `goal`: the test accuracy, RMSE or loss (NaN if the run
    /// does not measure it).
    pub fn score(&self, goal: Goal) -> f64 {
        match goal {
            Goal::Accuracy => self.test_accuracy,
            Goal::Rmse => self.test_rmse,
            Goal::Loss => Some(self.test_loss),
        }
        .unwrap_or(f64::NAN)
    }
}

/// An `Option<f64>` in JSON that may be infinite: ∞ as the string `"inf"`.
mod unbounded {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match x {
            Some(v) if *v == f64::INFINITY => s.serialize_str("inf"),
            Some(v) => s.serialize_some(v),
            None => s.serialize_none(),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Value {
        Number(f64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None => Ok(None),
            Some(Value::Number(v)) => Ok(Some(v)),
            Some(Value::Text(t)) if t == "inf" => Ok(Some(f64::INFINITY)),
            Some(Value::Text(t)) => Err(D::Error::custom(format!(
                "expected a number or \"inf\", got {t:?}"
            ))),
        }
    }
}

/// One evaluation point of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Examples seen so far.
    pub examples: u64,
    /// Steps taken so far.
    pub steps: u64,
    /// The measurements, or `None` when the run had diverged before.
    pub metrics: Option<Metrics>,
}

/// One point of the loss curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Examples seen so far.
    pub examples: u64,
    /// Steps taken so far.
    pub steps: u64,
    /// Mean of the batch losses since the previous point.
    pub loss: f64,
}

/// Everything a run produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's index in the sweep's job list.
    pub job: usize,
    /// What was run.
    pub spec: RunSpec,
    /// Evaluations at the checkpoints of the budget, all of them present
    /// (without metrics after a divergence).
    pub checkpoints: Vec<Checkpoint>,
    /// The training loss by examples seen, up to a divergence.
    pub curve: Vec<CurvePoint>,
    /// The step whose loss went past the trainer's limit
    /// ([`Trainer::loss_limit`]), if the run diverged.
    pub diverged_at: Option<u64>,
}

impl RunRecord {
    /// The metrics of the last checkpoint, unless the run diverged.
    pub fn last(&self) -> Option<&Metrics> {
        self.checkpoints.last()?.metrics.as_ref()
    }

    /// When the run first reached `target` of its [goal](RunSpec::goal)
    /// (a test accuracy at least `target`, or a test RMSE or loss at
    /// most): the
    /// first checkpoint that did, with the examples, steps and seconds of
    /// training (evaluations excluded) by then. `None` if no checkpoint
    /// reached it, the run having diverged or not.
    pub fn time_to(&self, target: f64) -> Option<Reached> {
        let goal = self.spec.goal();
        self.checkpoints.iter().find_map(|c| {
            let m = c.metrics.as_ref()?;
            goal.reaches(m.score(goal), target).then_some(Reached {
                examples: c.examples,
                steps: c.steps,
                train_seconds: m.train_seconds,
            })
        })
    }
}

/// Where a run first reached a target ([`RunRecord::time_to`]): only as
/// fine as the checkpoints, which are evaluated on a fixed schedule of
/// examples seen and not timed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reached {
    /// Examples seen.
    pub examples: u64,
    /// Steps taken.
    pub steps: u64,
    /// Seconds of training.
    pub train_seconds: f64,
}

/// The sweep's MNIST data and the data of every workload its runs train,
/// each loaded or generated once, when a run first needs it.
pub struct DataSets {
    /// The sweep's dataset (`--data-dir`, `--limit`, `--test-limit`).
    pub mnist: Data,
    quick: bool,
    workloads: BTreeMap<String, Data>,
}

impl DataSets {
    /// The data sets of a sweep of `settings` whose MNIST data is `mnist`.
    pub fn new(mnist: Data, settings: &Settings) -> DataSets {
        DataSets {
            mnist,
            quick: settings.quick,
            workloads: BTreeMap::new(),
        }
    }

    /// The data run `spec` trains and evaluates on.
    pub fn for_run(&mut self, spec: &RunSpec) -> Result<&Data, BenchError> {
        let Some(w) = spec.workload() else {
            return Ok(&self.mnist);
        };
        let DataSets {
            mnist,
            quick,
            workloads,
        } = self;
        if !workloads.contains_key(&w.name) {
            let data = w.data(w.budget(*quick), &mut || Ok(mnist.clone()))?;
            workloads.insert(w.name.clone(), data);
        }
        Ok(&workloads[&w.name])
    }
}

/// Trains run `job` of the sweep as `spec` says on `data`, calling
/// `on_examples` with the number of examples of every step. The trainer's
/// own loop takes the steps ([`Trainer::train_until`]); the run stops it at
/// every point of the loss curve and at every checkpoint, where it
/// evaluates. A divergence ends the run early and is recorded, not
/// returned as an error.
pub fn execute(
    job: usize,
    spec: &RunSpec,
    data: &Data,
    on_examples: &mut dyn FnMut(u64),
) -> Result<RunRecord, BenchError> {
    let b = spec.batch_size;
    let total = spec.total_steps();
    let workload = spec.workload();
    let privacy = match (spec.privacy, workload.as_ref().and_then(|w| w.private)) {
        (Some(p), _) => Some(p),
        (None, Some(budget)) => Some(budget.privacy(data.train.len(), b, total)?),
        (None, None) => None,
    };
    // Every step of an ordinary run sees exactly B examples; a private
    // run's Poisson batches are B on average.
    let steps_per_epoch = match privacy {
        Some(_) => data.train.len().div_ceil(b),
        None => data.train.len() / b,
    } as u64;
    if steps_per_epoch == 0 {
        return Err(BenchError::Options(format!(
            "batch size {b} exceeds the {} training examples",
            data.train.len()
        )));
    }
    let config = TrainConfig {
        hidden: spec.hidden.clone(),
        standardize: workload.as_ref().is_some_and(|w| w.standardize),
        optimizer: spec.optimizer.clone(),
        batch_size: b,
        seed: spec.seed,
        loss_scale: spec.loss_scale,
        drop_last: privacy.is_none(),
        privacy,
        epochs: total.div_ceil(steps_per_epoch) as usize,
        ..TrainConfig::default()
    };
    let (train, test) = (data.train.clone(), data.test.clone());
    let mut trainer = match &workload {
        Some(w) => {
            let outputs = Task::of(&train, &test)?.outputs();
            let model =
                (w.model)(train.num_features(), outputs, spec.seed).map_err(TrainError::from)?;
            Trainer::with_model(config, model, train, test)?
        }
        None => Trainer::new(config, train, test)?,
    };
    // The trainer sizes a cosine schedule by whole epochs; the run stops at
    // its budget instead, which may be mid-epoch.
    trainer.optimizer = trainer
        .optimizer
        .clone()
        .with_total_steps(total)
        .map_err(TrainError::from)?;

    let marks = spec.checkpoint_steps();
    let curve_marks = spec.curve_steps();
    let mut stops: Vec<u64> = marks.iter().chain(&curve_marks).copied().collect();
    stops.sort_unstable();
    stops.dedup();
    // Every checkpoint, without metrics until the run gets there.
    let mut checkpoints: Vec<Checkpoint> = marks
        .iter()
        .map(|&steps| Checkpoint {
            examples: steps * b as u64,
            steps,
            metrics: None,
        })
        .collect();
    let mut curve = Vec::with_capacity(curve_marks.len());
    // Sums since the last checkpoint (`window`) and the last curve point.
    let (mut window_loss, mut window_steps) = (0.0f64, 0u64);
    let (mut point_loss, mut point_steps) = (0.0f64, 0u64);
    let mut noise: Option<NoiseScale> = None;
    let (mut seconds, mut lr) = (0.0f64, 0.0f32);
    let mut diverged_at = None;

    for step in stops {
        let result = trainer.train_until(step, None, &mut |event| {
            if let Event::Step(s) = event {
                let loss = f64::from(s.loss);
                seconds += s.seconds;
                lr = s.lr;
                window_loss += loss;
                window_steps += 1;
                point_loss += loss;
                point_steps += 1;
                if let Some(n) = s.noise {
                    noise.get_or_insert_with(NoiseScale::default).add(n);
                }
                on_examples(s.batch_size as u64);
            }
        });
        match result {
            Ok(()) => {}
            Err(TrainError::Diverged { step, .. }) => {
                diverged_at = Some(step);
                break;
            }
            Err(e) => return Err(e.into()),
        }
        if curve_marks.binary_search(&step).is_ok() {
            curve.push(CurvePoint {
                examples: step * b as u64,
                steps: step,
                loss: point_loss / point_steps as f64,
            });
            (point_loss, point_steps) = (0.0, 0);
        }
        if let Ok(k) = marks.binary_search(&step) {
            let test = trainer.evaluate_test();
            // Weights can grow without bound while every batch loss stays
            // below the trainer's limit; a test loss above it is the same
            // divergence seen one step later.
            if trainer.diverges(test.loss) {
                diverged_at = Some(step);
                break;
            }
            checkpoints[k].metrics = Some(Metrics {
                train_loss: window_loss / window_steps as f64,
                test_loss: test.loss,
                test_accuracy: test.accuracy,
                test_rmse: test.rmse,
                lr,
                noise: noise.take(),
                train_seconds: seconds,
                epsilon: trainer.epsilon(),
            });
            (window_loss, window_steps) = (0.0, 0);
        }
    }
    Ok(RunRecord {
        job,
        spec: spec.clone(),
        checkpoints,
        curve,
        diverged_at,
    })
}
