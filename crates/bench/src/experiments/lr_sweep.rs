//! `lr-sweep`: each optimizer on a log grid of base learning rates around
//! its tuned one (steps of √10), final test loss against η: how wide a
//! range of η trains well.

use std::fmt::Write;

use gradlab_optim::registry;

use crate::experiments::{
    budget, cell, final_test_loss, final_values, group, with_seeds, Config, Experiment,
};
use crate::options::Settings;
use crate::plot::{self, Panel, Scale, Series, Style};
use crate::report::{loss, num, Section, Table};
use crate::run::{RunRecord, RunSpec};

/// The experiment.
#[derive(Debug)]
pub struct LrSweep;

impl Experiment for LrSweep {
    fn name(&self) -> &'static str {
        "lr-sweep"
    }

    fn title(&self) -> &'static str {
        "Sensitivity to the learning rate"
    }

    fn claim(&self) -> &'static str {
        "slide \"RMSProp Analysis\" (\"this makes the learning rate η \
             dimensionless\"): how wide a range of η trains well, per optimizer."
    }

    fn budget(&self, quick: bool) -> usize {
        if quick {
            20480
        } else {
            61440
        }
    }

    fn plan(&self, settings: &Settings) -> Vec<RunSpec> {
        plan(settings)
    }

    fn section(&self, settings: &Settings, records: &[&RunRecord]) -> Section {
        section(settings, records)
    }
}

/// A final loss within this factor of the best counts as training well.
const TOLERANCE: f64 = 1.2;

/// The grid: multiples 10^(k/2) of the tuned rate, for k in this range.
pub fn steps(settings: &Settings) -> std::ops::RangeInclusive<i32> {
    if settings.quick {
        -2..=2
    } else {
        -3..=3
    }
}

fn factor(k: i32) -> f64 {
    10f64.powf(f64::from(k) / 2.0)
}

/// Every tuned optimizer × rate × seed at the fixed batch size.
pub fn plan(settings: &Settings) -> Vec<RunSpec> {
    let mut configs = Vec::new();
    for t in registry::series()
        .into_iter()
        .filter(|t| settings.keeps(t.label))
    {
        for k in steps(settings) {
            let rate = t.rate() * factor(k);
            configs.push(Config {
                series: t.label.into(),
                param: Some(rate),
                optimizer: t.spec_with(rate, ""),
                batch_size: settings.batch_size,
                loss_scale: 1.0,
            });
        }
    }
    with_seeds(&LrSweep, settings, configs)
}

/// One optimizer's sweep.
struct Row {
    name: String,
    /// (rate, mean final test loss) on the grid, `None` where a seed
    /// diverged.
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
        // under the limit: a fraction of the step, 0 if `outside` diverged.
        let reach = |inside: usize, outside: usize| -> f64 {
            let l_in = self.losses[inside].1.unwrap_or(limit);
            match self.losses[outside].1 {
                Some(l_out) if l_out > l_in => ((limit - l_in) / (l_out - l_in)).clamp(0.0, 1.0),
                _ => 0.0,
            }
        };
        let good = |i: usize| self.losses[i].1.is_some_and(|l| l <= limit);
        let last = self.losses.len() - 1;
        let mut lo = best;
        while lo > 0 && good(lo - 1) {
            lo -= 1;
        }
        let mut hi = best;
        while hi < last && good(hi + 1) {
            hi += 1;
        }
        let mut start = log(lo);
        if lo > 0 {
            start -= reach(lo, lo - 1) * (log(lo) - log(lo - 1));
        }
        let mut end = log(hi);
        if hi < last {
            end += reach(hi, hi + 1) * (log(hi + 1) - log(hi));
        }
        Some((end - start, lo == 0 || hi == last))
    }
}

