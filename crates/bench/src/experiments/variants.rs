//! `variants`: every optimizer of the optim crate at its tuned rate, on the
//! same budget and batch size: final accuracy, examples needed to reach a
//! target accuracy, and cost.

use std::fmt::Write;

use gradlab_optim::registry;

use crate::experiments::{
    budget, by_series, canonical, cell, checkpoints, mean_at, run_spec, section, summary,
    with_seeds, About, Experiment,
};
use crate::options::Settings;
use crate::plot::{self, Panel, Scale, Series, Style};
use crate::report::{loss, num, pct, Section, Table};
use crate::run::{RunRecord, RunSpec};
use crate::stats::{mean, std};

/// The experiment.
#[derive(Debug)]
pub struct Variants;

/// The test accuracy whose first crossing the table reports: 97 % on the
/// full training set, and 93 % for the quick subset of 10 000 examples,
/// which an MLP does not take much past 95 %.
pub fn target(settings: &Settings) -> f64 {
    settings.pick(0.97, 0.93)
}

impl Experiment for Variants {
    fn about(&self) -> About {
        About {
            name: "variants",
            title: "Every optimizer at its tuned rate",
            claim: "the whole progression of the lecture (SGD → momentum → RMSProp → Adam and \
                    its variants), each optimizer at the rate that suits it, on one budget.",
            budget: (196608, 32768),
            checkpoints: (16, 8),
        }
    }

    /// Every tuned optimizer × seed at the fixed batch size, then every
    /// other rule `--only` names (one of the optim crate's without a tuned
    /// rate, or one the program registered) at its declared defaults.
    fn plan(&self, settings: &Settings) -> Vec<RunSpec> {
        let series = registry::series();
        let tuned = series
            .iter()
            .filter(|t| settings.keeps(t.label))
            .map(|t| (t.label.to_string(), t.spec()));
        let others = settings
            .only
            .iter()
            .flatten()
            .filter(|name| !series.iter().any(|t| t.label == name.as_str()))
            .map(|name| (name.clone(), canonical(name)));
        let runs = tuned
            .chain(others)
            .map(|(name, spec)| run_spec(self, settings, name, spec, settings.batch_size))
            .collect();
        with_seeds(settings, runs)
    }

    /// The table, the plot and the reading.
    fn section(&self, settings: &Settings, records: &[&RunRecord]) -> Section {
        let mut s = section(self);
        if records.is_empty() {
            s.reading("No runs: `--only` excluded every optimizer.");
            return s;
        }
        let target = target(settings);
        s.paragraph(&format!(
            "Batch size {}, {} examples seen, {} evaluations per run. Examples to reach {} are \
             read at the evaluations, so they are multiples of the evaluation interval; the mean \
             is over the seeds that reached it. Times are training steps only, on this machine, \
             and vary between runs.",
            settings.batch_size,
            budget(self, settings),
            checkpoints(self, settings),
            pct(target)
        ));
        let mut table = Table::new(&[
            "optimizer",
            "final test accuracy",
            "final test loss",
            &format!("examples to {}", pct(target)),
            "training time (s)",
            "examples/s",
        ]);
        let mut series = Vec::new();
        let mut rows = Vec::new();
        for (i, (name, runs)) in by_series(records).into_iter().enumerate() {
            let finals: Vec<_> = runs.iter().filter_map(|r| r.last()).collect();
            let complete = finals.len() == runs.len();
            let of = |value: fn(&crate::run::Metrics) -> f64| -> Vec<f64> {
                finals.iter().map(|m| value(m)).collect()
            };
            let acc = of(|m| m.accuracy());
            let reached: Vec<f64> = runs
                .iter()
                .filter_map(|r| Some(r.time_to(target)?.examples as f64))
                .collect();
            let speed: Vec<f64> = runs
                .iter()
                .filter_map(|r| {
                    Some(r.checkpoints.last()?.examples as f64 / r.last()?.train_seconds)
                })
                .collect();
            let row = Row {
                name: name.clone(),
                accuracy: complete.then(|| (mean(&acc), std(&acc))),
                to_target: (!reached.is_empty()).then(|| mean(&reached)),
                reached: reached.len(),
                seeds: runs.len(),
                examples_per_s: mean(&speed),
            };
            let to_target = match (row.to_target, row.reached == row.seeds) {
                (None, _) => "not reached".into(),
                (Some(_), true) => summary(&reached, whole),
                (Some(_), false) => format!(
                    "{} ({}/{} seeds)",
                    summary(&reached, whole),
                    row.reached,
                    row.seeds
                ),
            };
            table.row(vec![
                format!("`{}`", runs[0].spec.optimizer),
                cell(&runs, complete.then(|| acc.clone()), pct),
                cell(&runs, complete.then(|| of(|m| m.test_loss)), loss),
                to_target,
                num(mean(&of(|m| m.train_seconds))),
                num(row.examples_per_s),
            ]);
            // The mean accuracy at each checkpoint; where a seed diverged, a
            // mark on the bottom edge ends the line.
            let mut points = Vec::new();
            for (k, c) in runs[0].checkpoints.iter().enumerate() {
                let accuracy = mean_at(&runs, k, |m| m.accuracy());
                points.push((
                    c.examples as f64,
                    accuracy.map_or(f64::NEG_INFINITY, |a| 100.0 * a),
                ));
                if accuracy.is_none() {
                    break;
                }
            }
            series.push(Series::new(name, points, i, Style::LineMarkers));
            rows.push(row);
        }
        s.table(
            "Over seeds: mean ± the half-width of its 95 % t-interval (standard deviation):",
            &table,
        );
        let panel = Panel::new(
            format!("batch size {}", settings.batch_size),
            ("examples seen", Scale::Linear),
            ("test accuracy (%)", Scale::Linear),
            series,
        );
        s.plot(
            "variants.svg",
            "test accuracy against examples seen for every optimizer",
            plot::svg("Every optimizer at its tuned rate", &[panel], 1),
        );
        s.reading(&reading(&rows, target));
        s
    }
}

