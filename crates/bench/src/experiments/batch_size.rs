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
    budget, by_series, cell, curve_series, group, join, loss_panel, mean_at, min_max, run_spec,
    section, tuned, values_at, with_seeds, About, Experiment,
};
use crate::options::Settings;
use crate::plot::{self, Panel, Scale, Series, Style};
use crate::report::{loss, num, Section, Table};
use crate::run::{RunRecord, RunSpec};
use crate::stats::{median, std};

/// The experiment.
#[derive(Debug)]
pub struct BatchSize;

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
    rule("adam_lecture, η fixed", "adam_lecture", BatchRule::Fixed),
    rule("adam_lecture, η = √B·η₀", "adam_lecture", BatchRule::Sqrt),
    rule("adam_lecture, η = B·η₀", "adam_lecture", BatchRule::Linear),
    rule("sgd, η = B·η₀", "sgd", BatchRule::Linear),
    rule(NOISE_RULE, "adam_per_example", BatchRule::Linear),
];

const fn rule(label: &'static str, optimizer: &'static str, batch_rule: BatchRule) -> Rule {
    Rule {
        label,
        optimizer,
        batch_rule,
    }
}

/// The rule whose runs measure B_noise: it asks backward for the
/// per-example squares that the estimate needs.
const NOISE_RULE: &str = "adam_per_example, η = B·η₀";

/// A final loss within this factor of a rule's best counts as unaffected by
/// the batch size.
const FLAT: f64 = 1.1;

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

impl Experiment for BatchSize {
    fn about(&self) -> About {
        About {
            name: "batch-size",
            title: "Learning-rate rules for the batch size",
            claim: "slides \"Making Adam Adapt to the Batch Size B\" and \"Making Adam \
                    Independent of B\": s = μ² + σ²/B, so η = B·η₀ suits μ² ≫ σ²/B and \
                    η = √B·η₀ suits σ²/B ≫ μ²; averaging per-example squares makes s \
                    independent of B, and then η = B·η₀ always applies.",
            budget: (196608, 32768),
            checkpoints: (8, 4),
        }
    }

    /// Every rule × batch size × seed.
    fn plan(&self, settings: &Settings) -> Vec<RunSpec> {
        let mut runs = Vec::new();
        for rule in RULES.iter().filter(|r| settings.keeps(r.optimizer)) {
            let spec = rule.spec(settings.batch_size);
            for &b in &settings.batch_sizes {
                runs.push(run_spec(self, settings, rule.label, spec.clone(), b));
            }
        }
        with_seeds(settings, runs)
    }

    /// The tables, the plots and the reading.
    fn section(&self, settings: &Settings, records: &[&RunRecord]) -> Section {
        let mut s = section(self);
        let budget = budget(self, settings);
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
            let by_b = group(runs, |r| r.batch_size);
            let mean = |(b, rs): (usize, Vec<&RunRecord>)| (b, mean_at(&rs, k, |m| m.test_loss));
            by_b.into_iter().map(mean).collect()
        };

