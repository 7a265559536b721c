//! What a sweep is: the command-line options that define it, and the
//! settings they resolve to.
//!
//! The options are stored in every output directory (`sweep.json`) and
//! rendered back into flags for `--list-jobs`, so that a job started on
//! another machine plans exactly the same sweep and picks its own run out of
//! it.

use std::path::{Path, PathBuf};

use clap::Args;
use gradlab_optim::{registry, search_space, Optimizer};
use serde::{Deserialize, Serialize};

use crate::tuned::{self, Tuned};
use crate::workloads::{workload, workloads, Workload};
use crate::BenchError;

/// The options that define a sweep (everything but where it goes and how it
/// is run). Values left out take the defaults of the full sweep, or of the
/// quick one with `--quick`.
#[derive(Args, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Experiments to run, comma-separated: bias-correction,
    /// scale-invariance, eps-to-sgd, batch-size, variants, lr-sweep,
    /// privacy, tune, speedrun, or all.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    pub experiment: Vec<String>,
    /// A subset that runs in minutes: 10 000 training examples, 2 seeds,
    /// fewer batch sizes and learning rates, smaller budgets.
    #[arg(long)]
    pub quick: bool,
    /// Directory with the four IDX files of an MNIST-layout dataset
    /// [default: datasets/mnist].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Hidden layer widths of the MLP, comma-separated [default: 256,256].
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Seeds per configuration (seeds 0, 1, …) [default: 3; quick: 2].
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Train on the first N training examples [default: all; quick: 10000].
    #[arg(long)]
    pub limit: Option<usize>,
    /// Evaluate on the first N test examples [default: all].
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Examples seen by every run, overriding each experiment's budget.
    #[arg(long)]
    pub budget: Option<usize>,
    /// Evaluations per run, evenly spaced over the budget, overriding each
    /// experiment's number.
    #[arg(long)]
    pub checkpoints: Option<usize>,
    /// Batch size of the experiments that hold it fixed [default: 128].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Batch sizes of the batch-size experiment, comma-separated
    /// [default: 16,32,64,128,256,512,1024; quick: 16,64,256,1024].
    #[arg(long, value_delimiter = ',')]
    pub batch_sizes: Option<Vec<usize>>,
    /// Keep only the runs of these optimizers (spec names such as adam,sgd,
    /// or `amsgrad` for adam(amsgrad=true);
    /// `variants` runs a named rule without a tuned rate, such as one the
    /// program registered, at its defaults).
    #[arg(long, value_delimiter = ',')]
    pub only: Option<Vec<String>>,
    /// Test accuracies whose first crossing `targets.csv` reports for every
    /// run, comma-separated [default: 0.97,0.98,0.983; quick:
    /// 0.9,0.93,0.95].
    #[arg(long, value_delimiter = ',')]
    #[serde(default)]
    pub targets: Option<Vec<f64>>,
    /// Workloads of `tune`, comma-separated: mnist-mlp, mnist-deep-tanh,
    /// fashion-cnn, mnist-private-cnn, austen-gpt, digits, regression
    /// [default: all].
    #[arg(long, value_delimiter = ',')]
    #[serde(default)]
    pub workloads: Option<Vec<String>>,
    /// Trials per study, optimizer and workload in `tune` [default: 5;
    /// quick: 2].
    #[arg(long)]
    #[serde(default)]
    pub trials: Option<usize>,
    /// Independent studies of `--trials` each in `tune`, study s on seed s;
    /// an optimizer's time is the median over studies of each one's
    /// fastest trial (AlgoPerf's) [default: 3].
    #[arg(long)]
    #[serde(default)]
    pub studies: Option<usize>,
    /// `tune` without tuning (AlgoPerf's self-tuning ruleset): each
    /// optimizer at its benchmark configuration once per study, on 1.5×
    /// the budget.
    #[arg(long)]
    #[serde(default)]
    pub self_tuning: bool,
    /// Train the lecture's experiments (and `privacy`, `variants`,
    /// `lr-sweep`) on this workload's data and model (`fashion-cnn`,
    /// `austen-gpt`, …) instead of the MLP of --hidden on MNIST; `tune`
    /// and `speedrun` keep their own.
    #[arg(long, value_name = "WORKLOAD")]
    #[serde(default)]
    pub on: Option<String>,
    /// `tune` on held-out variants: each study's fastest trial of a
    /// finished `tune` sweep (the `tuned.json` of its output directory)
    /// run again, on each study's seed, on every workload's variant drawn
    /// by --variant-seed.
    #[arg(long, value_name = "TUNED_JSON", requires = "variant_seed")]
    #[serde(default)]
    pub held_out: Option<PathBuf>,
    /// The seed that draws the held-out variants (choose one the tuning
    /// never saw).
    #[arg(long, requires = "held_out")]
    #[serde(default)]
    pub variant_seed: Option<u64>,
}