/// One optimizer's results.
struct Row {
    name: String,
    accuracy: Option<(f64, f64)>,
    to_target: Option<f64>,
    reached: usize,
    seeds: usize,
    examples_per_s: f64,
}

fn reading(rows: &[Row], target: f64) -> String {
    let mut text = String::new();
    let with_acc: Vec<(&Row, f64, f64)> = rows
        .iter()
        .filter_map(|r| r.accuracy.map(|(m, sd)| (r, m, sd)))
        .collect();
    let best = with_acc.iter().max_by(|a, b| a.1.total_cmp(&b.1));
    let worst = with_acc.iter().min_by(|a, b| a.1.total_cmp(&b.1));
    if let (Some(b), Some(w)) = (best, worst) {
        let _ = write!(
            text,
            "The most accurate at the end is {} ({} ± {}), the least {} ({}). ",
            b.0.name,
            pct(b.1),
            pct(b.2),
            w.0.name,
            pct(w.1)
        );
        let close: Vec<&str> = with_acc
            .iter()
            .filter(|r| r.0.name != b.0.name && b.1 - r.1 <= b.2.max(r.2))
            .map(|r| r.0.name.as_str())
            .collect();
        if !close.is_empty() {
            let _ = write!(
                text,
                "Within one standard deviation of it: {}. ",
                close.join(", ")
            );
        }
    }
    let fastest = rows
        .iter()
        .filter(|r| r.reached == r.seeds)
        .filter_map(|r| Some((r, r.to_target?)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let _ = match fastest {
        Some((r, e)) => write!(
            text,
            "{} reaches {} first, after {e:.0} examples on average. ",
            r.name,
            pct(target),
        ),
        None => write!(
            text,
            "No optimizer reaches {} with every seed. ",
            pct(target)
        ),
    };
    let never: Vec<&str> = rows
        .iter()
        .filter(|r| r.reached == 0)
        .map(|r| r.name.as_str())
        .collect();
    if !never.is_empty() {
        let _ = write!(text, "Never reaching it: {}. ", never.join(", "));
    }
    let speed = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .map(|r| r.examples_per_s)
    };
    if let (Some(pe), Some(adam)) = (speed("adam_per_example"), speed("adam_lecture")) {
        let _ = write!(
            text,
            "Per-example squares cost one extra matmul per weight in backward: adam_per_example \
             trains at {} examples/s against {} for adam_lecture ({}×).",
            num(pe),
            num(adam),
            num(adam / pe)
        );
    }
    text
}

/// A count of examples, to the unit.
fn whole(x: f64) -> String {
    format!("{x:.0}")
}
