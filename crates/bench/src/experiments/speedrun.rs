//! `speedrun`: the shortest training time to 98 % test accuracy on MNIST,
//! on every one of seeds 0–9.
//!
//! A recipe is an optimizer spec (rate, warm-up, schedule), a batch size,
//! a number of epochs and the MLP's width; each is trained on the ten seeds,
//! evaluated eight times an epoch (not timed), and scored by the seconds of
//! training until its test accuracy first reaches the target. The best
//! recipe is the one whose every seed reaches it, with the smallest median
//! time; the recipe for a default that *ends* above the target is the
//! shortest whose every seed's final accuracy is at least the target. The
//! section prints the commands that run the best recipe in gradlab and in
//! the two peers (`benches/peers/speedrun_{jax,torch}.py`), to
//! be run by hand, back to back, on the same machine.

use crate::experiments::{by_series, cell, min_max, run_spec_sized, section, About, Experiment};
use crate::options::Settings;
use crate::report::{num, pct, Section, Table};
use crate::run::{RunRecord, RunSpec};
use crate::stats::median;
use gradlab_optim::Optimizer;

/// The experiment.
#[derive(Debug)]
pub struct Speedrun;

/// One recipe of the speedrun.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Recipe {
    /// Adam-family rule.
    pub rule: &'static str,
    /// η.
    pub lr: f64,
    /// Linear warm-up steps (the schedule is cosine after them).
    pub warmup: u64,
    /// Examples per step.
    pub batch_size: usize,
    /// Passes over the training set.
    pub epochs: usize,
    /// Width of both hidden layers.
    pub width: usize,
}

impl Recipe {
    /// The optimizer spec, as the optim crate writes it (the run gives the
    /// cosine its length).
    ///
    /// # Panics
    /// If the spec is invalid, which is a bug in the recipe list.
    pub fn optimizer(&self) -> String {
        self.spec(self.warmup)
    }

    /// The spec of a run of `steps` steps: the warm-up is cut to half of a
    /// run shorter than twice it (a tiny subset of the data), which the
    /// recipes' full runs never are.
    pub fn optimizer_for_run(&self, steps: u64) -> String {
        self.spec(self.warmup.min(steps / 2))
    }

    fn spec(&self, warmup: u64) -> String {
        let spec = format!(
            "{}(lr={},schedule=cosine,warmup={warmup})",
            self.rule, self.lr
        );
        if let Err(e) = Optimizer::for_run(&spec, u64::MAX) {
            panic!("the speedrun's spec {spec} is invalid: {e}");
        }
        spec
    }

    /// The recipe's name in tables.
    pub fn label(&self) -> String {
        format!(
            "{} η={} · B {} · {} ep · {}-{}",
            self.rule,
            num(self.lr),
            self.batch_size,
            self.epochs,
            self.width,
            self.width
        )
    }
}

/// Seeds every recipe is trained on.
pub const SEEDS: u64 = 10;

/// Evaluations per epoch.
pub const EVALUATIONS_PER_EPOCH: usize = 8;

/// The target test accuracy: 98 %, or 94 % for the quick subset of 10 000
/// training examples, which an MLP does not take to 98 % in a few epochs.
pub fn target(settings: &Settings) -> f64 {
    settings.pick(0.98, 0.94)
}