impl Options {
    /// The options as command-line flags, such that parsing them gives these
    /// options back.
    pub fn to_args(&self) -> Vec<String> {
        let count = |n: Option<usize>| n.map(|n| n.to_string());
        let flags = [
            ("experiment", Some(join(&self.experiment))),
            (
                "data-dir",
                self.data_dir.as_ref().map(|d| d.display().to_string()),
            ),
            ("hidden", self.hidden.as_deref().map(join)),
            ("seeds", count(self.seeds)),
            ("limit", count(self.limit)),
            ("test-limit", count(self.test_limit)),
            ("budget", count(self.budget)),
            ("checkpoints", count(self.checkpoints)),
            ("batch-size", count(self.batch_size)),
            ("batch-sizes", self.batch_sizes.as_deref().map(join)),
            ("only", self.only.as_deref().map(join)),
            ("targets", self.targets.as_deref().map(join)),
            ("workloads", self.workloads.as_deref().map(join)),
            ("trials", count(self.trials)),
            ("studies", count(self.studies)),
            ("on", self.on.clone()),
            (
                "held-out",
                self.held_out.as_ref().map(|p| p.display().to_string()),
            ),
            ("variant-seed", self.variant_seed.map(|s| s.to_string())),
        ];
        let mut args: Vec<String> = flags
            .into_iter()
            .filter_map(|(flag, value)| Some([format!("--{flag}"), value?]))
            .flatten()
            .collect();
        for (set, flag) in [(self.quick, "--quick"), (self.self_tuning, "--self-tuning")] {
            if set {
                args.push(flag.into());
            }
        }
        args
    }

