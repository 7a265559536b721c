//! The experiments, one per claim of the lecture, and the ones beyond it.
//! Each is a unit struct implementing [`Experiment`] in a file of its own:
//! it plans its runs and turns their records into a section of the report
//! (tables, plots and a reading computed from the numbers). [`EXPERIMENTS`]
//! lists them in report order; adding one is a file and a line there.

use std::collections::BTreeMap;

use gradlab_optim::{registry, Optimizer, Series as Tuned};

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

pub use batch_size::BatchSize;
pub use bias_correction::BiasCorrection;
pub use eps_to_sgd::EpsToSgd;
pub use lr_sweep::LrSweep;
pub use privacy::Privacy;
pub use scale_invariance::ScaleInvariance;
pub use speedrun::{Recipe, Speedrun};
pub use tune::{Candidate, Tune};
pub use variants::Variants;

/// One experiment: what it tests, the runs it plans, and its section of
/// the report.
pub trait Experiment: Send + Sync + std::fmt::Debug {
    /// The name `--experiment` takes (`batch-size`).
    fn name(&self) -> &'static str;
    /// The section title.
    fn title(&self) -> &'static str;
    /// The slide of the lecture the experiment tests, and its claim.
    fn claim(&self) -> &'static str;
    /// Examples seen by each of its runs, full or `--quick` (0 when each
    /// run has its own, as `tune`'s workloads and `speedrun`'s recipes do).
    fn budget(&self, quick: bool) -> usize {
        let _ = quick;
        0
    }
    /// Evaluations of the test set per run.
    fn checkpoints(&self, quick: bool) -> usize {
        if quick {
            4
        } else {
            8
        }
    }
    /// Its runs, in job order.
    fn plan(&self, settings: &Settings) -> Vec<RunSpec>;
    /// Whether it chooses runs from the results of its planned ones.
    fn chooses_runs(&self) -> bool {
        false
    }
    /// The runs it chooses from the results of its planned ones (`records`,
    /// all of them, in job order): `tune`'s re-runs of each best trial.
    fn follow_up(&self, settings: &Settings, records: &[&RunRecord]) -> Vec<RunSpec> {
        let _ = (settings, records);
        Vec::new()
    }
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

/// Examples seen by each run of `e`: `--budget`, or the experiment's own.
pub fn budget(e: &dyn Experiment, settings: &Settings) -> usize {
    settings.budget.unwrap_or_else(|| e.budget(settings.quick))
}

/// Evaluations per run of `e`: `--checkpoints`, or the experiment's own.
pub fn checkpoints(e: &dyn Experiment, settings: &Settings) -> usize {
    settings
        .checkpoints
        .unwrap_or_else(|| e.checkpoints(settings.quick))
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

/// The canonical spec of a tuned rule with its base rate `rate` and `extra`
/// keys (each preceded by a comma).
pub fn tuned_spec(t: &Tuned, rate: f64, extra: &str) -> String {
    canonical(&t.spec_with(rate, extra))
}

/// The canonical spec of a tuned rule at its tuned configuration.
pub fn tuned_at(t: &Tuned) -> String {
    tuned_spec(t, t.rate(), "")
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
    experiment: &dyn Experiment,
    settings: &Settings,
    configs: Vec<Config>,
) -> Vec<RunSpec> {
    let (budget, checkpoints) = (
        budget(experiment, settings),
        checkpoints(experiment, settings),
    );
    configs
        .into_iter()
        .flat_map(|c| {
            settings.seeds.iter().map(move |&seed| RunSpec {
                experiment: experiment.name().into(),
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