/// The recipes: Adam (and NAdam) with a cosine schedule after 100 warm-up
/// steps. At width 512 three epochs of batches of 128 or 256 reach 98 % in
/// about 2 s, two epochs or batches of 512 not on every seed; width 256
/// halves the cost of an epoch, and four or five epochs make up for its
/// lower accuracy. Two recipes for `--quick`.
pub fn recipes(settings: &Settings) -> Vec<Recipe> {
    let r = |rule, lr, batch_size, epochs, width| Recipe {
        rule,
        lr,
        warmup: 100,
        batch_size,
        epochs,
        width,
    };
    if settings.quick {
        return vec![r("adam", 3e-3, 128, 3, 512), r("adam", 3e-3, 64, 2, 512)];
    }
    vec![
        r("adam", 3e-3, 128, 2, 512),
        r("adam", 3e-3, 128, 3, 512),
        r("nadam", 3e-3, 128, 3, 512),
        r("adam", 5e-3, 256, 3, 512),
        r("adam", 3e-3, 512, 3, 512),
        r("adam", 3e-3, 128, 3, 384),
        r("adam", 3e-3, 64, 3, 256),
        r("adam", 3e-3, 128, 4, 256),
        r("adam", 5e-3, 128, 4, 256),
        r("nadam", 3e-3, 128, 4, 256),
        r("adam", 3e-3, 128, 5, 256),
        r("adam", 5e-3, 128, 5, 256),
        r("adam", 5e-3, 256, 5, 256),
    ]
}

/// One recipe's results over its seeds.
struct Row {
    label: String,
    recipe: Option<Recipe>,
    optimizer: String,
    /// Seconds of training to the target, min, median and max over the
    /// seeds, when every seed reached it.
    seconds: Option<(f64, f64, f64)>,
    /// The lowest final accuracy over the seeds (`None` if one diverged).
    worst_final: Option<f64>,
    /// Seconds of the whole run, median over seeds.
    total_seconds: f64,
}

impl Experiment for Speedrun {
    fn about(&self) -> About {
        About {
            name: "speedrun",
            title: "Speedrun: the shortest training to 98 % on every seed",
            claim: "beyond the lecture, what the throughput buys: the recipe (optimizer, η, \
                    warm-up, schedule, batch size, epochs, width) that reaches 98 % test \
                    accuracy on MNIST in the fewest seconds of training on every one of seeds \
                    0–9.",
            budget: (0, 0),
            checkpoints: (8, 4),
        }
    }

    /// Every recipe on seeds 0–9 (`--only` keeps the recipes of the rules
    /// it names).
    fn plan(&self, settings: &Settings) -> Vec<RunSpec> {
        let n = settings.train_limit.unwrap_or(60_000);
        let recipes = recipes(settings)
            .into_iter()
            .filter(|r| settings.keeps(r.rule));
        recipes
            .flat_map(|r| {
                // Whole epochs of full batches, as the trainer takes them.
                let budget = r.epochs * (n / r.batch_size) * r.batch_size;
                let budget = settings.budget.unwrap_or(budget);
                let checkpoints = r.epochs * EVALUATIONS_PER_EPOCH;
                let size = (budget, settings.checkpoints.unwrap_or(checkpoints));
                let optimizer = r.optimizer_for_run(budget as u64 / r.batch_size as u64);
                let run = RunSpec {
                    hidden: vec![r.width, r.width],
                    workload: None,
                    ..run_spec_sized(self, settings, r.label(), optimizer, r.batch_size, size)
                };
                (0..SEEDS).map(move |seed| RunSpec {
                    seed,
                    ..run.clone()
                })
            })
            .collect()
    }

