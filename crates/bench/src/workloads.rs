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
use gradlab_data::synthetic::teacher_regression;
use gradlab_data::{CharText, Dataset, TargetKind};
use gradlab_layers::{Cnn, CnnKind, Gpt, GptConfig, LayerError, Mlp, Model};
use gradlab_train::{Privacy, TrainError};

use crate::stats::mix;
use crate::BenchError;

/// What a workload's targets measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// Test accuracy; a target is reached at or above it.
    Accuracy,
    /// Test root mean squared error; a target is reached at or below it.
    Rmse,
    /// Mean test loss (a language model's validation loss, in nats per
    /// token); a target is reached at or below it.
    Loss,
}

impl Goal {
    /// The name of the measure in tables.
    pub fn name(self) -> &'static str {
        match self {
            Goal::Accuracy => "test accuracy",
            Goal::Rmse => "test RMSE",
            Goal::Loss => "test loss",
        }
    }

    /// Whether `value` reaches `target`.
    pub fn reaches(self, value: f64, target: f64) -> bool {
        match self {
            Goal::Accuracy => value >= target,
            Goal::Rmse | Goal::Loss => value <= target,
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

/// A private workload's privacy: DP-SGD (Poisson batches of the workload's
/// batch size on average, every example's gradient clipped to `max_norm`,
/// Gaussian noise) at a fixed (ε, δ). Each run's noise multiplier σ is the
/// one that spends exactly the budget over the run's own steps (the RDP
/// accountant's calibration, as `--dp-epsilon`), so a longer run — a
/// self-tuning one — trains with more noise: the optimizer's job includes
/// the noise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PrivateBudget {
    /// ε spent by the end of every run.
    pub epsilon: f64,
    /// δ of the (ε, δ) guarantee.
    pub delta: f64,
    /// C, the bound on each example's gradient norm.
    pub max_norm: f32,
}

impl PrivateBudget {
    /// DP-SGD's settings for a run of `steps` steps of expected batch
    /// `batch` from `examples` training examples.
    pub fn privacy(
        &self,
        examples: usize,
        batch: usize,
        steps: u64,
    ) -> Result<Privacy, BenchError> {
        let rate = batch as f64 / examples as f64;
        let noise_multiplier =
            gradlab_optim::accountant::noise_multiplier(self.epsilon, self.delta, rate, steps)
                .map_err(TrainError::from)?;
        Ok(Privacy {
            max_norm: self.max_norm,
            noise_multiplier,
            delta: self.delta,
            per_tensor: false,
            poisson: true,
        })
    }
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

/// Draws a workload's held-out variant from a seed (AlgoPerf's held-out
/// workloads): the same problem with its model, data or privacy budget
/// drawn from a few alternatives that `tune` never sees.
pub type MakeVariant = Arc<dyn Fn(u64) -> Workload + Send + Sync>;

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
    /// Examples per step (on average, for a private workload).
    pub batch_size: usize,
    /// For a private workload, its privacy budget; `None` trains without
    /// clipping or noise.
    pub private: Option<PrivateBudget>,
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
    /// Its held-out variants ([`held_out`]), `None` if it has none.
    pub variant: Option<MakeVariant>,
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

/// A GPT of `layers` blocks of `heads` heads, `width` wide ([`Gpt`],
/// nanoGPT's), as a workload's model: its context is the examples'
/// features (token ids) and its vocabulary their classes.
pub fn gpt(layers: usize, heads: usize, width: usize) -> MakeModel {
    Arc::new(move |context, vocab, seed| {
        let config = GptConfig {
            vocab,
            context,
            layers,
            heads,
            width,
        };
        Ok(Model::from(Gpt::new(config, seed)?))
    })
}

/// Jane Austen's six novels (`datasets/austen`, in the order of their file
/// names) at the character level, cut into windows of `context`
/// characters: the first nine tenths for training, the last tenth (the end
/// of *Sense and Sensibility*) for validation.
fn austen(context: usize) -> Result<(Dataset, Dataset), BenchError> {
    let text = CharText::read_dir(&repository_dir("datasets/austen"))?;
    let (train, validation) = text.split(0.1, context)?;
    Ok((
        text.sequences(train, context)?,
        text.sequences(validation, context)?,
    ))
}

/// The built-in workloads, in report order. The targets of the CNNs and
/// the GPT are AlgoPerf's: the best of AdamW, NAdamW and SGD with
/// momentum, 5 trials each, then a slack that several of those 15 trials
/// reach (`docs/benchmark.md` gives the figures).
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
            private: None,
            goal: Goal::Accuracy,
            targets: targets.into(),
            quick_targets: quick_targets.into(),
            full: budget(122_880, 12, None),
            quick: budget(15_360, 6, Some(2_000)),
            variant: None,
        };
    let digits = |file: &'static str| {
        let dir = repository_dir("datasets/digits");
        Dataset::from_csv(dir.join(file), "digit", TargetKind::Classes).map_err(BenchError::from)
    };
    let list = vec![
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
            data: Some(Arc::new(|| {
                let fashion = gradlab_data::load(repository_dir("datasets/fashion-mnist"))?;
                Ok((fashion.train, fashion.test))
            })),
            full: budget(61_440, 12, None),
            quick: budget(5_120, 4, Some(2_000)),
            ..mnist(
                "fashion-cnn",
                "Fashion-MNIST, Papernot et al.'s tempered CNN (two convolutions with group \
                 norm and tanh, 26 106 weights) trained without noise",
                cnn(CnnKind::Private),
                [0.82, 0.845],
                [0.65, 0.7],
            )
        },
        Workload {
            batch_size: 256,
            private: Some(PrivateBudget {
                epsilon: 3.0,
                delta: 1e-5,
                max_norm: 1.0,
            }),
            full: budget(61_440, 12, None),
            quick: budget(3_840, 3, Some(1_000)),
            ..mnist(
                "mnist-private-cnn",
                "MNIST, Papernot et al.'s tempered CNN trained privately: DP-SGD at ε = 3, \
                 δ = 10⁻⁵ over the run, each example's gradient clipped to norm 1, Poisson \
                 batches of 256 on average",
                cnn(CnnKind::Private),
                [0.9, 0.945],
                [0.5, 0.6],
            )
        },
        Workload {
            name: "austen-gpt".into(),
            about: "Jane Austen's novels by character (the last tenth held out), a GPT of 2 \
                    blocks, 4 heads, width 64, context 64 (nanoGPT's); validation loss in nats \
                    per character"
                .into(),
            data: Some(Arc::new(|| austen(64))),
            model: gpt(2, 4, 64),
            standardize: false,
            batch_size: 32,
            private: None,
            goal: Goal::Loss,
            targets: vec![2.4, 2.2],
            quick_targets: vec![3.2, 3.0],
            full: budget(16_384, 12, Some(512)),
            quick: budget(768, 3, Some(128)),
            variant: None,
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
            private: None,
            goal: Goal::Accuracy,
            targets: vec![0.95, 0.965],
            quick_targets: vec![0.9, 0.95],
            full: budget(28_800, 20, None),
            quick: budget(14_400, 10, None),
            variant: None,
        },
        Workload {
            name: "regression".into(),
            about: "a synthetic regression: 16 Gaussian features, a random tanh teacher of 32 \
                    units scaled to unit variance plus noise of standard deviation 0.1; MLP \
                    16-64-64-1 with tanh"
                .into(),
            data: Some(Arc::new(|| {
                Ok(teacher_regression(16, 32, 0.1, 8_192, 2_048, 20_251_202)?)
            })),
            model: mlp(&[64, 64], Activation::Tanh),
            standardize: false,
            batch_size: 64,
            private: None,
            goal: Goal::Rmse,
            targets: vec![0.25, 0.17],
            quick_targets: vec![0.35, 0.25],
            full: budget(81_920, 16, None),
            quick: budget(16_384, 8, None),
            variant: None,
        },
    ];
    list.into_iter().map(with_variants).collect()
}

