//! The workloads of the `tune` experiment: named, seeded descriptions of a
//! training problem (data, model, loss, targets and budgets), so that a
//! claim about optimizers is checked on more than one model and dataset.
//!
//! A program adds its own with [`register`]: any dataset and any model
//! (`examples/tune_own_model.rs` tunes optimizers on a residual MLP of its
//! own). The loss follows from
//! the data, as in the trainer: softmax cross-entropy for classes, mean
//! squared error for values. A workload's targets are what its time to
//! target is measured against; the last one is the one `tune` ranks by.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, RwLockWriteGuard};
use std::{fmt, iter};

use gradlab_autodiff::Activation;
use gradlab_data::{Dataset, TargetKind, Targets};
use gradlab_layers::{Cnn, CnnKind, LayerError, Mlp, Model};
use gradlab_tensor::{random, Tensor};

use crate::BenchError;

/// What a workload's targets measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// Test accuracy; a target is reached at or above it.
    Accuracy,
    /// Test root mean squared error; a target is reached at or below it.
    Rmse,
}

impl Goal {
    /// The name of the measure in tables.
    pub fn name(self) -> &'static str {
        match self {
            Goal::Accuracy => "test accuracy",
            Goal::Rmse => "test RMSE",
        }
    }

    /// Whether `value` reaches `target`.
    pub fn reaches(self, value: f64, target: f64) -> bool {
        match self {
            Goal::Accuracy => value >= target,
            Goal::Rmse => value <= target,
        }
    }

    /// Whether `a` is a better value than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        self.reaches(a, b) && a != b
    }
}

/// How long each run of a workload trains and how often it is evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Examples seen by every run.
    pub examples: usize,
    /// Evaluations, evenly spaced over the examples.
    pub checkpoints: usize,
    /// Test examples evaluated (`None`: all the workload has).
    pub test: Option<usize>,
}

/// The training and test sets of a sweep, loaded once.
#[derive(Clone)]
pub struct Data {
    /// Where they were loaded from.
    pub dir: PathBuf,
    /// The training examples used.
    pub train: Dataset,
    /// The test examples used.
    pub test: Dataset,
}

impl Data {
    /// Loads the MNIST-layout dataset in `dir` and keeps the first
    /// `train` and `test` examples of its splits (all of a split for
    /// `None`), as `--limit` and `--test-limit` ask.
    pub fn load(dir: &Path, train: Option<usize>, test: Option<usize>) -> Result<Data, BenchError> {
        let mnist = gradlab_data::load(dir)?;
        let limit = |d: Dataset, n: Option<usize>| match n {
            Some(n) => d.limit(n),
            None => d,
        };
        Ok(Data {
            dir: dir.to_path_buf(),
            train: limit(mnist.train, train),
            test: limit(mnist.test, test),
        })
    }
}

/// Makes a workload's training and test sets.
pub type MakeData = Arc<dyn Fn() -> Result<(Dataset, Dataset), BenchError> + Send + Sync>;

/// Makes a workload's model for examples of `inputs` features with
/// `outputs` outputs (one logit per class, or one per target value), its
/// weights drawn from `seed`.
pub type MakeModel = Arc<dyn Fn(usize, usize, u64) -> Result<Model, LayerError> + Send + Sync>;

/// A training problem: a dataset and a model constructor (any
/// [`Module`](gradlab_layers::Module)), the loss following from the data,
/// with the targets and budgets of a run.
#[derive(Clone)]
pub struct Workload {
    /// The name `--workloads` takes: lower case, digits and `-`.
    pub name: String,
    /// One line on what it is, in the report.
    pub about: String,
    /// Its examples: `None` for the sweep's MNIST-layout dataset
    /// (`--data-dir`, `--limit`, `--test-limit`), else its own, made once
    /// per sweep.
    pub data: Option<MakeData>,
    /// Its model, made afresh for every run from the run's seed.
    pub model: MakeModel,
    /// Standardize the features by the training set's statistics.
    pub standardize: bool,
    /// Examples per step.
    pub batch_size: usize,
    /// What the targets measure.
    pub goal: Goal,
    /// The targets of the full run, easiest first; `tune` ranks by the last.
    pub targets: Vec<f64>,
    /// The targets of `--quick`.
    pub quick_targets: Vec<f64>,
    /// The budget of the full run.
    pub full: Budget,
    /// The budget of `--quick`.
    pub quick: Budget,
}

/// Workloads are equal when their names are: a name is registered once.
impl PartialEq for Workload {
    fn eq(&self, other: &Workload) -> bool {
        self.name == other.name
    }
}

impl fmt::Debug for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workload")
            .field("name", &self.name)
            .finish()
    }
}

/// An MLP of `hidden` widths with `activation` after each hidden layer, the
/// trainer's own ([`Mlp`]), as a workload's model.
pub fn mlp(hidden: &[usize], activation: Activation) -> MakeModel {
    let hidden = hidden.to_vec();
    Arc::new(move |inputs, outputs, seed| {
        let sizes: Vec<usize> = iter::once(inputs)
            .chain(hidden.iter().copied())
            .chain(iter::once(outputs))
            .collect();
        Ok(Model::from(Mlp::new(&sizes, activation, seed)?))
    })
}

