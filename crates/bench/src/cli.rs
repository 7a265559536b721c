//! The command line of `examples/optim_bench.rs`: its flags and what each
//! mode does. The example adds the progress bar, the thread pool and the
//! printing; keeping the rest here lets the tests run the very code the
//! command runs.

use std::path::{Path, PathBuf};
use time::OffsetDateTime;

use clap::{Parser, Subcommand};

use crate::jobs::{self, Merged, Progress, OPTIM_BENCH};
use crate::options::Options;
use crate::run::{DataSets, RunRecord};
use crate::workloads::Data;
use crate::BenchError;

/// Benchmark gradlab's optimizers: one experiment per claim of the
/// RMSProp/Adam lecture, each run trained to a fixed budget of examples seen.
#[derive(Parser, Debug, Clone, PartialEq)]
#[command(name = "optim_bench", version)]
pub struct Cli {
    /// `merge DIR`: combine the per-run files of DIR.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// What to sweep.
    #[command(flatten)]
    pub options: Options,
    /// Output directory [default: results/optim_bench/YYYYMMDD-HHMMSS, the
    /// UTC start time].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one self-contained command per run, for GNU parallel or a job
    /// array, instead of running.
    #[arg(long, conflicts_with = "job")]
    pub list_jobs: bool,
    /// Run only run K of the job list and write its file into --out.
    #[arg(long, value_name = "K", requires = "out")]
    pub job: Option<usize>,
    /// Worker threads (default: one per core). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
}

/// The subcommands.
#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum Command {
    /// Combine the per-run files in DIR into runs.csv, curves.csv,
    /// targets.csv, report.md and the plots.
    Merge {
        /// The --out directory of the jobs.
        dir: PathBuf,
    },
}

/// What a command did.
#[derive(Debug)]
pub enum Outcome {
    /// `--list-jobs`: the commands, and the one that merges their results.
    Listed {
        /// One command per run.
        commands: Vec<String>,
        /// The merge command to run after them.
        merge: String,
    },
    /// `--job K`: the run, and where its file went.
    Job {
        /// What it measured.
        record: Box<RunRecord>,
        /// The output directory.
        out: PathBuf,
    },
    /// A whole sweep, or `merge`: the merged output.
    Merged(Merged),
}

impl Cli {
    /// The output directory: `--out`, or a new timestamped one.
    pub fn out_dir(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            Path::new("results/optim_bench").join(timestamp(OffsetDateTime::now_utc()))
        })
    }

    /// Does what the flags say, reporting progress to `progress`.
    pub fn run(&self, progress: &mut dyn FnMut(Progress<'_>)) -> Result<Outcome, BenchError> {
        self.run_as(OPTIM_BENCH, progress)
    }

    /// [`Cli::run`] for a program that registers rules or workloads of its
    /// own: the commands it lists and suggests run `program` (`cargo run
    /// --release --example mine --`), which knows them, instead of
    /// `optim_bench`.
    pub fn run_as(
        &self,
        program: &str,
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<Outcome, BenchError> {
        if let Some(Command::Merge { dir }) = &self.command {
            return Ok(Outcome::Merged(jobs::merge(dir, program)?));
        }
        let out = self.out_dir();
        if self.list_jobs {
            let commands = jobs::commands(&self.options, &out, self.threads, program)?;
            return Ok(Outcome::Listed {
                commands,
                merge: format!(
                    "{program} merge {}",
                    jobs::shell_words(&[out.display().to_string()])
                ),
            });
        }
        match self.job {
            Some(k) => {
                let settings = self.options.resolve()?;
                let data = Data::load(
                    &settings.data_dir,
                    settings.train_limit,
                    settings.test_limit,
                )?;
                let mut data = DataSets::new(data, &settings);
                let record = jobs::run_job(&self.options, &mut data, k, &out, progress)?;
                Ok(Outcome::Job {
                    record: Box::new(record),
                    out,
                })
            }
            None => Ok(Outcome::Merged(jobs::sweep(&self.options, &out, progress)?)),
        }
    }
}

/// `YYYYMMDD-HHMMSS` of the UTC time `t`.
fn timestamp(t: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_dates() {
        let at = |secs| timestamp(OffsetDateTime::from_unix_timestamp(secs).unwrap());
        assert_eq!(at(0), "19700101-000000");
        assert_eq!(at(951_782_400 + 3661), "20000229-010101");
        assert_eq!(at(1_767_225_599), "20251231-235959");
    }
}
