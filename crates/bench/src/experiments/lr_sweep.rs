//! `lr-sweep`: each optimizer on a log grid of base learning rates around
//! its tuned one (steps of √10), final test loss against η: how wide a
//! range of η trains well.

use std::fmt::Write;

use gradlab_optim::registry;

use crate::experiments::{
    budget, by_param, by_series, final_cell, final_test_loss, run_spec, section, with_seeds, About,
    Experiment,
};
use crate::options::Settings;
use crate::plot::{self, Panel, Scale, Series, Style};
use crate::report::{loss, num, Section, Table};
use crate::run::{RunRecord, RunSpec};
use crate::stats::mean;

/// The experiment.
#[derive(Debug)]
pub struct LrSweep;

/// A final loss within this factor of the best counts as training well.
const TOLERANCE: f64 = 1.2;

/// The grid: multiples 10^(k/2) of the tuned rate, for k in this range.
pub fn steps(settings: &Settings) -> std::ops::RangeInclusive<i32> {
    settings.pick(-3..=3, -2..=2)
}

/// The tuned rate of the rule a table calls `label` (NaN if none).
fn tuned_rate(label: &str) -> f64 {
    let series = registry::series();
    series
        .iter()
        .find(|t| t.label == label)
        .map_or(f64::NAN, |t| t.rate())
}

fn factor(k: i32) -> f64 {
    10f64.powf(f64::from(k) / 2.0)
}

impl Experiment for LrSweep {
    fn about(&self) -> About {
        About {
            name: "lr-sweep",
            title: "Sensitivity to the learning rate",
            claim: "slide \"RMSProp Analysis\" (\"this makes the learning rate η \
                    dimensionless\"): how wide a range of η trains well, per optimizer.",
            budget: (61440, 20480),
            checkpoints: (8, 4),
        }
    }

    /// Every tuned optimizer × rate × seed at the fixed batch size.
    fn plan(&self, settings: &Settings) -> Vec<RunSpec> {
        let mut runs = Vec::new();
        for t in registry::series()
            .iter()
            .filter(|t| settings.keeps(t.label))
        {
            for k in steps(settings) {
                let rate = t.rate() * factor(k);
                let optimizer = t.spec_with(rate, "");
                runs.push(RunSpec {
                    param: Some(rate),
                    ..run_spec(self, settings, t.label, optimizer, settings.batch_size)
                });
            }
        }
        with_seeds(settings, runs)
    }

    /// The table, the plot and the reading.
    fn section(&self, settings: &Settings, records: &[&RunRecord]) -> Section {
        let mut s = section(self);
        if records.is_empty() {
            s.reading("No runs: `--only` excluded every optimizer.");
            return s;
        }
        s.paragraph(&format!(
            "Batch size {}, {} examples seen. The grid multiplies each optimizer's tuned base \
             rate (`lr`, or η₀ for adam_eta0 and adam_per_example) by powers of √10; cells are \
             the final test loss, mean over seeds. \"Good range\" is the width, in decades of η, \
             of the range around the best rate where the final loss stays within {} % of the \
             best (interpolated between grid points; ≥ where it reaches the end of the grid).",
            settings.batch_size,
            budget(self, settings),
            num(100.0 * (TOLERANCE - 1.0))
        ));
        let mut header = vec!["optimizer".to_string(), "tuned rate".to_string()];
        header.extend(steps(settings).map(|k| format!("× {}", num(factor(k)))));
        header.extend(["best rate".into(), "good range (decades)".into()]);
        let mut table = Table::new(&header);
        let mut series = Vec::new();
        let mut rows = Vec::new();
        for (i, (name, runs)) in by_series(records).into_iter().enumerate() {
            let by_rate = by_param(&runs);
            let row = Row {
                name: name.clone(),
                losses: by_rate
                    .iter()
                    .map(|(_, rs)| (rs[0].spec.param.unwrap_or(f64::NAN), final_test_loss(rs)))
                    .collect(),
            };
            let mut cells = vec![format!("`{name}`"), num(tuned_rate(&name))];
            cells.extend(
                by_rate
                    .iter()
                    .map(|(_, rs)| final_cell(rs, |m| m.test_loss, loss)),
            );
            cells.push(row.best().map_or("–".into(), |b| num(row.losses[b].0)));
            cells.push(row.good_range().map_or("–".into(), |(width, edge)| {
                format!("{}{}", if edge { "≥ " } else { "" }, num(width))
            }));
            table.row(cells);
            // A rate at which a seed diverged is a divergence mark.
            let points = row
                .losses
                .iter()
                .map(|(r, l)| (*r, l.unwrap_or(f64::INFINITY)))
                .collect();
            series.push(Series::new(name, points, i, Style::LineMarkers));
            rows.push(row);
        }
        s.table("Final test loss per base rate:", &table);
        let panel = Panel::new(
            format!("batch size {}", settings.batch_size),
            ("base learning rate (lr or η₀)", Scale::Log),
            ("final test loss", Scale::Log),
            series,
        );
        s.plot(
            "lr-sweep.svg",
            "final test loss against the base learning rate for every optimizer",
            plot::svg("Final loss against the learning rate", &[panel], 1),
        );
        s.reading(&reading(&rows));
        s
    }
}

