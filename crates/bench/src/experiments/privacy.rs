//! `privacy`: DP-SGD on the benchmark's MLP at several noise multipliers
//! σ, the test accuracy against the privacy spent ε (at δ = 10⁻⁵), next to
//! the same clipped steps without noise (σ = 0, ε = ∞).
//!
//! Every run takes the trainer's private step: Poisson batches of
//! expected size B, each example's gradient clipped to norm C = 1, noise
//! σC on the sum, `sgd(lr=4)` (the README's private recipe), and ε from the
//! RDP accountant after every checkpoint.

use std::fmt::Write;

use crate::experiments::{
    budget, by_param, canonical, cell, final_cell, final_values, mean_at, min_max, run_spec,
    section, with_seeds, About, Experiment,
};
use crate::options::Settings;
use crate::plot::{self, Panel, Scale, Series, Style};
use crate::report::{num, pct, Section, Table};
use crate::run::{RunRecord, RunSpec};
use crate::stats::mean;

/// The experiment.
#[derive(Debug)]
pub struct Privacy;

/// The noise multipliers of the private runs.
pub const NOISE: [f64; 5] = [0.5, 0.7, 1.0, 1.5, 2.5];

/// The optimizer of every run.
pub const OPTIMIZER: &str = "sgd(lr=4)";

/// C and δ of every run.
pub const MAX_NORM: f32 = 1.0;
/// δ of the reported ε: well below 1/N for MNIST's 60 000.
pub const DELTA: f64 = 1e-5;

/// The expected batch size and the number of steps of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recipe {
    /// Examples per step on average.
    pub batch_size: usize,
    /// Steps of the run.
    pub steps: usize,
}

impl Recipe {
    /// Examples seen on average: B × steps.
    pub const fn budget(&self) -> usize {
        self.batch_size * self.steps
    }
}

/// The full sweep: 15 epochs of MNIST's 60 000 at an expected batch of
/// 1024 (⌈60 000/1024⌉ = 59 steps an epoch), as in the README.
pub const FULL: Recipe = Recipe {
    batch_size: 1024,
    steps: 15 * 59,
};

/// `--quick`: 5 epochs of its 10 000 examples at an expected batch of 256.
pub const QUICK: Recipe = Recipe {
    batch_size: 256,
    steps: 5 * 40,
};

/// The recipe of `settings`.
pub fn recipe(settings: &Settings) -> Recipe {
    settings.pick(FULL, QUICK)
}

impl Experiment for Privacy {
    fn about(&self) -> About {
        About {
            name: "privacy",
            title: "Accuracy against privacy (DP-SGD)",
            claim: "beyond the lecture, the best-known use of per-example gradients: DP-SGD \
                    (Abadi et al. 2016) clips each example's gradient and adds Gaussian noise; \
                    more noise spends less privacy (a smaller ε) and costs test accuracy.",
            budget: (FULL.budget(), QUICK.budget()),
            checkpoints: (15, 5),
        }
    }

    /// The clipping-only runs, then one series per noise multiplier.
    fn plan(&self, settings: &Settings) -> Vec<RunSpec> {
        if !settings.keeps("sgd") {
            return Vec::new();
        }
        let b = recipe(settings).batch_size;
        let runs = std::iter::once(0.0)
            .chain(NOISE)
            .map(|sigma| RunSpec {
                param: Some(sigma),
                privacy: Some(gradlab_train::Privacy {
                    max_norm: MAX_NORM,
                    noise_multiplier: sigma,
                    delta: DELTA,
                    per_tensor: false,
                    poisson: true,
                }),
                ..run_spec(self, settings, series(sigma), canonical(OPTIMIZER), b)
            })
            .collect();
        with_seeds(settings, runs)
    }