        // B_noise, from the runs that measure it: per checkpoint, the median
        // over B.
        let mut noise_runs = records.to_vec();
        noise_runs.retain(|r| r.spec.series == NOISE_RULE);
        let by_b = group(&noise_runs, |r| r.batch_size);
        let mut header = vec!["examples seen".to_string()];
        header.extend(by_b.iter().map(|(b, _)| format!("B = {b}")));
        header.push("median over B".into());
        let mut noise_table = Table::new(&header);
        let mut medians = Vec::new();
        // Without such runs every median is NaN, and B_noise unknown.
        for k in 0..n {
            let values: Vec<Option<f64>> =
                by_b.iter().map(|(_, rs)| pooled_b_noise(rs, k)).collect();
            let mut finite: Vec<f64> = values.iter().flatten().copied().collect();
            finite.retain(|v| v.is_finite() && *v > 0.0);
            medians.push(median(&finite));
            let mut row = vec![examples_at(k).to_string()];
            row.extend(values.iter().map(|v| v.map_or("–".into(), num)));
            row.push(num(median(&finite)));
            noise_table.row(row);
        }
        let b_noise = match (medians.first(), medians.last()) {
            (Some(a), Some(z)) if a.is_finite() && z.is_finite() => Some((*a, *z)),
            _ => None,
        };
        let split = |pick: fn((f64, f64)) -> f64| -> (Vec<usize>, Vec<usize>) {
            let Some(b_noise) = b_noise.map(pick) else {
                return Default::default();
            };
            settings
                .batch_sizes
                .iter()
                .partition(|&&b| (b as f64) < b_noise)
        };
        let (start, end) = (split(|b| b.0), split(|b| b.1));
        let (below, above) = &end;
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
        let mut header = vec!["rule".to_string()];
        header.extend(
            ks.iter()
                .map(|&k| format!("std over B at {} examples", examples_at(k))),
        );
        if by_regime {
            header.push("std over B < B_noise (end)".into());
            header.push("std over B ≥ B_noise (end)".into());
        }
        let mut spreads_table = Table::new(&header);
        let (mut spreads, mut flats) = (Vec::new(), Vec::new());
        let (mut panels, mut final_series) = (Vec::new(), Vec::new());
        for (i, (label, runs)) in by_series(records).into_iter().enumerate() {
            let last = losses_at(&runs, n - 1);
            let mut row = vec![label.clone()];
            row.extend(last.iter().map(|(b, _)| {
                let mut rs = runs.clone();
                rs.retain(|r| r.spec.batch_size == *b);
                cell(&rs, values_at(&rs, n - 1, |m| m.test_loss), loss)
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
            let mut row = vec![label.clone()];
            row.extend(
                ks.iter()
                    .map(|&k| spread_cell(&spread(&losses_at(&runs, k), |_| true))),
            );
            let found = RuleSpread {
                rule: RULES
                    .iter()
                    .find(|r| r.label == label)
                    .map_or("", |r| r.label),
                all: spread(&last, |_| true),
                below: spread(&last, |b| below.contains(&b)),
                above: spread(&last, |b| above.contains(&b)),
            };
            if by_regime {
                row.extend([spread_cell(&found.below), spread_cell(&found.above)]);
            }
            spreads_table.row(row);
            spreads.push(found);
            flats.push((label.clone(), flat));
            let curves = group(&runs, |r| r.batch_size)
                .into_iter()
                .enumerate()
                .map(|(j, (b, rs))| curve_series(format!("B = {b}"), &rs, j))
                .collect();
            panels.push(loss_panel(label.clone(), curves));
            // A batch size at which a seed diverged is a divergence mark.
            let points = last
                .iter()
                .map(|(b, l)| (*b as f64, l.unwrap_or(f64::INFINITY)));
            final_series.push(Series::new(label, points.collect(), i, Style::LineMarkers));
        }
        s.table(
            &format!("Test loss after {budget} examples (mean over seeds):"),
            &finals,
        );
        s.table(
            &format!(
                "Spread of the test loss over batch sizes (standard deviation over B of the \
                 seed-averaged test loss at a fixed number of examples seen; 0 would mean \
                 training does not depend on B){}:",
                if by_regime {
                    ". The last columns split B at the B_noise measured at the end"
                } else {
                    ""
                }
            ),
            &spreads_table,
        );
        if by_b.is_empty() {
            s.paragraph(
                "B_noise is measured on the adam_per_example runs, which `--only` excluded.",
            );
        } else {
            s.table(
                "Gradient noise scale B_noise = tr(Σ)/|G|², measured on the adam_per_example \
                 runs from the per-example squares, each cell summed over the steps since the \
                 previous checkpoint and over seeds:",
                &noise_table,
            );
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
        let ys = final_series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1));
        let (lo, hi) = min_max(ys.filter(|y| y.is_finite()));
        if let (Some((_, at_end)), true) = (b_noise, lo.is_finite() && hi.is_finite()) {
            let points = vec![(at_end, lo), (at_end, hi)];
            final_series.push(Series::new("B_noise at the end", points, 7, Style::Line));
        }
        let final_panel = Panel::new(
            format!("after {budget} examples"),
            ("batch size B", Scale::Log),
            ("test loss", Scale::Log),
            final_series,
        );
        s.plot(
            "batch-size-final.svg",
            "final test loss against the batch size, one line per rule",
            plot::svg("Batch size: final test loss per rule", &[final_panel], 1),
        );
        s.reading(&reading(&spreads, &flats, b_noise, &start, &end));
        s
    }
}

/// A rule's mean test loss per batch size at one checkpoint (`None` where a
/// seed had diverged).
type Losses = Vec<(usize, Option<f64>)>;

/// A spread over B, or the batch sizes at which some seed diverged.
type Spread = Result<f64, Vec<usize>>;

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
    Ok(std(&kept
        .iter()
        .filter_map(|(_, l)| *l)
        .collect::<Vec<f64>>()))
}

