//! `batch-size`: the same budget of examples seen at batch sizes 16 to 1024,
//! under each learning-rate rule of the lecture's batch-size slides, and the
//! measured gradient noise scale B_noise that tells their regimes apart.
//!
//! The three Adam rules use the lecture's simplified Adam (`adam_lecture`),
//! so that they differ from `adam_per_example` only in what s averages (ĝ²
//! or the per-example squares). Every rule's η₀ is chosen so that all rules
//! agree at the reference batch size (`--batch-size`, 128 by default), where
//! each optimizer runs at its tuned rate.

use std::fmt::Write;

use gradlab_autodiff::NoiseScale;
use gradlab_optim::{BatchRule, Optimizer};

use crate::experiments::{
    budget, curve_series, group, line, mean_at, tuned, with_seeds, Config, Experiment,
};
use crate::options::Settings;
use crate::plot::{self, Panel, Scale, Series, Style};
use crate::report::{loss, num, Section, Table};
use crate::run::{RunRecord, RunSpec};
use crate::stats::{median, std};

/// The experiment.
#[derive(Debug)]
pub struct BatchSize;

impl Experiment for BatchSize {
    fn name(&self) -> &'static str {
        "batch-size"
    }

    fn title(&self) -> &'static str {
        "Learning-rate rules for the batch size"
    }

    fn claim(&self) -> &'static str {
        "slides \"Making Adam Adapt to the Batch Size B\" and \"Making Adam \
             Independent of B\": s = μ² + σ²/B, so η = B·η₀ suits μ² ≫ σ²/B and \
             η = √B·η₀ suits σ²/B ≫ μ²; averaging per-example squares makes s \
             independent of B, and then η = B·η₀ always applies."
    }

    fn budget(&self, quick: bool) -> usize {
        if quick {
            32768
        } else {
            196608
        }
    }

    fn plan(&self, settings: &Settings) -> Vec<RunSpec> {
        plan(settings)
    }

    fn section(&self, settings: &Settings, records: &[&RunRecord]) -> Section {
        section(settings, records)
    }
}

/// A learning-rate rule: an optimizer and how its η scales with B.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    /// The series name in tables and plots.
    pub label: &'static str,
    /// The optimizer's spec name.
    pub optimizer: &'static str,
    /// The batch-size rule.
    pub batch_rule: BatchRule,
}

/// The rules compared, in table order.
pub const RULES: [Rule; 5] = [
    Rule {
        label: "adam_lecture, η fixed",
        optimizer: "adam_lecture",
        batch_rule: BatchRule::Fixed,
    },
    Rule {
        label: "adam_lecture, η = √B·η₀",
        optimizer: "adam_lecture",
        batch_rule: BatchRule::Sqrt,
    },
    Rule {
        label: "adam_lecture, η = B·η₀",
        optimizer: "adam_lecture",
        batch_rule: BatchRule::Linear,
    },
    Rule {
        label: "sgd, η = B·η₀",
        optimizer: "sgd",
        batch_rule: BatchRule::Linear,
    },
    Rule {
        label: "adam_per_example, η = B·η₀",
        optimizer: "adam_per_example",
        batch_rule: BatchRule::Linear,
    },
];

/// The rule whose runs measure B_noise: it asks backward for the
/// per-example squares that the estimate needs.
const NOISE_RULE: &str = "adam_per_example, η = B·η₀";

impl Rule {
    /// The rule's spec: η₀ such that η(B_ref) is the optimizer's tuned rate
    /// at B_ref under its default batch-size rule.
    pub fn spec(&self, b_ref: usize) -> String {
        let t = tuned(self.optimizer);
        let default_rule = Optimizer::from_spec(&t.spec())
            .expect("a tuned spec parses")
            .batch_rule();
        let eta_ref = t.rate() * default_rule.factor(b_ref);
        let eta0 = eta_ref / self.batch_rule.factor(b_ref);
        t.spec_with(eta0, &format!(",batch_rule={}", self.batch_rule.name()))
    }
}