/// One optimizer's sweep: (rate, mean final test loss) on the grid, `None`
/// where a seed diverged.
struct Row {
    name: String,
    losses: Vec<(f64, Option<f64>)>,
}

impl Row {
    /// The index of the best rate on the grid.
    fn best(&self) -> Option<usize> {
        self.losses
            .iter()
            .enumerate()
            .filter_map(|(i, (_, l))| Some((i, (*l)?)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }

    /// The range of rates around the best whose loss stays within
    /// [`TOLERANCE`] of the best, as (decades, whether it reaches an end of
    /// the grid). Where the loss crosses the line between two grid points,
    /// the crossing is interpolated linearly in log η.
    fn good_range(&self) -> Option<(f64, bool)> {
        let best = self.best()?;
        let limit = self.losses[best].1? * TOLERANCE;
        let log = |i: usize| self.losses[i].0.log10();
        // How far past grid point `inside` toward `outside` the loss stays
        // under the limit, in log η: 0 if `outside` diverged.
        let reach = |inside: usize, outside: usize| -> f64 {
            let l_in = self.losses[inside].1.unwrap_or(limit);
            let fraction = match self.losses[outside].1 {
                Some(l_out) if l_out > l_in => ((limit - l_in) / (l_out - l_in)).clamp(0.0, 1.0),
                _ => 0.0,
            };
            fraction * (log(outside) - log(inside))
        };
        let good = |i: usize| self.losses[i].1.is_some_and(|l| l <= limit);
        let last = self.losses.len() - 1;
        let (mut lo, mut hi) = (best, best);
        while lo > 0 && good(lo - 1) {
            lo -= 1;
        }
        while hi < last && good(hi + 1) {
            hi += 1;
        }
        let start = if lo > 0 {
            log(lo) + reach(lo, lo - 1)
        } else {
            log(lo)
        };
        let end = if hi < last {
            log(hi) + reach(hi, hi + 1)
        } else {
            log(hi)
        };
        Some((end - start, lo == 0 || hi == last))
    }
}

fn reading(rows: &[Row]) -> String {
    let mut text = String::new();
    let widths: Vec<(&str, f64)> = rows
        .iter()
        .filter_map(|r| Some((r.name.as_str(), r.good_range()?.0)))
        .collect();
    let names = |v: f64| -> String {
        let n: Vec<&str> = widths.iter().filter(|w| w.1 == v).map(|w| w.0).collect();
        n.join(", ")
    };
    if !widths.is_empty() {
        let max = widths.iter().map(|w| w.1).fold(f64::NEG_INFINITY, f64::max);
        let min = widths.iter().map(|w| w.1).fold(f64::INFINITY, f64::min);
        let _ = write!(
            text,
            "The widest good range, {} decades of η, belongs to {}; the narrowest, {} decades, \
             to {}. ",
            num(max),
            names(max),
            num(min),
            names(min)
        );
    }
    let avg = |group: &[&str]| {
        let v: Vec<f64> = widths
            .iter()
            .filter(|w| group.contains(&w.0))
            .map(|w| w.1)
            .collect();
        (!v.is_empty()).then(|| mean(&v))
    };
    let adaptive = avg(&["rmsprop", "adam", "adamw", "adam_lecture"]);
    if let (Some(a), Some(p)) = (adaptive, avg(&["sgd", "sgd_momentum", "sgd_ema"])) {
        let _ = write!(
            text,
            "On average the adaptive optimizers (RMSProp, Adam, AdamW, the lecture's Adam) train \
             well over {} decades and the SGD family over {}. ",
            num(a),
            num(p)
        );
    }
    let edge: Vec<&str> = rows
        .iter()
        .filter(|r| r.best().is_some_and(|b| b == 0 || b + 1 == r.losses.len()))
        .map(|r| r.name.as_str())
        .collect();
    if !edge.is_empty() {
        let _ = write!(
            text,
            "For {} the best rate is at the edge of the grid, so the optimum may lie beyond it.",
            edge.join(", ")
        );
    }
    text
}
