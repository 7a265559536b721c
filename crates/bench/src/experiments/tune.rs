//! `tune`: every optimizer given the same tuning budget on every workload,
//! scored as AlgoPerf scores its external-tuning ruleset (Dahl et al. 2023).
//!
//! For each [workload](crate::workloads) and each optimizer, `--studies` S
//! independent studies each draw `--trials` K configurations from the
//! optimizer's search space (declared next to its rule,
//! [`Hyperparameters::SEARCH`](gradlab_optim::Hyperparameters::SEARCH)) by a
//! scrambled Halton sequence, a quasi-random search seeded by the workload
//! and the optimizer's names (study s takes points sK … sK + K − 1); every
//! trial of study s is a full run on seed s. A study's time to the
//! workload's last target is its fastest trial's, and the optimizer's time
//! on the workload the median over its studies (∞ when most studies never
//! reach the target): what a user with K trials can expect, not the luck
//! of one search.
//!
//! With `--self-tuning`, AlgoPerf's other ruleset: nothing is searched;
//! each optimizer runs its benchmark configuration (the first column of
//! [the optimizers' table](gradlab_optim::registry::series)) once per
//! study, on 1.5× the budget.
//!
//! A tuning sweep writes `tuned.json` ([`crate::tuned`]), each
//! study's fastest trial; `--held-out` runs those again on every
//! workload's [held-out variant](crate::workloads::held_out), and reports
//! how the rankings move. A rule that reads the per-example squares
//! cannot train a private workload (DP-SGD privatizes the mean gradient
//! only): it is not run there and counts as never reaching the target.
//!
//! Across workloads, a performance profile (Dolan & Moré 2002) gives for
//! each optimizer ρ(τ), the fraction of workloads on which its time is
//! within a factor τ of the best optimizer's, and AlgoPerf's benchmark
//! score, ∫₁⁴ ρ(τ)dτ/3, by examples (steps) and by training time; the
//! score's range over the studies (each study's times alone) shows how
//! much of a ranking is the draw.

use std::collections::BTreeMap;

use gradlab_optim::search::Dim;
use gradlab_optim::{registry, search_space, Optimizer, Statistics};

use crate::experiments::{canonical, group, run_spec_sized, section, About, Experiment};
use crate::options::Settings;
use crate::plot::{self, Dot, Panel, Scale, Series, Style};
use crate::report::{num, OutputFile, Section, Table};
use crate::run::{RunRecord, RunSpec};
use crate::stats::{median, mix};
use crate::tuned::{self, Tuned};
use crate::workloads::{held_out, Goal, Workload};

/// The experiment.
#[derive(Debug)]
pub struct Tune;

/// An optimizer as `tune` searches it.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// The series name: the spec name, or a variant's label (`amsgrad`).
    pub label: String,
    /// The spec name.
    pub name: String,
    /// Keys every trial sets (`amsgrad=true`), each preceded by a comma.
    pub fixed: String,
    /// The search space.
    pub dims: Vec<Dim>,
    /// The configuration it runs without tuning: its tuned one (the
    /// optimizers' table), else its defaults.
    pub configured: String,
}

/// The optimizers `tune` searches: every rule with a tuned configuration
/// ([`registry::series`]: its rate and the keys it searches replaced by
/// the trial's), then every registered rule without one; those `--only`
/// keeps (and, on held-out variants, those the tuned sweep ran), and with
/// a search space.
pub fn candidates(settings: &Settings) -> Vec<Candidate> {
    let series = registry::series();
    let tuned = series.iter().map(|t| {
        let keys = t
            .tuned
            .split(',')
            .chain(t.variant)
            .collect::<Vec<_>>()
            .join(",");
        (t.label, t.name, t.rest(), format!("{}({keys})", t.name))
    });
    let others = registry::names()
        .into_iter()
        .filter(|n| !series.iter().any(|t| t.name == *n))
        .map(|n| (n, n, String::new(), n.to_string()));
    tuned
        .chain(others)
        .filter(|(label, ..)| settings.keeps(label))
        .filter(|(label, ..)| {
            let held_out = settings.held_out.as_ref();
            held_out.is_none_or(|h| h.tuned.iter().any(|t| t.optimizer == *label))
        })
        .filter_map(|(label, name, rest, configured)| {
            let dims = search_space(name).filter(|d| !d.is_empty())?;
            // The entry's own keys stay unless the search sets them.
            let fixed: String = rest
                .split(',')
                .filter(|kv| !kv.is_empty())
                .filter(|kv| !dims.iter().any(|d| kv.split('=').next() == Some(d.key)))
                .map(|kv| format!(",{kv}"))
                .collect();
            Some(Candidate {
                label: label.into(),
                name: name.into(),
                fixed,
                dims,
                configured: canonical(&configured),
            })
        })
        .collect()
}