/// Every rule × batch size × seed.
pub fn plan(settings: &Settings) -> Vec<RunSpec> {
    let mut configs = Vec::new();
    for rule in RULES.iter().filter(|r| settings.keeps(r.optimizer)) {
        let spec = rule.spec(settings.batch_size);
        for &b in &settings.batch_sizes {
            configs.push(Config {
                series: rule.label.into(),
                param: None,
                optimizer: spec.clone(),
                batch_size: b,
                loss_scale: 1.0,
            });
        }
    }
    with_seeds(&BatchSize, settings, configs)
}

/// A rule's mean test loss per batch size at one checkpoint (`None` where a
/// seed had diverged).
type Losses = Vec<(usize, Option<f64>)>;

/// The spread over B of the values that exist for the batch sizes kept by
/// `keep`, or the batch sizes that diverged.
fn spread(losses: &Losses, keep: impl Fn(usize) -> bool) -> Spread {
    let kept: Vec<&(usize, Option<f64>)> = losses.iter().filter(|(b, _)| keep(*b)).collect();
    let diverged: Vec<usize> = kept
        .iter()
        .filter(|(_, l)| l.is_none())
        .map(|(b, _)| *b)
        .collect();
    if !diverged.is_empty() {
        return Err(diverged);
    }
    let values: Vec<f64> = kept.iter().filter_map(|(_, l)| *l).collect();
    Ok(std(&values))
}

fn spread_cell(s: &Spread) -> String {
    match s {
        Ok(v) => loss(*v),
        Err(bs) => format!("diverged at B = {}", join(bs)),
    }
}

fn join(bs: &[usize]) -> String {
    let parts: Vec<String> = bs.iter().map(usize::to_string).collect();
    parts.join(", ")
}

/// B_noise of the runs `runs` at checkpoint `k`: the noise sums of every
/// seed added, then divided.
fn pooled_b_noise(runs: &[&RunRecord], k: usize) -> Option<f64> {
    let mut total = NoiseScale::default();
    for r in runs {
        total.add(r.checkpoints.get(k)?.metrics.as_ref()?.noise?);
    }
    Some(total.b_noise())
}

/// A spread over B, or the batch sizes at which some seed diverged.
type Spread = Result<f64, Vec<usize>>;

/// One rule's spread at the last checkpoint over all B, and over those below
/// and above the final B_noise.
struct RuleSpread {
    rule: &'static str,
    all: Spread,
    below: Spread,
    above: Spread,
}

/// Everything the reading is computed from.
struct Findings {
    spreads: Vec<RuleSpread>,
    /// Per rule, the batch sizes whose final loss is within
    /// [`FLAT`] of the rule's best.
    flat: Vec<(String, Vec<usize>)>,
    /// Median over B of B_noise at the first and last checkpoints.
    b_noise: Option<(f64, f64)>,
    /// The batch sizes below and at or above B_noise at the first
    /// checkpoint.
    start: (Vec<usize>, Vec<usize>),
    /// The same at the last checkpoint.
    end: (Vec<usize>, Vec<usize>),
}

/// A final loss within this factor of a rule's best counts as unaffected by
/// the batch size.
const FLAT: f64 = 1.1;

/// The batch sizes of `settings` below `b_noise`, and those at or above it.
fn split_at(settings: &Settings, b_noise: f64) -> (Vec<usize>, Vec<usize>) {
    settings
        .batch_sizes
        .iter()
        .partition(|&&b| (b as f64) < b_noise)
}

