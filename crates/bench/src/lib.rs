//! # gradlab-bench
//!
//! The optimizer benchmark: it shows each claim of the lecture "RMSProp and
//! Adam" as a measured table and plot. A *sweep* is a set of *experiments*,
//! one per claim; each experiment is a set of *runs* (an optimizer spec, a
//! batch size, a seed, sometimes a loss scale), and every run trains an MLP
//! on MNIST until it has seen a fixed budget of examples, so that batch
//! sizes are compared at equal data.
//!
//! * [`options`] — [`Options`], the flags that define a sweep, and the
//!   [`Settings`] they resolve to (full or `--quick`).
//! * [`experiments`] — the [`Experiment`] trait and the list of them:
//!   `bias-correction`, `scale-invariance`, `eps-to-sgd`, `batch-size`,
//!   `variants`, `lr-sweep` and `privacy`, one per claim, `tune`, every
//!   optimizer given the same tuning budget on every workload, and
//!   `speedrun`; each plans its runs and writes its report section from
//!   their numbers.
//! * [`workloads`] — the named training problems `tune` compares on (a
//!   dataset and a model constructor, targets, budgets), the built-in ones
//!   and any a program [registers](workloads::register).
//! * [`tuned`] — `tuned.json`, each study's fastest trial of a `tune`
//!   sweep, which `--held-out` runs again on the held-out variants.
//! * [`run`] — one run to its budget, through the trainer's own loop: the
//!   loss curve by examples seen, test evaluations at checkpoints, time to
//!   target, timings and the gradient noise scale.
//! * [`jobs`] — the whole sweep in one process, or one run per `--job K` on
//!   any machine, and [`merge`](jobs::merge) of the per-run files.
//! * [`csv`], [`report`], [`plot`] — `runs.csv` and `curves.csv`,
//!   `report.md`, and the SVG plots.
//! * [`cli`] — the command line of `examples/optim_bench.rs`, and of any
//!   program that registers rules or workloads of its own
//!   ([`Cli::run_as`](cli::Cli::run_as)).
//!
//! Runs are reproducible: every random draw derives from the run's seed and
//! the training code is deterministic for any number of threads, so the same
//! sweep gives the same `runs.csv` apart from its timing columns
//! ([`csv::TIMING_COLUMNS`]).
//!
//! ```no_run
//! use gradlab_bench::{jobs, Options};
//!
//! let options = Options {
//!     experiment: vec!["batch-size".into()],
//!     quick: true,
//!     ..Options::default()
//! };
//! let merged = jobs::sweep(&options, "results/optim_bench/bs".as_ref(), &mut |_| {})?;
//! println!("{} runs, report in {}", merged.runs, merged.dir.join("report.md").display());
//! # Ok::<(), gradlab_bench::BenchError>(())
//! ```

pub mod cli;
pub mod csv;
mod error;
pub mod experiments;
pub mod jobs;
pub mod options;
pub mod plot;
pub mod report;
pub mod run;
pub mod stats;
pub mod tuned;
pub mod workloads;

pub use error::BenchError;
pub use experiments::Experiment;
pub use options::{Options, Settings};