/// The first primes: the bases of the Halton sequence, one per dimension.
const PRIMES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];

/// The radical inverse of `n` in base `b`: its digits mirrored about the
/// point, the `n`-th element of van der Corput's sequence.
fn radical_inverse(mut n: u64, b: u64) -> f64 {
    let (mut x, mut scale) = (0.0, 1.0 / b as f64);
    while n > 0 {
        x += (n % b) as f64 * scale;
        n /= b;
        scale /= b as f64;
    }
    x
}

/// The FNV-1a hash of `text`, mixed: the seed of a search.
fn seed_of(text: &str) -> u64 {
    let h = text.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    });
    mix(h)
}

/// Point `k` (from 0) of the search seeded by `seed` in `d` dimensions: the
/// Halton sequence (from its second point, the first being the corner 0)
/// rotated by a random shift per dimension (Cranley–Patterson), so that
/// each search covers its cube evenly and two searches differ.
pub fn point(seed: u64, k: usize, d: usize) -> Vec<f64> {
    assert!(d <= PRIMES.len(), "a search space of {d} dimensions");
    (0..d)
        .map(|i| {
            let shift = (mix(seed ^ mix(i as u64)) >> 11) as f64 / (1u64 << 53) as f64;
            (radical_inverse(k as u64 + 1, PRIMES[i]) + shift).fract()
        })
        .collect()
}

impl Candidate {
    /// Whether it can train `w`: DP-SGD privatizes the mean gradient only,
    /// so a rule that reads the per-example squares cannot train a private
    /// workload (it counts there as never reaching the target).
    pub fn can_train(&self, w: &Workload) -> bool {
        let reads_mean = |o: Optimizer| o.statistics() == Statistics::Mean;
        w.private.is_none() || Optimizer::from_spec(&self.configured).is_ok_and(reads_mean)
    }

    /// The canonical spec of trial `k` on workload `w`, for a run of
    /// `steps` steps: a drawn warm-up is cut to `steps − 1` (the spaces
    /// reach 100 steps, and a warm-up as long as the run is refused).
    pub fn trial(&self, w: &Workload, k: usize, steps: u64) -> String {
        let seed = seed_of(&format!("{}/{}", w.name, self.label));
        let u = point(seed, k, self.dims.len());
        let keys: Vec<String> = self
            .dims
            .iter()
            .zip(u)
            .map(|(d, u)| match d.key {
                "warmup" => format!("warmup={}", d.at(u).min(steps.saturating_sub(1) as f64)),
                key => format!("{key}={}", d.at(u)),
            })
            .collect();
        canonical(&format!("{}({}{})", self.name, keys.join(","), self.fixed))
    }
}

impl Experiment for Tune {
    fn about(&self) -> About {
        About {
            name: "tune",
            title: "Optimizers tuned with equal budgets on several workloads",
            claim: "beyond the lecture, how optimizers compare when each is tuned with the same \
                    number of trials over its own search space (Choi et al. 2019: rankings flip \
                    with the tuning protocol), scored by time to target on several workloads \
                    and summarized by a performance profile (Dolan & Moré 2002, as AlgoPerf \
                    does).",
            budget: (0, 0),
            checkpoints: (8, 4),
        }
    }

