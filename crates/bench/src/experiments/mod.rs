//! The experiments, one per claim of the lecture. Each plans its runs and
//! turns their records into a section of the report: tables, plots and a
//! reading computed from the numbers.

use std::collections::BTreeMap;

use gradlab_optim::Optimizer;
use serde::{Deserialize, Serialize};

use crate::options::Settings;
use crate::plot::{Series, Style};
use crate::report::Section;
use crate::run::{RunRecord, RunSpec};
use crate::stats::{ci95, mean, std};

pub mod batch_size;
pub mod bias_correction;
pub mod eps_to_sgd;
pub mod lr_sweep;
pub mod privacy;
pub mod scale_invariance;
pub mod speedrun;
pub mod tune;
pub mod variants;

/// An experiment; the order of the variants is the order of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Experiment {
    /// The four running averages on a synthetic signal with a step change.
    BiasCorrection,
    /// SGD, RMSProp and Adam with the loss multiplied by α.
    ScaleInvariance,
    /// `adam_eta0` with ε from 10⁻⁸ to 10⁴ against `sgd_ema`.
    EpsToSgd,
    /// Batch sizes 16 to 1024 under the batch-size learning-rate rules.
    BatchSize,
    /// Every optimizer of the optim crate at its tuned rate.
    Variants,
    /// A log grid of learning rates per optimizer.
    LrSweep,
    /// DP-SGD at several noise levels: test accuracy against ε.
    Privacy,
    /// Every optimizer with an equal budget of tuning trials on every
    /// workload: time to target and performance profiles.
    Tune,
    /// The shortest training time to 98 % on MNIST on every seed 0–9.
    Speedrun,
}

impl Experiment {
    /// Every experiment, in report order.
    pub const ALL: [Experiment; 9] = [
        Experiment::BiasCorrection,
        Experiment::ScaleInvariance,
        Experiment::EpsToSgd,
        Experiment::BatchSize,
        Experiment::Variants,
        Experiment::LrSweep,
        Experiment::Privacy,
        Experiment::Tune,
        Experiment::Speedrun,
    ];

