//! The workloads of the `tune` experiment: named, seeded descriptions of a
//! training problem (data, model, loss, targets and budgets), so that a
//! claim about optimizers is checked on more than one model and dataset.
//!
//! Adding a workload is one entry of [`WORKLOADS`]. The loss follows from
//! the data, as in the trainer: softmax cross-entropy for classes, mean
//! squared error for values. A workload's targets are what its time to
//! target is measured against; the last one is the one `tune` ranks by.

use std::path::Path;

use gradlab_data::{Dataset, TargetKind, Targets};
use gradlab_tensor::{random, Tensor};

use crate::run::Data;
use crate::BenchError;

/// Where a workload's examples come from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Source {
    /// The sweep's MNIST-layout dataset (`--data-dir`, `--limit`,
    /// `--test-limit`).
    Mnist,
    /// A training and a test CSV file in `dir` (below the gradlab
    /// repository), each with a header and the class in column `target`.
    Csv {
        /// The directory of `train.csv` and `test.csv`.
        dir: &'static str,
        /// The name of the class column.
        target: &'static str,
    },
    /// A synthetic regression: `features` standard normal inputs, the target
    /// a fixed random teacher network's output (`tanh` hidden layer of
    /// `teacher` units, scaled to unit variance) plus Gaussian noise of
    /// standard deviation `noise`. The teacher and the inputs derive from
    /// `seed`, the same for every run, so that runs differ only in their
    /// own seeds.
    Regression {
        /// Input features.
        features: usize,
        /// Hidden units of the teacher.
        teacher: usize,
        /// Standard deviation of the label noise (the RMSE floor).
        noise: f32,
        /// Training examples.
        train: usize,
        /// Test examples.
        test: usize,
        /// Seed of the teacher and the examples.
        seed: u64,
    },
}

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
        match self {
            Goal::Accuracy => a > b,
            Goal::Rmse => a < b,
        }
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

/// A training problem: data, model, loss and targets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Workload {
    /// The name `--workloads` takes.
    pub name: &'static str,
    /// One line on what it is.
    pub about: &'static str,
    /// Where the examples come from.
    pub source: Source,
    /// Hidden layer widths of the MLP.
    pub hidden: &'static [usize],
    /// The activation after every hidden layer.
    pub activation: &'static str,
    /// Standardize the features by the training set's statistics.
    pub standardize: bool,
    /// Examples per step.
    pub batch_size: usize,
    /// What the targets measure.
    pub goal: Goal,
    /// The targets of the full run, easiest first; `tune` ranks by the last.
    pub targets: &'static [f64],
    /// The targets of `--quick`.
    pub quick_targets: &'static [f64],
    /// The budget of the full run.
    pub full: Budget,
    /// The budget of `--quick`.
    pub quick: Budget,
}

/// The 8×8 digits shipped with gradlab (`datasets/digits`).
const DIGITS: Source = Source::Csv {
    dir: "datasets/digits",
    target: "digit",
};

/// Every workload, in report order.
pub const WORKLOADS: [Workload; 4] = [
    Workload {
        name: "mnist-mlp",
        about: "MNIST, MLP 784-512-512-10 with ReLU (the default model of `cargo run --example mnist`)",
        source: Source::Mnist,
        hidden: &[512, 512],
        activation: "relu",
        standardize: false,
        batch_size: 128,
        goal: Goal::Accuracy,
        targets: &[0.96, 0.97],
        quick_targets: &[0.85, 0.9],
        full: Budget {
            examples: 122_880,
            checkpoints: 12,
            test: None,
        },
        quick: Budget {
            examples: 15_360,
            checkpoints: 6,
            test: Some(2_000),
        },
    },
    Workload {
        name: "mnist-deep-tanh",
        about: "MNIST, a narrow deep MLP 784-128-128-128-128-10 with tanh",
        source: Source::Mnist,
        hidden: &[128, 128, 128, 128],
        activation: "tanh",
        standardize: false,
        batch_size: 128,
        goal: Goal::Accuracy,
        targets: &[0.94, 0.955],
        quick_targets: &[0.8, 0.87],
        full: Budget {
            examples: 122_880,
            checkpoints: 12,
            test: None,
        },
        quick: Budget {
            examples: 15_360,
            checkpoints: 6,
            test: Some(2_000),
        },
    },
    Workload {
        name: "digits",
        about: "the 8×8 digits CSV (1 437 training, 360 test images), standardized, MLP 64-64-10 with ReLU",
        source: DIGITS,
        hidden: &[64],
        activation: "relu",
        standardize: true,
        batch_size: 32,
        goal: Goal::Accuracy,
        targets: &[0.95, 0.965],
        quick_targets: &[0.9, 0.95],
        full: Budget {
            examples: 28_800,
            checkpoints: 20,
            test: None,
        },
        quick: Budget {
            examples: 14_400,
            checkpoints: 10,
            test: None,
        },
    },
    Workload {
        name: "regression",
        about: "a synthetic regression: 16 Gaussian features, a random tanh teacher of 32 units \
                scaled to unit variance plus noise of standard deviation 0.1; MLP 16-64-64-1 with tanh",
        source: Source::Regression {
            features: 16,
            teacher: 32,
            noise: 0.1,
            train: 8_192,
            test: 2_048,
            seed: 20_251_202,
        },
        hidden: &[64, 64],
        activation: "tanh",
        standardize: false,
        batch_size: 64,
        goal: Goal::Rmse,
        targets: &[0.25, 0.17],
        quick_targets: &[0.35, 0.25],
        full: Budget {
            examples: 81_920,
            checkpoints: 16,
            test: None,
        },
        quick: Budget {
            examples: 16_384,
            checkpoints: 8,
            test: None,
        },
    },
];

/// The workload called `name`.
pub fn workload(name: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.name == name)
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
    pub fn targets(&self, quick: bool) -> &'static [f64] {
        if quick {
            self.quick_targets
        } else {
            self.targets
        }
    }

    /// The model as the report writes it: `784-512-512-10 relu`.
    pub fn model(&self, inputs: usize, outputs: usize) -> String {
        let widths: Vec<String> = std::iter::once(inputs)
            .chain(self.hidden.iter().copied())
            .chain(std::iter::once(outputs))
            .map(|w| w.to_string())
            .collect();
        format!("{} {}", widths.join("-"), self.activation)
    }

    /// The workload's training and test sets: `sweep` (the sweep's MNIST
    /// data, loaded on first use) for [`Source::Mnist`], else its own,
    /// the test set cut to `budget.test`.
    pub fn data(
        &self,
        budget: Budget,
        sweep: &mut dyn FnMut() -> Result<Data, BenchError>,
    ) -> Result<Data, BenchError> {
        let data = match self.source {
            Source::Mnist => sweep()?,
            Source::Csv { dir, target } => {
                let dir = repository_dir(dir);
                let read = |file: &str| {
                    Dataset::from_csv(dir.join(file), target, TargetKind::Classes)
                        .map_err(BenchError::from)
                };
                Data {
                    train: read("train.csv")?,
                    test: read("test.csv")?,
                    dir,
                }
            }
            Source::Regression {
                features,
                teacher,
                noise,
                train,
                test,
                seed,
            } => {
                let (train, test) = regression(features, teacher, noise, train, test, seed)?;
                Data {
                    dir: format!("synthetic regression (seed {seed})").into(),
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

/// The synthetic regression of [`Source::Regression`]: a training and a
/// test set drawn from one teacher.
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