    /// Every trial: for each workload and optimizer, study s's K trials
    /// on seed s (or, self-tuning, its configuration once per study).
    fn plan(&self, settings: &Settings) -> Vec<RunSpec> {
        let candidates = candidates(settings);
        let mut runs = Vec::new();
        if let Some(h) = &settings.held_out {
            for (w, v) in settings.workloads.iter().zip(ran(settings)) {
                for c in candidates.iter().filter(|c| c.can_train(&v)) {
                    let mine = |t: &&Tuned| t.workload == w.name && t.optimizer == c.label;
                    for t in h.tuned.iter().filter(mine) {
                        runs.push(spec(
                            settings,
                            &v,
                            &c.label,
                            t.spec.clone(),
                            t.trial,
                            t.study,
                        ));
                    }
                }
            }
            return runs;
        }
        for w in &settings.workloads {
            for c in candidates.iter().filter(|c| c.can_train(w)) {
                let steps = spec(settings, w, &c.label, String::new(), 0, 0).total_steps();
                for study in 0..settings.studies {
                    let seed = study as u64;
                    if settings.self_tuning {
                        runs.push(spec(settings, w, &c.label, c.configured.clone(), 0, seed));
                        continue;
                    }
                    for k in study * settings.trials..(study + 1) * settings.trials {
                        runs.push(spec(settings, w, &c.label, c.trial(w, k, steps), k, seed));
                    }
                }
            }
        }
        runs
    }