    /// The name `--experiment` takes.
    pub fn name(self) -> &'static str {
        match self {
            Experiment::BiasCorrection => "bias-correction",
            Experiment::ScaleInvariance => "scale-invariance",
            Experiment::EpsToSgd => "eps-to-sgd",
            Experiment::BatchSize => "batch-size",
            Experiment::Variants => "variants",
            Experiment::LrSweep => "lr-sweep",
            Experiment::Privacy => "privacy",
            Experiment::Tune => "tune",
            Experiment::Speedrun => "speedrun",
        }
    }

    /// The section title.
    pub fn title(self) -> &'static str {
        match self {
            Experiment::BiasCorrection => "Bias correction of running averages",
            Experiment::ScaleInvariance => "Scale invariance of RMSProp and Adam",
            Experiment::EpsToSgd => "Adam with η = ε·η₀ tends to SGD",
            Experiment::BatchSize => "Learning-rate rules for the batch size",
            Experiment::Variants => "Every optimizer at its tuned rate",
            Experiment::LrSweep => "Sensitivity to the learning rate",
            Experiment::Privacy => "Accuracy against privacy (DP-SGD)",
            Experiment::Tune => "Optimizers tuned with equal budgets on several workloads",
            Experiment::Speedrun => "Speedrun: the shortest training to 98 % on every seed",
        }
    }

    /// The slide of the lecture the experiment tests, and its claim.
    pub fn claim(self) -> &'static str {
        match self {
            Experiment::BiasCorrection => {
                "slides \"Bias Correction\": the plain moving average started at 0 is biased \
                 toward 0 for t < N; the cumulative mean (1/t) is unbiased but fails to track a \
                 moving average for t ≫ N; the 1/min(N, t) form and the published Adam \
                 correction do both."
            }
            Experiment::ScaleInvariance => {
                "slide \"RMSProp Analysis\": scaling the gradient by α scales √s by α too, so \
                 RMSProp's (and Adam's) update does not change and η is dimensionless; SGD's \
                 step scales with α."
            }
            Experiment::EpsToSgd => {
                "slide \"Decoupling η from ε\": with η = ε·η₀ the update is \
                 η₀/(1 + √s/ε)·g̃, which becomes SGD (on the averaged gradient) as ε → ∞; \
                 the optimal ε is sometimes large."
            }
            Experiment::BatchSize => {
                "slides \"Making Adam Adapt to the Batch Size B\" and \"Making Adam \
                 Independent of B\": s = μ² + σ²/B, so η = B·η₀ suits μ² ≫ σ²/B and \
                 η = √B·η₀ suits σ²/B ≫ μ²; averaging per-example squares makes s \
                 independent of B, and then η = B·η₀ always applies."
            }
            Experiment::Variants => {
                "the whole progression of the lecture (SGD → momentum → RMSProp → Adam and \
                 its variants), each optimizer at the rate that suits it, on one budget."
            }
            Experiment::LrSweep => {
                "slide \"RMSProp Analysis\" (\"this makes the learning rate η \
                 dimensionless\"): how wide a range of η trains well, per optimizer."
            }
            Experiment::Privacy => {
                "beyond the lecture, the best-known use of per-example gradients: DP-SGD \
                 (Abadi et al. 2016) clips each example's gradient and adds Gaussian noise; \
                 more noise spends less privacy (a smaller ε) and costs test accuracy."
            }
            Experiment::Tune => {
                "beyond the lecture, how optimizers compare when each is tuned with the same \
                 number of trials over its own search space (Choi et al. 2019: rankings flip \
                 with the tuning protocol), scored by time to target on several workloads and \
                 summarized by a performance profile (Dolan & Moré 2002, as AlgoPerf does)."
            }
            Experiment::Speedrun => {
                "beyond the lecture, what the throughput buys: the recipe (optimizer, η, \
                 warm-up, schedule, batch size, epochs, width) that reaches 98 % test accuracy \
                 on MNIST in the fewest seconds of training on every one of seeds 0–9."
            }
        }
    }

    /// Examples seen by each run of the experiment.
    pub fn budget(self, settings: &Settings) -> usize {
        if let Some(b) = settings.budget {
            return b;
        }
        // Multiples of 1024, the largest batch size, so that every batch size
        // sees exactly the budget and every checkpoint falls on a step.
        let (full, quick) = match self {
            Experiment::BiasCorrection => (0, 0),
            Experiment::ScaleInvariance | Experiment::EpsToSgd => (122_880, 20_480),
            Experiment::BatchSize | Experiment::Variants => (196_608, 32_768),
            Experiment::LrSweep => (61_440, 20_480),
            Experiment::Privacy => (privacy::FULL.budget(), privacy::QUICK.budget()),
            // Each workload has its own (`Workload::budget`), each recipe
            // its epochs.
            Experiment::Tune | Experiment::Speedrun => (0, 0),
        };
        if settings.quick {
            quick
        } else {
            full
        }
    }

    /// Evaluations of the test set per run.
    pub fn checkpoints(self, settings: &Settings) -> usize {
        if let Some(n) = settings.checkpoints {
            return n;
        }
        // The variants table counts examples until a target accuracy, which
        // is only as fine as the evaluations.
        match (self, settings.quick) {
            // One evaluation per epoch.
            (Experiment::Privacy, false) => 15,
            (Experiment::Privacy, true) => 5,
            (Experiment::Variants, false) => 16,
            (Experiment::Variants, true) => 8,
            (_, false) => 8,
            (_, true) => 4,
        }
    }

    /// The runs of the experiment, in job order.
    pub fn plan(self, settings: &Settings) -> Vec<RunSpec> {
        match self {
            Experiment::BiasCorrection => Vec::new(),
            Experiment::ScaleInvariance => scale_invariance::plan(settings),
            Experiment::EpsToSgd => eps_to_sgd::plan(settings),
            Experiment::BatchSize => batch_size::plan(settings),
            Experiment::Variants => variants::plan(settings),
            Experiment::LrSweep => lr_sweep::plan(settings),
            Experiment::Privacy => privacy::plan(settings),
            Experiment::Tune => tune::plan(settings),
            Experiment::Speedrun => speedrun::plan(settings),
        }
    }

    /// Whether the experiment chooses runs from the results of its planned
    /// ones ([`follow_up`](Experiment::follow_up)).
    pub fn chooses_runs(self) -> bool {
        self == Experiment::Tune
    }

    /// The runs the experiment chooses from the results of its planned
    /// ones (`records`, all of them, in job order): `tune`'s re-runs of
    /// each best trial on new seeds. None for the other experiments.
    pub fn follow_up(self, settings: &Settings, records: &[&RunRecord]) -> Vec<RunSpec> {
        match self {
            Experiment::Tune => tune::follow_up(settings, records),
            _ => Vec::new(),
        }
    }

    /// The report section from the experiment's run records.
    pub fn section(self, settings: &Settings, records: &[&RunRecord]) -> Section {
        match self {
            Experiment::BiasCorrection => bias_correction::section(settings),
            Experiment::ScaleInvariance => scale_invariance::section(settings, records),
            Experiment::EpsToSgd => eps_to_sgd::section(settings, records),
            Experiment::BatchSize => batch_size::section(settings, records),
            Experiment::Variants => variants::section(settings, records),
            Experiment::LrSweep => lr_sweep::section(settings, records),
            Experiment::Privacy => privacy::section(settings, records),
            Experiment::Tune => tune::section(settings, records),
            Experiment::Speedrun => speedrun::section(settings, records),
        }
    }
}

