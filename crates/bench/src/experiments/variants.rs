//! `variants`: every optimizer of the optim crate at its tuned rate, on the
//! same budget and batch size: final accuracy, examples needed to reach a
//! target accuracy, and cost.

use std::fmt::Write;

use gradlab_optim::registry;

use crate::experiments::{
    budget, canonical, cell, checkpoints, group, summary, with_seeds, Config, Experiment,
};
use crate::options::Settings;
use crate::plot::{self, Panel, Scale, Series, Style};
use crate::report::{loss, num, pct, Section, Table};
use crate::run::{RunRecord, RunSpec};
use crate::stats::{mean, std};

/// The experiment.
#[derive(Debug)]
pub struct Variants;

impl Experiment for Variants {
    fn name(&self) -> &'static str {
        "variants"
    }

    fn title(&self) -> &'static str {
        "Every optimizer at its tuned rate"
    }

    fn claim(&self) -> &'static str {
        "the whole progression of the lecture (SGD → momentum → RMSProp → Adam and \
             its variants), each optimizer at the rate that suits it, on one budget."
    }

    fn budget(&self, quick: bool) -> usize {
        if quick {
            32768
        } else {
            196608
        }
    }

    fn checkpoints(&self, quick: bool) -> usize {
        if quick {
            8
        } else {
            16
        }
    }

    fn plan(&self, settings: &Settings) -> Vec<RunSpec> {
        plan(settings)
    }

    fn section(&self, settings: &Settings, records: &[&RunRecord]) -> Section {
        section(settings, records)
    }
}

/// The test accuracy whose first crossing the table reports: 97 % on the
/// full training set, and 93 % for the quick subset of 10 000 examples,
/// which an MLP does not take much past 95 %.
pub fn target(settings: &Settings) -> f64 {
    if settings.quick {
        0.93
    } else {
        0.97
    }
}

/// Every tuned optimizer × seed at the fixed batch size, then every other
/// rule `--only` names (one of the optim crate's without a tuned rate, or
/// one the program registered) at its declared defaults.
pub fn plan(settings: &Settings) -> Vec<RunSpec> {
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
    let configs = tuned
        .chain(others)
        .map(|(series, optimizer)| Config {
            series,
            param: None,
            optimizer,
            batch_size: settings.batch_size,
            loss_scale: 1.0,
        })
        .collect();
    with_seeds(&Variants, settings, configs)
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

/// The table, the plot and the reading.
pub fn section(settings: &Settings, records: &[&RunRecord]) -> Section {
    let mut s = Section::new(&Variants);
    if records.is_empty() {
        s.reading("No runs: `--only` excluded every optimizer.");
        return s;
    }
    let target = target(settings);
    s.paragraph(&format!(
        "Batch size {}, {} examples seen, {} evaluations per run. Examples to reach {} are read \
         at the evaluations, so they are multiples of the evaluation interval; the mean is over \
         the seeds that reached it. Times are training steps only, on this machine, and vary \
         between runs.",
        settings.batch_size,
        budget(&Variants, settings),
        checkpoints(&Variants, settings),
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
    for (i, (name, runs)) in group(records, |r| r.series.clone()).into_iter().enumerate() {
        let finals: Vec<&crate::run::Metrics> = runs.iter().filter_map(|r| r.last()).collect();
        let complete = finals.len() == runs.len();
        let acc: Vec<f64> = finals.iter().map(|m| m.accuracy()).collect();
        let test_loss: Vec<f64> = finals.iter().map(|m| m.test_loss).collect();
        let secs: Vec<f64> = finals.iter().map(|m| m.train_seconds).collect();
        let reached: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.time_to(target).map(|t| t.examples as f64))
            .collect();
        let speed: Vec<f64> = runs
            .iter()
            .filter_map(|r| {
                let m = r.last()?;
                Some(r.checkpoints.last()?.examples as f64 / m.train_seconds)
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
        table.row(vec![
            format!("`{}`", runs[0].spec.optimizer),
            cell(&runs, complete.then(|| acc.clone()), pct),
            cell(&runs, complete.then(|| test_loss.clone()), loss),
            match row.to_target {
                Some(_) if row.reached == row.seeds => summary(&reached, whole),
                Some(_) => format!(
                    "{} ({}/{} seeds)",
                    summary(&reached, whole),
                    row.reached,
                    row.seeds
                ),
                None => "not reached".into(),
            },
            num(mean(&secs)),
            num(row.examples_per_s),
        ]);
        let mut by_examples = Vec::new();
        for k in 0..runs[0].checkpoints.len() {
            let examples = runs[0].checkpoints[k].examples as f64;
            match super::mean_at(&runs, k, |m| m.accuracy()) {
                Some(a) => by_examples.push((examples, 100.0 * a)),
                None => {
                    // A seed diverged: a mark on the bottom edge.
                    by_examples.push((examples, f64::NEG_INFINITY));
                    break;
                }
            }
        }
        series.push(Series {
            label: name,
            points: by_examples,
            color: i,
            style: Style::LineMarkers,
        });
        rows.push(row);
    }
    s.table(
        "Over seeds: mean ± the half-width of its 95 % t-interval (standard deviation):",
        &table,
    );
    let panel = Panel {
        title: format!("batch size {}", settings.batch_size),
        x_label: "examples seen".into(),
        y_label: "test accuracy (%)".into(),
        x_scale: Scale::Linear,
        y_scale: Scale::Linear,
        series,
    };
    s.plot(
        "variants.svg",
        "test accuracy against examples seen for every optimizer",
        plot::svg("Every optimizer at its tuned rate", &[panel], 1),
    );
    s.reading(&reading(&rows, target));
    s
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
    match fastest {
        Some((r, e)) => {
            let _ = write!(
                text,
                "{} reaches {} first, after {e:.0} examples on average. ",
                r.name,
                pct(target),
            );
        }
        None => {
            let _ = write!(
                text,
                "No optimizer reaches {} with every seed. ",
                pct(target)
            );
        }
    }
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