    /// One table per workload, the performance profile, its plot and a
    /// reading.
    fn section(&self, settings: &Settings, records: &[&RunRecord]) -> Section {
        let mut s = section(self);
        if records.is_empty() {
            s.reading("No runs: `--only` or `--workloads` excluded everything.");
            return s;
        }
        let (k, studies) = (settings.trials, settings.studies);
        s.paragraph(&if let Some(h) = &settings.held_out {
            format!(
                "Held-out variants, drawn by seed {}: each study's fastest trial of the tuned \
                 sweep run again, on the study's seed, on each workload's variant.",
                h.seed
            )
        } else if settings.self_tuning {
            format!(
                "Self-tuning: each optimizer at its benchmark configuration, untuned, once per \
                 study on seeds 0–{}, with 1.5× each workload's budget.",
                studies - 1
            )
        } else {
            format!(
                "{studies} studies of {k} trials per optimizer and workload, drawn from the search \
                 space declared next to each rule by a scrambled Halton sequence; study s's \
                 trials run on seed s."
            )
        });
        s.paragraph(
            "A study's time to target is its fastest trial's, an optimizer's the median over its \
             studies (∞, \"not reached\", when most studies never reach it). Time to target is \
             read at the evaluations, so it is a multiple of the evaluation interval; training \
             times are steps only, on this machine, and vary between runs.",
        );
        let mut outcomes: Vec<(&Workload, Vec<Outcome>)> = Vec::new();
        let mut tuned = Vec::new();
        let ran = ran(settings);
        // Rules a private workload cannot train get a row there too.
        let all = candidates(settings);
        for w in &ran {
            let on_w = |r: &&RunRecord| r.spec.workload.as_deref() == Some(w.name.as_str());
            let mine: Vec<&RunRecord> = records.iter().copied().filter(on_w).collect();
            if mine.is_empty() {
                continue;
            }
            let target = rank_target(settings, w);
            let shown = |x: f64| shown_target(w.goal, x);
            let mut table = Table::new(&[
                "optimizer".to_string(),
                "fastest trial's configuration".into(),
                format!("trials reaching {}", shown(target)),
                "each study: examples".into(),
                "median over studies: examples".into(),
                "median over studies: training time (s)".into(),
                format!("fastest trial: final {}", w.goal.name()),
            ]);
            let fmt_score = match w.goal {
                Goal::Accuracy => crate::report::pct,
                Goal::Rmse | Goal::Loss => num,
            };
            let mut rows = Vec::new();
            for ((_, label), runs) in by_search(&mine) {
                let best = best_trial(settings, w, &runs);
                let reached = times(&runs, target)
                    .0
                    .iter()
                    .filter(|t| t.is_finite())
                    .count();
                // Each study's fastest trial, by examples and by seconds.
                let fastest = |xs: Vec<f64>| xs.into_iter().fold(f64::INFINITY, f64::min);
                let per_study: Vec<(f64, f64)> = group(&runs, |s| s.seed)
                    .into_iter()
                    .map(|(_, study)| times(&study, target))
                    .map(|(examples, seconds)| (fastest(examples), fastest(seconds)))
                    .collect();
                let (examples, seconds): (Vec<f64>, Vec<f64>) = per_study.iter().copied().unzip();
                for (study, runs) in group(&runs, |s| s.seed) {
                    let best = best_trial(settings, w, &runs);
                    let reached = best.time_to(target);
                    tuned.push(Tuned {
                        workload: w.name.clone(),
                        optimizer: label.clone(),
                        study,
                        trial: best.spec.trial.unwrap_or(0),
                        spec: best.spec.optimizer.clone(),
                        examples: reached.map(|t| t.examples as f64),
                        seconds: reached.map(|t| t.train_seconds),
                    });
                }
                let each: Vec<String> = examples.iter().map(|&x| count(x)).collect();
                let final_value = final_score(best, w.goal).map_or("diverged".into(), fmt_score);
                table.row(vec![
                    label.clone(),
                    format!("`{}`", best.spec.optimizer),
                    format!("{reached}/{}", runs.len()),
                    each.join(" / "),
                    count(median(&examples)),
                    seconds_cell(median(&seconds)),
                    final_value,
                ]);
                rows.push(Outcome {
                    label,
                    best: best.spec.optimizer.clone(),
                    examples: median(&examples),
                    seconds: median(&seconds),
                    studies: per_study,
                });
            }
            for c in all.iter().filter(|c| !c.can_train(w)) {
                let mut row = vec![c.label.clone(), "reads per-example squares".into()];
                row.extend([
                    "not run privately".to_string(),
                    "—".into(),
                    "—".into(),
                    "—".into(),
                    "—".into(),
                ]);
                table.row(row);
                rows.push(Outcome {
                    label: c.label.clone(),
                    best: String::new(),
                    examples: f64::INFINITY,
                    seconds: f64::INFINITY,
                    studies: vec![(f64::INFINITY, f64::INFINITY); studies],
                });
            }
            let targets: Vec<String> = w
                .targets(settings.quick)
                .iter()
                .map(|&t| shown(t))
                .collect();
            s.table(
                &format!(
                    "**{}** — {}. Batch size {}, {} examples per run; targets {}, ranked by {}.",
                    w.name,
                    w.about,
                    w.batch_size,
                    mine[0].spec.budget,
                    targets.join(", "),
                    shown(target)
                ),
                &table,
            );
            outcomes.push((w, rows));
        }
        profile(&mut s, &outcomes);
        per_workload(&mut s, &outcomes);
        match &settings.held_out {
            Some(h) => rankings_move(&mut s, settings, &h.tuned, &outcomes),
            None if !settings.self_tuning => s.files.push(OutputFile {
                name: tuned::FILE.into(),
                contents: tuned::to_json(&tuned),
            }),
            None => {}
        }
        s
    }
}

/// The workloads the runs train: the sweep's, or their held-out variants.
fn ran(settings: &Settings) -> Vec<Workload> {
    match &settings.held_out {
        Some(h) => (settings.workloads.iter())
            .map(|w| held_out(w, h.seed).expect("the options checked the variants"))
            .collect(),
        None => settings.workloads.clone(),
    }
}