/// A convolutional network of `kind` for 28 × 28 grey images, as a
/// workload's model.
pub fn cnn(kind: CnnKind) -> MakeModel {
    Arc::new(move |inputs, outputs, seed| {
        if inputs != 28 * 28 {
            return Err(LayerError::Setting {
                layer: "Cnn",
                name: kind.to_string(),
                problem: format!("takes 28 × 28 images (784 features), got {inputs} features"),
            });
        }
        Ok(Model::from(Cnn::new(kind, [1, 28, 28], outputs, seed)?))
    })
}

/// The built-in workloads, in report order.
fn builtin() -> Vec<Workload> {
    let budget = |examples, checkpoints, test| Budget {
        examples,
        checkpoints,
        test,
    };
    let mnist =
        |name: &str, about: &str, model, targets: [f64; 2], quick_targets: [f64; 2]| Workload {
            name: name.into(),
            about: about.into(),
            data: None,
            model,
            standardize: false,
            batch_size: 128,
            goal: Goal::Accuracy,
            targets: targets.into(),
            quick_targets: quick_targets.into(),
            full: budget(122_880, 12, None),
            quick: budget(15_360, 6, Some(2_000)),
        };
    let digits = |file: &'static str| {
        let dir = repository_dir("datasets/digits");
        Dataset::from_csv(dir.join(file), "digit", TargetKind::Classes).map_err(BenchError::from)
    };
    vec![
        mnist(
            "mnist-mlp",
            "MNIST, MLP 784-512-512-10 with ReLU (the default model of `cargo run --example mnist`)",
            mlp(&[512, 512], Activation::Relu),
            [0.96, 0.97],
            [0.85, 0.9],
        ),
        mnist(
            "mnist-deep-tanh",
            "MNIST, a narrow deep MLP 784-128-128-128-128-10 with tanh",
            mlp(&[128; 4], Activation::Tanh),
            [0.94, 0.955],
            [0.8, 0.87],
        ),
        Workload {
            name: "fashion-cnn".into(),
            about: "Fashion-MNIST, Papernot et al.'s tempered CNN (two convolutions with group \
                    norm and tanh, 26 106 weights) trained without noise"
                .into(),
            data: Some(Arc::new(|| {
                let fashion = gradlab_data::load(repository_dir("datasets/fashion-mnist"))?;
                Ok((fashion.train, fashion.test))
            })),
            model: cnn(CnnKind::Private),
            standardize: false,
            batch_size: 128,
            goal: Goal::Accuracy,
            // AlgoPerf's way: the best of the baselines AdamW, NAdamW and
            // SGD with momentum, 5 trials each, was 85.8 % (quick: 71.3 %);
            // the last target leaves the slack that 4 (6) of the 15 reach.
            targets: vec![0.82, 0.845],
            quick_targets: vec![0.65, 0.7],
            full: budget(61_440, 12, None),
            quick: budget(5_120, 4, Some(2_000)),
        },
        Workload {
            name: "digits".into(),
            about: "the 8×8 digits CSV (1 437 training, 360 test images), standardized, MLP \
                    64-64-10 with ReLU"
                .into(),
            data: Some(Arc::new(move || Ok((digits("train.csv")?, digits("test.csv")?)))),
            model: mlp(&[64], Activation::Relu),
            standardize: true,
            batch_size: 32,
            goal: Goal::Accuracy,
            targets: vec![0.95, 0.965],
            quick_targets: vec![0.9, 0.95],
            full: budget(28_800, 20, None),
            quick: budget(14_400, 10, None),
        },
        Workload {
            name: "regression".into(),
            about: "a synthetic regression: 16 Gaussian features, a random tanh teacher of 32 \
                    units scaled to unit variance plus noise of standard deviation 0.1; MLP \
                    16-64-64-1 with tanh"
                .into(),
            data: Some(Arc::new(|| regression(16, 32, 0.1, 8_192, 2_048, 20_251_202))),
            model: mlp(&[64, 64], Activation::Tanh),
            standardize: false,
            batch_size: 64,
            goal: Goal::Rmse,
            targets: vec![0.25, 0.17],
            quick_targets: vec![0.35, 0.25],
            full: budget(81_920, 16, None),
            quick: budget(16_384, 8, None),
        },
    ]
}

static REGISTRY: RwLock<Vec<Workload>> = RwLock::new(Vec::new());

fn registry() -> RwLockWriteGuard<'static, Vec<Workload>> {
    let mut list = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
    if list.is_empty() {
        *list = builtin();
    }
    list
}

/// Every workload, the built-in ones first, then those registered, in
/// order.
pub fn workloads() -> Vec<Workload> {
    registry().clone()
}

/// The workload called `name`.
pub fn workload(name: &str) -> Option<Workload> {
    registry().iter().find(|w| w.name == name).cloned()
}