fn spread_cell(s: &Spread) -> String {
    match s {
        Ok(v) => loss(*v),
        Err(bs) => format!("diverged at B = {}", join(bs)),
    }
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

/// Which spread of a rule a regime reads.
type Pick = fn(&RuleSpread) -> &Spread;

/// A regime at the end: which side of B_noise, the rule the lecture
/// prescribes there, the batch sizes on that side and on the other, and
/// the spread that measures it.
type Regime<'a> = (&'a str, &'a str, &'a [usize], &'a [usize], Pick);

/// One rule's spread at the last checkpoint over all B, and over those below
/// and above the final B_noise.
struct RuleSpread {
    rule: &'static str,
    all: Spread,
    below: Spread,
    above: Spread,
}

/// The reading, from each rule's spreads and the batch sizes whose final
/// loss is within [`FLAT`] of its best, the median over B of B_noise at the
/// first and last checkpoints, and the batch sizes below and at or above
/// it at each of them.
fn reading(
    spreads: &[RuleSpread],
    flat: &[(String, Vec<usize>)],
    b_noise: Option<(f64, f64)>,
    start: &(Vec<usize>, Vec<usize>),
    end: &(Vec<usize>, Vec<usize>),
) -> String {
    let mut text = String::new();
    let finite = |s: &Spread| s.as_ref().ok().copied().filter(|v| v.is_finite());
    let ok: Vec<(&str, f64)> = spreads
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
    for s in spreads {
        if let Err(bs) = &s.all {
            let _ = write!(text, "\"{}\" diverged at B = {}. ", s.rule, join(bs));
        }
    }
    let widest = flat.iter().map(|(_, bs)| bs.len()).max().unwrap_or(0);
    let flattest: Vec<String> = flat
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
    let Some((first, last)) = b_noise else {
        text.push_str("Without B_noise the regimes cannot be told apart.");
        return text;
    };
    let _ = write!(
        text,
        "The measured B_noise (median over B) {} from {} over the first checkpoint's steps to \
         {} over the last ones{}. ",
        if last >= first { "grows" } else { "falls" },
        num(first),
        num(last),
        if last > first {
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
        side(start),
        side(end)
    );
    // Which of the three adam_lecture rules is flattest within each regime
    // at the end (all batch sizes when they share one regime).
    let (below, above) = end;
    let regimes: [Regime; 2] = [
        ("below", "η = √B·η₀", below, above, |s| &s.below),
        ("above", "η = B·η₀", above, below, |s| &s.above),
    ];
    for (which, prescribed, inside, outside, pick) in regimes {
        let pick: Pick = if outside.is_empty() { |s| &s.all } else { pick };
        let best = spreads
            .iter()
            .filter(|s| s.rule.starts_with("adam_lecture"))
            .filter_map(|s| Some((s.rule, finite(pick(s))?)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        if let (Some((rule, v)), true) = (best, inside.len() >= 2) {
            let verdict = if rule.ends_with(prescribed) {
                "the lecture's prescription for this regime".to_string()
            } else {
                format!("not the lecture's {prescribed}")
            };
            let _ = write!(
                text,
                "Over the batch sizes {which} B_noise the flattest adam_lecture rule is \"{rule}\" \
                 (std {}): {verdict}. ",
                loss(v)
            );
        }
    }
    let get = |label: &str| {
        spreads
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