/// How the rankings move from the tuned workloads to their held-out
/// variants: each rule's benchmark score (by examples) on the workloads it
/// was tuned on, from `tuned`, against its score on the variants.
fn rankings_move(
    s: &mut Section,
    settings: &Settings,
    tuned: &[Tuned],
    held: &[(&Workload, Vec<Outcome>)],
) {
    let time = |t: &Tuned| t.examples.unwrap_or(f64::INFINITY);
    let labels: Vec<&String> = held
        .first()
        .map_or(vec![], |(_, r)| r.iter().map(|o| &o.label).collect());
    let base: Vec<(&Workload, Vec<Outcome>)> = (settings.workloads.iter())
        .filter(|w| {
            held.iter()
                .any(|(v, _)| v.name.starts_with(&format!("{}@", w.name)))
        })
        .map(|w| {
            let rows = labels.iter().map(|&label| {
                let mine = tuned
                    .iter()
                    .filter(|t| t.workload == w.name && &t.optimizer == label);
                let studies: Vec<(f64, f64)> = mine
                    .map(|t| (time(t), t.seconds.unwrap_or(f64::INFINITY)))
                    .collect();
                let examples: Vec<f64> = studies.iter().map(|t| t.0).collect();
                Outcome {
                    label: label.clone(),
                    best: String::new(),
                    // Not tuned there (a rule that cannot train privately):
                    // never reached.
                    examples: if examples.is_empty() {
                        f64::INFINITY
                    } else {
                        median(&examples)
                    },
                    seconds: f64::NAN,
                    studies,
                }
            });
            (w, rows.collect())
        })
        .collect();
    let scores = |outcomes: &[(&Workload, Vec<Outcome>)]| {
        let ratios = ratios_of(outcomes, &|o| o.examples);
        let mut ranked: Vec<(String, f64)> = ratios
            .iter()
            .map(|(l, r)| (l.clone(), benchmark_score(r)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked
    };
    let (before, after) = (scores(&base), scores(held));
    let rank = |ranked: &[(String, f64)], l: &str| {
        ranked.iter().position(|(x, _)| x == l).map_or(0, |i| i + 1)
    };
    let mut table = Table::new(&[
        "optimizer",
        "score tuned",
        "rank tuned",
        "score held out",
        "rank held out",
        "move",
    ]);
    for (label, score) in &after {
        let (r0, r1) = (rank(&before, label), rank(&after, label));
        let was = before
            .iter()
            .find(|(l, _)| l == label)
            .map_or(f64::NAN, |b| b.1);
        table.row(vec![
            label.clone(),
            num(was),
            r0.to_string(),
            num(*score),
            r1.to_string(),
            format!("{:+}", r0 as i64 - r1 as i64),
        ]);
    }
    s.table(
        "How the rankings move: each rule's benchmark score by examples to target on the \
         workloads it was tuned on (from `tuned.json`) and on their held-out variants, ranked \
         by the latter; \"move\" is the places it gains.",
        &table,
    );
}

/// Small multiples: on each workload, the rules that reach its target,
/// ranked by the median over studies of examples to it, with the studies'
/// range (a study that never reached it drawn at the panel's right edge).
fn per_workload(s: &mut Section, outcomes: &[(&Workload, Vec<Outcome>)]) {
    let panels: Vec<(String, Vec<Dot>)> = outcomes
        .iter()
        .map(|(w, rows)| {
            let edge = rows.iter().flat_map(|o| o.studies.iter().map(|t| t.0));
            let edge = edge.filter(|x| x.is_finite()).fold(0.0, f64::max) * 1.05;
            let mut dots: Vec<Dot> = rows
                .iter()
                .filter(|o| o.examples.is_finite())
                .map(|o| {
                    let each = o.studies.iter().map(|t| t.0.min(edge));
                    let (lo, hi) =
                        each.fold((f64::INFINITY, 0.0f64), |(a, b), x| (a.min(x), b.max(x)));
                    (o.label.clone(), o.examples, (lo, hi))
                })
                .collect();
            dots.sort_by(|a, b| a.1.total_cmp(&b.1));
            (w.name.clone(), dots)
        })
        .collect();
    s.plot(
        "tune-workloads.svg",
        "on each workload, the examples each rule needs to its target (median over studies, \
         fastest first, with the studies' range)",
        plot::dots(
            "Examples to target per workload",
            "examples (range over studies)",
            &panels,
        ),
    );
}

/// A run of `tune`: trial `trial` of `optimizer` on workload `w`, at its
/// batch size and budget (self-tuning: 1.5× it, on the same evaluation
/// grid).
fn spec(
    settings: &Settings,
    w: &Workload,
    label: &str,
    optimizer: String,
    trial: usize,
    seed: u64,
) -> RunSpec {
    let budget = w.budget(settings.quick);
    let mut examples = settings.budget.unwrap_or(budget.examples);
    let mut checkpoints = settings.checkpoints.unwrap_or(budget.checkpoints);
    if settings.self_tuning {
        (examples, checkpoints) = (
            examples / checkpoints * (checkpoints * 3).div_ceil(2),
            (checkpoints * 3).div_ceil(2),
        );
    }
    RunSpec {
        seed,
        hidden: Vec::new(),
        workload: Some(w.name.clone()),
        trial: Some(trial),
        ..run_spec_sized(
            &Tune,
            settings,
            label,
            optimizer,
            w.batch_size,
            (examples, checkpoints),
        )
    }
}

/// The trial records grouped by (workload, optimizer), in plan order.
fn by_search<'a>(records: &[&'a RunRecord]) -> Vec<((String, String), Vec<&'a RunRecord>)> {
    group(records, |s| {
        (s.workload.clone().unwrap_or_default(), s.series.clone())
    })
}

