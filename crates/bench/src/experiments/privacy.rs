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
    budget, canonical, cell, final_values, group, line, mean_at, with_seeds, Config, Experiment,
};
use crate::options::Settings;
use crate::plot::{self, Panel, Scale, Series, Style};
use crate::report::{num, pct, Section, Table};
use crate::run::{RunRecord, RunSpec};
use crate::stats::mean;

/// The experiment.
#[derive(Debug)]
pub struct Privacy;

impl Experiment for Privacy {
    fn name(&self) -> &'static str {
        "privacy"
    }

    fn title(&self) -> &'static str {
        "Accuracy against privacy (DP-SGD)"
    }

    fn claim(&self) -> &'static str {
        "beyond the lecture, the best-known use of per-example gradients: DP-SGD \
             (Abadi et al. 2016) clips each example's gradient and adds Gaussian noise; \
             more noise spends less privacy (a smaller ε) and costs test accuracy."
    }

    fn budget(&self, quick: bool) -> usize {
        if quick {
            QUICK.budget()
        } else {
            FULL.budget()
        }
    }

    fn checkpoints(&self, quick: bool) -> usize {
        if quick {
            5
        } else {
            15
        }
    }

    fn plan(&self, settings: &Settings) -> Vec<RunSpec> {
        plan(settings)
    }

    fn section(&self, settings: &Settings, records: &[&RunRecord]) -> Section {
        section(settings, records)
    }
}

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
    if settings.quick {
        QUICK
    } else {
        FULL
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

/// The clipping-only runs, then one series per noise multiplier.
pub fn plan(settings: &Settings) -> Vec<RunSpec> {
    if !settings.keeps("sgd") {
        return Vec::new();
    }
    let optimizer = canonical(OPTIMIZER);
    let configs = std::iter::once(0.0)
        .chain(NOISE)
        .map(|sigma| Config {
            series: series(sigma),
            param: Some(sigma),
            optimizer: optimizer.clone(),
            batch_size: recipe(settings).batch_size,
            loss_scale: 1.0,
        })
        .collect();
    with_seeds(&Privacy, settings, configs)
        .into_iter()
        .map(|mut spec| {
            spec.privacy = Some(gradlab_train::Privacy {
                max_norm: MAX_NORM,
                noise_multiplier: spec.param.expect("every run has its σ"),
                delta: DELTA,
                per_tensor: false,
                poisson: true,
            });
            spec
        })
        .collect()
}

/// One row of the table: a noise multiplier over its seeds.
struct Row {
    sigma: f64,
    epsilon: f64,
    /// The mean final test accuracy, unless a seed diverged.
    accuracy: Option<f64>,
}

/// The table, the plot and the reading.
pub fn section(settings: &Settings, records: &[&RunRecord]) -> Section {
    let mut s = Section::new(&Privacy);
    let r = recipe(settings);
    s.paragraph(&format!(
        "`{}` with DP-SGD: Poisson batches of {} examples on average, each example's \
         gradient clipped to norm C = {MAX_NORM}, Gaussian noise σC on the sum, {} examples \
         seen; ε at δ = {} from the RDP accountant. The batch size is the experiment's own \
         (private training wants large batches), not `--batch-size`. The test accuracy is \
         outside the guarantee: it is how the benchmark reads the runs.",
        canonical(OPTIMIZER),
        r.batch_size,
        budget(&Privacy, settings),
        num(DELTA)
    ));
    let mut table = Table::new(&[
        "noise multiplier σ",
        "ε spent",
        "final test accuracy",
        "final test loss",
    ]);
    let mut rows = Vec::new();
    let mut series = Vec::new();
    let groups = group(records, |r| r.param.map(f64::to_bits));
    let mut reference = None;
    for (i, (_, runs)) in groups.iter().enumerate() {
        let sigma = runs[0].spec.param.unwrap_or(f64::NAN);
        // ε depends on q, σ and the steps only: the same for every seed.
        let epsilon = runs[0]
            .last()
            .and_then(|m| m.epsilon)
            .unwrap_or(f64::INFINITY);
        let accuracies = final_values(runs, |m| m.accuracy());
        let accuracy = accuracies.as_ref().map(|a| mean(a));
        table.row(vec![
            num(sigma),
            num(epsilon),
            cell(runs, accuracies, pct),
            cell(runs, final_values(runs, |m| m.test_loss), num),
        ]);
        // Each private series: mean accuracy at every checkpoint against the
        // ε spent by then.
        let points: Vec<(f64, f64)> = (0..runs[0].checkpoints.len())
            .map_while(|k| {
                let eps = runs[0].checkpoints[k].metrics.as_ref()?.epsilon?;
                Some((eps, 100.0 * mean_at(runs, k, |m| m.accuracy())?))
            })
            .filter(|p| p.0.is_finite())
            .collect();
        if sigma == 0.0 {
            reference = accuracy;
        } else if !points.is_empty() {
            series.push(Series {
                label: runs[0].spec.series.clone(),
                points,
                color: i,
                style: Style::LineMarkers,
            });
        }
        rows.push(Row {
            sigma,
            epsilon,
            accuracy,
        });
    }
    s.table(
        "After the whole budget, over seeds: mean ± the half-width of its 95 % t-interval \
         (standard deviation):",
        &table,
    );
    if let Some(acc) = reference {
        let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
        let (lo, hi) = xs.fold((f64::INFINITY, 0.0f64), |(l, h), x| (l.min(x), h.max(x)));
        if lo.is_finite() {
            series.push(line(
                "clipping only (ε = ∞), final",
                vec![(lo, 100.0 * acc), (hi, 100.0 * acc)],
                0,
            ));
        }
    }
    let panel = Panel {
        title: format!("expected batch {}, C = {MAX_NORM}", r.batch_size),
        x_label: format!("ε spent (δ = {})", num(DELTA)),
        y_label: "test accuracy (%)".into(),
        x_scale: Scale::Log,
        y_scale: Scale::Linear,
        series,
    };
    s.plot(
        "privacy.svg",
        "test accuracy against the privacy spent, one line per noise multiplier, each point a \
         checkpoint",
        plot::svg("Test accuracy against ε", &[panel], 1),
    );
    s.reading(&reading(&rows));
    s
}

fn reading(rows: &[Row]) -> String {
    let mut out = String::new();
    let private: Vec<&Row> = rows
        .iter()
        .filter(|r| r.sigma > 0.0 && r.accuracy.is_some())
        .collect();
    let reference = rows
        .iter()
        .find(|r| r.sigma == 0.0)
        .and_then(|r| r.accuracy);
    if let Some(acc) = reference {
        let _ = write!(
            out,
            "Clipped steps without noise reach {} (ε = ∞). ",
            pct(acc)
        );
    }
    for r in &private {
        let acc = r.accuracy.expect("filtered");
        let _ = write!(
            out,
            "σ = {} spends ε = {} for {}",
            r.sigma,
            num(r.epsilon),
            pct(acc)
        );
        if let Some(reference) = reference {
            let _ = write!(out, " ({} points below)", num(100.0 * (reference - acc)));
        }
        out.push_str("; ");
    }
    if private.len() >= 2 {
        let ordered = private.windows(2).all(|w| w[0].epsilon >= w[1].epsilon);
        let monotone = private.windows(2).all(|w| w[0].accuracy >= w[1].accuracy);
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