    /// Resolves the defaults and checks the values.
    pub fn resolve(&self) -> Result<Settings, BenchError> {
        let bad = |msg: String| Err(BenchError::Options(msg));
        let mut experiments: Vec<String> = Vec::new();
        for name in &self.experiment {
            if !experiments.contains(name) {
                experiments.push(name.clone());
            }
        }
        if experiments.is_empty() {
            return bad("--experiment: name at least one experiment".into());
        }
        let quick = self.quick;
        let hidden = self.hidden.clone().unwrap_or_else(|| vec![256, 256]);
        if hidden.is_empty() || hidden.contains(&0) {
            return bad(format!("--hidden: widths must be positive, got {hidden:?}"));
        }
        let train_limit = self.limit.or(quick.then_some(10_000));
        for (flag, value) in [
            ("--seeds", self.seeds),
            ("--limit", train_limit),
            ("--test-limit", self.test_limit),
            ("--budget", self.budget),
            ("--checkpoints", self.checkpoints),
            ("--batch-size", self.batch_size),
        ] {
            if value == Some(0) {
                return bad(format!("{flag} must be at least 1"));
            }
        }
        let batch_sizes = self.batch_sizes.clone().unwrap_or_else(|| {
            pick(
                quick,
                vec![16, 32, 64, 128, 256, 512, 1024],
                vec![16, 64, 256, 1024],
            )
        });
        if batch_sizes.is_empty() || batch_sizes.contains(&0) {
            return bad(format!(
                "--batch-sizes must be positive, got {batch_sizes:?}"
            ));
        }
        let series = registry::series();
        for name in self.only.iter().flatten() {
            let tuned = series.iter().any(|t| t.label == name);
            if let (Err(e), false) = (Optimizer::from_spec(name), tuned) {
                return bad(format!("--only: {e}"));
            }
        }
        let targets = self
            .targets
            .clone()
            .unwrap_or_else(|| pick(quick, vec![0.97, 0.98, 0.983], vec![0.9, 0.93, 0.95]));
        if targets.is_empty() || !targets.iter().all(|&t| t > 0.0 && t <= 1.0) {
            return bad(format!(
                "--targets: test accuracies in (0, 1], got {targets:?}"
            ));
        }
        let mut chosen = Vec::new();
        for name in self.workloads.iter().flatten() {
            match workload(name) {
                Some(w) if !chosen.contains(&w) => chosen.push(w),
                Some(_) => {}
                None => {
                    let known: Vec<String> = workloads().into_iter().map(|w| w.name).collect();
                    return bad(format!(
                        "--workloads: no workload '{name}'; the workloads are {}",
                        known.join(", ")
                    ));
                }
            }
        }
        if self.workloads.is_some() && chosen.is_empty() {
            return bad("--workloads: name at least one workload".into());
        }
        let workloads = self.workloads.as_ref().map_or_else(workloads, |_| chosen);
        let (trials, studies) = (
            self.trials.unwrap_or(pick(quick, 5, 2)),
            self.studies.unwrap_or(3),
        );
        for (flag, value) in [("--trials", trials), ("--studies", studies)] {
            if value == 0 {
                return bad(format!("{flag} must be at least 1"));
            }
        }
        if experiments.iter().any(|e| e == "tune" || e == "all") {
            for name in self.only.iter().flatten() {
                let rule = series
                    .iter()
                    .find(|t| t.label == name)
                    .map_or(name.as_str(), |t| t.name);
                if search_space(rule).is_some_and(|d| d.is_empty()) {
                    return bad(format!(
                        "--only: {name} declares no search space (Hyperparameters::SEARCH, \
                         `search: [...]` in its hyperparameters! block), so tune cannot search \
                         it; declare one, or leave it out of --only"
                    ));
                }
            }
        }
        let held_out = match (&self.held_out, self.variant_seed) {
            (None, None) => None,
            (Some(path), Some(seed)) => {
                if self.self_tuning || experiments != ["tune"] {
                    return bad(
                        "--held-out runs `--experiment tune` alone, without --self-tuning".into(),
                    );
                }
                let tuned = tuned::read(path)?;
                if let Some(t) = tuned.iter().find(|t| workload(&t.workload).is_none()) {
                    return bad(format!(
                        "--held-out: {}: workload '{}' is not registered",
                        path.display(),
                        t.workload
                    ));
                }
                Some(HeldOut { seed, tuned })
            }
            _ => return bad("--held-out and --variant-seed go together".into()),
        };
        // Held out, the workloads are those tuned (of --workloads) that
        // have variants.
        let workloads: Vec<Workload> = match &held_out {
            Some(h) => workloads
                .into_iter()
                .filter(|w| w.variant.is_some() && h.tuned.iter().any(|t| t.workload == w.name))
                .collect(),
            None => workloads,
        };
        if held_out.is_some() && workloads.is_empty() {
            return bad(
                "--held-out: no workload tuned there (and kept by --workloads) has held-out \
                 variants"
                    .into(),
            );
        }
        let on = match &self.on {
            None => None,
            Some(name) => Some(workload(name).ok_or_else(|| {
                let all = crate::workloads::workloads();
                let known: Vec<String> = all.into_iter().map(|w| w.name).collect();
                BenchError::Options(format!(
                    "--on: no workload '{name}'; the workloads are {}",
                    known.join(", ")
                ))
            })?),
        };
        Ok(Settings {
            on,
            held_out,
            workloads,
            trials,
            studies,
            self_tuning: self.self_tuning,
            experiments,
            targets,
            quick,
            data_dir: self.data_dir.clone().unwrap_or_else(default_data_dir),
            hidden,
            seeds: (0..self.seeds.unwrap_or(pick(quick, 3, 2)) as u64).collect(),
            train_limit,
            test_limit: self.test_limit,
            budget: self.budget,
            checkpoints: self.checkpoints,
            batch_size: self.batch_size.unwrap_or(128),
            batch_sizes,
            only: self.only.clone(),
        })
    }
}