/// The tables, the plots and the reading.
pub fn section(settings: &Settings, records: &[&RunRecord]) -> Section {
    let mut s = Section::new(&BatchSize);
    let budget = budget(&BatchSize, settings);
    let b_ref = settings.batch_size;
    let specs: Vec<String> = RULES
        .iter()
        .filter(|r| settings.keeps(r.optimizer))
        .map(|r| format!("`{}`", r.spec(b_ref)))
        .collect();
    s.paragraph(&format!(
        "Every run sees {budget} examples; B ∈ {{{}}}. η₀ is set so that all rules give the \
         tuned rate at B = {b_ref}. Specs: {}.",
        join(&settings.batch_sizes),
        specs.join(", ")
    ));
    let rules = group(records, |r| r.series.clone());
    let Some(first) = records.first() else {
        s.reading("No runs: `--only` excluded every rule.");
        return s;
    };
    let n = first.checkpoints.len();
    let mut ks: Vec<usize> = [n / 4, n / 2, n]
        .iter()
        .filter(|&&k| k >= 1)
        .map(|k| k - 1)
        .collect();
    ks.dedup();
    let examples_at = |k: usize| first.checkpoints[k].examples;
    let losses_at = |runs: &[&RunRecord], k: usize| -> Losses {
        group(runs, |r| r.batch_size)
            .into_iter()
            .map(|(b, rs)| (b, mean_at(&rs, k, |m| m.test_loss)))
            .collect()
    };

    // B_noise, from the runs that measure it.
    let noise_runs: Vec<&RunRecord> = records
        .iter()
        .copied()
        .filter(|r| r.spec.series == NOISE_RULE)
        .collect();
    let by_b = group(&noise_runs, |r| r.batch_size);
    let mut medians = Vec::new();
    let mut noise_table = None;
    if !by_b.is_empty() {
        let mut header = vec!["examples seen".to_string()];
        header.extend(by_b.iter().map(|(b, _)| format!("B = {b}")));
        header.push("median over B".into());
        let mut table = Table::new(&header);
        for k in 0..n {
            let values: Vec<Option<f64>> =
                by_b.iter().map(|(_, rs)| pooled_b_noise(rs, k)).collect();
            let finite: Vec<f64> = values
                .iter()
                .flatten()
                .copied()
                .filter(|v| v.is_finite() && *v > 0.0)
                .collect();
            let med = median(&finite);
            medians.push(med);
            let mut row = vec![examples_at(k).to_string()];
            row.extend(values.iter().map(|v| v.map_or("–".into(), num)));
            row.push(num(med));
            table.row(row);
        }
        noise_table = Some(table);
    }
    let b_noise = match (medians.first(), medians.last()) {
        (Some(a), Some(z)) if a.is_finite() && z.is_finite() => Some((*a, *z)),
        _ => None,
    };
    let start = b_noise.map_or_else(Default::default, |(b, _)| split_at(settings, b));
    let (below, above) = b_noise.map_or_else(Default::default, |(_, b)| split_at(settings, b));
    // Spreads within a regime need two batch sizes on each side.
    let by_regime = below.len() >= 2 && above.len() >= 2;

    // Final losses per rule and B.
    let mut header = vec!["rule".to_string()];
    header.extend(settings.batch_sizes.iter().map(|b| format!("B = {b}")));
    header.push(format!(
        "B within {} % of the rule's best",
        num(100.0 * (FLAT - 1.0))
    ));
    let mut finals = Table::new(&header);
    let mut spread_header = vec!["rule".to_string()];
    spread_header.extend(
        ks.iter()
            .map(|&k| format!("std over B at {} examples", examples_at(k))),
    );
    if by_regime {
        spread_header.push("std over B < B_noise (end)".into());
        spread_header.push("std over B ≥ B_noise (end)".into());
    }
    let mut spreads = Table::new(&spread_header);
    let mut findings = Findings {
        spreads: Vec::new(),
        flat: Vec::new(),
        b_noise,
        start,
        end: (below.clone(), above.clone()),
    };
    let mut panels = Vec::new();
    let mut final_series = Vec::new();
    for (i, (label, runs)) in rules.iter().enumerate() {
        let rule = RULES
            .iter()
            .find(|r| r.label == label)
            .map_or("", |r| r.label);
        let last = losses_at(runs, n - 1);
        let mut row = vec![label.clone()];
        row.extend(last.iter().map(|(b, _)| {
            let rs: Vec<&RunRecord> = runs
                .iter()
                .copied()
                .filter(|r| r.spec.batch_size == *b)
                .collect();
            super::cell(&rs, super::values_at(&rs, n - 1, |m| m.test_loss), loss)
        }));
        let best = last
            .iter()
            .filter_map(|(_, l)| *l)
            .fold(f64::INFINITY, f64::min);
        let flat: Vec<usize> = last
            .iter()
            .filter(|(_, l)| l.is_some_and(|l| l <= FLAT * best))
            .map(|(b, _)| *b)
            .collect();
        row.push(join(&flat));
        finals.row(row);
        findings.flat.push((label.clone(), flat));
        let mut row = vec![label.clone()];
        row.extend(
            ks.iter()
                .map(|&k| spread_cell(&spread(&losses_at(runs, k), |_| true))),
        );
        let found = RuleSpread {
            rule,
            all: spread(&last, |_| true),
            below: spread(&last, |b| below.contains(&b)),
            above: spread(&last, |b| above.contains(&b)),
        };
        if by_regime {
            row.push(spread_cell(&found.below));
            row.push(spread_cell(&found.above));
        }
        spreads.row(row);
        findings.spreads.push(found);

        let curves = group(runs, |r| r.batch_size)
            .into_iter()
            .enumerate()
            .map(|(j, (b, rs))| curve_series(format!("B = {b}"), &rs, j))
            .collect();
        panels.push(Panel {
            title: label.clone(),
            x_label: "examples seen".into(),
            y_label: "training loss".into(),
            x_scale: Scale::Log,
            y_scale: Scale::Log,
            series: curves,
        });
        final_series.push(Series {
            label: label.clone(),
            // A batch size at which a seed diverged is a divergence mark.
            points: last
                .iter()
                .map(|(b, l)| (*b as f64, l.unwrap_or(f64::INFINITY)))
                .collect(),
            color: i,
            style: Style::LineMarkers,
        });
    }
    s.table(
        &format!("Test loss after {budget} examples (mean over seeds):"),
        &finals,
    );
    s.table(
        &format!(
            "Spread of the test loss over batch sizes (standard deviation over B of the \
             seed-averaged test loss at a fixed number of examples seen; 0 would mean training \
             does not depend on B){}:",
            if by_regime {
                ". The last columns split B at the B_noise measured at the end"
            } else {
                ""
            }
        ),
        &spreads,
    );
    match noise_table {
        Some(t) => s.table(
            "Gradient noise scale B_noise = tr(Σ)/|G|², measured on the adam_per_example runs \
             from the per-example squares, each cell summed over the steps since the previous \
             checkpoint and over seeds:",
            &t,
        ),
        None => s.paragraph(
            "B_noise is measured on the adam_per_example runs, which `--only` excluded.",
        ),
    }
    s.plot(
        "batch-size.svg",
        "training loss against examples seen, one panel per rule, one curve per batch size",
        plot::svg(
            "Batch size: loss against examples seen",
            &panels,
            3.min(panels.len()),
        ),
    );
    if let Some((_, end)) = b_noise {
        let ys: Vec<f64> = final_series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .filter(|y| y.is_finite())
            .collect();
        let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if lo.is_finite() && hi.is_finite() {
            final_series.push(line("B_noise at the end", vec![(end, lo), (end, hi)], 7));
        }
    }
    let final_panel = Panel {
        title: format!("after {budget} examples"),
        x_label: "batch size B".into(),
        y_label: "test loss".into(),
        x_scale: Scale::Log,
        y_scale: Scale::Log,
        series: final_series,
    };
    s.plot(
        "batch-size-final.svg",
        "final test loss against the batch size, one line per rule",
        plot::svg("Batch size: final test loss per rule", &[final_panel], 1),
    );
    s.reading(&reading(&findings));
    s
}