/// The table, the plot and the reading.
pub fn section(settings: &Settings, records: &[&RunRecord]) -> Section {
    let mut s = Section::new(&LrSweep);
    if records.is_empty() {
        s.reading("No runs: `--only` excluded every optimizer.");
        return s;
    }
    s.paragraph(&format!(
        "Batch size {}, {} examples seen. The grid multiplies each optimizer's tuned base rate \
         (`lr`, or η₀ for adam_eta0 and adam_per_example) by powers of √10; cells are the final \
         test loss, mean over seeds. \"Good range\" is the width, in decades of η, of the range \
         around the best rate where the final loss stays within {} % of the best (interpolated \
         between grid points; ≥ where it reaches the end of the grid).",
        settings.batch_size,
        budget(&LrSweep, settings),
        num(100.0 * (TOLERANCE - 1.0))
    ));
    let mut header = vec!["optimizer".to_string(), "tuned rate".to_string()];
    header.extend(steps(settings).map(|k| format!("× {}", num(factor(k)))));
    header.push("best rate".into());
    header.push("good range (decades)".into());
    let mut table = Table::new(&header);
    let mut series = Vec::new();
    let mut rows = Vec::new();
    for (i, (name, runs)) in group(records, |r| r.series.clone()).into_iter().enumerate() {
        let by_rate = group(&runs, |r| r.param.map(f64::to_bits));
        let row = Row {
            name: name.clone(),
            losses: by_rate
                .iter()
                .map(|(_, rs)| (rs[0].spec.param.unwrap_or(f64::NAN), final_test_loss(rs)))
                .collect(),
        };
        let tuned_rate = registry::series()
            .into_iter()
            .find(|t| t.label == name)
            .map_or(f64::NAN, |t| t.rate());
        let mut cells = vec![format!("`{name}`"), num(tuned_rate)];
        cells.extend(
            by_rate
                .iter()
                .map(|(_, rs)| cell(rs, final_values(rs, |m| m.test_loss), loss)),
        );
        cells.push(row.best().map_or("–".into(), |b| num(row.losses[b].0)));
        cells.push(row.good_range().map_or("–".into(), |(width, edge)| {
            format!("{}{}", if edge { "≥ " } else { "" }, num(width))
        }));
        table.row(cells);
        series.push(Series {
            label: name,
            // A rate at which a seed diverged is a divergence mark.
            points: row
                .losses
                .iter()
                .map(|(r, l)| (*r, l.unwrap_or(f64::INFINITY)))
                .collect(),
            color: i,
            style: Style::LineMarkers,
        });
        rows.push(row);
    }
    s.table("Final test loss per base rate:", &table);
    let panel = Panel {
        title: format!("batch size {}", settings.batch_size),
        x_label: "base learning rate (lr or η₀)".into(),
        y_label: "final test loss".into(),
        x_scale: Scale::Log,
        y_scale: Scale::Log,
        series,
    };
    s.plot(
        "lr-sweep.svg",
        "final test loss against the base learning rate for every optimizer",
        plot::svg("Final loss against the learning rate", &[panel], 1),
    );
    s.reading(&reading(&rows));
    s
}

fn reading(rows: &[Row]) -> String {
    let mut text = String::new();
    let widths: Vec<(&str, f64)> = rows
        .iter()
        .filter_map(|r| {
            let (width, _) = r.good_range()?;
            Some((r.name.as_str(), width))
        })
        .collect();
    let max = widths.iter().map(|w| w.1).fold(f64::NEG_INFINITY, f64::max);
    let min = widths.iter().map(|w| w.1).fold(f64::INFINITY, f64::min);
    let names = |v: f64| -> String {
        let n: Vec<&str> = widths.iter().filter(|w| w.1 == v).map(|w| w.0).collect();
        n.join(", ")
    };
    if !widths.is_empty() {
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
    let adaptive = ["rmsprop", "adam", "adamw", "adam_lecture"];
    let plain = ["sgd", "sgd_momentum", "sgd_ema"];
    let avg = |group: &[&str]| {
        let v: Vec<f64> = widths
            .iter()
            .filter(|w| group.contains(&w.0))
            .map(|w| w.1)
            .collect();
        (!v.is_empty()).then(|| crate::stats::mean(&v))
    };
    if let (Some(a), Some(p)) = (avg(&adaptive), avg(&plain)) {
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