/// The target `tune` ranks by: the workload's last.
fn rank_target(settings: &Settings, w: &Workload) -> f64 {
    let targets = w.targets(settings.quick);
    *targets.last().expect("a workload has targets")
}

/// The final value of the goal of run `r`, `None` if it diverged.
fn final_score(r: &RunRecord, goal: Goal) -> Option<f64> {
    r.last().map(|m| m.score(goal))
}

/// The best of one search's trials: the fewest examples to the ranking
/// target; among trials that tie or that all miss it, the best final value
/// of the goal; a diverged trial last; then the earliest.
fn best_trial<'a>(settings: &Settings, w: &Workload, trials: &[&'a RunRecord]) -> &'a RunRecord {
    let target = rank_target(settings, w);
    let key = |r: &RunRecord| {
        let examples = r.time_to(target).map_or(u64::MAX, |t| t.examples);
        (examples, final_score(r, w.goal))
    };
    let better = |r: &RunRecord, than: &RunRecord| match (key(r), key(than)) {
        ((ea, _), (eb, _)) if ea != eb => ea < eb,
        ((_, Some(a)), (_, Some(b))) => w.goal.better(a, b),
        ((_, sa), (_, sb)) => sa.is_some() && sb.is_none(),
    };
    let later = trials[1..].iter();
    later.fold(trials[0], |best, &r| if better(r, best) { r } else { best })
}

/// Examples (and seconds) to `target` of each run, ∞ where it was not
/// reached.
fn times(runs: &[&RunRecord], target: f64) -> (Vec<f64>, Vec<f64>) {
    runs.iter()
        .map(|r| match r.time_to(target) {
            Some(t) => (t.examples as f64, t.train_seconds),
            None => (f64::INFINITY, f64::INFINITY),
        })
        .unzip()
}

/// One optimizer's results on one workload: the fastest trial's
/// configuration, the median over studies of examples and seconds to
/// target (∞ if most studies missed it), and each study's.
struct Outcome {
    label: String,
    best: String,
    examples: f64,
    seconds: f64,
    studies: Vec<(f64, f64)>,
}

/// A target as the report writes it: a percentage or an RMSE.
fn shown_target(goal: Goal, t: f64) -> String {
    match goal {
        Goal::Accuracy => crate::report::pct(t),
        Goal::Rmse => format!("RMSE {}", num(t)),
        Goal::Loss => format!("loss {}", num(t)),
    }
}

/// A count that may be ∞ ("not reached").
fn count(x: f64) -> String {
    if x.is_finite() {
        num(x.round())
    } else {
        "not reached".into()
    }
}

/// Seconds that may be ∞ ("not reached").
fn seconds_cell(x: f64) -> String {
    if x.is_finite() {
        num(x)
    } else {
        "not reached".into()
    }
}

/// Which time of an outcome a profile reads: the median's, and a study's.
type TimeOf = (fn(&Outcome) -> f64, fn(&(f64, f64)) -> f64);

/// The profile plot draws this many of the highest scores, and these two
/// references when they ran: deep learning's default and the lecture's Adam.
const PROFILED: (usize, [&str; 2]) = (4, ["adamw", "adam_lecture"]);

