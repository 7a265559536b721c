//! The experiments, one per claim of the lecture, and the ones beyond it.
//! Each is a unit struct implementing [`Experiment`] in a file of its own:
//! it plans its runs and turns their records into a section of the report
//! (tables, plots and a reading computed from the numbers). [`EXPERIMENTS`]
//! lists them in report order; adding one is a file and a line there.

use std::collections::BTreeMap;

use gradlab_optim::{registry, Optimizer, Series as Tuned};

use crate::options::Settings;
use crate::plot::{Panel, Scale, Series, Style};
use crate::report::Section;
use crate::run::{Metrics, RunRecord, RunSpec};
use crate::stats::{ci95, mean, std};
use crate::BenchError;

pub mod batch_size;
pub mod bias_correction;
pub mod eps_to_sgd;
pub mod lr_sweep;
pub mod privacy;
pub mod scale_invariance;
pub mod speedrun;
pub mod tune;
pub mod variants;

pub use batch_size::BatchSize;
pub use bias_correction::BiasCorrection;
pub use eps_to_sgd::EpsToSgd;
pub use lr_sweep::LrSweep;
pub use privacy::Privacy;
pub use scale_invariance::ScaleInvariance;
pub use speedrun::{Recipe, Speedrun};
pub use tune::{Candidate, Tune};
pub use variants::Variants;

/// What an experiment is: its names, the claim it tests and the size of its
/// runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct About {
    /// The name `--experiment` takes (`batch-size`).
    pub name: &'static str,
    /// The section title.
    pub title: &'static str,
    /// The slide of the lecture the experiment tests, and its claim.
    pub claim: &'static str,
    /// Examples seen by each of its runs, full and `--quick` (0 when each
    /// run has its own, as `tune`'s workloads and `speedrun`'s recipes do).
    pub budget: (usize, usize),
    /// Evaluations of the test set per run, full and `--quick`.
    pub checkpoints: (usize, usize),
}

/// One experiment: what it tests, the runs it plans, and its section of
/// the report.
pub trait Experiment: Send + Sync + std::fmt::Debug {
    /// What it is and tests.
    fn about(&self) -> About;
    /// The name `--experiment` takes ([`About::name`]).
    fn name(&self) -> &'static str {
        self.about().name
    }
    /// Its runs, in job order.
    fn plan(&self, settings: &Settings) -> Vec<RunSpec>;
    /// Its report section from its run records.
    fn section(&self, settings: &Settings, records: &[&RunRecord]) -> Section;
}

/// Experiments are equal when their names are.
impl PartialEq for dyn Experiment {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

/// Every experiment, in report order.
pub static EXPERIMENTS: [&dyn Experiment; 9] = [
    &BiasCorrection,
    &ScaleInvariance,
    &EpsToSgd,
    &BatchSize,
    &Variants,
    &LrSweep,
    &Privacy,
    &Tune,
    &Speedrun,
];

/// The experiment `--experiment` calls `name`.
pub fn experiment(name: &str) -> Option<&'static dyn Experiment> {
    EXPERIMENTS.iter().copied().find(|e| e.name() == name)
}

/// The experiments of a sweep of `settings`, in report order: those
/// `--experiment` names, or every one for `all`. A name of none is an
/// error that lists them.
pub fn selected(settings: &Settings) -> Result<Vec<&'static dyn Experiment>, BenchError> {
    for name in &settings.experiments {
        if name != "all" && experiment(name).is_none() {
            return Err(BenchError::Options(format!(
                "--experiment: no experiment '{name}'; the experiments are {}, or all",
                EXPERIMENTS.map(|e| e.name()).join(", ")
            )));
        }
    }
    let named = |e: &&dyn Experiment| {
        settings
            .experiments
            .iter()
            .any(|n| n == "all" || n == e.name())
    };
    Ok(EXPERIMENTS.iter().copied().filter(named).collect())
}

/// A section of the report for `e`, headed by its title and claim.
pub(crate) fn section(e: &dyn Experiment) -> Section {
    let about = e.about();
    Section::new(about.name, about.title, about.claim)
}

/// Examples seen by each run of `e`: `--budget`, or the experiment's own.
pub fn budget(e: &dyn Experiment, settings: &Settings) -> usize {
    let (full, quick) = e.about().budget;
    settings.budget.unwrap_or(settings.pick(full, quick))
}

/// Evaluations per run of `e`: `--checkpoints`, or the experiment's own.
pub fn checkpoints(e: &dyn Experiment, settings: &Settings) -> usize {
    let (full, quick) = e.about().checkpoints;
    settings.checkpoints.unwrap_or(settings.pick(full, quick))
}