    /// The table, the best recipe, the peers' commands and a reading.
    fn section(&self, settings: &Settings, records: &[&RunRecord]) -> Section {
        let mut s = section(self);
        if records.is_empty() {
            s.reading("No runs: `--only` excluded every recipe.");
            return s;
        }
        let target = target(settings);
        s.paragraph(&format!(
            "MLP 784-W-W-10 (ReLU), every recipe on seeds 0–{}, evaluated {} times an epoch (not \
             timed). Time to {} is the seconds of training steps until the first evaluation at or \
             above it, on this machine; it varies between runs.",
            SEEDS - 1,
            EVALUATIONS_PER_EPOCH,
            pct(target)
        ));
        let mut table = Table::new(&[
            "recipe".to_string(),
            "optimizer".into(),
            format!("seeds reaching {}", pct(target)),
            format!("time to {}: min (s)", pct(target)),
            "median (s)".into(),
            "max (s)".into(),
            "whole run, median (s)".into(),
            "final test accuracy".into(),
            "lowest final".into(),
        ]);
        let mut rows = Vec::new();
        for (label, runs) in by_series(records) {
            let seconds: Vec<f64> = runs
                .iter()
                .filter_map(|r| Some(r.time_to(target)?.train_seconds))
                .collect();
            let finals: Option<Vec<f64>> =
                runs.iter().map(|r| Some(r.last()?.accuracy())).collect();
            let totals: Vec<f64> = runs
                .iter()
                .filter_map(|r| Some(r.last()?.train_seconds))
                .collect();
            let worst_final = finals.as_ref().map(|f| min_max(f.iter().copied()).0);
            let (lo, hi) = min_max(seconds.iter().copied());
            let every = (seconds.len() == runs.len()).then(|| (lo, median(&seconds), hi));
            let stat = |x: fn((f64, f64, f64)) -> f64| every.map_or("—".into(), |t| num(x(t)));
            table.row(vec![
                label.clone(),
                format!("`{}`", runs[0].spec.optimizer),
                format!("{}/{}", seconds.len(), runs.len()),
                stat(|t| t.0),
                stat(|t| t.1),
                stat(|t| t.2),
                num(median(&totals)),
                cell(&runs, finals, pct),
                worst_final.map_or("diverged".into(), pct),
            ]);
            rows.push(Row {
                recipe: recipes(settings).into_iter().find(|r| r.label() == label),
                label,
                optimizer: runs[0].spec.optimizer.clone(),
                seconds: every,
                worst_final,
                total_seconds: median(&totals),
            });
        }
        s.table(
            "Over seeds 0–9: the time to the target (min, median, max over the seeds, when every \
             seed reaches it), and the final accuracy, mean ± the half-width of its 95 % \
             t-interval (standard deviation), and its lowest:",
            &table,
        );
        let best = rows
            .iter()
            .filter_map(|r| Some((r, r.seconds?)))
            .min_by(|(_, a), (_, b)| a.1.total_cmp(&b.1));
        let mut reading = match best {
            Some((b, (lo, median, hi))) => {
                if let Some(r) = b.recipe {
                    s.paragraph(&peer_commands(&r, target));
                }
                format!(
                    "The fastest recipe to {} on every seed is **{}** (`{}`): median {} s of \
                     training, from {} to {} s. ",
                    pct(target),
                    b.label,
                    b.optimizer,
                    num(median),
                    num(lo),
                    num(hi),
                )
            }
            None => format!("No recipe reaches {} on every seed. ", pct(target)),
        };
        let default = rows
            .iter()
            .filter(|r| r.worst_final.is_some_and(|w| w >= target))
            .min_by(|a, b| a.total_seconds.total_cmp(&b.total_seconds));
        reading += &match default {
            Some(d) => format!(
                "The shortest recipe whose every seed *ends* at or above {} is {} ({} s of \
                 training, lowest final accuracy {}).",
                pct(target),
                d.label,
                num(d.total_seconds),
                pct(d.worst_final.unwrap_or(f64::NAN))
            ),
            None => format!("No recipe ends at or above {} on every seed.", pct(target)),
        };
        s.reading(&reading);
        s
    }
}

/// The commands that time recipe `r` in gradlab and in the peers.
fn peer_commands(r: &Recipe, target: f64) -> String {
    let flags = format!(
        "--optimizer {} --lr {} --warmup {} --batch-size {} --epochs {} --width {} --target {target}",
        r.rule, r.lr, r.warmup, r.batch_size, r.epochs, r.width
    );
    format!(
        "The same recipe in gradlab and in the peers, to run by hand back to back on a quiet \
         machine (the peers in a scratch virtualenv, each script's docstring says how):\n\n\
         ```text\n\
         cargo run --release --example mnist -- --optimizer '{}' --batch-size {} --epochs {} \
         --hidden {w},{w} --seed S\n\
         python benches/peers/speedrun_jax.py {flags} --seed S\n\
         python benches/peers/speedrun_torch.py {flags} --seed S\n\
         ```",
        r.optimizer(),
        r.batch_size,
        r.epochs,
        w = r.width
    )
}