/// The factors τ the profile table reports.
const TAUS: [f64; 5] = [1.0, 1.25, 1.5, 2.0, 4.0];

/// AlgoPerf's score from the ratios r_w = time / best time: ∫₁⁴ ρ(τ) dτ / 3,
/// the mean over workloads of (4 − r_w)/3 where r_w ≤ 4, else 0.
pub fn benchmark_score(ratios: &[f64]) -> f64 {
    let area = |r: f64| ((4.0 - r.max(1.0)) / 3.0).max(0.0);
    ratios.iter().map(|&r| area(r)).sum::<f64>() / ratios.len().max(1) as f64
}

/// ρ(τ) of each optimizer: the fraction of workloads on which its time is
/// within τ of the best time there (`time` picks the measure).
fn ratios_of(
    outcomes: &[(&Workload, Vec<Outcome>)],
    time: &dyn Fn(&Outcome) -> f64,
) -> BTreeMap<String, Vec<f64>> {
    let mut ratios: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (_, rows) in outcomes {
        let best = rows.iter().map(time).fold(f64::INFINITY, f64::min);
        for o in rows {
            let r = if best.is_finite() {
                time(o) / best
            } else {
                f64::INFINITY
            };
            ratios.entry(o.label.clone()).or_default().push(r);
        }
    }
    ratios
}