/// An optimizer of the optim crate with the rate at which it trains the
/// benchmark's MLP well at batch size 128: the rate of the √10-spaced grid
/// with the lowest final test loss in a full `lr-sweep` (61 440 examples,
/// seed 0), rounded to 1 or 3 times a power of ten (Muon's 0.02, the
/// reference's rate, was the best of its grid, which is centred on it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tuned {
    /// The spec name.
    pub name: &'static str,
    /// The name of its series in tables and plots, and for `--only`: the
    /// spec name, or another for a variant of a rule (`amsgrad` is
    /// `adam(amsgrad=true)`).
    pub label: &'static str,
    /// The key of its base rate: `lr`, or `eta0` for the rules written with
    /// η₀.
    pub key: &'static str,
    /// The tuned base rate.
    pub rate: f64,
    /// Further keys, each preceded by a comma.
    pub rest: &'static str,
}

impl Tuned {
    /// The canonical spec with base rate `rate` and `extra` keys (each
    /// preceded by a comma).
    pub fn spec_with(&self, rate: f64, extra: &str) -> String {
        canonical(&format!(
            "{}({}={rate:e}{}{extra})",
            self.name, self.key, self.rest
        ))
    }

    /// The canonical spec at the tuned rate.
    pub fn spec(&self) -> String {
        self.spec_with(self.rate, "")
    }
}

/// The canonical form of one of the benchmark's own specs.
///
/// # Panics
/// If the spec is invalid, which is a bug in the experiment that wrote it.
pub(crate) fn canonical(spec: &str) -> String {
    Optimizer::from_spec(spec)
        .unwrap_or_else(|e| panic!("the benchmark's spec {spec} is invalid: {e}"))
        .to_string()
}

