//! The command line of `examples/optim_bench.rs`: its flags and what each
//! mode does. The example adds the progress bar, the thread pool and the
//! printing; keeping the rest here lets the tests run the very code the
//! command runs.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};

use crate::jobs::{self, Merged, Progress};
use crate::options::Options;
use crate::run::{Data, RunRecord};
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
    /// Combine the per-run files in DIR into runs.csv, curves.csv, report.md
    /// and the plots.
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
        record: RunRecord,
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
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            Path::new("results/optim_bench").join(timestamp(secs))
        })
    }

    /// Does what the flags say, reporting progress to `progress`.
    pub fn run(&self, progress: &mut dyn FnMut(Progress<'_>)) -> Result<Outcome, BenchError> {
        if let Some(Command::Merge { dir }) = &self.command {
            return Ok(Outcome::Merged(jobs::merge(dir)?));
        }
        let out = self.out_dir();
        if self.list_jobs {
            return Ok(Outcome::Listed {
                commands: jobs::commands(&self.options, &out, self.threads)?,
                merge: format!(
                    "cargo run --release --example optim_bench -- merge {}",
                    out.display()
                ),
            });
        }
        match self.job {
            Some(k) => {
                let data = Data::load(&self.options.resolve()?)?;
                let record = jobs::run_job(&self.options, &data, k, &out, progress)?;
                Ok(Outcome::Job { record, out })
            }
            None => Ok(Outcome::Merged(jobs::sweep(&self.options, &out, progress)?)),
        }
    }
}

/// `YYYYMMDD-HHMMSS` (UTC) of `secs` since the Unix epoch.
fn timestamp(secs: u64) -> String {
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_dates() {
        assert_eq!(timestamp(0), "19700101-000000");
        assert_eq!(timestamp(951_782_400 + 3661), "20000229-010101");
        assert_eq!(timestamp(1_767_225_599), "20251231-235959");
    }

    #[test]
    fn options_render_back_to_themselves() {
        let cli = Cli::try_parse_from([
            "optim_bench",
            "--experiment",
            "batch-size,variants",
            "--quick",
            "--hidden",
            "32",
            "--only",
            "adam,sgd",
            "--batch-sizes",
            "16,64",
            "--budget",
            "512",
        ])
        .unwrap();
        let mut again = vec!["optim_bench".to_string()];
        again.extend(cli.options.to_args());
        assert_eq!(Cli::try_parse_from(again).unwrap().options, cli.options);
    }
}