/// The profile tables, plot and reading.
fn profile(s: &mut Section, outcomes: &[(&Workload, Vec<Outcome>)]) {
    if outcomes.is_empty() {
        return;
    }
    let n = outcomes.len() as f64;
    let order: Vec<String> = outcomes[0].1.iter().map(|o| o.label.clone()).collect();
    let measures: [(&str, &str, TimeOf); 2] = [
        ("examples to target", "", (|o| o.examples, |t| t.0)),
        (
            "training time to target",
            " (seconds on this machine, so the columns are marked (s))",
            (|o| o.seconds, |t| t.1),
        ),
    ];
    let studies = outcomes[0].1.first().map_or(0, |o| o.studies.len());
    let mut dots = Vec::new();
    let mut panels = Vec::new();
    let mut leaders = Vec::new();
    for (what, note, (time, of_study)) in measures {
        let ratios = ratios_of(outcomes, &time);
        // Each study's score, from its times alone.
        let scores: Vec<BTreeMap<String, Vec<f64>>> = (0..studies)
            .map(|i| {
                ratios_of(outcomes, &|o| {
                    o.studies.get(i).map_or(f64::INFINITY, of_study)
                })
            })
            .collect();
        let range = |label: &String| {
            let each = scores.iter().map(|r| benchmark_score(&r[label]));
            let (lo, hi) = each.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                (a.min(x), b.max(x))
            });
            (benchmark_score(&ratios[label]), (lo, hi))
        };
        let unit = if note.is_empty() { "" } else { " (s)" };
        let mut header = vec!["optimizer".to_string()];
        header.extend(TAUS.iter().map(|t| format!("ρ({t}){unit}")));
        header.push(format!("reached{unit}"));
        header.push(format!("score{unit}"));
        let mut table = Table::new(&header);
        let rho = |label: &String, tau: f64| {
            let rs = &ratios[label];
            rs.iter().filter(|&&r| r <= tau).count() as f64 / n
        };
        for label in &order {
            let mut row = vec![label.clone()];
            row.extend(TAUS.iter().map(|&t| num(rho(label, t))));
            let reached = ratios[label].iter().filter(|r| r.is_finite()).count();
            row.push(num(reached as f64 / n));
            let (score, (lo, hi)) = range(label);
            row.push(format!("{} ({}–{})", num(score), num(lo), num(hi)));
            table.row(row);
        }
        s.table(
            &format!(
                "Performance profile by {what}{note} over {} workload{}: ρ(τ) is the fraction of \
                 workloads on which the optimizer's time (the median over studies) is within a \
                 factor τ of the best optimizer's there; \"reached\" is ρ(∞); \"score\" is \
                 AlgoPerf's, ∫ρ(τ)dτ from 1 to r_max = 4 over 3 (1: fastest everywhere), with \
                 its range over the studies scored one by one (the medians' score may lie \
                 outside it: each study has its own fastest rule).",
                outcomes.len(),
                if outcomes.len() == 1 { "" } else { "s" }
            ),
            &table,
        );
        // The highest benchmark score, then ρ(1); the first in order on a tie.
        let score = |label: &String| (benchmark_score(&ratios[label]), rho(label, 1.0));
        let best = order
            .iter()
            .fold(&order[0], |b, l| if score(l) > score(b) { l } else { b });
        leaders.push(format!(
            "by {what}, {best} has the highest score, {} (fastest on {} of the workloads, \
             within 2× of the fastest on {})",
            num(benchmark_score(&ratios[best])),
            pct0(rho(best, 1.0)),
            pct0(rho(best, 2.0))
        ));
        let mut ranked_dots: Vec<Dot> = order
            .iter()
            .map(|l| {
                let (score, interval) = range(l);
                (l.clone(), score, interval)
            })
            .collect();
        ranked_dots.sort_by(|a, b| b.1.total_cmp(&a.1));
        dots.push((format!("by {what}"), ranked_dots));
        // Thirty near-identical step lines read as none (the tables have them).
        let mut ranked: Vec<&String> = order.iter().collect();
        ranked.sort_by(|a, b| score(b).0.total_cmp(&score(a).0));
        ranked.truncate(PROFILED.0);
        let drawn = |l: &String| ranked.contains(&l) || PROFILED.1.contains(&l.as_str());
        let series = order
            .iter()
            .filter(|label| drawn(label))
            .enumerate()
            .map(|(i, l)| step_series(&format!("{l} ({})", num(score(l).0)), &ratios[l], n, i))
            .collect();
        panels.push(Panel::new(
            format!("by {what}"),
            ("τ (time / best time)", Scale::Log),
            ("ρ(τ): fraction of workloads", Scale::Linear),
            series,
        ));
    }
    s.plot(
        "tune-score.svg",
        "every rule's benchmark score, ranked, with its range over the studies, by examples and \
         by training time to target",
        plot::dots(
            "AlgoPerf benchmark score, ranked",
            "score (range over studies)",
            &dots,
        ),
    );
    s.plot(
        "tune-profile.svg",
        "performance profiles of the four highest scores, AdamW and the lecture's Adam, by \
         examples and by training time to target",
        plot::svg("Performance profiles of the tuned optimizers", &panels, 2),
    );
    let best_configs: Vec<String> = outcomes
        .iter()
        .map(|(w, rows)| {
            let fastest = rows
                .iter()
                .min_by(|a, b| a.examples.total_cmp(&b.examples))
                .expect("rows");
            if fastest.examples.is_finite() {
                let examples = num(fastest.examples.round());
                format!("on {} `{}` ({examples} examples)", w.name, fastest.best)
            } else {
                format!(
                    "on {} no optimizer reached the target on most seeds",
                    w.name
                )
            }
        })
        .collect();
    s.reading(&format!(
        "With equal budgets of trials, {}. The fastest configurations: {}.",
        leaders.join("; "),
        best_configs.join("; ")
    ));
}

/// A fraction as a whole percentage.
fn pct0(x: f64) -> String {
    format!("{:.0} %", 100.0 * x)
}

/// ρ(τ) of one optimizer as a step line from τ = 1 to past its largest
/// finite ratio.
fn step_series(label: &str, ratios: &[f64], n: f64, color: usize) -> Series {
    let mut finite: Vec<f64> = ratios.iter().copied().filter(|r| r.is_finite()).collect();
    finite.sort_by(f64::total_cmp);
    let mut points = vec![(1.0, 0.0)];
    let mut reached = 0.0;
    for r in finite {
        points.push((r.max(1.0), reached / n));
        reached += 1.0;
        points.push((r.max(1.0), reached / n));
    }
    let end = points.last().map_or(1.0, |p| p.0) * 1.5;
    points.push((end.max(2.0), reached / n));
    Series::new(label, points, color, Style::Line)
}