fn reading(f: &Findings) -> String {
    let mut text = String::new();
    let finite = |s: &Spread| s.as_ref().ok().copied().filter(|v| v.is_finite());
    let ok: Vec<(&str, f64)> = f
        .spreads
        .iter()
        .filter_map(|s| Some((s.rule, finite(&s.all)?)))
        .collect();
    let flattest = ok.iter().min_by(|a, b| a.1.total_cmp(&b.1));
    let steepest = ok.iter().max_by(|a, b| a.1.total_cmp(&b.1));
    if let (Some(lo), Some(hi)) = (flattest, steepest) {
        let _ = write!(
            text,
            "At the end of the budget the test loss depends least on B under \"{}\" (std over \
             B {}) and most under \"{}\" ({}). ",
            lo.0,
            loss(lo.1),
            hi.0,
            loss(hi.1)
        );
    }
    for s in &f.spreads {
        if let Err(bs) = &s.all {
            let _ = write!(text, "\"{}\" diverged at B = {}. ", s.rule, join(bs));
        }
    }
    let widest = f.flat.iter().map(|(_, bs)| bs.len()).max().unwrap_or(0);
    let flattest: Vec<String> = f
        .flat
        .iter()
        .filter(|(_, bs)| bs.len() == widest)
        .map(|(rule, bs)| format!("\"{rule}\" (B ∈ {{{}}})", join(bs)))
        .collect();
    if !flattest.is_empty() {
        let _ = write!(
            text,
            "The final loss stays within {} % of the rule's best over the most batch sizes \
             under {}. ",
            num(100.0 * (FLAT - 1.0)),
            flattest.join(" and ")
        );
    }
    let Some((start, end)) = f.b_noise else {
        text.push_str("Without B_noise the regimes cannot be told apart.");
        return text;
    };
    let _ = write!(
        text,
        "The measured B_noise (median over B) {} from {} over the first checkpoint's steps to \
         {} over the last ones{}. ",
        if end >= start { "grows" } else { "falls" },
        num(start),
        num(end),
        if end > start {
            ": as the loss falls, the mean gradient |G|² shrinks faster than the per-example \
             noise tr(Σ)"
        } else {
            ""
        }
    );
    // B < B_noise: σ²/B ≫ μ², where the lecture prescribes √B for Adam;
    // B ≥ B_noise: μ² ≫ σ²/B, where it prescribes B.
    let side =
        |(below, above): &(Vec<usize>, Vec<usize>)| match (below.is_empty(), above.is_empty()) {
            (false, true) => "every batch size lies below it (σ²/B > μ²)".to_string(),
            (true, false) => "every batch size lies above it (μ² > σ²/B)".to_string(),
            _ => format!(
                "B ∈ {{{}}} lie below it (σ²/B > μ²) and B ∈ {{{}}} above it (μ² > σ²/B)",
                join(below),
                join(above)
            ),
        };
    let _ = write!(
        text,
        "At the start {}; by the end {}. The lecture prescribes η = √B·η₀ for Adam where \
         σ²/B ≫ μ² and η = B·η₀ where μ² ≫ σ²/B; B_noise is where the two terms are equal. ",
        side(&f.start),
        side(&f.end)
    );
    // Which of the three adam_lecture rules is flattest within each regime
    // at the end (all batch sizes when they share one regime).
    let adam_best = |pick: fn(&RuleSpread) -> &Spread| {
        f.spreads
            .iter()
            .filter(|s| s.rule.starts_with("adam_lecture"))
            .filter_map(|s| Some((s.rule, finite(pick(s))?)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    };
    let mut regime = |which: &str, prescribed: &str, best: Option<(&str, f64)>| {
        if let Some((rule, v)) = best {
            let verdict = if rule.ends_with(prescribed) {
                "the lecture's prescription for this regime".to_string()
            } else {
                format!("not the lecture's {prescribed}")
            };
            let _ = write!(
                text,
                "Over {which} the flattest adam_lecture rule is \"{rule}\" (std {}): {verdict}. ",
                loss(v)
            );
        }
    };
    let (below, above) = &f.end;
    if below.len() >= 2 {
        let pick: fn(&RuleSpread) -> &Spread = if above.is_empty() {
            |s| &s.all
        } else {
            |s| &s.below
        };
        regime(
            "the batch sizes below B_noise",
            "η = √B·η₀",
            adam_best(pick),
        );
    }
    if above.len() >= 2 {
        let pick: fn(&RuleSpread) -> &Spread = if below.is_empty() {
            |s| &s.all
        } else {
            |s| &s.above
        };
        regime("the batch sizes above B_noise", "η = B·η₀", adam_best(pick));
    }
    let get = |label: &str| {
        f.spreads
            .iter()
            .find(|s| s.rule == label)
            .and_then(|s| finite(&s.all))
    };
    if let (Some(pe), Some(lin)) = (get(NOISE_RULE), get("adam_lecture, η = B·η₀")) {
        let _ = write!(
            text,
            "With η = B·η₀, averaging per-example squares gives a spread of {} against {} for \
             averaging ĝ²{}.",
            loss(pe),
            loss(lin),
            if pe < lin {
                ": with s independent of B, the linear rule holds better across batch sizes"
            } else {
                ": here the per-example s does not make training more independent of B"
            }
        );
    }
    text
}