/// Adds `w` to the workloads `tune` may run (`--workloads NAME`), after
/// checking its name, batch size, targets and budgets. Its data and model
/// are made only when a run needs them.
pub fn register(w: Workload) -> Result<(), BenchError> {
    let bad = |problem: String| {
        Err(BenchError::Options(format!(
            "workload '{}': {problem}",
            w.name
        )))
    };
    let named = w.name.starts_with(|c: char| c.is_ascii_lowercase())
        && w.name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !named {
        return bad("a name is lower case letters, digits and '-', starting with a letter".into());
    }
    if w.batch_size == 0 {
        return bad("the batch size must be at least 1".into());
    }
    for (targets, what) in [(&w.targets, "targets"), (&w.quick_targets, "quick targets")] {
        let valid = |t: f64| match w.goal {
            Goal::Accuracy => t > 0.0 && t <= 1.0,
            Goal::Rmse => t > 0.0 && t.is_finite(),
        };
        if targets.is_empty() || !targets.iter().all(|&t| valid(t)) {
            return bad(format!(
                "the {what} must be one or more values of the {}, got {targets:?}",
                w.goal.name()
            ));
        }
    }
    for (b, what) in [(w.full, "full"), (w.quick, "quick")] {
        if b.examples < w.batch_size || b.checkpoints == 0 || b.test == Some(0) {
            return bad(format!(
                "the {what} budget must see at least one batch and evaluate at least once, got \
                 {b:?}"
            ));
        }
    }
    let mut list = registry();
    if list.iter().any(|o| o.name == w.name) {
        return bad("the name is taken".into());
    }
    list.push(w);
    Ok(())
}

impl Workload {
    /// The budget of a full or a `--quick` run.
    pub fn budget(&self, quick: bool) -> Budget {
        if quick {
            self.quick
        } else {
            self.full
        }
    }

    /// The targets of a full or a `--quick` run.
    pub fn targets(&self, quick: bool) -> &[f64] {
        if quick {
            &self.quick_targets
        } else {
            &self.targets
        }
    }

    /// The workload's training and test sets: `sweep` (the sweep's MNIST
    /// data, loaded on first use) without data of its own, the test set
    /// cut to `budget.test`.
    pub fn data(
        &self,
        budget: Budget,
        sweep: &mut dyn FnMut() -> Result<Data, BenchError>,
    ) -> Result<Data, BenchError> {
        let data = match &self.data {
            None => sweep()?,
            Some(make) => {
                let (train, test) = make()?;
                Data {
                    dir: format!("the workload {}", self.name).into(),
                    train,
                    test,
                }
            }
        };
        Ok(match budget.test {
            Some(n) => Data {
                test: data.test.limit(n),
                ..data
            },
            None => data,
        })
    }
}

/// `dir` below the working directory, or else below the gradlab repository
/// this crate belongs to, so the benchmark runs from any directory.
pub(crate) fn repository_dir(dir: &str) -> std::path::PathBuf {
    let local = Path::new(dir);
    if local.is_dir() {
        local.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(dir)
    }
}

/// A synthetic regression: `features` standard normal inputs, the target a
/// fixed random teacher network's output (`tanh` hidden layer of `teacher`
/// units, scaled to unit variance) plus Gaussian noise of standard
/// deviation `noise`. The teacher and the inputs derive from `seed`, the
/// same for every run, so that runs differ only in their own seeds.
fn regression(
    features: usize,
    teacher: usize,
    noise: f32,
    train: usize,
    test: usize,
    seed: u64,
) -> Result<(Dataset, Dataset), BenchError> {
    let mut rng = random::rng(seed);
    // The teacher: y = a · tanh(W x), W ~ 𝒩(0, 1/features) so that each
    // unit's input has unit variance, then scaled to unit variance.
    let w = Tensor::normal(
        &[teacher, features],
        0.0,
        (features as f32).powf(-0.5),
        &mut rng,
    );
    let a = Tensor::normal(&[teacher], 0.0, 1.0, &mut rng);
    let n = train + test;
    let x = Tensor::normal(&[n, features], 0.0, 1.0, &mut rng);
    let eps = Tensor::normal(&[n], 0.0, noise, &mut rng);
    let clean: Vec<f32> = (0..n)
        .map(|i| {
            let xi = &x.data()[i * features..(i + 1) * features];
            (0..teacher)
                .map(|j| {
                    let wj = &w.data()[j * features..(j + 1) * features];
                    let z: f32 = wj.iter().zip(xi).map(|(w, x)| w * x).sum();
                    a.data()[j] * z.tanh()
                })
                .sum()
        })
        .collect();
    let var = clean.iter().map(|&y| f64::from(y).powi(2)).sum::<f64>() / n as f64;
    let scale = var.sqrt().recip() as f32;
    let y: Vec<f32> = clean
        .iter()
        .zip(eps.data())
        .map(|(&c, &e)| c * scale + e)
        .collect();
    let split = |rows: std::ops::Range<usize>| {
        let m = rows.len();
        let xs = Tensor::from_vec(
            x.data()[rows.start * features..rows.end * features].to_vec(),
            &[m, features],
        );
        let ys = Tensor::from_vec(y[rows].to_vec(), &[m, 1]);
        Dataset::from_tensors(xs, Targets::Values(ys)).map_err(BenchError::from)
    };
    Ok((split(0..train)?, split(train..n)?))
}