/// Every optimizer of the optim crate, in the lecture's order, at its tuned
/// rate.
pub const TUNED: [Tuned; 27] = [
    Tuned {
        name: "sgd",
        label: "sgd",
        key: "lr",
        rate: 0.3,
        rest: "",
    },
    Tuned {
        name: "sgd_momentum",
        label: "sgd_momentum",
        key: "lr",
        rate: 0.1,
        rest: ",momentum=0.9",
    },
    Tuned {
        name: "sgd_ema",
        label: "sgd_ema",
        key: "lr",
        rate: 1.0,
        rest: ",n_g=10",
    },
    Tuned {
        name: "rmsprop",
        label: "rmsprop",
        key: "lr",
        rate: 1e-3,
        rest: ",n_s=100",
    },
    Tuned {
        name: "rmsprop_momentum",
        label: "rmsprop_momentum",
        key: "lr",
        rate: 1e-4,
        rest: ",momentum=0.9",
    },
    Tuned {
        name: "adam",
        label: "adam",
        key: "lr",
        rate: 3e-3,
        rest: "",
    },
    Tuned {
        name: "adamw",
        label: "adamw",
        key: "lr",
        rate: 3e-3,
        rest: "",
    },
    Tuned {
        name: "adam_lecture",
        label: "adam_lecture",
        key: "lr",
        rate: 3e-3,
        rest: "",
    },
    Tuned {
        name: "adam_eta0",
        label: "adam_eta0",
        key: "eta0",
        rate: 30.0,
        rest: ",eps=1e-4",
    },
    Tuned {
        name: "adam_per_example",
        label: "adam_per_example",
        key: "eta0",
        rate: 3e-4,
        rest: "",
    },
    Tuned {
        name: "adam",
        label: "amsgrad",
        key: "lr",
        rate: 0.003,
        rest: ",amsgrad=true",
    },
    Tuned {
        name: "adagrad",
        label: "adagrad",
        key: "lr",
        rate: 3e-2,
        rest: "",
    },
    Tuned {
        name: "adamax",
        label: "adamax",
        key: "lr",
        rate: 1e-2,
        rest: "",
    },
    Tuned {
        name: "nadam",
        label: "nadam",
        key: "lr",
        rate: 0.003,
        rest: "",
    },
    Tuned {
        name: "nadamw",
        label: "nadamw",
        key: "lr",
        rate: 0.003,
        rest: "",
    },
    Tuned {
        name: "radam",
        label: "radam",
        key: "lr",
        rate: 1e-2,
        rest: "",
    },
    Tuned {
        name: "adadelta",
        label: "adadelta",
        key: "lr",
        rate: 3.0,
        rest: "",
    },
    Tuned {
        name: "adabelief",
        label: "adabelief",
        key: "lr",
        rate: 3e-3,
        rest: "",
    },
    Tuned {
        name: "yogi",
        label: "yogi",
        key: "lr",
        rate: 0.01,
        rest: "",
    },
    Tuned {
        name: "sign_sgd",
        label: "sign_sgd",
        key: "lr",
        rate: 1e-3,
        rest: "",
    },
    Tuned {
        name: "signum",
        label: "signum",
        key: "lr",
        rate: 1e-3,
        rest: "",
    },
    Tuned {
        name: "lamb",
        label: "lamb",
        key: "lr",
        rate: 1e-2,
        rest: "",
    },
    Tuned {
        name: "lion",
        label: "lion",
        key: "lr",
        rate: 1e-3,
        rest: "",
    },
    Tuned {
        name: "schedule_free_adamw",
        label: "schedule_free_adamw",
        key: "lr",
        rate: 1e-2,
        rest: "",
    },
    Tuned {
        name: "adafactor",
        label: "adafactor",
        key: "lr",
        rate: 0.03,
        rest: "",
    },
    Tuned {
        name: "muon",
        label: "muon",
        key: "lr",
        rate: 0.02,
        rest: "",
    },
    Tuned {
        name: "prodigy",
        label: "prodigy",
        key: "lr",
        rate: 1.0,
        rest: "",
    },
];

/// The tuned entry of the optimizer called `name`.
///
/// # Panics
/// If there is none: the experiments only name optimizers of [`TUNED`].
pub fn tuned(name: &str) -> &'static Tuned {
    TUNED
        .iter()
        .find(|t| t.label == name)
        .unwrap_or_else(|| panic!("no tuned rate for {name}"))
}

/// One configuration of an experiment, before seeds are attached.
pub(crate) struct Config {
    pub series: String,
    pub param: Option<f64>,
    pub optimizer: String,
    pub batch_size: usize,
    pub loss_scale: f32,
}

/// The runs of `configs` for every seed of `settings`, configuration by
/// configuration.
pub(crate) fn with_seeds(
    experiment: Experiment,
    settings: &Settings,
    configs: Vec<Config>,
) -> Vec<RunSpec> {
    let (budget, checkpoints) = (
        experiment.budget(settings),
        experiment.checkpoints(settings),
    );
    configs
        .into_iter()
        .flat_map(|c| {
            settings.seeds.iter().map(move |&seed| RunSpec {
                experiment,
                series: c.series.clone(),
                param: c.param,
                optimizer: c.optimizer.clone(),
                batch_size: c.batch_size,
                seed,
                loss_scale: c.loss_scale,
                budget,
                checkpoints: checkpoints.min(budget.div_ceil(c.batch_size)),
                hidden: settings.hidden.clone(),
                privacy: None,
                workload: None,
                trial: None,
            })
        })
        .collect()
}

/// The runs that differ only in seed, grouped under a key, keys in first-seen
/// order.
pub(crate) fn group<'a, K: PartialEq + Clone>(
    records: &[&'a RunRecord],
    key: impl Fn(&RunSpec) -> K,
) -> Vec<(K, Vec<&'a RunRecord>)> {
    let mut groups: Vec<(K, Vec<&RunRecord>)> = Vec::new();
    for &r in records {
        let k = key(&r.spec);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, rs)) => rs.push(r),
            None => groups.push((k, vec![r])),
        }
    }
    groups
}