/// The rule a table calls `label` (a spec name, or a switch of one:
/// `amsgrad`) at its tuned configuration ([`Tuned`]).
///
/// # Panics
/// If there is none: the experiments only name registered rules.
pub fn tuned(label: &str) -> Tuned {
    registry::series()
        .into_iter()
        .find(|t| t.label == label)
        .unwrap_or_else(|| panic!("no tuned configuration for {label}"))
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

/// A run of `e` on seed 0: `optimizer` at batch size `batch_size`, seeing
/// `budget` examples and evaluated `checkpoints` times (at most once a
/// step), on the sweep's MLP, its loss unscaled and not private.
pub(crate) fn run_spec_sized(
    e: &dyn Experiment,
    settings: &Settings,
    series: impl Into<String>,
    optimizer: String,
    batch_size: usize,
    (budget, checkpoints): (usize, usize),
) -> RunSpec {
    RunSpec {
        experiment: e.name().into(),
        series: series.into(),
        param: None,
        optimizer,
        batch_size,
        seed: 0,
        loss_scale: 1.0,
        budget,
        checkpoints: checkpoints.min(budget.div_ceil(batch_size)),
        // On a workload, its own model and data.
        hidden: match settings.on {
            Some(_) => Vec::new(),
            None => settings.hidden.clone(),
        },
        privacy: None,
        workload: settings.on.as_ref().map(|w| w.name.clone()),
        trial: None,
    }
}

/// [`run_spec_sized`] at the experiment's budget and checkpoints
/// ([`budget`], [`checkpoints`]).
pub(crate) fn run_spec(
    e: &dyn Experiment,
    settings: &Settings,
    series: impl Into<String>,
    optimizer: String,
    batch_size: usize,
) -> RunSpec {
    let size = (budget(e, settings), checkpoints(e, settings));
    run_spec_sized(e, settings, series, optimizer, batch_size, size)
}

/// `runs` for every seed of `settings`, run by run.
pub(crate) fn with_seeds(settings: &Settings, runs: Vec<RunSpec>) -> Vec<RunSpec> {
    runs.into_iter()
        .flat_map(|r| {
            settings
                .seeds
                .iter()
                .map(move |&seed| RunSpec { seed, ..r.clone() })
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

/// The runs grouped by series ([`group`]).
pub(crate) fn by_series<'a>(records: &[&'a RunRecord]) -> Vec<(String, Vec<&'a RunRecord>)> {
    group(records, |r| r.series.clone())
}

/// The runs grouped by the experiment's parameter ([`group`]).
pub(crate) fn by_param<'a>(records: &[&'a RunRecord]) -> Vec<(Option<u64>, Vec<&'a RunRecord>)> {
    group(records, |r| r.param.map(f64::to_bits))
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
    Series::new(label, points, color, Style::Line)
}

/// A panel of training-loss curves against examples seen, both axes
/// logarithmic.
pub(crate) fn loss_panel(title: impl Into<String>, series: Vec<Series>) -> Panel {
    let (x, y) = (("examples seen", Scale::Log), ("training loss", Scale::Log));
    Panel::new(title, x, y, series)
}

/// The values of `value` at checkpoint `k`, one per run, or `None` if a
/// run had diverged by then.
pub(crate) fn values_at(
    runs: &[&RunRecord],
    k: usize,
    value: impl Fn(&Metrics) -> f64,
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
    value: impl Fn(&Metrics) -> f64,
) -> Option<f64> {
    values_at(runs, k, value).map(|v| mean(&v))
}

/// The values of `value` at the last checkpoint of `runs`, one per run,
/// `None` if any diverged.
pub(crate) fn final_values(
    runs: &[&RunRecord],
    value: impl Fn(&Metrics) -> f64,
) -> Option<Vec<f64>> {
    let last = runs.iter().map(|r| r.checkpoints.len()).min()?;
    values_at(runs, last.checked_sub(1)?, value)
}

/// The mean final test loss of `runs`, `None` if any diverged.
pub(crate) fn final_test_loss(runs: &[&RunRecord]) -> Option<f64> {
    final_values(runs, |m| m.test_loss).map(|v| mean(&v))
}

/// `m ± h (sd s)` for the seeds' `values`: the mean, the half-width of its
/// 95 % Student-t interval and the standard deviation (the mean alone for
/// one seed).
pub(crate) fn summary(values: &[f64], fmt: fn(f64) -> String) -> String {
    if values.len() < 2 {
        return fmt(mean(values));
    }
    let (m, h, s) = (fmt(mean(values)), fmt(ci95(values)), fmt(std(values)));
    format!("{m} ± {h} (sd {s})")
}

/// The seeds' `values` as a table cell: their [`summary`], or
/// "diverged (k/n)".
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

/// The cell of the final values of `value` ([`final_values`], [`cell`]).
pub(crate) fn final_cell(
    runs: &[&RunRecord],
    value: impl Fn(&Metrics) -> f64,
    fmt: fn(f64) -> String,
) -> String {
    cell(runs, final_values(runs, value), fmt)
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

/// The gap between the loss curves of two runs ([`curve_gap`]).
pub(crate) fn run_gap(a: &RunRecord, b: &RunRecord) -> f64 {
    let points = |r: &RunRecord| -> Vec<(f64, f64)> {
        r.curve
            .iter()
            .map(|p| (p.examples as f64, p.loss))
            .collect()
    };
    curve_gap(&points(a), &points(b))
}

/// The smallest and the largest of `xs` (∞ and −∞ for none).
pub(crate) fn min_max(xs: impl IntoIterator<Item = f64>) -> (f64, f64) {
    xs.into_iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        })
}

/// `values` joined by `", "`.
pub(crate) fn join<T: ToString>(values: &[T]) -> String {
    let parts: Vec<String> = values.iter().map(T::to_string).collect();
    parts.join(", ")
}