/// A sweep's options with every default filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// The experiments `--experiment` names (`all`: every one), each once;
    /// [`experiments::selected`](crate::experiments::selected) finds them,
    /// in the order of the report.
    pub experiments: Vec<String>,
    /// Whether the quick subsets are used.
    pub quick: bool,
    /// Where the dataset is.
    pub data_dir: PathBuf,
    /// Hidden layer widths.
    pub hidden: Vec<usize>,
    /// The seeds of every configuration.
    pub seeds: Vec<u64>,
    /// Training examples used (`None`: all).
    pub train_limit: Option<usize>,
    /// Test examples used (`None`: all).
    pub test_limit: Option<usize>,
    /// Examples seen per run, when it overrides the experiments' budgets.
    pub budget: Option<usize>,
    /// Evaluations per run, when it overrides the experiments' numbers.
    pub checkpoints: Option<usize>,
    /// The batch size of the experiments that hold it fixed.
    pub batch_size: usize,
    /// The batch sizes of the batch-size experiment.
    pub batch_sizes: Vec<usize>,
    /// The optimizer names kept (`None`: all).
    pub only: Option<Vec<String>>,
    /// The test accuracies of `targets.csv`.
    pub targets: Vec<f64>,
    /// The workloads of `tune`.
    pub workloads: Vec<Workload>,
    /// Trials per study, optimizer and workload in `tune`.
    pub trials: usize,
    /// Studies per optimizer and workload in `tune`.
    pub studies: usize,
    /// `tune` without tuning: each optimizer's benchmark configuration.
    pub self_tuning: bool,
    /// `tune` on held-out variants: what to run again, and on which.
    pub held_out: Option<HeldOut>,
    /// The workload the lecture's experiments train, instead of the MLP
    /// on MNIST.
    pub on: Option<Workload>,
}

/// `--held-out`: the tuned configurations and the seed of the variants.
#[derive(Clone, Debug, PartialEq)]
pub struct HeldOut {
    /// The seed that draws every workload's variant.
    pub seed: u64,
    /// Each study's fastest trial on each workload, from `tuned.json`.
    pub tuned: Vec<Tuned>,
}

impl Settings {
    /// `full`, or `quick` for the `--quick` subset.
    pub fn pick<T>(&self, full: T, quick: T) -> T {
        pick(self.quick, full, quick)
    }

    /// Whether runs of the optimizer named `name` (`adam`, `sgd`, …) are
    /// part of the sweep.
    pub fn keeps(&self, name: &str) -> bool {
        match &self.only {
            None => true,
            Some(only) => only.iter().any(|n| n == name),
        }
    }
}

/// `datasets/mnist` below the working directory, or else the copy in the
/// gradlab repository this crate belongs to, so the benchmark runs from any
/// directory.
fn default_data_dir() -> PathBuf {
    let local = PathBuf::from("datasets/mnist");
    if local.is_dir() {
        local
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist")
    }
}

/// `full`, or `quick_value` for the `--quick` subset.
fn pick<T>(quick: bool, full: T, quick_value: T) -> T {
    if quick {
        quick_value
    } else {
        full
    }
}

fn join<T: ToString>(values: &[T]) -> String {
    let parts: Vec<String> = values.iter().map(T::to_string).collect();
    parts.join(",")
}