/// The built-in workload `w` with its held-out variants: an MLP's widths,
/// depth and activation, the CNN's training set cut to a seeded part, the
/// private CNN's ε, the GPT's depth, heads and width, the regression's
/// teacher and noise.
fn with_variants(w: Workload) -> Workload {
    use Activation::{Gelu, Relu, Tanh};
    let base = w.clone();
    let make: MakeVariant = match w.name.as_str() {
        "mnist-mlp" => Arc::new(move |seed| {
            let widths: [&[usize]; 4] = [&[256, 256], &[1024, 1024], &[512], &[512; 3]];
            mlp_variant(&base, seed, &widths, &[Relu, Tanh, Gelu])
        }),
        "mnist-deep-tanh" => Arc::new(move |seed| {
            let widths: [&[usize]; 4] = [&[96; 4], &[192; 4], &[128; 3], &[128; 6]];
            mlp_variant(&base, seed, &widths, &[Tanh, Gelu])
        }),
        "digits" => Arc::new(move |seed| {
            let widths: [&[usize]; 3] = [&[32], &[128], &[64, 64]];
            mlp_variant(&base, seed, &widths, &[Relu, Tanh])
        }),
        "fashion-cnn" => Arc::new(move |seed| {
            let fraction = draw(seed, 0, &[0.25, 0.5]);
            let data = base.data.clone().expect("fashion-cnn has data of its own");
            Workload {
                about: format!(
                    "{} — held out: trained on a seeded {}% of its training set",
                    base.about,
                    fraction * 100.0
                ),
                data: Some(Arc::new(move || {
                    let (train, test) = data()?;
                    Ok((subsample(&train, fraction, seed), test))
                })),
                ..base.clone()
            }
        }),
        "mnist-private-cnn" => Arc::new(move |seed| {
            let epsilon = draw(seed, 0, &[2.0, 4.0, 8.0]);
            Workload {
                about: format!("{} — held out: at ε = {epsilon}", base.about),
                private: base.private.map(|p| PrivateBudget { epsilon, ..p }),
                ..base.clone()
            }
        }),
        "austen-gpt" => Arc::new(move |seed| {
            let shapes = [(1, 4, 64), (3, 4, 64), (2, 2, 64), (2, 4, 96)];
            let (layers, heads, width) = draw(seed, 0, &shapes);
            Workload {
                about: format!(
                    "{} — held out: {layers} blocks, {heads} heads, width {width}",
                    base.about
                ),
                model: gpt(layers, heads, width),
                ..base.clone()
            }
        }),
        "regression" => Arc::new(move |seed| {
            // Noise below the ranking target, RMSE 0.17, so that it stays reachable.
            let (units, noise) = (draw(seed, 0, &[16, 64]), draw(seed, 1, &[0.05, 0.1]));
            Workload {
                about: format!(
                    "{} — held out: a teacher of {units} units, noise {noise}, data drawn \
                     anew",
                    base.about
                ),
                data: Some(Arc::new(move || {
                    Ok(teacher_regression(
                        16,
                        units,
                        noise,
                        8_192,
                        2_048,
                        mix(seed),
                    )?)
                })),
                ..base.clone()
            }
        }),
        _ => return w,
    };
    Workload {
        variant: Some(make),
        ..w
    }
}