/// The loss curve averaged over runs that share their batch size (and so
/// their curve points), up to where the first of them diverged.
pub(crate) fn mean_curve(runs: &[&RunRecord]) -> Vec<(f64, f64)> {
    let mut by_examples: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for r in runs {
        for p in &r.curve {
            by_examples.entry(p.examples).or_default().push(p.loss);
        }
    }
    by_examples
        .into_iter()
        .take_while(|(_, v)| v.len() == runs.len())
        .map(|(e, v)| (e as f64, mean(&v)))
        .collect()
}

/// The mean loss curve of `runs` ([`mean_curve`]) as a plot series; if a
/// run diverged, the curve ends in a divergence mark (y = +∞) at the examples
/// seen when the first of them did.
pub(crate) fn curve_series(label: impl Into<String>, runs: &[&RunRecord], color: usize) -> Series {
    let mut points = mean_curve(runs);
    let diverged = runs
        .iter()
        .filter_map(|r| Some(r.diverged_at? * r.spec.batch_size as u64))
        .min();
    if let Some(examples) = diverged {
        points.push((examples as f64, f64::INFINITY));
    }
    line(label, points, color)
}

/// A curve as a plot series.
pub(crate) fn line(label: impl Into<String>, points: Vec<(f64, f64)>, color: usize) -> Series {
    Series {
        label: label.into(),
        points,
        color,
        style: Style::Line,
    }
}

/// The values of `value` at checkpoint `k`, one per run, or `None` if a
/// run had diverged by then.
pub(crate) fn values_at(
    runs: &[&RunRecord],
    k: usize,
    value: impl Fn(&crate::run::Metrics) -> f64,
) -> Option<Vec<f64>> {
    runs.iter()
        .map(|r| r.checkpoints.get(k)?.metrics.as_ref().map(&value))
        .collect()
}

/// The mean over `runs` of `value` at checkpoint `k`, or `None` if a run had
/// diverged by then.
pub(crate) fn mean_at(
    runs: &[&RunRecord],
    k: usize,
    value: impl Fn(&crate::run::Metrics) -> f64,
) -> Option<f64> {
    values_at(runs, k, value).map(|v| mean(&v))
}

/// The values of `value` at the last checkpoint of `runs`, one per run,
/// `None` if any diverged.
pub(crate) fn final_values(
    runs: &[&RunRecord],
    value: impl Fn(&crate::run::Metrics) -> f64,
) -> Option<Vec<f64>> {
    let last = runs
        .iter()
        .map(|r| r.checkpoints.len())
        .min()?
        .checked_sub(1)?;
    values_at(runs, last, value)
}

/// The mean final test loss of `runs`, `None` if any diverged.
pub(crate) fn final_test_loss(runs: &[&RunRecord]) -> Option<f64> {
    final_values(runs, |m| m.test_loss).map(|v| mean(&v))
}

/// `m ± h (sd s)` for the seeds' `values`: the mean, the half-width of its
/// 95 % Student-t interval and the standard deviation (the mean alone for
/// one seed).
pub(crate) fn summary(values: &[f64], fmt: fn(f64) -> String) -> String {
    if values.len() >= 2 {
        format!(
            "{} ± {} (sd {})",
            fmt(mean(values)),
            fmt(ci95(values)),
            fmt(std(values))
        )
    } else {
        fmt(mean(values))
    }
}

/// The seeds' `values` as a table cell: `m ± h (sd s)`, the mean, the
/// half-width of its 95 % Student-t interval and the standard deviation
/// (the mean alone for one seed), or "diverged (k/n)".
pub(crate) fn cell(
    runs: &[&RunRecord],
    values: Option<Vec<f64>>,
    fmt: fn(f64) -> String,
) -> String {
    match values {
        Some(v) => summary(&v, fmt),
        None => {
            let diverged = runs.iter().filter(|r| r.diverged_at.is_some()).count();
            format!("diverged ({diverged}/{})", runs.len())
        }
    }
}

/// The mean relative gap |a − b|/b between two curves over the examples
/// seen where both have a point (NaN if there are none).
pub(crate) fn curve_gap(a: &[(f64, f64)], b: &[(f64, f64)]) -> f64 {
    let gaps: Vec<f64> = a
        .iter()
        .filter_map(|&(x, ya)| {
            let &(_, yb) = b.iter().find(|(xb, _)| *xb == x)?;
            Some((ya - yb).abs() / yb.abs())
        })
        .collect();
    mean(&gaps)
}

/// A run's loss curve as points.
pub(crate) fn points(r: &RunRecord) -> Vec<(f64, f64)> {
    r.curve
        .iter()
        .map(|p| (p.examples as f64, p.loss))
        .collect()
}