    /// The table, the plot and the reading.
    fn section(&self, settings: &Settings, records: &[&RunRecord]) -> Section {
        let mut s = section(self);
        let r = recipe(settings);
        s.paragraph(&format!(
            "`{}` with DP-SGD: Poisson batches of {} examples on average, each example's \
             gradient clipped to norm C = {MAX_NORM}, Gaussian noise σC on the sum, {} examples \
             seen; ε at δ = {} from the RDP accountant. The batch size is the experiment's own \
             (private training wants large batches), not `--batch-size`. The test accuracy is \
             outside the guarantee: it is how the benchmark reads the runs.",
            canonical(OPTIMIZER),
            r.batch_size,
            budget(self, settings),
            num(DELTA)
        ));
        let mut table = Table::new(&[
            "noise multiplier σ",
            "ε spent",
            "final test accuracy",
            "final test loss",
        ]);
        // Per noise multiplier: σ, the ε spent and the mean final test
        // accuracy, unless a seed diverged.
        let mut rows = Vec::new();
        let mut series = Vec::new();
        for (i, (_, runs)) in by_param(records).iter().enumerate() {
            let sigma = runs[0].spec.param.unwrap_or(f64::NAN);
            // ε depends on q, σ and the steps only: the same for every seed.
            let epsilon = runs[0].last().and_then(|m| m.epsilon);
            let epsilon = epsilon.unwrap_or(f64::INFINITY);
            let accuracies = final_values(runs, |m| m.accuracy());
            rows.push((sigma, epsilon, accuracies.as_ref().map(|a| mean(a))));
            table.row(vec![
                num(sigma),
                num(epsilon),
                cell(runs, accuracies, pct),
                final_cell(runs, |m| m.test_loss, num),
            ]);
            // Each private series: mean accuracy at every checkpoint against
            // the ε spent by then.
            let points: Vec<(f64, f64)> = (0..runs[0].checkpoints.len())
                .map_while(|k| {
                    let eps = runs[0].checkpoints[k].metrics.as_ref()?.epsilon?;
                    Some((eps, 100.0 * mean_at(runs, k, |m| m.accuracy())?))
                })
                .filter(|p| p.0.is_finite())
                .collect();
            if sigma != 0.0 && !points.is_empty() {
                let label = runs[0].spec.series.clone();
                series.push(Series::new(label, points, i, Style::LineMarkers));
            }
        }
        s.table(
            "After the whole budget, over seeds: mean ± the half-width of its 95 % t-interval \
             (standard deviation):",
            &table,
        );
        let reference = rows.iter().find(|r| r.0 == 0.0).and_then(|r| r.2);
        let (lo, hi) = min_max(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
        if let (Some(acc), true) = (reference, lo.is_finite()) {
            let points = vec![(lo, 100.0 * acc), (hi, 100.0 * acc)];
            series.push(Series::new(
                "clipping only (ε = ∞), final",
                points,
                0,
                Style::Line,
            ));
        }
        let panel = Panel::new(
            format!("expected batch {}, C = {MAX_NORM}", r.batch_size),
            (&format!("ε spent (δ = {})", num(DELTA)), Scale::Log),
            ("test accuracy (%)", Scale::Linear),
            series,
        );
        s.plot(
            "privacy.svg",
            "test accuracy against the privacy spent, one line per noise multiplier, each point \
             a checkpoint",
            plot::svg("Test accuracy against ε", &[panel], 1),
        );
        s.reading(&reading(&rows, reference));
        s
    }
}

/// The series name of noise multiplier σ.
fn series(sigma: f64) -> String {
    if sigma == 0.0 {
        "σ = 0 (clipping only)".into()
    } else {
        format!("σ = {sigma}")
    }
}

/// The reading of the rows (σ, ε, mean final accuracy) and the accuracy
/// without noise.
fn reading(rows: &[(f64, f64, Option<f64>)], reference: Option<f64>) -> String {
    let mut out = String::new();
    let private: Vec<(f64, f64, f64)> = rows
        .iter()
        .filter_map(|&(sigma, eps, acc)| Some((sigma, eps, acc?)))
        .filter(|r| r.0 > 0.0)
        .collect();
    if let Some(acc) = reference {
        let _ = write!(
            out,
            "Clipped steps without noise reach {} (ε = ∞). ",
            pct(acc)
        );
    }
    for &(sigma, eps, acc) in &private {
        let _ = write!(out, "σ = {sigma} spends ε = {} for {}", num(eps), pct(acc));
        if let Some(reference) = reference {
            let _ = write!(out, " ({} points below)", num(100.0 * (reference - acc)));
        }
        out.push_str("; ");
    }
    if private.len() >= 2 {
        let ordered = private.windows(2).all(|w| w[0].1 >= w[1].1);
        let monotone = private.windows(2).all(|w| w[0].2 >= w[1].2);
        let _ = write!(
            out,
            "more noise {} less privacy, and the accuracy {} as σ grows.",
            if ordered {
                "always spends"
            } else {
                "does not always spend"
            },
            if monotone {
                "falls at every step"
            } else {
                "does not fall at every step"
            }
        );
    } else if private.is_empty() && reference.is_none() {
        out.push_str("No run finished.");
    }
    out.trim_end_matches("; ").to_string()
}