/// Choice `k` of the variant drawn by `seed`: one of `options`.
fn draw<T: Copy>(seed: u64, k: u64, options: &[T]) -> T {
    options[(mix(seed ^ mix(k)) % options.len() as u64) as usize]
}

/// The MLP workload `w` with hidden widths and activation drawn by `seed`.
fn mlp_variant(
    w: &Workload,
    seed: u64,
    widths: &[&[usize]],
    activations: &[Activation],
) -> Workload {
    let (hidden, activation) = (draw(seed, 0, widths), draw(seed, 1, activations));
    Workload {
        about: format!(
            "{} — held out: hidden layers {hidden:?} with {activation:?}",
            w.about
        ),
        model: mlp(hidden, activation),
        ..w.clone()
    }
}

/// A `fraction` of the examples of `d`, drawn by `seed`, in their order.
fn subsample(d: &Dataset, fraction: f64, seed: u64) -> Dataset {
    let mut keep: Vec<usize> = (0..d.len()).collect();
    keep.sort_by_key(|&i| mix(seed ^ mix(i as u64)));
    keep.truncate((d.len() as f64 * fraction) as usize);
    keep.sort_unstable();
    d.subset(&keep)
}

/// Workload `w`'s held-out variant drawn by `seed`, named `{w}@{seed}`, or
/// `None` if it has no variants.
pub fn held_out(w: &Workload, seed: u64) -> Option<Workload> {
    let v = (w.variant.as_ref()?)(seed);
    Some(Workload {
        name: format!("{}@{seed}", w.name),
        variant: None,
        ..v
    })
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

/// The workload called `name`: a registered one, or `{base}@{seed}`, the
/// held-out variant of `base` drawn by `seed`.
pub fn workload(name: &str) -> Option<Workload> {
    let find = |name: &str| registry().iter().find(|w| w.name == name).cloned();
    find(name).or_else(|| {
        let (base, seed) = name.split_once('@')?;
        held_out(&find(base)?, seed.parse().ok()?)
    })
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
    if let Some(p) = w.private {
        let valid = p.epsilon > 0.0
            && p.epsilon.is_finite()
            && p.delta > 0.0
            && p.delta < 1.0
            && p.max_norm > 0.0
            && p.max_norm.is_finite();
        if !valid {
            return bad(format!(
                "the privacy budget needs ε > 0, 0 < δ < 1 and a clipping bound C > 0, got ε = \
                 {}, δ = {}, C = {}",
                p.epsilon, p.delta, p.max_norm
            ));
        }
    }
    for (targets, what) in [(&w.targets, "targets"), (&w.quick_targets, "quick targets")] {
        let valid = |t: f64| match w.goal {
            Goal::Accuracy => t > 0.0 && t <= 1.0,
            Goal::Rmse | Goal::Loss => t > 0.0 && t.is_finite(),
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
